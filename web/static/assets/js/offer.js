// The waitlist's offers: when stock comes back, the server holds one unit
// for the first viewer in line for a minute. The panel says so ("One is held
// for you — 0:59") with a one-tap Buy now, and goes when the offer does.

import { h, setText, tid } from "./dom.js";
import { formatCountdown } from "./time.js";

export class OfferPanel {
  // root is the element that holds the offers. nameOf(sku) names what is
  // held; onBuy(sku) buys it.
  constructor(root, { nameOf = (s) => s, onBuy = () => {} } = {}) {
    this.root = root;
    this.nameOf = nameOf;
    this.onBuy = onBuy;
    this.offers = new Map();
    this.timer = 0;
  }

  // has reports whether a unit of sku is held for the viewer.
  has(sku) {
    return this.offers.has(sku);
  }

  // set shows an offer of sku held until heldUntil (RFC 3339), or removes
  // it (heldUntil null).
  set(sku, heldUntil) {
    const t = heldUntil ? new Date(heldUntil).getTime() : NaN;
    if (Number.isNaN(t)) this.offers.delete(sku);
    else this.offers.set(sku, { until: t, state: this.offers.get(sku)?.state ?? "idle" });
    this.render();
  }

  // setBuying shows the offer's Buy button state: "idle", "pending", "done".
  setBuying(sku, state) {
    const o = this.offers.get(sku);
    if (!o) return;
    o.state = state;
    const el = this.find(sku);
    if (el) this.renderButton(el, o);
  }

  // find returns the offer's element of sku.
  find(sku) {
    return this.root.querySelector(`[data-testid="offer"][data-sku="${CSS.escape(sku)}"]`);
  }

  render() {
    clearInterval(this.timer);
    const rows = [...this.offers].map(([sku, o]) => {
      const el = h("section", { class: "offer", "data-testid": "offer", dataset: { sku }, role: "alert" },
        h("div", { class: "what" },
          h("strong", { class: "title", "data-testid": "offer-title" }, "One is held for you — ", h("span", { class: "countdown", "data-testid": "offer-countdown" })),
          h("span", { class: "name", "data-testid": "offer-name", text: this.nameOf(sku) }),
        ),
        h("button", { type: "button", class: "primary", "data-testid": "offer-buy", text: "Buy now", on: { click: () => this.onBuy(sku) } }),
      );
      this.renderButton(el, o);
      return el;
    });
    this.root.replaceChildren(...rows);
    this.root.hidden = rows.length === 0;
    this.tick();
    if (rows.length) this.timer = setInterval(() => this.tick(), 250);
  }

  renderButton(el, o) {
    const b = tid("offer-buy", el);
    b.disabled = o.state === "pending";
    setText(b, o.state === "pending" ? "Ordering…" : o.state === "done" ? "Ordered ✓" : "Buy now");
  }

  // tick counts down to each offer's end.
  tick() {
    const now = Date.now();
    let lapsed = false;
    for (const [sku, o] of this.offers) {
      const left = o.until - now;
      const el = this.find(sku);
      if (el) setText(tid("offer-countdown", el), formatCountdown(left));
      // The server says when an offer is gone; a lapsed one is only kept
      // while its purchase is on its way.
      if (left <= -1000 && o.state !== "pending") {
        this.offers.delete(sku);
        lapsed = true;
      }
    }
    if (lapsed) this.render();
  }
}
