// Boot, login, the sidebar (projects, chats, services), routing (#/p/ID/c/ID), theme, language.
import { openAudit } from "./audit.js";
import { api, setCsrf, setUnauthorizedHandler } from "./api.js";
import { h, icon, clear, $, $$ } from "./dom.js";
import { t, lang, setLang, applyStatic, onLangChange, relTime } from "./i18n.js";
import { promptDialog, confirmDialog } from "./modal.js";
import { menuButton } from "./menu.js";
import { ChatView } from "./chat.js";
import { showSandboxNotice } from "./sandbox.js";
import { openAddService, openServiceDetails, statusDot } from "./services.js";
import { openProjectSettings } from "./settings.js";
import { initTheme, cycleTheme, themeLabel, themeIcon } from "./theme.js";
import { toast, toastError } from "./toast.js";

const state = {
  me: null,
  projects: [],
  chats: new Map(), // project id -> chats (newest first)
  services: [],
  projectId: null,
  chatId: null,
  chat: null,
  view: null,
};

const can = (role) => {
  const order = { viewer: 0, operator: 1, admin: 2 };
  return state.me && order[state.me.role] >= order[role];
};

// -- boot ------------------------------------------------------------------------------------

async function boot() {
  initTheme();
  document.documentElement.lang = lang();
  applyStatic(document);
  wireStatic();
  setUnauthorizedHandler(() => showLogin(t("login.expired")));

  if (await loginFromFragment()) return;
  try {
    start(await api.me());
  } catch {
    showLogin();
  }
}

/** A login link: http://host/#token=SECRET. Log in with it, then remove it from the address bar. */
async function loginFromFragment() {
  const m = location.hash.match(/[#&]token=([^&]+)/);
  if (!m) return false;
  const token = decodeURIComponent(m[1]);
  history.replaceState(null, "", location.pathname + location.search);
  try {
    const res = await api.login(token);
    setCsrf(res.csrf);
    await start({ name: res.name, role: res.role });
  } catch (e) {
    showLogin(e.message);
  }
  return true;
}

function wireStatic() {
  for (const b of $$(".lang-switch .seg")) b.addEventListener("click", () => switchLanguage(b.dataset.lang));
  for (const b of $$(".theme-toggle")) b.addEventListener("click", () => { cycleTheme(); paintPrefs(); });
  $("#login-form").addEventListener("submit", onLoginSubmit);
  $("#new-project").append(icon("plus", 16));
  $("#add-service").append(icon("plus", 16));
  $("#logout").append(icon("logout", 16));
  $("#open-audit").append(icon("check", 16));
  $("#open-audit").addEventListener("click", () => openAudit({ projects: state.projects || [] }));
  $("#open-drawer").append(icon("menu", 18));
  $("#close-drawer").append(icon("x", 18));
  $("#new-project").addEventListener("click", newProject);
  $("#add-service").addEventListener("click", () => openAddService({ project: currentProject(), isAdmin: can("admin"), onChanged: loadServices }));
  $("#logout").addEventListener("click", logout);
  $("#open-drawer").addEventListener("click", () => drawer(true));
  $("#close-drawer").addEventListener("click", () => drawer(false));
  $("#scrim").addEventListener("click", () => drawer(false));
  // Following a link in the drawer closes it, even when it points where we already are.
  $("#sidebar").addEventListener("click", (ev) => { if (ev.target.closest("a[href]")) drawer(false); });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && document.body.classList.contains("drawer-open") && !document.querySelector("dialog[open]")) {
      drawer(false);
      $("#open-drawer").focus();
    }
  });
  window.addEventListener("hashchange", async () => {
    if (!(await loginFromFragment())) route();
  });
  window.addEventListener("online", () => state.view?.stream?.kick());
  onLangChange(() => {
    paintPrefs();
    if (state.me) {
      paintMe();
      renderSidebar();
      renderTopbar();
      if (state.chatId) openChat(state.chatId, true);
      else renderEmpty();
    }
  });
  paintPrefs();
}

function paintPrefs() {
  for (const b of $$(".lang-switch .seg")) b.setAttribute("aria-checked", String(b.dataset.lang === lang()));
  for (const b of $$(".theme-toggle")) {
    clear(b).append(icon(themeIcon(), 16));
    b.title = `${t("nav.theme")}: ${themeLabel()}`;
    b.setAttribute("aria-label", b.title);
  }
}

async function switchLanguage(value) {
  if (value === lang()) return;
  setLang(value);
  // Server-written messages (plans, progress) follow the chat's language.
  if (state.chatId && can("operator")) {
    try {
      await api.patchChat(state.chatId, { language: value });
      toast(t("toast.languageChat"));
    } catch (e) {
      toastError(e);
    }
  }
}

// -- login -----------------------------------------------------------------------------------

