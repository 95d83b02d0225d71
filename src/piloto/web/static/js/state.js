// What the shell knows (who is logged in, the projects, chats, services, the open chat), and two
// window events that let lower modules ask for a re-render or a route without importing the shell.
export const state = {
  me: null,
  projects: [],
  chats: new Map(), // project id -> chats (newest first)
  services: [],
  projectId: null,
  chatId: null,
  chat: null,
  view: null,
};

const ROLE_ORDER = { viewer: 0, operator: 1, admin: 2 };

/** Whether the logged-in person has at least `role`. */
export const can = (role) => Boolean(state.me) && ROLE_ORDER[state.me.role] >= ROLE_ORDER[role];

export const currentProject = () => state.projects.find((p) => p.id === state.projectId) || null;

/** The chat shown now: the full copy once loaded, else the sidebar's. */
export const currentChat = () =>
  state.chatId ? (state.chat || (state.chats.get(state.projectId) || []).find((c) => c.id === state.chatId) || null) : null;

export const CHANGED = "piloto:changed";
export const REROUTE = "piloto:reroute";

/** The sidebar and top bar should be drawn again from `state`. */
export function changed() {
  window.dispatchEvent(new Event(CHANGED));
}

/** Show a project (and chat): through the address bar, so the back button works. */
export function go(projectId, chatId) {
  const hash = projectId ? `#/p/${encodeURIComponent(projectId)}${chatId ? `/c/${encodeURIComponent(chatId)}` : ""}` : "";
  // The same address fires no hashchange: route again explicitly.
  if (location.hash === hash) window.dispatchEvent(new Event(REROUTE));
  else location.hash = hash;
}
