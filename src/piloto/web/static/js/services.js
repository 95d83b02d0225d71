// Tool services: register (with discovery result), details (operations allowlist), refresh, remove.
import { api } from "./api.js";
import { h, icon, clear } from "./dom.js";
import { t, relTime } from "./i18n.js";
import { openModal, confirmDialog } from "./modal.js";
import { riskBadge } from "./cards.js";
import { toast, toastError } from "./toast.js";

export function statusDot(status) {
  return h(`span.status-dot.svc-${status}`, { title: t(`svc.status.${status}`), role: "img", "aria-label": t(`svc.status.${status}`) });
}

let uid = 0;
function field(label, input, help) {
  const id = input.id || `f${++uid}`;
  input.id = id;
  return h("div.field", null, h("label.label", { for: id }, label), input, help ? h("p.help", null, help) : null);
}

/** The "Add service" modal. `project` may be null (then the service is global). */
export function openAddService({ project, isAdmin, onChanged }) {
  const name = h("input.input.mono", { type: "text", required: true, maxLength: 64, placeholder: "billing", autocomplete: "off", autofocus: true });
  const kind = h("div.segmented", { role: "radiogroup", "aria-label": t("svc.kind") });
  const kinds = { openapi: t("svc.kindOpenapi"), mcp: t("svc.kindMcp") };
  let kindValue = "openapi";
  const transport = h("select.input", null, h("option", { value: "http" }, t("svc.transportHttp")), h("option", { value: "stdio" }, t("svc.transportStdio")));
  const baseUrl = h("input.input.mono", { type: "url", placeholder: "https://api.example.com", autocomplete: "off" });
  const docUrl = h("input.input.mono", { type: "url", placeholder: "https://api.example.com/openapi.json", autocomplete: "off" });
  const url = h("input.input.mono", { type: "url", placeholder: "https://mcp.example.com/mcp", autocomplete: "off" });
  const command = h("input.input.mono", { type: "text", placeholder: "npx -y @modelcontextprotocol/server-everything", autocomplete: "off" });
  const scope = h("select.input", null,
    project ? h("option", { value: project.id }, t("svc.scopeProject", { name: project.name })) : null,
    h("option", { value: "" }, t("svc.scopeGlobal")));
  const bearer = h("input.input.mono", { type: "password", autocomplete: "off", placeholder: "••••••" });
  const headers = h("textarea.input.mono", { rows: 2, placeholder: "X-Api-Key: …", spellcheck: false });
  const offline = h("input", { type: "checkbox" });
  const err = h("div.form-error", { role: "alert", hidden: true });
  const submit = h("button.btn.primary", { type: "submit" }, t("svc.discover"));
  const cancel = h("button.btn.ghost", { type: "button" }, t("common.cancel"));

  const openapiFields = h("div.group", null, field(t("svc.baseUrl"), baseUrl), field(`${t("svc.docUrl")} (${t("common.optional")})`, docUrl, t("svc.docUrlHelp")));
  const urlField = field(t("svc.url"), url);
  const cmdField = field(t("svc.command"), command, t("svc.commandHelp"));
  const mcpFields = h("div.group", { hidden: true }, field(t("svc.transport"), transport), urlField, cmdField);
  const sync = () => {
    openapiFields.hidden = kindValue !== "openapi";
    mcpFields.hidden = kindValue !== "mcp";
    urlField.hidden = transport.value !== "http";
    cmdField.hidden = transport.value !== "stdio";
  };
  for (const [value, label] of Object.entries(kinds)) {
    const b = h("button.seg", { type: "button", role: "radio", "aria-checked": String(value === kindValue), dataset: { value } }, label);
    b.addEventListener("click", () => {
      kindValue = value;
      for (const x of kind.children) x.setAttribute("aria-checked", String(x.dataset.value === value));
      sync();
    });
    kind.append(b);
  }
  transport.addEventListener("change", sync);
  sync();

  const form = h("form.form", { novalidate: true },
    h("p.modal-text.muted", null, t("svc.lead")),
    h("div.grid2", null, field(t("svc.name"), name, t("svc.nameHelp")), field(t("svc.scope"), scope)),
    h("div.field", null, h("span.label", null, t("svc.kind")), kind),
    openapiFields, mcpFields,
    h("details.creds", null, h("summary", null, icon("chevron", 14), t("svc.credentials"), h("span.muted", null, ` (${t("common.optional")})`)),
      field(t("svc.bearer"), bearer), field(t("svc.headers"), headers, t("svc.headersHelp"))),
    h("label.check", null, offline, h("span", null, t("svc.allowOffline"))),
    err,
    h("div.modal-foot.inline", null, cancel, submit));
  const m = openModal({ title: t("svc.addTitle"), body: form, size: "md" });
  m.footer.remove();
  cancel.addEventListener("click", () => m.close());
  if (!isAdmin) {
    err.textContent = t("svc.adminOnly");
    err.hidden = false;
    submit.disabled = true;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    const body = { name: name.value.trim(), kind: kindValue, allow_offline: offline.checked };
    if (scope.value) body.project_id = scope.value;
    if (kindValue === "openapi") {
      body.base_url = baseUrl.value.trim() || undefined;
      body.doc_url = docUrl.value.trim() || undefined;
    } else if (transport.value === "http") body.url = url.value.trim() || undefined;
    else body.command = splitCommand(command.value);
    if (bearer.value.trim()) body.bearer_token = bearer.value.trim();
    const hdrs = {};
    const lines = headers.value.split("\n").map((l) => l.trim()).filter(Boolean);
    for (const [i, line] of lines.entries()) {
      const k = line.indexOf(":");
      if (k < 1) { err.textContent = t("svc.badHeader", { n: i + 1 }); err.hidden = false; return; }
      hdrs[line.slice(0, k).trim()] = line.slice(k + 1).trim();
    }
    if (lines.length) body.headers = hdrs;
    submit.disabled = true;
    submit.textContent = t("svc.discovering");
    form.setAttribute("aria-busy", "true");
    try {
      const svc = await api.addService(body);
      onChanged?.();
      m.close();
      openServiceDetails({ service: svc, isAdmin, onChanged, justRegistered: true });
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
      submit.disabled = false;
      submit.textContent = t("svc.discover");
      form.removeAttribute("aria-busy");
    }
  });
}

