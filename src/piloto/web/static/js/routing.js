// Routing: #/p/PROJECT/c/CHAT picks what the main pane shows (a chat, or an empty state).
import { $, clear, h, icon } from "./dom.js";
import { t } from "./i18n.js";
import { ChatView } from "./chat.js";
import { newChat, newProject } from "./projects.js";
import { loadRunbooks } from "./runbooks.js";
import { drawer, loadChats, loadServices, renderSidebar } from "./sidebar.js";
import { can, currentProject, go, state } from "./state.js";
import { toastError } from "./toast.js";
import { renderTopbar, showConnection } from "./topbar.js";

function parseHash() {
  const m = location.hash.match(/^#\/p\/([^/]+)(?:\/c\/([^/]+))?/);
  return m ? { projectId: decodeURIComponent(m[1]), chatId: m[2] ? decodeURIComponent(m[2]) : null } : {};
}

function rememberedProject() {
  let remembered = null;
  try { remembered = localStorage.getItem("piloto.project"); } catch { /* storage may be off */ }
  return state.projects.find((p) => p.id === remembered) || state.projects[0] || null;
}

export async function route() {
  if (!state.me) return;
  let { projectId, chatId } = parseHash();
  if (!projectId || !state.projects.some((p) => p.id === projectId)) {
    projectId = rememberedProject()?.id ?? null;
    chatId = null;
  }
  const projectChanged = projectId !== state.projectId;
  state.projectId = projectId;
  if (projectId) try { localStorage.setItem("piloto.project", projectId); } catch { /* storage may be off */ }
  if (projectId && (projectChanged || !state.chats.has(projectId))) await loadChats(projectId);
  if (projectChanged) loadServices();
  // On every route, not only a new project: a schedule may have paused or fired meanwhile.
  loadRunbooks();
  if (chatId !== state.chatId || !state.view) {
    state.chatId = chatId;
    state.chat = null;
    if (chatId) await openChat(chatId);
    else renderEmpty();
  }
  renderSidebar();
  renderTopbar();
  drawer(false);
}

export async function openChat(chatId) {
  state.view?.close();
  const view = new ChatView($("#view"), {
    me: state.me,
    onConnection: showConnection,
    onChatLoaded: (chat) => { state.chat = chat; renderTopbar(); },
  });
  state.view = view;
  showConnection("connecting");
  try {
    await view.open(chatId);
  } catch (e) {
    toastError(e);
    if (e.status === 404) go(state.projectId, null);
  }
}

export function renderEmpty() {
  state.view?.close();
  state.view = null;
  showConnection(null);
  const root = clear($("#view"));
  const project = currentProject();
  const card = h("div.empty-state", null, h("div.empty-mark.big", null, h("span.logo", { "aria-hidden": "true" })));
  if (!project) {
    card.append(h("h2", null, t("empty.welcome")), h("p.lead", null, t("empty.lead")));
    if (can("operator")) {
      const b = h("button.btn.primary", { type: "button" }, icon("plus", 16), t("empty.createProject"));
      b.addEventListener("click", newProject);
      card.append(b);
    }
  } else {
    card.append(h("h2", null, t("empty.noChat")), h("p.lead", null, t("empty.startChat", { project: project.name })));
    if (can("operator")) {
      const b = h("button.btn.primary", { type: "button", id: "empty-new-chat" }, icon("plus", 16), t("nav.newChat"));
      b.addEventListener("click", () => newChat(project.id));
      card.append(b);
    }
  }
  root.append(card);
}
