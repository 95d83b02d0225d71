// Toasts: short, polite announcements; errors stay longer and are announced assertively.
import { h, icon } from "./dom.js";
import { t } from "./i18n.js";

function region() {
  let el = document.getElementById("toasts");
  if (!el) {
    el = h("div#toasts.toasts", { role: "status", "aria-live": "polite" });
    el.id = "toasts";
    document.body.append(el);
  }
  return el;
}

export function toast(message, { kind = "info", timeout } = {}) {
  const close = h("button.toast-close", { type: "button", "aria-label": t("common.close") }, icon("x", 14));
  const el = h(`div.toast.toast-${kind}`, { role: kind === "error" ? "alert" : null },
    icon(kind === "error" ? "alert" : kind === "success" ? "check" : "info", 16),
    h("div.toast-text", null, message), close);
  const remove = () => {
    el.classList.add("leaving");
    setTimeout(() => el.remove(), 180);
  };
  close.addEventListener("click", remove);
  region().append(el);
  setTimeout(remove, timeout ?? (kind === "error" ? 8000 : 3500));
  return el;
}

/** Show an API error (its `detail`, written for a person) or any other error. */
export function toastError(err) {
  const msg = (err && (err.message || err.detail)) || String(err);
  toast(msg, { kind: "error" });
}
