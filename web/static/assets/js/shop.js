// What a viewer does with the card, shared by the viewer page and the embed:
// one-tap Buy (with the applied coupon), the waitlist of a sold-out item
// (join, leave, places restored on load and kept current), and the offers
// the waitlist brings (bought with one tap). Room messages "offer" and
// "coupon" come in through offer() and coupon().

import { oneTap } from "./card.js";
import { formatMoney } from "./dom.js";
import { messageOf } from "./messages.js";
import { streamPath } from "./page.js";

// PLACES_EVERY_MS is how often places in line are refreshed while the
// viewer waits: others ahead leave or get their offers.
const PLACES_EVERY_MS = 10000;

// orderText is the confirmation of an order, with its discount.
export function orderText(name, order) {
  let s = `Ordered ${name} · ${formatMoney(order.total_cents, order.currency)}`;
  if (Number(order.discount_cents) > 0) {
    s += ` · saved ${formatMoney(order.discount_cents, order.currency)}${order.coupon ? ` with ${order.coupon}` : ""}`;
  }
  return s;
}

export class Shop {
  // card is the ProductCard, coupons the CouponBanner (or null), offers the
  // OfferPanel (or null), catalog the page's Catalog. signIn() resolves
  // once the person has a token; say(text, kind) shows a toast;
  // onUnauthorized() forgets a rejected token; onStale() reloads the
  // stream when what the page shows turned out to be old.
  constructor({ api, streamId, card, coupons = null, offers = null, catalog, signIn, say, onUnauthorized = () => {}, onStale = () => {} }) {
    Object.assign(this, { api, streamId, card, coupons, offers, catalog, signIn, say, onUnauthorized, onStale });
    this.placesTimer = 0;
    // One tap, one order: taps while an order is on its way are ignored,
    // and the order's Idempotency-Key is kept across its retries (Api.once).
    this.buy = oneTap((sku) => this.order(sku, { withCoupon: true, show: (s) => card.setBuying(s) }));
    this.buyOffer = oneTap(async (sku) => {
      const order = await this.order(sku, { withCoupon: false, show: (s) => offers?.setBuying(sku, s) });
      // The held unit is taken: the offer is over (the room says so too).
      if (order) this.offer({ sku, held_until: null }, false);
      return order;
    });
    this.join = oneTap((sku) => this.joinLine(sku), 600);
  }

  // failed tells the viewer why a tap on sku did not work.
  failed(err, sku) {
    if (err?.status === 401) this.onUnauthorized();
    const msg = messageOf(err, { limit: this.catalog.limitOf(sku) ?? this.limitOnCard(sku) });
    if (msg) this.say(msg, "error");
  }

  // limitOnCard is the per-person limit the card shows for sku, if any.
  limitOnCard(sku) {
    const c = this.card.card;
    if (!c || (c.sku !== sku && !this.card.variant(sku))) return undefined;
    return c.limit_per_buyer;
  }

  // order buys one unit of sku. withCoupon sends the applied code; show
  // sees the button's state.
  async order(sku, { withCoupon, show }) {
    show("pending");
    const coupon = withCoupon ? this.coupons?.applied : null;
    try {
      await this.signIn();
      const body = { sku, qty: 1 };
      if (coupon) body.coupon = coupon;
      const order = await this.api.once("POST", streamPath(this.streamId, "/buy"), body);
      show("done");
      this.say(orderText(this.catalog.nameOf(sku), order), "ok");
      // A code is used once per order: the next tap pays in full unless
      // the viewer applies it again.
      if (coupon && Number(order.discount_cents) > 0) this.coupons?.unapply();
      setTimeout(() => show("idle"), 1500);
      return order;
    } catch (err) {
      show("idle");
      if (err?.code === "out_of_stock") this.card.setStock(sku, 0);
      if (err?.code === "coupon_invalid") this.coupons?.unapply();
      this.failed(err, sku);
      return null;
    }
  }

  // joinLine joins the waitlist of a sold-out sku.
  async joinLine(sku) {
    this.card.setJoining(true);
    try {
      await this.signIn();
      const place = await this.api.post(streamPath(this.streamId, "/waitlist"), { sku });
      this.card.setPlace(sku, place?.position || 1);
      this.say(`You're #${place?.position || 1} in line for ${this.catalog.nameOf(sku)}`, "ok");
      this.watchPlaces();
    } catch (err) {
      if (err?.status === 409 && err.code === "conflict") {
        this.say(`${this.catalog.nameOf(sku)} is back in stock: tap Buy now.`, "ok");
        this.onStale();
      } else {
        this.failed(err, sku);
      }
    } finally {
      this.card.setJoining(false);
    }
  }

  // leave leaves the waitlist of sku.
  async leave(sku) {
    try {
      await this.api.request("DELETE", streamPath(this.streamId, "/waitlist"), { json: { sku } });
      this.card.setPlace(sku, null);
      this.say(`You left the line for ${this.catalog.nameOf(sku)}`, "info");
    } catch (err) {
      this.failed(err, sku);
    }
  }

  // restore reads the viewer's places and offers (on load, after signing
  // in, after the room reconnects).
  async restore() {
    if (!this.api.token) return;
    let w;
    try {
      w = await this.api.get(streamPath(this.streamId, "/waitlist"));
    } catch (err) {
      if (err?.status === 401) this.onUnauthorized();
      return;
    }
    const places = new Map((w?.items || []).map((i) => [i.sku, i.position]));
    for (const sku of [...this.card.places.keys()]) if (!places.has(sku)) this.card.setPlace(sku, null);
    for (const [sku, position] of places) this.card.setPlace(sku, position);
    const offered = new Map((w?.offers || []).map((o) => [o.sku, o.held_until]));
    for (const sku of [...this.card.offers]) if (!offered.has(sku)) this.offer({ sku, held_until: null }, false);
    for (const [sku, until] of offered) this.offer({ sku, held_until: until }, false);
    this.watchPlaces();
  }

  // watchPlaces keeps places current while the viewer waits in a line.
  watchPlaces() {
    clearTimeout(this.placesTimer);
    if (!this.card.places.size) return;
    this.placesTimer = setTimeout(() => {
      if (document.hidden) this.watchPlaces();
      else this.restore();
    }, PLACES_EVERY_MS);
  }

  // offer handles a room "offer" message: a unit held for this viewer, or
  // (held_until null) an offer gone.
  offer(m, resync = true) {
    if (!m?.sku) return;
    const on = !!m.held_until;
    this.offers?.set(m.sku, m.held_until || null);
    this.card.setOffer(m.sku, on);
    if (on) {
      // The held unit is the viewer's turn: they are out of the line.
      this.card.setPlace(m.sku, null);
    } else if (resync) {
      this.restore();
    }
  }

  // coupon handles a room "coupon" message.
  coupon(m) {
    this.coupons?.update(m);
  }
}