/** Split a command line on spaces, honouring simple quotes. */
export function splitCommand(text) {
  const out = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m;
  while ((m = re.exec(text))) out.push(m[1] ?? m[2] ?? m[3]);
  return out.length ? out : undefined;
}

/** A service's details: status, its operations with risk and on/off toggles, Refresh, Remove. */
export function openServiceDetails({ service, isAdmin, onChanged, justRegistered = false }) {
  let svc = service;
  const head = h("div.svc-head");
  const list = h("div.ops", { "aria-busy": "true" }, h("div.loading", null, h("span.spinner"), t("common.loading")));
  const refresh = h("button.btn.subtle", { type: "button", disabled: !isAdmin }, icon("refresh", 14), t("svc.refresh"));
  const remove = h("button.btn.ghost.danger-text", { type: "button", disabled: !isAdmin }, icon("trash", 14), t("svc.delete"));
  const done = h("button.btn.primary", { type: "button" }, t("svc.done"));
  const m = openModal({
    title: justRegistered ? t("svc.registered", { name: svc.name, n: svc.operation_count }) : svc.name,
    body: [head, h("h3.section-title", null, t("svc.operations")), list, isAdmin ? null : h("p.muted.small", null, t("svc.adminOnly"))],
    footer: [h("div.foot-left", null, refresh, remove), done], size: "lg",
  });
  m.el.classList.add("svc-modal");
  done.addEventListener("click", () => m.close());

  const renderHead = () => {
    clear(head).append(...[
      h("div.svc-title", null, statusDot(svc.status), h("strong.mono", null, svc.name),
        h("span.badge.kind", null, svc.kind === "mcp" ? "MCP" : "OpenAPI"),
        svc.project_id ? null : h("span.badge.neutral", null, t("nav.global")),
        h("span.muted.small", null, t(`svc.status.${svc.status}`))),
      h("div.svc-sub.mono", null, svc.base_url || svc.url || (svc.command || []).join(" ")),
      svc.title ? h("div.muted.small", null, svc.title) : null,
      svc.has_credentials ? h("div.muted.small", null, "🔒 ", t("svc.credsStored")) : null,
      svc.last_error ? h("div.form-error", null, `${t("svc.lastError")}: ${svc.last_error}`) : null,
      svc.last_checked_at ? h("div.muted.small", null, relTime(svc.last_checked_at)) : null,
    ].filter(Boolean));
  };

  const renderOps = async () => {
    list.setAttribute("aria-busy", "true");
    let ops;
    try {
      ops = await api.operations(svc.id);
    } catch (e) {
      clear(list).append(h("p.form-error", null, e.message));
      return;
    }
    list.removeAttribute("aria-busy");
    clear(list);
    if (!ops.length) { list.append(h("p.muted", null, t("svc.noOperations"))); return; }
    for (const op of ops) {
      const toggle = h("input.switch", { type: "checkbox", checked: op.enabled, disabled: !isAdmin, role: "switch", "aria-label": t("svc.toggle", { op: op.operation }) });
      toggle.addEventListener("change", async () => {
        const want = toggle.checked;
        toggle.disabled = true;
        try {
          const res = await api.patchOperation(svc.id, op.operation, { enabled: want });
          toggle.checked = res.enabled;
          row.classList.toggle("off", !res.enabled);
        } catch (e) {
          toggle.checked = !want;
          toastError(e);
        } finally {
          toggle.disabled = false;
        }
      });
      const row = h(`div.op-row${op.enabled ? "" : ".off"}`, null,
        h("div.op-main", null,
          h("div.op-line", null, h("span.method", { dataset: { method: op.method } }, op.method), h("code.op-path", null, op.path || op.operation)),
          h("div.op-name.muted.small", null, h("span.mono", null, op.operation), op.summary ? ` — ${op.summary}` : "")),
        riskBadge(op.risk), toggle);
      list.append(row);
    }
  };

  refresh.addEventListener("click", async () => {
    refresh.disabled = true;
    refresh.lastChild.textContent = t("svc.refreshing");
    try {
      svc = await api.refreshService(svc.id);
      renderHead();
      await renderOps();
      toast(t("svc.refreshed", { n: svc.operation_count }), { kind: "success" });
      onChanged?.();
    } catch (e) {
      toastError(e);
    } finally {
      refresh.disabled = false;
      refresh.lastChild.textContent = t("svc.refresh");
    }
  });
  remove.addEventListener("click", async () => {
    const ok = await confirmDialog({
      title: t("svc.delete"), confirmLabel: t("common.delete"),
      message: t("svc.deleteBody", { name: svc.name, n: svc.operation_count }),
      action: () => api.deleteService(svc.id),
    });
    if (ok) {
      m.close();
      toast(t("toast.deleted"), { kind: "success" });
      onChanged?.();
    }
  });
  renderHead();
  renderOps();
}
