// The JSON API: cookie session, CSRF header on every write, errors with a sentence for a person.
import { t } from "./i18n.js";
import { uuid } from "./dom.js";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || null;
    this.body = body || {};
  }
}

let csrf = null;
let onUnauthorized = () => {};

export function setCsrf(value) {
  csrf = value;
}

export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

function csrfToken() {
  if (csrf) return csrf;
  const m = document.cookie.match(/(?:^|;\s*)piloto_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

/** fetch JSON; `idempotent: true` sends a fresh Idempotency-Key (reused by the retry below). */
export async function request(method, path, body, { idempotent = false, signal, quiet401 = false } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  if (idempotent) headers["Idempotency-Key"] = uuid();
  const init = { method, headers, credentials: "same-origin", signal };
  if (body !== undefined) init.body = JSON.stringify(body);
  let res;
  for (let attempt = 0; ; attempt++) {
    try {
      res = await fetch(path, init);
      break;
    } catch (err) {
      if (err.name === "AbortError") throw err;
      // A network failure: an idempotent write (same key) or a read may safely be tried again.
      if (attempt < 2 && (method === "GET" || idempotent)) {
        await new Promise((r) => setTimeout(r, 400 * (attempt + 1)));
        continue;
      }
      throw new ApiError(0, { detail: t("toast.network"), code: "network" });
    }
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = { detail: text.slice(0, 300) }; }
  }
  if (!res.ok) {
    if (res.status === 401 && !quiet401) onUnauthorized();
    throw new ApiError(res.status, data);
  }
  return data;
}

const enc = encodeURIComponent;

export const api = {
  health: () => request("GET", "/api/health"),
  me: () => request("GET", "/api/me", undefined, { quiet401: true }),
  login: (token) => request("POST", "/api/login", { token }, { quiet401: true }),
  logout: () => request("POST", "/api/logout", {}),

  projects: () => request("GET", "/api/projects"),
  createProject: (name) => request("POST", "/api/projects", { name }),
  renameProject: (id, name) => request("PATCH", `/api/projects/${enc(id)}`, { name }),
  deleteProject: (id) => request("DELETE", `/api/projects/${enc(id)}`),

  chats: (projectId) => request("GET", `/api/projects/${enc(projectId)}/chats`),
  createChat: (projectId, title, language) => request("POST", "/api/chats", { project_id: projectId, title, language }),
  chat: (id) => request("GET", `/api/chats/${enc(id)}`),
  patchChat: (id, patch) => request("PATCH", `/api/chats/${enc(id)}`, patch),
  models: () => request("GET", "/api/models"),
  deleteChat: (id) => request("DELETE", `/api/chats/${enc(id)}`),
  messages: (id, after = 0, limit = 200) => request("GET", `/api/chats/${enc(id)}/messages?after=${after}&limit=${limit}`),
  send: (chatId, text) => request("POST", "/api/send", { chat_id: chatId, text }, { idempotent: true }),

  run: (id) => request("GET", `/api/runs/${enc(id)}`),
  runs: (chatId) => request("GET", `/api/chats/${enc(chatId)}/runs`),
  confirm: (id, planHash) => request("POST", `/api/runs/${enc(id)}/confirm`, { plan_hash: planHash }, { idempotent: true }),
  cancel: (id) => request("POST", `/api/runs/${enc(id)}/cancel`, {}, { idempotent: true }),
  edit: (id, steps, summary) => request("POST", `/api/runs/${enc(id)}/edit`, { steps, summary }),
  decide: (id, decision) => request("POST", `/api/runs/${enc(id)}/decision`, { decision }),

  services: (projectId) => request("GET", `/api/services${projectId ? `?project_id=${enc(projectId)}` : ""}`),
  addService: (body) => request("POST", "/api/services", body),
  refreshService: (id) => request("POST", `/api/services/${enc(id)}/refresh`, {}),
  deleteService: (id) => request("DELETE", `/api/services/${enc(id)}`),
  operations: (id) => request("GET", `/api/services/${enc(id)}/operations`),
  audit: (query) => request("GET", `/api/audit${query ? `?${query}` : ""}`),
  verifyAudit: () => request("GET", "/api/audit/verify"),
  notifications: (status) => request("GET", `/api/notifications${status ? `?status=${encodeURIComponent(status)}` : ""}`),
  runbooks: (projectId) => request("GET", `/api/runbooks?project_id=${enc(projectId)}`),
  createRunbook: (body) => request("POST", "/api/runbooks", body),
  startRunbook: (id, chatId, args) => request("POST", `/api/runbooks/${enc(id)}/start`, { chat_id: chatId, arguments: args }),
  schedules: (projectId) => request("GET", `/api/schedules?project_id=${enc(projectId)}`),
  patchOperation: (id, op, patch) => request("PATCH", `/api/services/${enc(id)}/operations/${enc(op)}`, patch),
};
