// Plan and run cards: one card per run, anchored at its plan message, updated in place.
import { h, icon } from "./dom.js";
import { t, duration, relTime, fullTime } from "./i18n.js";
import { renderInline } from "./markdown.js";
import { saveAsRunbook } from "./runbooks.js";

const ACTIVE = new Set(["queued", "running", "cancelling"]);
const FINAL_DRAFTLESS = new Set(["superseded", "expired", "cancelled"]);

/** `run` with a run_delta applied (the runner's changed step, status and counters); a new object. */
export function applyRunDelta(run, d) {
  if (!run || run.id !== d.id || run.updated_at > d.updated_at) return run;
  const next = { ...run, updated_at: d.updated_at };
  if (d.status) next.status = d.status;
  if ("finished_at" in d) { next.finished_at = d.finished_at; next.error = d.error; }
  if (d.step) next.steps = (run.steps || []).map((s) => (s.id === d.step.id ? d.step : s));
  return next;
}

export function isActive(run) {
  return ACTIVE.has(run.status) || run.status === "interrupted";
}

function statusPill(run) {
  const spinning = ACTIVE.has(run.status);
  return h(`span.pill.status-pill.st-${run.status}`, { dataset: { status: run.status } },
    spinning ? h("span.spinner", { "aria-hidden": "true" }) : h("span.dot", { "aria-hidden": "true" }),
    t(`status.${run.status}`));
}

export function riskBadge(risk, reason) {
  const title = reason ? `${t("plan.risk")}: ${reason}` : t("plan.risk");
  return h(`span.badge.risk-${risk}`, { title }, t(`risk.${risk}`) || risk);
}

/** Why a step has its risk, and a line per look-alike character hiding in its arguments. */
function stepNotes(s) {
  const notes = [];
  if (s.risk_reason) notes.push(h("p.muted.small.risk-reason", null, t("plan.riskReason", { reason: s.risk_reason })));
  for (const w of s.warnings || []) {
    notes.push(h("p.step-error.step-warning", { role: "note" }, icon("alert", 14), h("span", null, t("plan.lookalike", { what: w }))));
  }
  return notes;
}

/** "1 of 2 approvals: ana, luis" while a plan waits for several people. */
function approvalsLine(run) {
  const need = run.approvals_required || 1;
  const got = run.approvals || [];
  if (need <= 1 && !got.length) return null;
  if (need <= 1 && run.status !== "draft") return null;
  const names = got.map((a) => a.by).join(", ");
  return h("div.card-meta.approvals", { dataset: { approvals: String(got.length), required: String(need) } },
    h("strong", null, t("plan.approvals", { n: got.length, of: need })),
    names ? ` · ${names}` : null);
}

/** `$ uname -a` for a command, compact JSON for anything else. */
export function argsText(args) {
  if (args && typeof args === "object") {
    const keys = Object.keys(args);
    const cmd = args.cmd ?? args.command;
    if (typeof cmd === "string" && keys.every((k) => ["cmd", "command", "cwd", "timeout_s"].includes(k))) {
      return `$ ${cmd}${args.cwd ? `   (cwd: ${args.cwd})` : ""}`;
    }
    return keys.length ? JSON.stringify(args) : "{}";
  }
  return JSON.stringify(args);
}

function stepIcon(status) {
  if (status === "running") return h("span.spinner", { "aria-hidden": "true" });
  const name = { done: "check", error: "x", skipped: "skip", interrupted: "alert" }[status];
  return name ? icon(name, 14) : h("span.pending-ring", { "aria-hidden": "true" });
}

function resultBlock(step) {
  const res = step.response;
  const parts = [];
  if (step.error) parts.push(h("div.step-error", null, icon("alert", 14), h("span", null, step.error)));
  if (res && typeof res === "object") {
    const body = res.body;
    if (res.error && res.error !== step.error) parts.push(h("div.step-error", null, icon("alert", 14), h("span", null, res.error)));
    if (body && typeof body === "object" && ("stdout" in body || "stderr" in body)) {
      const chips = [];
      if (body.exit_code !== undefined) chips.push(h(`span.chip${body.exit_code === 0 ? ".ok" : ".bad"}`, null, t("run.exit", { code: body.exit_code ?? "—" })));
      if (body.timed_out) chips.push(h("span.chip.bad", null, "timeout"));
      if (chips.length) parts.push(h("div.chips", null, chips));
      parts.push(h("div.out-label", null, t("run.stdout")), h("pre.out", null, body.stdout || t("run.noOutput")));
      if (body.stderr) parts.push(h("div.out-label", null, t("run.stderr")), h("pre.out.err", null, body.stderr));
      if (body.truncated) parts.push(h("p.muted.small", null, t("run.truncated")));
    } else if (body !== undefined && body !== null) {
      const text = typeof body === "string" ? body : JSON.stringify(body, null, 2);
      parts.push(h("pre.out", null, text));
    }
    if (res.truncated) parts.push(h("p.muted.small", null, t("run.truncated")));
  }
  return parts;
}

