// The audit trail (admins): filters by project, chat, run and actor; verify the hash chain.
import { api } from "./api.js";
import { h, clear } from "./dom.js";
import { t } from "./i18n.js";
import { openModal } from "./modal.js";
import { toastError } from "./toast.js";

function field(label, input) {
  return h("label.field.audit-filter", null, h("span.label", null, label), input);
}

export function openAudit({ projects }) {
  const project = h("select.input", { name: "project_id" },
    h("option", { value: "" }, t("audit.any")),
    ...projects.map((p) => h("option", { value: p.id }, p.name)));
  const chat = h("input.input.mono", { name: "chat_id", placeholder: t("audit.chat"), autocomplete: "off" });
  const run = h("input.input.mono", { name: "run_id", placeholder: t("audit.run"), autocomplete: "off" });
  const actor = h("input.input", { name: "actor", placeholder: t("audit.actor"), autocomplete: "off" });
  const status = h("p.audit-status", { role: "status" });
  const body = h("tbody");
  const table = h("div.table-wrap", null, h("table.steps-table.audit-table", null,
    h("thead", null, h("tr", null, ...["audit.time", "audit.actor", "audit.action", "audit.runCol", "audit.outcome", "audit.hash"].map((k) => h("th", null, t(k))))),
    body));
  const verify = h("button.btn.ghost", { type: "button" }, t("audit.verify"));

  async function load() {
    const params = new URLSearchParams();
    for (const el of [project, chat, run, actor]) if (el.value.trim()) params.set(el.name, el.value.trim());
    try {
      const rows = await api.audit(params.toString());
      clear(body);
      if (!rows.length) body.append(h("tr", null, h("td", { colspan: 6 }, t("audit.empty"))));
      for (const r of rows) {
        body.append(h("tr", null,
          h("td.num", null, new Date(r.ts * 1000).toLocaleString()),
          h("td", null, r.actor),
          h("td.mono", null, r.action),
          h("td.mono", { title: r.run_id || "" }, r.run_id ? r.run_id.slice(-8) : "—"),
          h("td", null, r.outcome || ""),
          h("td.mono", { title: r.hash }, r.hash.slice(0, 10))));
      }
    } catch (e) {
      toastError(e);
    }
  }

  verify.addEventListener("click", async () => {
    try {
      const res = await api.verifyAudit();
      status.textContent = res.ok ? t("audit.ok", { n: res.checked }) : t("audit.broken", { reason: res.reason });
      status.className = `audit-status ${res.ok ? "ok" : "bad"}`;
    } catch (e) {
      toastError(e);
    }
  });
  for (const el of [project, chat, run, actor]) el.addEventListener("change", load);
  const filters = h("form.audit-filters", null, field(t("audit.project"), project), field(t("audit.chat"), chat), field(t("audit.run"), run), field(t("audit.actor"), actor));
  filters.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  openModal({ title: t("audit.title"), body: [filters, status, table], footer: [verify], size: "lg" });
  load();
}
