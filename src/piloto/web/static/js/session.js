// Boot and session: log in (form or #token= link), start the app, log out; language and theme.
import { openAudit } from "./audit.js";
import { openNotifications } from "./notifications.js";
import { api, setCsrf, setUnauthorizedHandler } from "./api.js";
import { $, $$, clear, icon } from "./dom.js";
import { applyStatic, lang, onLangChange, setLang, t } from "./i18n.js";
import { newProject } from "./projects.js";
import { openChat, renderEmpty, route } from "./routing.js";
import { showSandboxNotice } from "./sandbox.js";
import { openAddService } from "./services.js";
import { drawer, loadServices, renderSidebar } from "./sidebar.js";
import { CHANGED, REROUTE, can, currentProject, state } from "./state.js";
import { cycleTheme, initTheme, themeIcon, themeLabel } from "./theme.js";
import { toast, toastError } from "./toast.js";
import { renderTopbar } from "./topbar.js";

export async function boot() {
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
  $("#open-notifications").append(icon("alert", 16));
  $("#open-notifications").addEventListener("click", openNotifications);
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
  window.addEventListener(REROUTE, () => route());
  window.addEventListener(CHANGED, () => { if (state.me) { renderSidebar(); renderTopbar(); } });
  window.addEventListener("online", () => state.view?.stream?.kick());
  onLangChange(() => {
    paintPrefs();
    if (state.me) {
      paintMe();
      renderSidebar();
      renderTopbar();
      if (state.chatId) openChat(state.chatId);
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

async function start(me) {
  state.me = me;
  $("#boot").hidden = true;
  $("#login").hidden = true;
  $("#app").hidden = false;
  document.body.dataset.role = me.role;
  $("#new-project").hidden = !can("operator");
  $("#add-service").hidden = !can("admin");
  $("#open-audit").hidden = !can("admin");
  $("#open-notifications").hidden = !can("admin");
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