function outputSize(step) {
  const b = step.response && step.response.body;
  if (b == null) return 0;
  const s = typeof b === "string" ? b : (b.stdout ?? JSON.stringify(b));
  return String(s).split("\n").length;
}

function draftTable(run) {
  return h("div.table-wrap", null, h("table.steps-table", null,
    h("thead", null, h("tr", null,
      h("th", { scope: "col" }, "#"),
      h("th", { scope: "col" }, `${t("plan.service")} · ${t("plan.operation")}`),
      h("th", { scope: "col" }, t("plan.arguments")),
      h("th", { scope: "col" }, t("plan.risk")))),
    h("tbody", null, run.steps.map((s) => h("tr", null,
      h("td.num", { "data-label": "#" }, String(s.idx + 1)),
      h("td.op", null, h("span.svc", null, s.service), h("span.sep", null, "·"), h("span.opname", null, s.operation)),
      h("td.args", null, h("code.args", { title: JSON.stringify(s.arguments, null, 2) }, argsText(s.arguments)), stepNotes(s)),
      h("td.risk", null, riskBadge(s.risk, s.risk_reason)))))));
}

function stepList(run, ctx) {
  return h("ol.steps", null, run.steps.map((s) => {
    const key = `${run.id}:${s.id}`;
    const hasResult = s.response != null || s.error;
    const row = h(`li.step.st-${s.status}`, { dataset: { status: s.status, stepId: s.id } },
      h("div.step-line", null,
        h("span.step-icon", { title: t(`step.${s.status}`) }, stepIcon(s.status)),
        h("span.step-op", null, h("span.svc", null, s.service), h("span.sep", null, "·"), h("span.opname", null, s.operation)),
        h("code.args.step-args", null, argsText(s.arguments)),
        h("span.step-meta", null,
          riskBadge(s.risk, s.risk_reason),
          s.attempts > 1 ? h("span.muted.small", null, t("run.attempts", { n: s.attempts })) : null,
          h("span.step-status", { "aria-live": "polite" }, t(`step.${s.status}`)),
          s.duration_ms != null ? h("span.duration", null, duration(s.duration_ms)) : null)));
    if (hasResult) {
      const auto = !ctx.touched.has(key) && (run.steps.length === 1 || outputSize(s) <= 12 || s.status === "error");
      const open = ctx.openResults.has(key) || (auto && !ctx.closedResults.has(key));
      const det = h("details.result", { open },
        h("summary", null, icon("chevron", 14), t("run.result"),
          s.response && s.response.status_code ? h("span.muted.small", null, ` HTTP ${s.response.status_code}`) : null),
        h("div.result-body", null, resultBlock(s)));
      det.addEventListener("toggle", () => {
        ctx.touched.add(key);
        if (det.open) { ctx.openResults.add(key); ctx.closedResults.delete(key); }
        else { ctx.openResults.delete(key); ctx.closedResults.add(key); }
      });
      row.append(det);
    }
    if (s.warnings && s.warnings.length) row.append(...stepNotes(s).slice(s.risk_reason ? 1 : 0));
    return row;
  }));
}

/**
 * ctx: {canOperate, busy: Map(runId → action), openResults, closedResults, touched: Set, actions: {confirm, cancel, edit, decide}}
 */
