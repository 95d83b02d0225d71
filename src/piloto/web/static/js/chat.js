// The chat view: messages in order, run cards updated in place, the composer, live updates.
import { api } from "./api.js";
import { h, icon, clear } from "./dom.js";
import { t, clockTime, fullTime } from "./i18n.js";
import { renderMarkdown } from "./markdown.js";
import { ChatStream } from "./sse.js";
import { renderRunCard, isActive } from "./cards.js";
import { openEditPlan } from "./editplan.js";
import { toast, toastError } from "./toast.js";

const PAGE = 200;
// Server events with a look of their own (meta.kind): the run's summary, the loop's bound, a model failure.
const EVENT_LOOKS = {
  summary: { cls: "summary", icon: "check", label: "msg.summary" },
  loop_limit: { cls: "loop-limit", icon: "loop", label: "msg.loopLimit" },
  model_error: { cls: "error", icon: "alert", label: "msg.modelError" },
};
const cursorKey = (chatId) => `piloto.evt.${chatId}`;

export class ChatView {
  constructor(root, { me, onConnection, onChatLoaded }) {
    this.root = root;
    this.me = me;
    this.onConnection = onConnection || (() => {});
    this.onChatLoaded = onChatLoaded || (() => {});
    this.chat = null;
    this.msgs = new Map(); // id -> message
    this.nodes = new Map(); // id -> element
    this.runs = new Map(); // run id -> run
    this.cards = new Map(); // run id -> element (inside its anchor)
    this.anchors = new Map(); // run id -> anchor element
    this.lastSeq = 0;
    this.stream = null;
    this.sending = false;
    this.cardCtx = {
      canOperate: me.role !== "viewer",
      busy: new Map(),
      openResults: new Set(),
      closedResults: new Set(),
      touched: new Set(),
      actions: {
        confirm: (run) => this.confirm(run),
        cancel: (run) => this.cancel(run),
        edit: (run) => this.edit(run),
        decide: (run, d) => this.decide(run, d),
      },
    };
    this.build();
  }

  get canOperate() {
    return this.me.role !== "viewer";
  }

  build() {
    clear(this.root);
    this.timeline = h("div.timeline", { role: "log", "aria-live": "polite", "aria-relevant": "additions", id: "timeline" });
    this.thinking = h("div.msg.assistant.thinking", { hidden: true, id: "thinking", "aria-live": "polite" },
      h("div.avatar.bot", { "aria-hidden": "true" }, "P"),
      h("div.msg-main", null,
        h("div.msg-head", null, h("span.author", null, t("chat.assistant")),
          h("span.thinking-label", null, h("span.dots", { "aria-hidden": "true" }, h("i"), h("i"), h("i")), h("span.js-thinking-text", null, t("chat.thinking")))),
        h("div.md.typing-text")));
    this.scroller = h("div.scroller", { id: "scroller" }, h("div.timeline-inner", null, this.timeline, this.thinking));
    this.root.append(this.scroller, this.buildComposer());
  }

