// The cart drawer: items held for a while (a timer per item), quantities,
// total, and checkout of the whole cart as one order (with the applied
// coupon, when there is one).

import { h, setText, tid } from "./dom.js";
import { formatMoney } from "./money.js";
import { formatCountdown } from "./time.js";
import { toast } from "./toast.js";

export class CartDrawer {
  // root is the [data-testid=cart-drawer] element. nameOf(sku) gives a
  // product's name; signIn() resolves once the person has a token (or
  // rejects); onCount(n) sees the number of units in the cart. coupons is
  // the page's CouponBanner (or null); limitOf(sku) is the per-person
  // limit of sku's product. onOpen() runs when the drawer opens;
  // onOrder(order) sees the order a checkout placed.
  constructor(root, { api, streamId, nameOf = (s) => s, signIn, onCount = () => {}, messageOf, coupons = null, limitOf = () => undefined, onOpen = () => {}, onOrder = () => {} }) {
    this.root = root;
    this.api = api;
    this.streamId = streamId;
    this.nameOf = nameOf;
    this.signIn = signIn;
    this.onCount = onCount;
    this.messageOf = messageOf || ((e) => e.message);
    this.coupons = coupons;
    this.limitOf = limitOf;
    this.onOpen = onOpen;
    this.onOrder = onOrder;
    this.cart = null;
    this.timer = 0;
    this.checkingOut = false;
    tid("cart-close", root)?.addEventListener("click", () => this.close());
    tid("checkout", root)?.addEventListener("click", () => this.checkout());
    root.addEventListener("keydown", (e) => e.key === "Escape" && this.close());
  }

  open() {
    this.root.hidden = false;
    document.body.classList.add("drawer-open");
    tid("cart-close", this.root)?.focus({ preventScroll: true });
    this.refresh();
    this.onOpen();
  }

  close() {
    this.root.hidden = true;
    document.body.classList.remove("drawer-open");
  }

  toggle() {
    if (this.root.hidden) this.open();
    else this.close();
  }

  async refresh() {
    if (!this.api.token) {
      this.render({ items: [], total_cents: 0, currency: "" });
      return;
    }
    try {
      this.render(await this.api.get("/api/cart"));
    } catch (err) {
      if (err.status !== 401) toast(this.messageOf(err), "error");
    }
  }

  // add puts one more unit of sku (from this stream) in the cart.
  async add(sku) {
    try {
      await this.signIn();
      if (!this.cart) await this.refresh();
      const cur = this.cart?.items.find((i) => i.sku === sku && i.stream === this.streamId)?.qty || 0;
      await this.api.put(`/api/cart/items/${encodeURIComponent(sku)}`, { stream: this.streamId, qty: cur + 1 });
      toast(`Added ${this.nameOf(sku)} to your cart`, "ok");
      await this.refresh();
    } catch (err) {
      if (err?.code !== "cancelled") toast(this.messageOf(err, { limit: this.limitOf(sku) }), "error");
    }
  }

  async setQty(item, qty) {
    try {
      await this.api.put(`/api/cart/items/${encodeURIComponent(item.sku)}`, { stream: item.stream, qty });
    } catch (err) {
      toast(this.messageOf(err, { limit: this.limitOf(item.sku) }), "error");
    }
    await this.refresh();
  }

  render(cart) {
    this.cart = { items: [], ...cart };
    clearInterval(this.timer);
    const list = tid("cart-items", this.root);
    list.replaceChildren();
    let units = 0;
    for (const item of this.cart.items) {
      units += item.qty;
      const currency = this.cart.currency || "USD";
      list.append(
        h("li", { class: "cart-item", "data-testid": "cart-item", dataset: { sku: item.sku, stream: item.stream } },
          h("div", { class: "what" },
            h("span", { class: "name", "data-testid": "cart-item-name", text: this.nameOf(item.sku) }),
            h("span", { class: "unit", text: `${formatMoney(item.unit_price_cents, currency)} each` }),
            h("span", { class: "hold", "data-testid": "hold-timer", dataset: { until: item.held_until || "" } }),
          ),
          h("div", { class: "qty" },
            h("button", { type: "button", "data-testid": "qty-minus", "aria-label": "One less", text: "−", on: { click: () => this.setQty(item, item.qty - 1) } }),
            h("span", { "data-testid": "qty", text: item.qty }),
            h("button", { type: "button", "data-testid": "qty-plus", "aria-label": "One more", text: "+", on: { click: () => this.setQty(item, item.qty + 1) } }),
          ),
        ),
      );
    }
    setText(tid("cart-total", this.root), this.cart.items.length ? formatMoney(this.cart.total_cents, this.cart.currency || "USD") : "");
    tid("cart-empty", this.root).hidden = this.cart.items.length > 0;
    tid("checkout", this.root).disabled = this.cart.items.length === 0 || this.checkingOut;
    this.onCount(units);
    this.showCoupon();
    this.tick();
    if (this.cart.items.length) this.timer = setInterval(() => this.tick(), 1000);
  }

  // showCoupon says which code goes with checkout.
  showCoupon() {
    const el = tid("cart-coupon", this.root);
    if (!el) return;
    const code = this.coupons?.applied;
    setText(el, code ? `Code ${code} applied at checkout` : "");
    el.hidden = !code || !this.cart?.items.length;
  }

  tick() {
    let expired = false;
    for (const el of this.root.querySelectorAll('[data-testid="hold-timer"]')) {
      const until = new Date(el.dataset.until).getTime();
      if (Number.isNaN(until)) continue;
      const left = until - Date.now();
      el.classList.toggle("soon", left < 60000);
      if (left <= 0) {
        setText(el, "Hold expired");
        expired = true;
      } else setText(el, `Held for ${formatCountdown(left)}`);
    }
    if (expired && !this.refreshing) {
      this.refreshing = true;
      setTimeout(() => this.refresh().finally(() => (this.refreshing = false)), 1500);
    }
  }

  async checkout() {
    if (this.checkingOut || !this.cart?.items.length) return;
    this.checkingOut = true;
    const btn = tid("checkout", this.root);
    btn.disabled = true;
    setText(btn, "Placing order…");
    const conf = tid("order-confirmation", this.root);
    conf.hidden = true;
    const coupon = this.coupons?.applied ?? null;
    try {
      const order = await this.api.once("POST", "/api/cart/checkout", coupon ? { coupon } : {});
      const saved = Number(order.discount_cents) > 0 ? ` · saved ${formatMoney(order.discount_cents, order.currency)}${order.coupon ? ` with ${order.coupon}` : ""}` : "";
      setText(conf, `Order placed · ${formatMoney(order.total_cents, order.currency)}${saved} · #${String(order.id).slice(-8)}`);
      conf.dataset.orderId = order.id;
      conf.hidden = false;
      if (coupon && saved) this.coupons.unapply();
      this.onOrder(order);
    } catch (err) {
      if (err?.code === "coupon_invalid") this.coupons?.unapply();
      const limits = [...new Set((this.cart?.items || []).map((i) => this.limitOf(i.sku)).filter(Boolean))];
      toast(this.messageOf(err, { limit: limits.length === 1 ? limits[0] : undefined }), "error");
    } finally {
      this.checkingOut = false;
      setText(btn, "Checkout");
      await this.refresh();
    }
  }
}
