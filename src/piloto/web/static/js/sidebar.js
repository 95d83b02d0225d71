// The sidebar: projects with their chats, the tool services, and the drawer on small screens.
import { api } from "./api.js";
import { $, clear, h, icon } from "./dom.js";
import { relTime, t } from "./i18n.js";
import { menuButton } from "./menu.js";
import { deleteChat, deleteProject, editProjectSettings, newChat, renameChat, renameProject } from "./projects.js";
import { renderRunbooks } from "./runbooks.js";
import { openServiceDetails, statusDot } from "./services.js";
import { can, state } from "./state.js";
import { toastError } from "./toast.js";

export async function loadChats(projectId) {
  try {
    state.chats.set(projectId, await api.chats(projectId));
  } catch (e) {
    toastError(e);
  }
  renderSidebar();
}

export async function loadServices() {
  try {
    state.services = await api.services(state.projectId);
  } catch (e) {
    state.services = [];
    toastError(e);
  }
  renderServices();
}

/** The actions on a chat, shared by the sidebar's row and the top bar. */
export function chatMenu(c) {
  return menuButton(t("nav.actions", { name: c.title }), [
    { label: t("common.rename"), icon: "edit", onSelect: () => renameChat(c) },
    { label: t("common.delete"), icon: "trash", danger: true, onSelect: () => deleteChat(c) },
  ]);
}

function projectMenu(p) {
  const items = [{ label: t("common.rename"), icon: "edit", onSelect: () => renameProject(p) }];
  if (can("admin")) items.push({ label: t("settings.menu"), icon: "edit", onSelect: () => editProjectSettings(p) });
  if (can("admin")) items.push({ label: t("common.delete"), icon: "trash", danger: true, onSelect: () => deleteProject(p) });
  return menuButton(t("nav.actions", { name: p.name }), items);
}

function chatList(p) {
  const chats = state.chats.get(p.id) || [];
  const sub = h("ul.chat-list");
  for (const c of chats) {
    const active = c.id === state.chatId;
    const a = h("a.nav-item.chat-item", { href: `#/p/${encodeURIComponent(p.id)}/c/${encodeURIComponent(c.id)}`, "aria-current": active ? "page" : null, dataset: { chatId: c.id } },
      h("span.nav-label", null, c.title), h("span.nav-time", null, relTime(c.updated_at || c.created_at)));
    const crow = h("div.nav-row", null, a);
    if (can("operator")) crow.append(chatMenu(c));
    sub.append(h("li", null, crow));
  }
  if (!chats.length) sub.append(h("li.nav-empty", null, t("nav.noChats")));
  if (can("operator")) {
    const nb = h("button.nav-item.new-chat", { type: "button", id: "new-chat" }, icon("plus", 14), h("span.nav-label", null, t("nav.newChat")));
    nb.addEventListener("click", () => newChat(p.id));
    sub.append(h("li", null, nb));
  }
  return sub;
}

export function renderSidebar() {
  const list = clear($("#project-list"));
  if (!state.projects.length) list.append(h("li.nav-empty", null, t("nav.noProjects")));
  for (const p of state.projects) {
    const open = p.id === state.projectId;
    const link = h("a.nav-item.project-item", { href: `#/p/${encodeURIComponent(p.id)}`, "aria-current": open && !state.chatId ? "page" : null, "aria-expanded": String(open), dataset: { projectId: p.id } },
      icon("chevron", 14), h("span.nav-label", null, p.name));
    const row = h("div.nav-row", null, link);
    if (can("operator")) row.append(projectMenu(p));
    const li = h(`li.project${open ? ".open" : ""}`, null, row);
    if (open) li.append(chatList(p));
    list.append(li);
  }
  renderRunbooks();
  renderServices();
}

export function renderServices() {
  const list = clear($("#service-list"));
  if (!state.services.length) list.append(h("li.nav-empty", null, t("nav.noServices")));
  for (const s of state.services) {
    const b = h("button.nav-item.service-item", { type: "button", dataset: { serviceId: s.id, status: s.status }, title: s.last_error || t(`svc.status.${s.status}`) },
      statusDot(s.status), h("span.nav-label.mono", null, s.name),
      s.project_id ? null : h("span.tag", null, t("nav.global")),
      h("span.nav-count", { title: t("svc.operations") }, String(s.operation_count)));
    b.addEventListener("click", () => openServiceDetails({ service: s, isAdmin: can("admin"), onChanged: loadServices }));
    list.append(h("li", null, b));
  }
}

export function drawer(open) {
  document.body.classList.toggle("drawer-open", open);
  $("#scrim").hidden = !open;
  $("#open-drawer").setAttribute("aria-expanded", String(open));
  if (open) $("#sidebar .nav-item")?.focus();
}
