// The top bar: where we are, the open chat's model and export, its actions, the connection.
import { api } from "./api.js";
import { $, clear, h, icon } from "./dom.js";
import { t } from "./i18n.js";
import { menuButton } from "./menu.js";
import { chatUpdated } from "./projects.js";
import { chatMenu } from "./sidebar.js";
import { can, currentChat, currentProject, state } from "./state.js";
import { toast, toastError } from "./toast.js";

// GET /api/models once per page: the server caches the endpoint's list too.
let models = null;
const loadModels = () => (models ??= api.models().catch(() => ({ default: null, models: [], error: null })));

export function renderTopbar() {
  const project = currentProject();
  $("#crumb-project").textContent = project ? project.name : "Piloto";
  const chat = currentChat();
  $("#crumb-sep").hidden = !chat;
  $("#crumb-chat").textContent = chat ? chat.title : "";
  document.title = chat ? `${chat.title} · Piloto` : "Piloto";
  const actions = clear($("#chat-actions"));
  if (!chat) return;
  const slot = h("span.model-slot");
  actions.append(slot, exportMenu(chat));
  if (can("operator")) actions.append(chatMenu(chat));
  // Only a fully loaded chat knows its model; the sidebar's copy may not.
  if (state.chat && state.chat.id === chat.id) fillModelPicker(slot, state.chat);
}

async function fillModelPicker(slot, chat) {
  const info = await loadModels();
  if (!info.default || !slot.isConnected || state.chatId !== chat.id) return; // direct mode: no model to pick
  const current = chat.model || info.default;
  const names = info.models.includes(current) ? info.models : [current, ...info.models];
  const select = h("select.input.model-select", {
    id: "model-select", "aria-label": t("model.label"), disabled: !can("operator"),
    title: info.error ? t("model.listError", { error: info.error }) : t("model.label"),
    dataset: { error: info.error ? "1" : "" },
  }, names.map((name) => h("option", { value: name, selected: name === current },
    name === info.default ? t("model.default", { name }) : name)));
  select.addEventListener("change", async () => {
    const model = select.value;
    select.disabled = true;
    try {
      chatUpdated(await api.patchChat(chat.id, { model }));
      toast(t("model.changed", { name: model }), { kind: "success" });
    } catch (e) {
      toastError(e);
      select.value = current;
    } finally {
      select.disabled = !can("operator");
    }
  });
  clear(slot).append(icon("cpu", 14), select);
}

function exportMenu(chat) {
  const download = (format) => {
    // A same-origin link with `download` keeps the cookie session and saves instead of opening.
    const safe = chat.title.replace(/[^\p{L}\p{N}]+/gu, "-").replace(/^-|-$/g, "").slice(0, 60) || "chat";
    const a = h("a", { href: `/api/chats/${encodeURIComponent(chat.id)}/export?format=${format}`, download: `${safe}.${format}`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
  };
  return menuButton(t("export.label"), [
    { label: t("export.md"), icon: "download", onSelect: () => download("md") },
    { label: t("export.json"), icon: "download", onSelect: () => download("json") },
  ], { icon: "download", id: "export-chat" });
}

export function showConnection(status) {
  const conn = $("#conn");
  const banner = $("#banner");
  conn.hidden = !status || status === "connecting";
  conn.dataset.status = status || "";
  clear(conn).append(h("span.conn-dot"), h("span.conn-label", null, status === "live" ? t("conn.live") : t("conn.down")));
  const down = status === "down" || status === "polling";
  banner.hidden = !down;
  banner.dataset.status = status || "";
  clear(banner);
  if (down) banner.append(h("span.spinner"), h("span", null, status === "polling" ? t("conn.polling") : t("conn.offline")));
  if (status === "live" && showConnection.wasDown) toast(t("conn.back"), { kind: "success" });
  showConnection.wasDown = down;
}