function showLogin(message) {
  state.view?.close();
  state.me = null;
  $("#boot").hidden = true;
  $("#app").hidden = true;
  $("#login").hidden = false;
  const err = $("#login-error");
  err.hidden = !message;
  err.textContent = message || "";
  $("#login-token").focus();
}

async function onLoginSubmit(ev) {
  ev.preventDefault();
  const input = $("#login-token");
  const btn = $("#login-submit");
  const err = $("#login-error");
  if (!input.value.trim()) { input.focus(); return; }
  btn.disabled = true;
  btn.textContent = t("login.busy");
  err.hidden = true;
  try {
    const res = await api.login(input.value.trim());
    setCsrf(res.csrf);
    input.value = "";
    start({ name: res.name, role: res.role });
  } catch (e) {
    err.textContent = e.message;
    err.hidden = false;
    input.select();
  } finally {
    btn.disabled = false;
    btn.textContent = t("login.submit");
  }
}

async function logout() {
  try { await api.logout(); } catch { /* the cookie may already be gone */ }
  setCsrf(null);
  history.replaceState(null, "", location.pathname);
  showLogin();
}

// -- app -------------------------------------------------------------------------------------

async function start(me) {
  state.me = me;
  $("#boot").hidden = true;
  $("#login").hidden = true;
  $("#app").hidden = false;
  document.body.dataset.role = me.role;
  $("#new-project").hidden = !can("operator");
  $("#add-service").hidden = !can("admin");
  $("#open-audit").hidden = !can("admin");
  paintMe();
  showSandboxNotice();
  try {
    state.projects = await api.projects();
  } catch (e) {
    toastError(e);
  }
  await route();
}

function paintMe() {
  $("#me-avatar").textContent = (state.me.name || "?").slice(0, 1).toUpperCase();
  $("#me-name").textContent = state.me.name;
  $("#me-role").textContent = t(`role.${state.me.role}`);
}

