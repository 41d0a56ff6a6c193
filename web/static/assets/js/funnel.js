// The studio's funnel: how the show sells, read from the stats every few
// seconds — unique viewers and the peak, card views, carts, orders, units,
// revenue in the show's currency, conversion (orders per unique viewer), and
// the same per product.

import { h, setText, tid } from "./dom.js";
import { messageOf } from "./messages.js";
import { formatMoney } from "./money.js";
import { streamPath } from "./page.js";
import { formatTime } from "./time.js";

// FUNNEL_EVERY_MS is how often the stats are read.
export const FUNNEL_EVERY_MS = 3000;

// percent formats a 0..1 ratio as "12.5%".
export function percent(ratio) {
  const n = Number(ratio);
  if (!Number.isFinite(n)) return "—";
  return `${(Math.round(n * 1000) / 10).toFixed(1)}%`;
}

const count = (n) => (Number.isFinite(Number(n)) ? Number(n).toLocaleString() : "—");

export class Funnel {
  // root is the funnel panel. nameOf(sku) names a product the stats do not
  // name.
  constructor(root, { api, streamId, nameOf = (s) => s, every = FUNNEL_EVERY_MS }) {
    this.root = root;
    this.api = api;
    this.streamId = streamId;
    this.nameOf = nameOf;
    this.every = every;
    this.timer = 0;
    this.stopped = false;
  }

  // start reads the stats now and then every few seconds (less while the
  // tab is hidden), until stop.
  start() {
    this.stopped = false;
    this.poll();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  async poll() {
    clearTimeout(this.timer);
    if (this.stopped) return;
    if (!document.hidden) {
      try {
        this.render(await this.api.get(streamPath(this.streamId, "/stats")));
        this.showError("");
      } catch (err) {
        this.showError(`Funnel: ${messageOf(err)}`);
        if (err.status === 401 || err.status === 403 || err.status === 404) return; // asking again would not help
      }
    }
    this.timer = setTimeout(() => this.poll(), this.every);
  }

  showError(text) {
    const el = tid("funnel-error", this.root);
    setText(el, text);
    el.hidden = !text;
  }

  render(s) {
    if (!s) return;
    const currency = s.currency || "USD";
    const cells = {
      "funnel-viewers": count(s.viewers),
      "funnel-peak": count(s.peak_viewers),
      "funnel-card-views": count(s.card_views),
      "funnel-carts": count(s.carts),
      "funnel-orders": count(s.orders),
      "funnel-units": count(s.units),
      "funnel-revenue": formatMoney(s.revenue_cents || 0, currency),
      "funnel-conversion": percent(s.conversion),
    };
    for (const [id, text] of Object.entries(cells)) setText(tid(id, this.root), text);
    // The bars show each step against unique viewers.
    const base = Math.max(1, Number(s.viewers) || 0);
    for (const [id, n] of [["card-views", s.card_views], ["carts", s.carts], ["orders", s.orders]]) {
      const bar = this.root.querySelector(`[data-bar="${id}"]`);
      if (bar) bar.style.setProperty("--w", `${Math.min(100, ((Number(n) || 0) / base) * 100)}%`);
    }
    const rows = (s.products || []).map((p) =>
      h("tr", { "data-testid": "funnel-product", dataset: { sku: p.sku } },
        h("th", { scope: "row", text: p.name || this.nameOf(p.sku) }),
        h("td", { text: count(p.card_views) }),
        h("td", { text: count(p.carts) }),
        h("td", { text: count(p.orders) }),
        h("td", { text: count(p.units) }),
        h("td", { text: formatMoney(p.revenue_cents || 0, currency) }),
      ));
    tid("funnel-products", this.root).tBodies[0].replaceChildren(...rows);
    tid("funnel-products", this.root).hidden = rows.length === 0;
    setText(tid("funnel-updated", this.root), `updated ${formatTime(new Date())}`);
    this.root.dataset.loaded = "true";
  }
}