  buildComposer() {
    if (!this.canOperate) {
      return h("div.composer-wrap", null, h("div.readonly-note", { id: "readonly-note" }, icon("info", 16), t("chat.readOnly")));
    }
    this.input = h("textarea.composer-input", {
      id: "composer-input", rows: 1, placeholder: t("chat.placeholder"), "aria-label": t("chat.placeholder"), maxLength: 20000,
    });
    this.sendBtn = h("button.btn.primary.send-btn", { type: "submit", "aria-label": t("chat.send"), title: t("chat.send") }, icon("send", 16), h("span.send-label", null, t("chat.send")));
    const form = h("form.composer", { id: "composer" }, this.input, this.sendBtn);
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    this.input.addEventListener("input", () => this.autosize());
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.send();
    });
    return h("div.composer-wrap", null, form, h("p.composer-hint", null, t("chat.keys"), " · ", h("code", null, "/help")));
  }

  autosize() {
    const el = this.input;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 240)}px`;
  }

  // -- loading ---------------------------------------------------------------------------------

  async open(chatId) {
    this.close();
    this.chatId = chatId;
    this.build();
    this.timeline.append(h("div.loading", null, h("span.spinner"), t("common.loading")));
    const [chat, runs] = await Promise.all([api.chat(chatId), api.runs(chatId)]);
    if (this.chatId !== chatId) return;
    this.chat = chat;
    this.onChatLoaded(chat);
    clear(this.timeline);
    for (const run of runs) this.runs.set(run.id, run);
    await this.loadMessages();
    if (this.chatId !== chatId) return;
    if (!this.msgs.size) this.renderEmpty();
    this.scrollToBottom(true);
    let after = 0;
    try { after = Number(sessionStorage.getItem(cursorKey(chatId))) || 0; } catch { /* ignore */ }
    this.stream = new ChatStream(chatId, {
      message: (m) => this.onMessage(m),
      run: (r) => this.upsertRun(r),
      typing: (d) => this.onTyping(d),
      status: (s) => this.onConnection(s),
      poll: () => this.poll(),
      cursor: (id) => { try { sessionStorage.setItem(cursorKey(chatId), String(id)); } catch { /* ignore */ } },
    }, after);
    if (this.input && !matchMedia("(max-width: 760px)").matches) this.input.focus();
  }

  async loadMessages() {
    for (;;) {
      const page = await api.messages(this.chatId, this.lastSeq, PAGE);
      for (const m of page) this.addMessage(m);
      if (page.length < PAGE) break;
    }
  }

  /** Fallback while the stream is down: new messages, and the state of unfinished runs. */
  async poll() {
    const before = this.lastSeq;
    await this.loadMessages();
    const active = [...this.runs.values()].filter((r) => r.status === "draft" || isActive(r));
    await Promise.all(active.map(async (r) => this.upsertRun(await api.run(r.id))));
    if (this.lastSeq !== before) this.scrollToBottom();
  }

  close() {
    if (this.stream) this.stream.close();
    this.stream = null;
    this.chatId = null;
    this.msgs.clear();
    this.nodes.clear();
    this.runs.clear();
    this.cards.clear();
    this.anchors.clear();
    this.lastSeq = 0;
    this.cardCtx.busy.clear();
  }

  renderEmpty() {
    const ex = (text) => {
      const b = h("button.example", { type: "button", disabled: !this.canOperate }, h("code", null, text));
      b.addEventListener("click", () => { if (this.input) { this.input.value = text; this.autosize(); this.input.focus(); } });
      return b;
    };
    this.timeline.append(h("div.chat-empty.js-empty", null,
      h("div.empty-mark", null, icon("chat", 22)),
      h("p.lead", null, t("empty.chatLead")),
      h("div.examples", null, ex("/cmd demo uname -a"), ex("/call demo system_info {}"), ex("/help"))));
  }

  // -- messages --------------------------------------------------------------------------------

  onMessage(m) {
    if (m.chat_id && m.chat_id !== this.chatId) return;
    const stick = this.nearBottom();
    this.addMessage(m);
    if (m.role !== "user") this.hideThinking();
    if (stick || m.role === "user") this.scrollToBottom();
  }

  addMessage(m) {
    if (this.msgs.has(m.id)) return;
    this.msgs.set(m.id, m);
    this.lastSeq = Math.max(this.lastSeq, m.seq);
    this.timeline.querySelector(".js-empty")?.remove();
    const node = this.renderMessage(m);
    if (!node) return;
    node.dataset.seq = m.seq;
    this.nodes.set(m.id, node);
    // insert in seq order (events can arrive before the reply of a slow /send returns)
    let before = null;
    for (const el of this.timeline.children) {
      if (Number(el.dataset.seq) > m.seq) { before = el; break; }
    }
    this.timeline.insertBefore(node, before);
  }

  renderMessage(m) {
    const kind = m.meta && m.meta.kind;
    if (kind === "step" && m.run_id) return null; // the run card shows steps live
    if (kind === "plan" && m.run_id) {
      const anchor = h("div.msg.card-anchor", { dataset: { runId: m.run_id, messageId: m.id } });
      this.anchors.set(m.run_id, anchor);
      const run = this.runs.get(m.run_id);
      if (run) this.renderCard(run);
      else {
        anchor.append(h("div.card.run-card.placeholder", null, renderMarkdown(m.content)));
        api.run(m.run_id).then((r) => this.upsertRun(r)).catch(() => {});
      }
      return anchor;
    }
    const time = h("time.msg-time", { datetime: new Date(m.created_at * 1000).toISOString(), title: fullTime(m.created_at) }, clockTime(m.created_at));
    if (m.role === "user") {
      const who = (m.meta && m.meta.by) || t("chat.you");
      return h("div.msg.user", { dataset: { id: m.id } },
        h("div.msg-main", null,
          h("div.msg-head", null, h("span.author", null, who), time),
          h("div.bubble.md", null, renderMarkdown(m.content))));
    }
    if (m.role === "assistant") return this.renderAssistant(m, time);
    const look = EVENT_LOOKS[kind];
    if (!look) {
      return h("div.msg.event", { dataset: { id: m.id, kind: kind || "" } },
        h("span.event-icon", null, icon("info", 14)),
        h("div.md.event-text", null, renderMarkdown(m.content)), time);
    }
    // Lines that end or break the copilot loop stand out, each with a label a person can scan for.
    return h(`div.msg.event.${look.cls}`, { dataset: { id: m.id, kind }, role: kind === "model_error" ? "alert" : null },
      h("span.event-icon", null, icon(look.icon, 14)),
      h("div.event-body", null,
        h("div.event-label", null, t(look.label)),
        h("div.md.event-text", null, renderMarkdown(m.content))), time);
  }

  /** The model's words; an answer to a run's result, or one cut short, says so. */
  renderAssistant(m, time) {
    const meta = m.meta || {};
    const auto = Boolean(meta.auto_turn) || meta.kind === "auto_turn";
    const incomplete = meta.incomplete === true || meta.kind === "incomplete";
    const tags = [];
    if (auto) tags.push(h("span.tag.msg-tag.auto-tag", { title: t("msg.autoTurnHint") }, icon("loop", 12), t("msg.autoTurn")));
    if (incomplete) tags.push(h("span.tag.msg-tag.incomplete-tag", { title: t("msg.incompleteHint") }, icon("alert", 12), t("msg.incomplete")));
    return h(`div.msg.assistant${auto ? ".auto-turn" : ""}${incomplete ? ".incomplete" : ""}`, { dataset: { id: m.id } },
      h("div.avatar.bot", { "aria-hidden": "true" }, "P"),
      h("div.msg-main", null,
        h("div.msg-head", null, h("span.author", null, t("chat.assistant")), tags, time),
        h("div.md", null, renderMarkdown(m.content))));
  }

  // -- runs ------------------------------------------------------------------------------------

  upsertRun(run) {
    if (!run || (run.chat_id && this.chatId && run.chat_id !== this.chatId)) return;
    const prev = this.runs.get(run.id);
    if (prev && prev.updated_at > run.updated_at) return; // an older snapshot
    if (prev && !run.steps?.length && prev.steps?.length) run = { ...run, steps: prev.steps };
    this.runs.set(run.id, run);
    if (prev && prev.status !== run.status) this.cardCtx.busy.delete(run.id);
    this.renderCard(run);
  }

  renderCard(run) {
    const anchor = this.anchors.get(run.id);
    if (!anchor) return;
    const stick = this.nearBottom();
    const card = renderRunCard(run, this.cardCtx);
    const old = this.cards.get(run.id);
    const hadFocus = old && old.contains(document.activeElement);
    clear(anchor).append(card);
    this.cards.set(run.id, card);
    if (hadFocus) card.querySelector("button:not([disabled])")?.focus();
    if (stick) this.scrollToBottom();
  }

  async confirm(run) {
    this.cardCtx.busy.set(run.id, "confirm");
    this.renderCard(run);
    try {
      const confirmed = await api.confirm(run.id, run.plan_hash);
      // One approval of several leaves a draft: the buttons come back for the next person.
      this.cardCtx.busy.delete(run.id);
      this.upsertRun(confirmed);
    } catch (e) {
      await this.afterActionError(run, e);
    }
  }

  async cancel(run) {
    this.cardCtx.busy.set(run.id, "cancel");
    this.renderCard(run);
    try {
      this.upsertRun(await api.cancel(run.id));
    } catch (e) {
      await this.afterActionError(run, e);
    }
  }

  async decide(run, decision) {
    this.cardCtx.busy.set(run.id, decision);
    this.renderCard(run);
    try {
      this.upsertRun(await api.decide(run.id, decision));
    } catch (e) {
      await this.afterActionError(run, e);
    }
  }

  async afterActionError(run, e) {
    toastError(e);
    try {
      const fresh = await api.run(run.id);
      // Still actionable (e.g. a network error): let the person try again.
      if (fresh.status === run.status) this.cardCtx.busy.delete(run.id);
      this.runs.set(fresh.id, fresh);
      this.renderCard(fresh);
    } catch {
      this.cardCtx.busy.delete(run.id);
      this.renderCard(run);
    }
  }

  edit(run) {
    openEditPlan(run, async (steps, summary) => {
      const fresh = await api.edit(run.id, steps, summary);
      this.runs.set(fresh.id, fresh);
      this.renderCard(fresh);
      api.run(run.id).then((r) => this.upsertRun(r)).catch(() => {});
      return fresh;
    });
  }

  // -- typing / sending ------------------------------------------------------------------------

  onTyping(data) {
    const text = (data && data.text) || "";
    this.showThinking(text);
  }

  showThinking(text = "") {
    const stick = this.nearBottom();
    this.thinking.hidden = false;
    const box = this.thinking.querySelector(".typing-text");
    clear(box);
    if (text) box.append(renderMarkdown(text));
    if (stick) this.scrollToBottom();
  }

  hideThinking() {
    if (this.sending) return;
    this.thinking.hidden = true;
    clear(this.thinking.querySelector(".typing-text"));
  }

  async send() {
    const text = this.input.value;
    if (!text.trim() || this.sending) return;
    this.sending = true;
    this.setComposerBusy(true);
    this.input.value = "";
    this.autosize();
    this.showThinking();
    this.scrollToBottom();
    try {
      const res = await api.send(this.chatId, text);
      if (res.message) this.addMessage(res.message);
      for (const m of res.replies || []) this.addMessage(m);
      if (res.run) this.upsertRun(res.run);
    } catch (e) {
      // Stored or not, the text is given back so nothing typed is lost.
      if (!this.input.value) this.input.value = text;
      toastError(e);
    } finally {
      this.sending = false;
      this.hideThinking();
      this.setComposerBusy(false);
      this.scrollToBottom();
      this.input.focus();
    }
  }

  setComposerBusy(busy) {
    this.input.disabled = busy;
    this.sendBtn.disabled = busy;
    this.sendBtn.querySelector(".send-label").textContent = busy ? t("chat.sending") : t("chat.send");
    this.root.classList.toggle("is-sending", busy);
  }

  // -- scrolling -------------------------------------------------------------------------------

  nearBottom() {
    const s = this.scroller;
    return !s || s.scrollHeight - s.scrollTop - s.clientHeight < 120;
  }

  scrollToBottom(instant = false) {
    const s = this.scroller;
    if (!s) return;
    requestAnimationFrame(() => s.scrollTo({ top: s.scrollHeight, behavior: instant ? "auto" : "smooth" }));
  }
}

export { toast };
