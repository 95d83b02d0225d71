// Modals on <dialog>: the rest of the page is inert, Tab cycles inside, Esc closes,
// focus returns to what opened it.
import { h, icon } from "./dom.js";
import { t } from "./i18n.js";

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

export function openModal({ title, body, footer = [], size = "", onClose, labelId } = {}) {
  const opener = document.activeElement;
  const id = labelId || `m-${Math.random().toString(36).slice(2, 8)}`;
  const closeBtn = h("button.icon-btn.modal-x", { type: "button", "aria-label": t("common.close") }, icon("x", 18));
  const titleEl = h("h2.modal-title", { id }, title);
  const bodyEl = h("div.modal-body", null, body);
  const footEl = h("div.modal-foot", null, footer);
  const dlg = h(`dialog.modal${size ? `.modal-${size}` : ""}`, { "aria-labelledby": id },
    h("div.modal-head", null, titleEl, closeBtn), bodyEl, footEl);
  let closed = false;
  const close = (result) => {
    if (closed) return;
    closed = true;
    dlg.close();
    dlg.remove();
    if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
    onClose?.(result);
  };
  closeBtn.addEventListener("click", () => close());
  dlg.addEventListener("cancel", (ev) => { ev.preventDefault(); close(); });
  dlg.addEventListener("click", (ev) => { if (ev.target === dlg) close(); });
  dlg.addEventListener("keydown", (ev) => {
    if (ev.key !== "Tab") return;
    const items = [...dlg.querySelectorAll(FOCUSABLE)].filter((el) => el.offsetParent !== null || el === document.activeElement);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
    else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
  });
  document.body.append(dlg);
  dlg.showModal();
  const autofocus = dlg.querySelector("[autofocus]") || dlg.querySelector(".modal-body " + FOCUSABLE) || closeBtn;
  autofocus.focus();
  return { el: dlg, body: bodyEl, footer: footEl, title: titleEl, close };
}

/** Ask before something destructive; resolves true when confirmed. `action` may throw ApiError. */
export function confirmDialog({ title, message, confirmLabel, danger = true, action }) {
  return new Promise((resolve) => {
    const err = h("p.form-error", { role: "alert", hidden: true });
    const ok = h(`button.btn${danger ? ".danger" : ".primary"}`, { type: "button" }, confirmLabel);
    const cancel = h("button.btn.ghost", { type: "button", autofocus: true }, t("common.cancel"));
    let done = false;
    const m = openModal({
      title, body: [h("p.modal-text", null, message), err], footer: [cancel, ok], size: "sm",
      onClose: () => { if (!done) resolve(false); },
    });
    cancel.addEventListener("click", () => m.close());
    ok.addEventListener("click", async () => {
      ok.disabled = true;
      try {
        if (action) await action();
        done = true;
        resolve(true);
        m.close();
      } catch (e) {
        err.textContent = e.message;
        err.hidden = false;
        ok.disabled = false;
      }
    });
  });
}

/** Ask for one line of text; `action(value)` may throw ApiError, shown inline. */
export function promptDialog({ title, label, value = "", placeholder = "", submitLabel, action, maxLength = 200 }) {
  return new Promise((resolve) => {
    const input = h("input.input", { type: "text", value, placeholder, maxLength, required: true, autofocus: true, id: "prompt-input" });
    const err = h("p.form-error", { role: "alert", hidden: true });
    const ok = h("button.btn.primary", { type: "submit" }, submitLabel);
    const cancel = h("button.btn.ghost", { type: "button" }, t("common.cancel"));
    const form = h("form.form", { novalidate: true },
      h("label.label", { for: "prompt-input" }, label), input, err,
      h("div.modal-foot.inline", null, cancel, ok));
    let done = false;
    const m = openModal({ title, body: form, size: "sm", onClose: () => { if (!done) resolve(null); } });
    m.footer.remove();
    input.select();
    cancel.addEventListener("click", () => m.close());
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const v = input.value.trim();
      if (!v) { input.focus(); return; }
      ok.disabled = true;
      try {
        const result = action ? await action(v) : v;
        done = true;
        resolve(result);
        m.close();
      } catch (e) {
        err.textContent = e.message;
        err.hidden = false;
        ok.disabled = false;
        input.focus();
      }
    });
  });
}
