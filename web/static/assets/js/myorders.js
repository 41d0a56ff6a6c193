// My orders: the viewer's orders, newest first (GET /api/orders), each with
// what was bought, the total, when, its status, and Cancel while it is
// placed (two taps; POST /api/orders/{id}/cancel gives the stock back). The
// cart drawer shows the ones of its show; /orders shows them all.

import { listItems } from "./api.js";
import { h, setText, tid } from "./dom.js";
import { messageOf } from "./messages.js";
import { formatMoney } from "./money.js";
import { formatDate } from "./time.js";

// ARM_MS is how long a first tap on Cancel waits for the second.
const ARM_MS = 4000;

// itemsText words what an order holds: "1 × Sunset tee, 2 × Mug".
export const itemsText = (order, nameOf = (s) => s) =>
  (order.items || []).map((i) => `${i.qty} × ${i.name || nameOf(i.sku)}`).join(", ");

// STATUS_TEXT names an order's status.
const STATUS_TEXT = { placed: "Placed", cancelled: "Cancelled" };

// MyOrders lists the viewer's orders and cancels them.
export class MyOrders {
  // root holds [data-testid=my-orders] (the list), [data-testid=
  // my-orders-empty] and optionally [data-testid=my-orders-more]. stream
  // limits the list to one show (null: all). say(text, kind) shows a
  // toast; streamLink(id) returns {href, text} for an order's show (or
  // null); onChange(orders) sees the list; onUnauthorized() runs when the
  // token is refused.
  constructor(root, { api, stream = null, say, nameOf = (s) => s, streamLink = () => null, onChange = () => {}, onUnauthorized = () => {} }) {
    Object.assign(this, { root, api, stream, say, nameOf, streamLink, onChange, onUnauthorized });
    this.orders = [];
    this.next = null;
    this.loading = false;
    tid("my-orders-more", root)?.addEventListener("click", () => this.more());
  }

  // refresh reads the first page again.
  async refresh() {
    if (!this.api.token) {
      this.orders = [];
      this.next = null;
      this.render();
      return;
    }
    await this.fetch(null);
  }

  // more reads the next page.
  async more() {
    if (this.next) await this.fetch(this.next);
  }

  async fetch(cursor) {
    if (this.loading) return;
    this.loading = true;
    try {
      const page = await this.api.get(`/api/orders${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""}`);
      const items = listItems(page);
      this.orders = cursor ? [...this.orders, ...items] : items;
      this.next = page?.next || null;
      this.render();
    } catch (err) {
      if (err.status === 401) this.onUnauthorized();
      else this.say(messageOf(err), "error");
    } finally {
      this.loading = false;
    }
  }

  // shown are the orders this list shows.
  get shown() {
    return this.stream ? this.orders.filter((o) => o.stream === this.stream) : this.orders;
  }

  render() {
    const shown = this.shown;
    tid("my-orders", this.root).replaceChildren(...shown.map((o) => this.row(o)));
    tid("my-orders-empty", this.root).hidden = shown.length > 0;
    const more = tid("my-orders-more", this.root);
    if (more) more.hidden = !this.next;
    this.onChange(shown);
  }

  row(o) {
    const link = this.streamLink(o.stream);
    const discount = Number(o.discount_cents) > 0 ? ` · saved ${formatMoney(o.discount_cents, o.currency)}` : "";
    return h("li", { class: `my-order ${o.status}`, "data-testid": "my-order", dataset: { id: o.id, status: o.status, stream: o.stream } },
      h("div", { class: "what" },
        h("strong", { class: "items", "data-testid": "my-order-items", text: itemsText(o, this.nameOf) }),
        h("span", { class: "meta muted" },
          h("span", { text: formatDate(o.created_at) }),
          link ? [" · ", h("a", { href: link.href, text: link.text })] : null,
          ` · #${String(o.id).slice(-8)}`),
      ),
      h("div", { class: "side" },
        h("strong", { class: "total", "data-testid": "my-order-total", text: formatMoney(o.total_cents, o.currency) + discount }),
        h("span", { class: `status ${o.status}`, "data-testid": "my-order-status", text: STATUS_TEXT[o.status] || o.status }),
        o.status === "placed"
          ? h("button", { type: "button", class: "secondary small", "data-testid": "order-cancel", text: "Cancel", on: { click: (e) => this.tapCancel(o, e.currentTarget) } })
          : null,
      ),
    );
  }

  // tapCancel cancels on the second tap within ARM_MS.
  async tapCancel(o, btn) {
    if (btn.dataset.armed !== "true") {
      btn.dataset.armed = "true";
      setText(btn, "Tap again to cancel");
      setTimeout(() => {
        if (!btn.isConnected || btn.dataset.armed !== "true") return;
        btn.dataset.armed = "false";
        setText(btn, "Cancel");
      }, ARM_MS);
      return;
    }
    btn.dataset.armed = "false";
    btn.disabled = true;
    setText(btn, "Cancelling…");
    try {
      const done = await this.api.post(`/api/orders/${encodeURIComponent(o.id)}/cancel`, {});
      Object.assign(o, done && typeof done === "object" ? done : { status: "cancelled" });
      this.say("Order cancelled", "ok");
    } catch (err) {
      if (err.code === "conflict") o.status = "cancelled";
      else this.say(messageOf(err), "error");
    }
    this.render();
  }

  // add shows an order just placed, before the next refresh.
  add(order) {
    if (!order?.id || this.orders.some((o) => o.id === order.id)) return;
    this.orders = [order, ...this.orders];
    this.render();
  }
}