function parseHash() {
  const m = location.hash.match(/^#\/p\/([^/]+)(?:\/c\/([^/]+))?/);
  return m ? { projectId: decodeURIComponent(m[1]), chatId: m[2] ? decodeURIComponent(m[2]) : null } : {};
}

function go(projectId, chatId) {
  const hash = projectId ? `#/p/${encodeURIComponent(projectId)}${chatId ? `/c/${encodeURIComponent(chatId)}` : ""}` : "";
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  if (!state.me) return;
  let { projectId, chatId } = parseHash();
  if (!projectId || !state.projects.some((p) => p.id === projectId)) {
    let remembered = null;
    try { remembered = localStorage.getItem("piloto.project"); } catch { /* ignore */ }
    const fallback = state.projects.find((p) => p.id === remembered) || state.projects[0];
    projectId = fallback ? fallback.id : null;
    chatId = null;
  }
  const projectChanged = projectId !== state.projectId;
  state.projectId = projectId;
  if (projectId) try { localStorage.setItem("piloto.project", projectId); } catch { /* ignore */ }
  if (projectId && (projectChanged || !state.chats.has(projectId))) await loadChats(projectId);
  if (projectChanged) loadServices();
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

async function loadChats(projectId) {
  try {
    state.chats.set(projectId, await api.chats(projectId));
  } catch (e) {
    toastError(e);
  }
  renderSidebar();
}

async function loadServices() {
  try {
    state.services = await api.services(state.projectId);
  } catch (e) {
    state.services = [];
    toastError(e);
  }
  renderServices();
}

const currentProject = () => state.projects.find((p) => p.id === state.projectId) || null;

async function openChat(chatId, keepScroll = false) {
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
  void keepScroll;
}

function renderEmpty() {
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

// -- sidebar ---------------------------------------------------------------------------------

function renderSidebar() {
  const list = clear($("#project-list"));
  if (!state.projects.length) list.append(h("li.nav-empty", null, t("nav.noProjects")));
  for (const p of state.projects) {
    const open = p.id === state.projectId;
    const link = h("a.nav-item.project-item", { href: `#/p/${encodeURIComponent(p.id)}`, "aria-current": open && !state.chatId ? "page" : null, "aria-expanded": String(open), dataset: { projectId: p.id } },
      icon("chevron", 14), h("span.nav-label", null, p.name));
    const row = h("div.nav-row", null, link);
    if (can("operator")) {
      const items = [{ label: t("common.rename"), icon: "edit", onSelect: () => renameProject(p) }];
      if (can("admin")) items.push({ label: t("settings.menu"), icon: "edit", onSelect: () => editProjectSettings(p) });
      if (can("admin")) items.push({ label: t("common.delete"), icon: "trash", danger: true, onSelect: () => deleteProject(p) });
      row.append(menuButton(t("nav.actions", { name: p.name }), items));
    }
    const li = h(`li.project${open ? ".open" : ""}`, null, row);
    if (open) {
      const chats = state.chats.get(p.id) || [];
      const sub = h("ul.chat-list");
      for (const c of chats) {
        const active = c.id === state.chatId;
        const a = h("a.nav-item.chat-item", { href: `#/p/${encodeURIComponent(p.id)}/c/${encodeURIComponent(c.id)}`, "aria-current": active ? "page" : null, dataset: { chatId: c.id } },
          h("span.nav-label", null, c.title), h("span.nav-time", null, relTime(c.updated_at || c.created_at)));
        const crow = h("div.nav-row", null, a);
        if (can("operator")) crow.append(menuButton(t("nav.actions", { name: c.title }), [
          { label: t("common.rename"), icon: "edit", onSelect: () => renameChat(c) },
          { label: t("common.delete"), icon: "trash", danger: true, onSelect: () => deleteChat(c) },
        ]));
        sub.append(h("li", null, crow));
      }
      if (!chats.length) sub.append(h("li.nav-empty", null, t("nav.noChats")));
      if (can("operator")) {
        const nb = h("button.nav-item.new-chat", { type: "button", id: "new-chat" }, icon("plus", 14), h("span.nav-label", null, t("nav.newChat")));
        nb.addEventListener("click", () => newChat(p.id));
        sub.append(h("li", null, nb));
      }
      li.append(sub);
    }
    list.append(li);
  }
  renderServices();
}

function renderServices() {
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

function renderTopbar() {
  const project = currentProject();
  $("#crumb-project").textContent = project ? project.name : "Piloto";
  const chat = state.chatId ? (state.chat || (state.chats.get(state.projectId) || []).find((c) => c.id === state.chatId)) : null;
  $("#crumb-sep").hidden = !chat;
  $("#crumb-chat").textContent = chat ? chat.title : "";
  document.title = chat ? `${chat.title} · Piloto` : "Piloto";
  const actions = clear($("#chat-actions"));
  if (chat && can("operator")) {
    actions.append(menuButton(t("nav.actions", { name: chat.title }), [
      { label: t("common.rename"), icon: "edit", onSelect: () => renameChat(chat) },
      { label: t("common.delete"), icon: "trash", danger: true, onSelect: () => deleteChat(chat) },
    ]));
  }
}

function showConnection(status) {
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

function drawer(open) {
  document.body.classList.toggle("drawer-open", open);
  $("#scrim").hidden = !open;
  $("#open-drawer").setAttribute("aria-expanded", String(open));
  if (open) $("#sidebar .nav-item")?.focus();
}

// -- create / rename / delete ----------------------------------------------------------------

async function newProject() {
  const p = await promptDialog({
    title: t("project.newTitle"), label: t("common.name"), placeholder: t("project.placeholder"), submitLabel: t("common.create"),
    maxLength: 100, action: (name) => api.createProject(name),
  });
  if (!p) return;
  state.projects = await api.projects();
  state.chats.set(p.id, []);
  go(p.id, null);
}

async function renameProject(p) {
  const res = await promptDialog({ title: t("project.renameTitle"), label: t("common.name"), value: p.name, submitLabel: t("common.save"), maxLength: 100, action: (name) => api.renameProject(p.id, name) });
  if (!res) return;
  state.projects = state.projects.map((x) => (x.id === res.id ? res : x));
  renderSidebar();
  renderTopbar();
}

function editProjectSettings(p) {
  // The sidebar's menu may hold an older copy: show what was last saved.
  openProjectSettings({
    project: state.projects.find((x) => x.id === p.id) || p,
    onSaved: (updated) => {
      state.projects = state.projects.map((x) => (x.id === updated.id ? updated : x));
      toast(t("settings.saved"), { kind: "success" });
    },
  });
}

async function deleteProject(p) {
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
  else renderSidebar();
}

async function newChat(projectId) {
  const chat = await promptDialog({
    title: t("chat.newTitle"), label: t("common.title"), value: t("chat.defaultTitle"), submitLabel: t("common.create"),
    action: (title) => api.createChat(projectId, title, lang()),
  });
  if (!chat) return;
  state.chats.set(projectId, [chat, ...(state.chats.get(projectId) || [])]);
  go(projectId, chat.id);
}

async function renameChat(c) {
  const res = await promptDialog({ title: t("chat.renameTitle"), label: t("common.title"), value: c.title, submitLabel: t("common.save"), action: (title) => api.patchChat(c.id, { title }) });
  if (!res) return;
  const list = state.chats.get(res.project_id) || [];
  state.chats.set(res.project_id, list.map((x) => (x.id === res.id ? res : x)));
  if (state.chat && state.chat.id === res.id) state.chat = { ...state.chat, ...res };
  renderSidebar();
  renderTopbar();
}

async function deleteChat(c) {
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
  else renderSidebar();
}

boot();
