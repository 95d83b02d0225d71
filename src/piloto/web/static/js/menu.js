// A small popover menu behind a "…" button: arrow keys move, Esc closes, focus returns.
import { h, icon } from "./dom.js";

let openMenu = null;

function closeOpen() {
  if (openMenu) openMenu();
  openMenu = null;
}

document.addEventListener("click", (ev) => {
  if (openMenu && !ev.target.closest(".menu, .menu-btn")) closeOpen();
});

/** items: [{label, icon, danger, onSelect}]; opts: {icon, id} for a button other than "…". */
export function menuButton(label, items, opts = {}) {
  const btn = h("button.icon-btn.menu-btn", { type: "button", id: opts.id || null, "aria-label": label, title: label, "aria-haspopup": "menu", "aria-expanded": "false" }, icon(opts.icon || "more", 16));
  btn.addEventListener("click", (ev) => {
    ev.stopPropagation();
    ev.preventDefault();
    const wasOpen = btn.getAttribute("aria-expanded") === "true";
    closeOpen();
    if (wasOpen) return;
    const menu = h("div.menu", { role: "menu" }, items.map((it) => {
      const b = h(`button.menu-item${it.danger ? ".danger-text" : ""}`, { type: "button", role: "menuitem", tabIndex: -1 }, it.icon ? icon(it.icon, 14) : null, it.label);
      b.addEventListener("click", (e) => { e.stopPropagation(); closeOpen(); it.onSelect(); });
      return b;
    }));
    menu.addEventListener("keydown", (e) => {
      const list = [...menu.querySelectorAll(".menu-item")];
      const i = list.indexOf(document.activeElement);
      if (e.key === "ArrowDown") { e.preventDefault(); list[(i + 1) % list.length].focus(); }
      else if (e.key === "ArrowUp") { e.preventDefault(); list[(i - 1 + list.length) % list.length].focus(); }
      else if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); closeOpen(); btn.focus(); }
      else if (e.key === "Tab") closeOpen();
    });
    document.body.append(menu);
    const r = btn.getBoundingClientRect();
    const w = 180;
    menu.style.top = `${Math.min(r.bottom + 4, window.innerHeight - 12 - items.length * 36)}px`;
    menu.style.left = `${Math.max(8, Math.min(r.right - w, window.innerWidth - w - 8))}px`;
    btn.setAttribute("aria-expanded", "true");
    openMenu = () => { menu.remove(); btn.setAttribute("aria-expanded", "false"); };
    menu.querySelector(".menu-item")?.focus();
  });
  return btn;
}
