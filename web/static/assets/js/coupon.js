// Live coupons as the viewer sees them: a banner per coupon the host dropped
// ("FLASH20 · 20% off · 12 left · 4:59", "Used up" once none are left) with
// an Apply toggle. The applied code goes with the next Buy and Checkout.

import { h, setText, tid } from "./dom.js";
import { formatMoney } from "./money.js";
import { formatCountdown } from "./time.js";

// couponValue words a coupon's discount: "20% off" or "€5.00 off".
export function couponValue(c, currency = "USD") {
  if (Number(c?.percent_off) > 0) return `${c.percent_off}% off`;
  if (Number(c?.amount_off_cents) > 0) return `${formatMoney(c.amount_off_cents, currency)} off`;
  return "";
}

// couponLeft words how many redemptions are left.
export function couponLeft(c) {
  if (typeof c?.left !== "number") return "";
  return c.left <= 0 ? "Used up" : `${c.left} left`;
}

// couponEnd returns the ms until a coupon ends (Infinity without an end).
export function couponEnd(c, now = Date.now()) {
  if (!c?.ends_at) return Infinity;
  const t = new Date(c.ends_at).getTime();
  return Number.isNaN(t) ? Infinity : t - now;
}

// normCode is a code as the server keeps it: upper case.
export const normCode = (code) => String(code || "").trim().toUpperCase();

// ENDED_SHOWN_MS is how long an ended coupon stays on screen, saying so.
const ENDED_SHOWN_MS = 5000;

export class CouponBanner {
  // root is the element that holds the banners. currency() is the show's
  // currency; onChange(code) sees the applied code (or null).
  constructor(root, { currency = () => "USD", onChange = () => {} } = {}) {
    this.root = root;
    this.currency = currency;
    this.onChange = onChange;
    this.coupons = new Map();
    this.appliedCode = null;
    this.shown = new Set();
    this.timer = 0;
  }

  // applied is the code that goes with the next order, or null.
  get applied() {
    return this.appliedCode;
  }

  // update records a room "coupon" message (or a coupon of the API).
  update(m) {
    const code = normCode(m?.code);
    if (!code) return;
    this.coupons.set(code, { ...this.coupons.get(code), ...m, code });
    if (this.appliedCode === code && !this.usable(this.coupons.get(code))) this.unapply();
    this.render();
  }

  // usable reports whether a coupon can still go with an order.
  usable(c) {
    return !!c && !(typeof c.left === "number" && c.left <= 0) && couponEnd(c) > 0;
  }

  // apply makes code the applied one (null: none).
  apply(code) {
    const next = code ? normCode(code) : null;
    if (next === this.appliedCode) return;
    this.appliedCode = next;
    this.onChange(next);
    this.render();
  }

  // unapply applies no code.
  unapply() {
    this.apply(null);
  }

  // toggle is a tap on a coupon's Apply.
  toggle(code) {
    this.apply(this.appliedCode === code ? null : code);
  }

  // render shows the last three coupons, dropping those long ended.
  render() {
    clearInterval(this.timer);
    const now = Date.now();
    for (const [code, c] of this.coupons) {
      if (couponEnd(c, now) < -ENDED_SHOWN_MS) this.coupons.delete(code);
    }
    const live = [...this.coupons.values()].slice(-3);
    const rows = live.map((c) => this.row(c, !this.shown.has(c.code)));
    this.shown = new Set(live.map((c) => c.code));
    this.root.replaceChildren(...rows);
    this.root.hidden = rows.length === 0;
    this.tick();
    if (rows.length) this.timer = setInterval(() => this.tick(), 1000);
  }

  // row renders one coupon; a coupon shown for the first time slides in.
  row(c, entering) {
    const on = this.appliedCode === c.code;
    return h("div", { class: `coupon${on ? " applied" : ""}${entering ? " enter" : ""}`, "data-testid": "coupon", dataset: { code: c.code } },
      h("span", { class: "tag", "aria-hidden": "true", text: "🏷" }),
      h("div", { class: "what" },
        h("strong", { class: "code", "data-testid": "coupon-code", text: c.code }),
        h("span", { class: "value", "data-testid": "coupon-value", text: couponValue(c, this.currency()) }),
      ),
      h("div", { class: "meta" },
        h("span", { class: "left", "data-testid": "coupon-left", text: couponLeft(c) }),
        h("span", { class: "countdown", "data-testid": "coupon-countdown" }),
      ),
      h("button", {
        type: "button", class: on ? "primary" : "secondary", "data-testid": "coupon-apply", "aria-pressed": String(on),
        text: on ? "Applied ✓" : "Apply", on: { click: () => this.toggle(c.code) },
      }),
    );
  }

  // tick counts down to each coupon's end.
  tick() {
    const now = Date.now();
    let gone = false;
    for (const el of this.root.querySelectorAll('[data-testid="coupon"]')) {
      const c = this.coupons.get(el.dataset.code);
      if (!c) continue;
      const left = couponEnd(c, now);
      const usedUp = typeof c.left === "number" && c.left <= 0;
      const ended = left <= 0;
      el.classList.toggle("used-up", usedUp || ended);
      setText(tid("coupon-countdown", el), ended ? "Ended" : Number.isFinite(left) ? formatCountdown(left) : "");
      const b = tid("coupon-apply", el);
      b.disabled = usedUp || ended;
      if ((usedUp || ended) && this.appliedCode === c.code) this.unapply();
      if (left < -ENDED_SHOWN_MS) gone = true;
    }
    if (gone) this.render();
  }
}
