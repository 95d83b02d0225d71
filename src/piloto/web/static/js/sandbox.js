// A warning banner while the demo toolbox runs commands without a sandbox (from /api/health).
import { api } from "./api.js";
import { h, $ } from "./dom.js";
import { t, onLangChange } from "./i18n.js";

let toolbox = null;

/** Ask /api/health once; show the banner when the demo toolbox's commands are not sandboxed. */
export async function showSandboxNotice() {
  let health;
  try {
    health = await api.health();
  } catch {
    return; // the connection banner already says when the server cannot be reached
  }
  const box = health && health.demo_toolbox;
  if (!box || box.sandboxed) return;
  toolbox = box;
  paint();
}

function paint() {
  if (!toolbox) return;
  let el = $("#sandbox-banner");
  if (!el) {
    el = h("div.banner.sandbox-banner", { id: "sandbox-banner", role: "alert" });
    $("#banner").before(el);
  }
  el.textContent = t(toolbox.commands === "all" ? "sandbox.offAll" : "sandbox.offReadOnly");
}

onLangChange(paint);