export function renderRunCard(run, ctx) {
  const isDraft = run.status === "draft";
  const wasDraft = !run.confirmed_by && !run.approved_by_policy && !run.started_at;
  const planOnly = isDraft || (FINAL_DRAFTLESS.has(run.status) && wasDraft);
  const busy = ctx.busy.get(run.id) || false;
  const kicker = planOnly ? t("plan.title") : t("run.title");
  const card = h(`article.card.run-card.st-${run.status}${planOnly ? ".plan" : ".run"}`, {
    dataset: { runId: run.id, status: run.status }, "aria-label": `${kicker}: ${run.summary}`,
  });
  const total = run.steps.length;
  const done = run.steps.filter((s) => s.status === "done").length;

  card.append(h("header.card-head", null,
    h("div.kicker", null, icon(planOnly ? "edit" : "play", 14), kicker,
      run.risk ? riskBadge(run.risk, t("plan.planRisk")) : null),
    statusPill(run)));
  card.append(h("h3.card-summary", null, renderInline(run.summary)));

  const meta = [];
  // The server records "model:NAME for PERSON"; the person has a line of their own, in the UI's language.
  const forSuffix = run.proposed_for_name ? ` for ${run.proposed_for_name}` : null;
  const by = forSuffix && run.proposed_by?.endsWith(forSuffix) ? run.proposed_by.slice(0, -forSuffix.length) : run.proposed_by;
  if (by) meta.push(t("plan.proposedBy", { who: by }));
  if (run.proposed_for_name && run.proposed_for_name !== run.proposed_by) meta.push(t("plan.proposedFor", { who: run.proposed_for_name }));
  if (run.confirmed_by) meta.push(t("run.confirmedBy", { who: run.confirmed_by }));
  else if (run.approved_by_policy) meta.push(t("run.autoApproved"));
  if (isDraft && run.expires_at) meta.push(t("plan.expires", { when: relTime(run.expires_at) }));
  card.append(h("div.card-meta", { title: `${t("plan.hash")}: ${run.plan_hash}` }, meta.join(" · ")));
  if (run.corrects) card.append(h("div.card-meta.corrects-note", null, t("plan.corrects", { n: run.corrects.index ?? "?" })));
  const approvals = approvalsLine(run);
  if (approvals) card.append(approvals);

  if (planOnly) card.append(draftTable(run));
  else {
    if (ACTIVE.has(run.status) || run.status === "interrupted") {
      const pct = total ? Math.round((done / total) * 100) : 0;
      card.append(h("div.progress", { role: "progressbar", "aria-valuemin": 0, "aria-valuemax": total, "aria-valuenow": done, "aria-label": t("run.stepsDone", { done, total }) },
        h("div.progress-bar", { dataset: { pct } })));
    }
    card.append(stepList(run, ctx));
  }
  // progress width without inline styles in markup (CSP): set via CSSOM
  const bar = card.querySelector(".progress-bar");
  if (bar) bar.style.width = `${bar.dataset.pct}%`;

  const foot = h("footer.card-foot");
  if (isDraft) {
    if (ctx.canOperate) {
      const several = (run.approvals_required || 1) > 1;
      const label = busy === "confirm" ? t("plan.confirming") : several ? t("plan.approve") : t("plan.confirm");
      const confirm = h("button.btn.primary.js-confirm", { type: "button", disabled: busy }, icon("play", 14), label);
      const cancel = h("button.btn.ghost.js-cancel", { type: "button", disabled: busy }, t("plan.cancel"));
      const edit = h("button.btn.subtle.js-edit", { type: "button", disabled: busy }, icon("edit", 14), t("plan.edit"));
      confirm.addEventListener("click", () => { disableAll(foot); ctx.actions.confirm(run); });
      cancel.addEventListener("click", () => { disableAll(foot); ctx.actions.cancel(run); });
      edit.addEventListener("click", () => ctx.actions.edit(run));
      foot.append(h("div.actions", null, confirm, cancel), edit);
    } else {
      foot.append(h("p.muted.small.viewer-note", null, icon("info", 14), t("plan.viewerNote")));
    }
  } else if (planOnly) {
    const note = run.status === "superseded" ? t("plan.superseded")
      : run.status === "expired" ? t("plan.expired")
      : run.cancelled_by ? t("plan.cancelledBy", { who: run.cancelled_by }) : t("plan.cancelled");
    foot.append(h("p.muted.small.state-note", null, note));
  } else if (ACTIVE.has(run.status)) {
    const label = run.status === "queued" ? t("run.queued") : run.status === "cancelling" ? t("run.cancelling") : t("run.running");
    foot.append(h("div.running-note", { "aria-live": "polite" }, h("span.spinner"), h("span", null, label), h("span.muted", null, t("run.stepsDone", { done, total }))));
    if (ctx.canOperate && run.status !== "cancelling") {
      const cancel = h("button.btn.ghost.danger-text.js-cancel-run", { type: "button", disabled: busy }, t("run.cancel"));
      cancel.addEventListener("click", () => { cancel.disabled = true; ctx.actions.cancel(run); });
      foot.append(cancel);
    }
  } else if (run.status === "interrupted") {
    foot.append(h("p.interrupted-note", null, icon("alert", 14), t("run.interrupted")));
    if (ctx.canOperate) {
      const mk = (decision, label, cls) => {
        const b = h(`button.btn.${cls}`, { type: "button", disabled: busy, dataset: { decision } }, label);
        b.addEventListener("click", () => { disableAll(foot); ctx.actions.decide(run, decision); });
        return b;
      };
      foot.append(h("div.actions", null, mk("retry", t("run.retry"), "primary"), mk("skip", t("run.skip"), "ghost"), mk("abort", t("run.abort"), "ghost.danger-text")));
    }
  } else {
    const took = run.started_at && run.finished_at ? Math.round((run.finished_at - run.started_at) * 1000) : null;
    const bits = [t("run.stepsDone", { done, total })];
    if (took != null) bits.push(t("run.doneIn", { d: duration(took) }));
    if (run.cancelled_by) bits.push(t("plan.cancelledBy", { who: run.cancelled_by }));
    foot.append(h(`p.final-summary.st-${run.status}`, { title: run.finished_at ? fullTime(run.finished_at) : "" },
      icon(run.status === "done" ? "check" : run.status === "error" ? "alert" : "x", 14), bits.join(" · ")));
    if (run.error) foot.append(h("p.step-error.run-error", null, run.error));
    if (run.status === "done" && ctx.canOperate) {
      const save = h("button.btn.subtle.js-save-runbook", { type: "button" }, icon("loop", 14), t("rb.saveFromRun"));
      save.addEventListener("click", () => saveAsRunbook(run));
      foot.append(save);
    }
  }
  card.append(foot);
  return card;
}

function disableAll(root) {
  for (const b of root.querySelectorAll("button")) b.disabled = true;
}
