// Edit a draft: change a step's arguments (JSON) or drop a step; saving proposes a new plan.
import { h, icon } from "./dom.js";
import { t } from "./i18n.js";
import { openModal } from "./modal.js";
import { riskBadge } from "./cards.js";

export function openEditPlan(run, save) {
  const rows = run.steps.map((s) => {
    const area = h("textarea.input.mono.args-edit", {
      rows: Math.min(10, Math.max(3, JSON.stringify(s.arguments, null, 2).split("\n").length)),
      spellcheck: false, "aria-label": `${t("plan.arguments")} — ${t("plan.step")} ${s.idx + 1}`,
    });
    area.value = JSON.stringify(s.arguments, null, 2);
    const drop = h("button.btn.ghost.small", { type: "button", "aria-pressed": "false" }, icon("trash", 14), t("plan.drop"));
    const row = h("fieldset.edit-step", null,
      h("legend.edit-step-head", null,
        h("span.num", null, `${s.idx + 1}`),
        h("span.svc", null, s.service), h("span.sep", null, "·"), h("span.opname", null, s.operation), riskBadge(s.risk)),
      area, h("div.edit-step-actions", null, drop));
    const state = { step: s, area, row, dropped: false };
    drop.addEventListener("click", () => {
      state.dropped = !state.dropped;
      row.classList.toggle("dropped", state.dropped);
      area.disabled = state.dropped;
      drop.setAttribute("aria-pressed", String(state.dropped));
      drop.lastChild.textContent = state.dropped ? t("plan.restore") : t("plan.drop");
    });
    return state;
  });
  const summary = h("input.input", { type: "text", value: run.summary, maxLength: 300, id: "edit-summary" });
  const err = h("p.form-error", { role: "alert", hidden: true });
  const ok = h("button.btn.primary", { type: "button" }, t("plan.propose"));
  const cancel = h("button.btn.ghost", { type: "button" }, t("common.cancel"));
  const m = openModal({
    title: t("plan.editTitle"), size: "lg",
    body: [h("p.modal-text.muted", null, t("plan.editLead")),
      h("label.label", { for: "edit-summary" }, t("common.title")), summary,
      h("div.edit-steps", null, rows.map((r) => r.row)), err],
    footer: [cancel, ok],
  });
  cancel.addEventListener("click", () => m.close());
  ok.addEventListener("click", async () => {
    err.hidden = true;
    const steps = [];
    for (const r of rows) {
      if (r.dropped) continue;
      let args;
      try { args = JSON.parse(r.area.value || "{}"); } catch { args = null; }
      if (!args || typeof args !== "object" || Array.isArray(args)) {
        err.textContent = t("plan.badJson", { n: r.step.idx + 1 });
        err.hidden = false;
        r.area.focus();
        return;
      }
      steps.push({ service: r.step.service, operation: r.step.operation, arguments: args });
    }
    if (!steps.length) {
      err.textContent = t("plan.noSteps");
      err.hidden = false;
      return;
    }
    ok.disabled = true;
    try {
      await save(steps, summary.value.trim() || undefined);
      m.close();
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
      ok.disabled = false;
    }
  });
}
