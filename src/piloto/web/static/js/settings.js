// Project settings (policy) for admins: auto-approve reads, the command allowlist, and how many
// people must approve each risk. Saving sends only what changed; the server merges and checks.
import { request } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { openModal } from "./modal.js";

const RISKS = ["read", "write", "destructive"];
let uid = 0;

function field(label, input, help) {
  const id = input.id || `ps${++uid}`;
  input.id = id;
  return h("div.field", null, h("label.label", { for: id }, label), input, help ? h("p.help", null, help) : null);
}

/** Programs from a textarea: one per line or separated by commas; empty means no allowlist. */
export function parseAllowlist(text) {
  const names = text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
  return names.length ? [...new Set(names)] : null;
}

/** The settings that differ from `current`, as PATCH expects them; null when nothing changed. */
export function settingsPatch(current, next) {
  const patch = {};
  for (const [k, v] of Object.entries(next)) {
    if (JSON.stringify(current[k] ?? null) !== JSON.stringify(v ?? null)) patch[k] = v;
  }
  return Object.keys(patch).length ? patch : null;
}

/** The settings modal; `onSaved(project)` gets the updated project. Admins only. */
export function openProjectSettings({ project, onSaved }) {
  const s = project.settings || {};
  const auto = h("input", { type: "checkbox", checked: Boolean(s.auto_approve_reads), id: "ps-auto" });
  const allow = h("textarea.input.mono", {
    rows: 4, spellcheck: false, id: "ps-allowlist", placeholder: "ls\ndf\njournalctl",
  });
  allow.value = (s.command_allowlist || []).join("\n");
  const counts = {};
  const row = h("div.approvals-grid");
  // Three columns without a stylesheet rule: set through the CSSOM (the CSP allows it).
  Object.assign(row.style, { display: "grid", gridTemplateColumns: "repeat(3, 1fr)", gap: "14px" });
  for (const risk of RISKS) {
    const input = h("input.input", {
      type: "number", min: 1, max: 10, step: 1, inputMode: "numeric", id: `ps-approvals-${risk}`,
      placeholder: "1", value: s.required_approvals?.[risk] ?? "",
    });
    counts[risk] = input;
    row.append(field(t(`risk.${risk}`), input));
  }
  const err = h("div.form-error", { role: "alert", hidden: true });
  const submit = h("button.btn.primary", { type: "submit" }, t("common.save"));
  const cancel = h("button.btn.ghost", { type: "button" }, t("common.cancel"));
  const form = h("form.form.project-settings", { novalidate: true },
    h("p.modal-text.muted", null, t("settings.lead")),
    h("div.field", null,
      h("label.check", { for: "ps-auto" }, auto, h("span", null, t("settings.autoReads"))),
      h("p.help", null, t("settings.autoReadsHelp"))),
    field(t("settings.allowlist"), allow, t("settings.allowlistHelp")),
    h("div.field", { role: "group", "aria-labelledby": "ps-approvals-label" },
      h("span.label", { id: "ps-approvals-label" }, t("settings.approvals")), row,
      h("p.help", null, t("settings.approvalsHelp"))),
    err,
    h("div.modal-foot.inline", null, cancel, submit));
  const m = openModal({ title: t("settings.title", { name: project.name }), body: form, size: "md" });
  m.footer.remove();
  cancel.addEventListener("click", () => m.close());

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    const required = {};
    for (const risk of RISKS) {
      const raw = counts[risk].value.trim();
      if (!raw) continue;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1 || n > 10) {
        err.textContent = t("settings.badCount", { risk: t(`risk.${risk}`) });
        err.hidden = false;
        counts[risk].focus();
        return;
      }
      required[risk] = n;
    }
    const patch = settingsPatch(s, {
      auto_approve_reads: auto.checked,
      command_allowlist: parseAllowlist(allow.value),
      required_approvals: required,
    });
    if (!patch) { m.close(); return; }
    submit.disabled = true;
    try {
      const updated = await request("PATCH", `/api/projects/${encodeURIComponent(project.id)}`, { settings: patch });
      m.close();
      onSaved?.(updated);
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
      submit.disabled = false;
    }
  });
  return m;
}
