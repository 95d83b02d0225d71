// Live updates for one chat: EventSource with resume, reconnection with backoff, and polling
// (messages?after= plus the active run) only while the stream is down.

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
    for (const type of ["message", "run", "typing"]) {
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
    const fn = this.h[type];
    if (fn) fn(data, id);
    if (this.h.cursor) this.h.cursor(this.lastId);
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
