// Notification deliveries (admins): what was sent, what is retrying and why, what failed.
import { api } from "./api.js";
import { h, clear } from "./dom.js";
import { t } from "./i18n.js";
import { openModal } from "./modal.js";
import { toastError } from "./toast.js";

const STATUSES = ["failed", "pending", "sent"];

export function openNotifications() {
  const status = h("select.input", { name: "status" },
    h("option", { value: "" }, t("notify.all")),
    ...STATUSES.map((s) => h("option", { value: s }, t(`notify.${s}`))));
  const counts = h("p.audit-status", { role: "status" });
  const body = h("tbody");
  const cols = ["notify.time", "notify.event", "notify.destination", "notify.state", "notify.attempts", "notify.error"];
  const table = h("div.table-wrap", null, h("table.steps-table.audit-table", null,
    h("thead", null, h("tr", null, ...cols.map((k) => h("th", null, t(k))))), body));

  async function load() {
    try {
      const res = await api.notifications(status.value);
      counts.textContent = t("notify.counts", {
        failed: res.counts.failed || 0, pending: res.counts.pending || 0, sent: res.counts.sent || 0,
      });
      clear(body);
      if (!res.deliveries.length) body.append(h("tr", null, h("td", { colspan: cols.length }, t("notify.empty"))));
      for (const d of res.deliveries) {
        body.append(h("tr", null,
          h("td.num", null, new Date(d.created_at * 1000).toLocaleString()),
          h("td.mono", null, d.event),
          h("td.mono", null, d.destination),
          h("td", null, t(`notify.${d.status}`)),
          h("td.num", null, String(d.attempts)),
          h("td", null, d.last_error || "")));
      }
    } catch (e) {
      toastError(e);
    }
  }

  status.addEventListener("change", load);
  const filters = h("form.audit-filters", null,
    h("label.field.audit-filter", null, h("span.label", null, t("notify.state")), status));
  filters.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  openModal({ title: t("notify.title"), body: [filters, counts, table], size: "lg" });
  load();
}
