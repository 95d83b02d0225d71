// Runbooks in the sidebar: the project's runbooks with a Start dialog (parameters, target chat),
// its schedules with their state and next run, and "Save as runbook" for a finished run.
import { api } from "./api.js";
import { $, clear, h, icon } from "./dom.js";
import { fullTime, relTime, t } from "./i18n.js";
import { renderInline } from "./markdown.js";
import { openModal, promptDialog } from "./modal.js";
import { can, go, state } from "./state.js";
import { toast, toastError } from "./toast.js";

let runbooks = [];
let schedules = [];
let loadedFor = null;

/** Fetch the current project's runbooks and schedules, then draw them. */
export async function loadRunbooks() {
  const projectId = state.projectId;
  loadedFor = projectId;
  if (!projectId) { runbooks = []; schedules = []; renderRunbooks(); return; }
  try {
    const [rbs, scheds] = await Promise.all([api.runbooks(projectId), api.schedules(projectId)]);
    if (loadedFor !== projectId) return; // another project was opened meanwhile
    runbooks = rbs;
    schedules = scheds;
  } catch (e) {
    runbooks = [];
    schedules = [];
    toastError(e);
  }
  renderRunbooks();
}

function scheduleRow(s) {
  const next = s.status === "active" && s.next_run_at
    ? t("rb.nextRun", { when: relTime(s.next_run_at) }) : null;
  const title = [s.paused_reason, s.next_run_at ? fullTime(s.next_run_at) : null].filter(Boolean).join(" · ");
  return h("li.schedule-item", { dataset: { scheduleId: s.id, status: s.status }, title: title || null },
    h("div.sched-main", null,
      h("span.nav-label", null, s.runbook_name),
      h(`span.pill.sched-${s.status}`, null, t(`rb.sched.${s.status}`))),
    h("div.sched-meta", null, h("span.mono", null, s.cron), next ? ` · ${next}` : null));
}

/** Draw the runbooks section from what loadRunbooks fetched. */
export function renderRunbooks() {
  const list = $("#runbook-list");
  const slist = $("#schedule-list");
  if (!list || !slist) return;
  clear(list);
  clear(slist);
  $("#runbooks-section").hidden = !state.projectId;
  if (!runbooks.length) list.append(h("li.nav-empty", null, t("rb.none")));
  for (const rb of runbooks) {
    const row = h("div.nav-row.runbook-item", { dataset: { runbookId: rb.id }, title: rb.summary },
      h("span.nav-item.runbook-name", null, icon("loop", 14), h("span.nav-label", null, rb.name)));
    if (can("operator")) {
      const start = h("button.icon-btn.small.js-start-runbook", { type: "button", "aria-label": t("rb.startNamed", { name: rb.name }), title: t("rb.start") }, icon("play", 14));
      start.addEventListener("click", () => openStartDialog(rb));
      row.append(start);
    }
    list.append(h("li", null, row));
  }
  if (schedules.length) slist.append(h("li.nav-subtitle", null, t("rb.schedules")));
  for (const s of schedules) slist.append(scheduleRow(s));
}

function fieldFor(name, spec) {
  const id = `rb-param-${name}`;
  const value = spec.default == null ? "" : String(spec.default);
  const input = h("input.input.mono", { type: "text", id, name, value, maxLength: 500, spellcheck: false, dataset: { param: name } });
  return h("div.field", null,
    h("label.label.mono", { for: id }, name),
    spec.description ? h("p.muted.small.field-help", null, spec.description) : null,
    input);
}

/** Ask for a runbook's parameters and the chat to propose it into, then propose it as a draft. */
export function openStartDialog(rb) {
  const chats = state.chats.get(rb.project_id) || [];
  const select = h("select.input", { id: "rb-chat", name: "chat" },
    chats.map((c) => h("option", { value: c.id, selected: c.id === state.chatId }, c.title)));
  const params = Object.entries(rb.parameters || {});
  const err = h("p.form-error", { role: "alert", hidden: true });
  const ok = h("button.btn.primary", { type: "submit", id: "rb-start-submit", disabled: !chats.length }, icon("play", 14), t("rb.propose"));
  const cancel = h("button.btn.ghost", { type: "button" }, t("common.cancel"));
  const form = h("form.form.runbook-start", { novalidate: true },
    h("p.muted", null, renderInline(rb.summary)),
    params.length ? params.map(([name, spec]) => fieldFor(name, spec)) : h("p.muted.small", null, t("rb.noParams")),
    h("div.field", null, h("label.label", { for: "rb-chat" }, t("rb.chat")),
      chats.length ? select : h("p.muted.small", null, t("rb.noChat"))),
    h("p.muted.small.draft-note", null, icon("info", 14), h("span", null, t("rb.draftNote"))),
    err,
    h("div.modal-foot.inline", null, cancel, ok));
  const m = openModal({ title: t("rb.startTitle", { name: rb.name }), body: form });
  m.footer.remove();
  cancel.addEventListener("click", () => m.close());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const chatId = select.value;
    if (!chatId) return;
    const args = {};
    // A field left empty takes the runbook's default (or is named as missing), never "".
    for (const input of form.querySelectorAll("input[data-param]")) {
      if (input.value !== "") args[input.dataset.param] = input.value;
    }
    ok.disabled = true;
    try {
      await api.startRunbook(rb.id, chatId, args);
      m.close();
      toast(t("rb.proposed", { name: rb.name }));
      go(rb.project_id, chatId);
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
      ok.disabled = false;
    }
  });
}

/** Save a finished run's plan as a runbook of its project, asking for the name. */
export async function saveAsRunbook(run) {
  const projectId = run.project_id || state.projectId;
  const saved = await promptDialog({
    title: t("rb.saveTitle"), label: t("rb.name"), value: "", maxLength: 100,
    submitLabel: t("rb.save"),
    action: (name) => api.createRunbook({ project_id: projectId, name, from_run_id: run.id }),
  });
  if (!saved) return;
  toast(t("rb.saved", { name: saved.name }));
  await loadRunbooks();
}
