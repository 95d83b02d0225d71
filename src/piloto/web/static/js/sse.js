// Live updates for one chat: EventSource with resume, reconnection with backoff, and polling
// (messages?after= plus the active run) only while the stream is down.
// The runner's events are deltas (run_delta: one step, the run's status and counters): they are
// applied to the run this stream last passed on; a run it never saw is fetched once.

import { api } from "./api.js";
import { applyRunDelta } from "./cards.js";

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000, 30000];
const POLL_AFTER_MS = 6000; // down this long: start polling as a fallback
const POLL_EVERY_MS = 3000;

export class ChatStream {
  /**
   * handlers: {message(msg), run(run), typing(data), status("live"|"down"|"polling"), poll() -> Promise}
   * `after` is the last event id already applied (resume point).
   */
  constructor(chatId, handlers, after = 0) {
    this.chatId = chatId;
    this.h = handlers;
    this.lastId = after;
    this.failures = 0;
    this.closed = false;
    this.es = null;
    this.retryTimer = null;
    this.pollTimer = null;
    this.downSince = null;
    this.status = "connecting";
    this.runs = new Map(); // run id -> the run as last passed to handlers.run
    this.fetching = new Map(); // run id -> deltas that arrived while the run was being fetched
    this.connect();
  }

  connect() {
    if (this.closed) return;
    const url = `/api/chats/${encodeURIComponent(this.chatId)}/events${this.lastId ? `?after=${this.lastId}` : ""}`;
    const es = new EventSource(url, { withCredentials: true });
    this.es = es;
    es.onopen = () => {
      this.failures = 0;
      this.downSince = null;
      this.stopPolling();
      this.setStatus("live");
    };
    es.onerror = () => {
      // The browser would retry on its own; we retry ourselves with backoff and ?after=, so a
      // stream closed by the server (or a 401/500) is handled the same way as a dropped one.
      es.close();
      if (this.es !== es || this.closed) return;
      this.es = null;
      this.scheduleReconnect();
    };
    for (const type of ["message", "run", "run_delta", "typing", "reset"]) {
      es.addEventListener(type, (ev) => this.dispatch(type, ev));
    }
  }

  dispatch(type, ev) {
    const id = Number(ev.lastEventId);
    if (Number.isFinite(id) && id > 0) {
      if (id <= this.lastId) return; // replay of something already applied
      this.lastId = id;
    }
    let data;
    try { data = JSON.parse(ev.data); } catch { return; }
    if (type === "run_delta") this.delta(data);
    else if (type === "reset") this.reset();
    else {
      if (type === "run" && data?.id) this.runs.set(data.id, data);
      const fn = this.h[type];
      if (fn) fn(data, id);
    }
    if (this.h.cursor) this.h.cursor(this.lastId);
  }

  /** A run_delta: applied to the run we hold, or to the run fetched once when we hold none. */
  delta(d) {
    if (!d?.id) return;
    const queued = this.fetching.get(d.id);
    if (queued) { queued.push(d); return; }
    const run = this.runs.get(d.id);
    if (run) { this.passRun(applyRunDelta(run, d)); return; }
    this.fetching.set(d.id, [d]);
    api.run(d.id).then((fresh) => {
      if (this.closed) return;
      let merged = fresh;
      // Deltas newer than the fetched run (committed after it was read) still apply.
      for (const q of this.fetching.get(d.id) || []) {
        if (q.updated_at > merged.updated_at) merged = applyRunDelta(merged, q);
      }
      this.passRun(merged);
    }).catch(() => { /* the card keeps its last state; the next event or a poll catches up */ })
      .finally(() => this.fetching.delete(d.id));
  }

  passRun(run) {
    this.runs.set(run.id, run);
    this.h.run?.(run);
  }

  /** The server pruned events we had not seen: what we hold may be stale, reload it. */
  reset() {
    this.runs.clear();
    this.h.poll?.();
  }

  scheduleReconnect() {
    if (this.closed) return;
    if (this.downSince == null) this.downSince = Date.now();
    this.setStatus(this.pollTimer ? "polling" : "down");
    const base = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
    this.failures++;
    const wait = base * (0.8 + Math.random() * 0.4);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), wait);
    if (!this.pollTimer && Date.now() - this.downSince + wait >= POLL_AFTER_MS) this.startPolling();
    else if (!this.pollTimer) {
      setTimeout(() => {
        if (!this.closed && this.downSince != null && !this.pollTimer) this.startPolling();
      }, POLL_AFTER_MS);
    }
  }

  startPolling() {
    if (this.pollTimer || this.closed) return;
    this.setStatus("polling");
    const tick = async () => {
      try { await this.h.poll?.(); } catch { /* the banner already says we are degraded */ }
    };
    tick();
    this.pollTimer = setInterval(tick, POLL_EVERY_MS);
  }

  stopPolling() {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  setStatus(s) {
    if (s === this.status) return;
    this.status = s;
    this.h.status?.(s);
  }

  /** Reconnect now (e.g. the browser came back online). */
  kick() {
    if (this.closed || this.es) return;
    clearTimeout(this.retryTimer);
    this.failures = 0;
    this.connect();
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.stopPolling();
    if (this.es) this.es.close();
    this.es = null;
  }
}
