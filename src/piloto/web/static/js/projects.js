// Create, rename, delete projects and chats; each action updates `state` and asks for a redraw.
import { api } from "./api.js";
import { lang, t } from "./i18n.js";
import { confirmDialog, promptDialog } from "./modal.js";
import { openProjectSettings } from "./settings.js";
import { changed, go, state } from "./state.js";
import { toast } from "./toast.js";

export async function newProject() {
  const p = await promptDialog({
    title: t("project.newTitle"), label: t("common.name"), placeholder: t("project.placeholder"), submitLabel: t("common.create"),
    maxLength: 100, action: (name) => api.createProject(name),
  });
  if (!p) return;
  state.projects = await api.projects();
  state.chats.set(p.id, []);
  go(p.id, null);
}

export async function renameProject(p) {
  const res = await promptDialog({ title: t("project.renameTitle"), label: t("common.name"), value: p.name, submitLabel: t("common.save"), maxLength: 100, action: (name) => api.renameProject(p.id, name) });
  if (!res) return;
  state.projects = state.projects.map((x) => (x.id === res.id ? res : x));
  changed();
}

export function editProjectSettings(p) {
  // The sidebar's menu may hold an older copy: show what was last saved.
  openProjectSettings({
    project: state.projects.find((x) => x.id === p.id) || p,
    onSaved: (updated) => {
      state.projects = state.projects.map((x) => (x.id === updated.id ? updated : x));
      toast(t("settings.saved"), { kind: "success" });
    },
  });
}

export async function deleteProject(p) {
  let chats = state.chats.get(p.id);
  if (!chats) try { chats = await api.chats(p.id); } catch { chats = null; }
  const n = chats ? chats.length : "?";
  const key = n === 0 ? "project.deleteBody0" : n === 1 ? "project.deleteBody1" : "project.deleteBody";
  const ok = await confirmDialog({
    title: t("project.deleteTitle"), confirmLabel: t("common.delete"), message: t(key, { name: p.name, n }),
    action: () => api.deleteProject(p.id),
  });
  if (!ok) return;
  toast(t("toast.deleted"), { kind: "success" });
  state.projects = state.projects.filter((x) => x.id !== p.id);
  state.chats.delete(p.id);
  if (state.projectId === p.id) { state.projectId = null; state.chatId = null; go(null); }
  else changed();
}

export async function newChat(projectId) {
  const chat = await promptDialog({
    title: t("chat.newTitle"), label: t("common.title"), value: t("chat.defaultTitle"), submitLabel: t("common.create"),
    action: (title) => api.createChat(projectId, title, lang()),
  });
  if (!chat) return;
  state.chats.set(projectId, [chat, ...(state.chats.get(projectId) || [])]);
  go(projectId, chat.id);
}

/** Keep the sidebar's copy and the open chat's copy of a chat in step after a PATCH. */
export function chatUpdated(res) {
  const list = state.chats.get(res.project_id) || [];
  state.chats.set(res.project_id, list.map((x) => (x.id === res.id ? { ...x, ...res } : x)));
  if (state.chat && state.chat.id === res.id) state.chat = { ...state.chat, ...res };
  changed();
}

export async function renameChat(c) {
  const res = await promptDialog({ title: t("chat.renameTitle"), label: t("common.title"), value: c.title, submitLabel: t("common.save"), action: (title) => api.patchChat(c.id, { title }) });
  if (res) chatUpdated(res);
}

export async function deleteChat(c) {
  const n = state.chatId === c.id && state.view ? state.view.msgs.size : null;
  const ok = await confirmDialog({
    title: t("chat.deleteTitle"), confirmLabel: t("common.delete"),
    message: n != null ? t("chat.deleteBody", { name: c.title, n }) : t("chat.deleteBodyShort", { name: c.title }),
    action: () => api.deleteChat(c.id),
  });
  if (!ok) return;
  toast(t("toast.deleted"), { kind: "success" });
  state.chats.set(c.project_id, (state.chats.get(c.project_id) || []).filter((x) => x.id !== c.id));
  if (state.chatId === c.id) go(c.project_id, null);
  else changed();
}
