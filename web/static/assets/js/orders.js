// The studio's live orders: the stream's orders (newest first), how many
// ("1 order", "2 orders") and the revenue in the show's currency, refreshed
// when the room's ticker says an order was placed.

import { listItems } from "./api.js";
import { h, setText, tid } from "./dom.js";
import { messageOf } from "./messages.js";
import { formatMoney } from "./money.js";
import { streamPath } from "./page.js";
import { pluralWord } from "./text.js";
import { formatTime } from "./time.js";
import { toast } from "./toast.js";

const MAX_PAGES = 20;

export class Orders {
  // currency() is the show's currency, for the revenue before the first
  // order.
  constructor(root, { api, streamId, nameOf, currency = () => "USD" }) {
    this.root = root;
    this.api = api;
    this.streamId = streamId;
    this.nameOf = nameOf;
    this.currency = currency;
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
    setText(tid("revenue"), byCurrency.size ? [...byCurrency].map(([c, v]) => formatMoney(v, c)).join(" + ") : formatMoney(0, this.currency()));
    setText(tid("order-count"), placed.length);
    setText(tid("order-count-label"), pluralWord(placed.length, "order"));
    tid("orders", this.root).replaceChildren(...orders.slice(0, 100).map((o) =>
      h("li", { class: `order-row ${o.status}`, "data-testid": "order-row", dataset: { id: o.id, status: o.status } },
        h("span", { class: "muted", text: formatTime(o.created_at) }),
        h("span", { class: "grow", text: (o.items || []).map((i) => `${i.qty} × ${i.name || this.nameOf(i.sku)}`).join(", ") }),
        h("strong", { text: formatMoney(o.total_cents, o.currency) }),
      )));
  }
}
