// The studio's live orders: the stream's orders (newest first) and revenue,
// refreshed when the room's ticker says an order was placed.

import { listItems } from "./api.js";
import { formatMoney, formatTime, h, setText, tid, toast } from "./dom.js";
import { messageOf } from "./messages.js";
import { streamPath } from "./page.js";

const MAX_PAGES = 20;

export class Orders {
  constructor(root, { api, streamId, nameOf }) {
    this.root = root;
    this.api = api;
    this.streamId = streamId;
    this.nameOf = nameOf;
    this.timer = 0;
    this.loading = false;
    this.again = false;
  }

  // soon refreshes shortly, folding a burst of orders into one request.
  soon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), 400);
  }

  async refresh() {
    if (this.loading) {
      this.again = true;
      return;
    }
    this.loading = true;
    try {
      const orders = [];
      let cursor = null;
      for (let i = 0; i < MAX_PAGES; i++) {
        const q = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
        const page = await this.api.get(streamPath(this.streamId, `/orders${q}`));
        orders.push(...listItems(page));
        cursor = page?.next;
        if (!cursor) break;
      }
      this.render(orders);
    } catch (err) {
      toast(`Orders: ${messageOf(err)}`, "error");
    } finally {
      this.loading = false;
      if (this.again) {
        this.again = false;
        this.soon();
      }
    }
  }

  render(orders) {
    const placed = orders.filter((o) => o.status !== "cancelled");
    const byCurrency = new Map();
    for (const o of placed) byCurrency.set(o.currency, (byCurrency.get(o.currency) || 0) + (o.total_cents || 0));
    setText(tid("revenue"), byCurrency.size ? [...byCurrency].map(([c, v]) => formatMoney(v, c)).join(" + ") : formatMoney(0, "USD"));
    setText(tid("order-count"), placed.length);
    tid("orders", this.root).replaceChildren(...orders.slice(0, 100).map((o) =>
      h("li", { class: `order-row ${o.status}`, "data-testid": "order-row", dataset: { id: o.id, status: o.status } },
        h("span", { class: "muted", text: formatTime(o.created_at) }),
        h("span", { class: "grow", text: (o.items || []).map((i) => `${i.qty} × ${i.name || this.nameOf(i.sku)}`).join(", ") }),
        h("strong", { text: formatMoney(o.total_cents, o.currency) }),
      )));
  }
}
