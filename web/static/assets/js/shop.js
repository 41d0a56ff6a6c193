// What a viewer does with a product card, shared by the viewer page and the
// embed: one-tap Buy (with the applied coupon), the waitlist of a sold-out
// item (join, leave, places restored on load and kept current), and the
// offers the waitlist brings (bought with one tap). Room messages "offer"
// and "coupon" come in through offer() and coupon().
//
// The pinned card is one card; the bag adds one per product (attach). The
// viewer's places in line and held units are the same on every card.

import { oneTap } from "./card.js";
import { messageOf } from "./messages.js";
import { formatMoney } from "./money.js";
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
  // card is the pinned ProductCard, coupons the CouponBanner (or null),
  // offers the OfferPanel (or null), catalog the page's Catalog. signIn()
  // resolves once the person has a token; say(text, kind) shows a toast;
  // onUnauthorized() forgets a rejected token; onStale() reloads the
  // stream when what the page shows turned out to be old; onOrder(order,
  // sku) sees every order placed.
  constructor({ api, streamId, card, coupons = null, offers = null, catalog, signIn, say, onUnauthorized = () => {}, onStale = () => {}, onOrder = () => {} }) {
    Object.assign(this, { api, streamId, card, coupons, offers, catalog, signIn, say, onUnauthorized, onStale, onOrder });
    this.placesTimer = 0;
    this.extra = new Set();
    // One tap, one order, per card: taps while an order is on its way are
    // ignored, and the order's Idempotency-Key is kept across its retries
    // (Api.once).
    this.buyTaps = new WeakMap();
    this.joinTaps = new WeakMap();
    this.buyOffer = oneTap(async (sku) => {
      const order = await this.order(sku, { withCoupon: false, show: (s) => offers?.setBuying(sku, s) });
      // The held unit is taken: the offer is over (the room says so too).
      if (order) this.offer({ sku, held_until: null }, false);
      return order;
    });
  }

  // cards returns every card that shows products: the pinned one first.
  cards() {
    return [this.card, ...this.extra];
  }

  // attach adds a card (one of the bag's) that shows the viewer's places
  // and held units too; detach removes it.
  attach(card) {
    this.extra.add(card);
    for (const [sku, position] of this.card.places) card.setPlace(sku, position);
    for (const sku of this.card.offers) card.setOffer(sku, true);
  }

  detach(card) {
    this.extra.delete(card);
  }

  // buy is a tap on Buy now of card (by default the pinned one).
  buy(sku, card = this.card) {
    let tap = this.buyTaps.get(card);
    if (!tap) {
      tap = oneTap((s) => this.order(s, { withCoupon: true, show: (state) => card.setBuying(state) }));
      this.buyTaps.set(card, tap);
    }
    return tap(sku);
  }

  // join is a tap on Join waitlist of card.
  join(sku, card = this.card) {
    let tap = this.joinTaps.get(card);
    if (!tap) {
      tap = oneTap((s) => this.joinLine(s, card), 600);
      this.joinTaps.set(card, tap);
    }
    return tap(sku);
  }

  // setStock shows a product's or a variant's stock on every card.
  setStock(sku, stock) {
    for (const c of this.cards()) c.setStock(sku, stock);
  }

  setPlace(sku, position) {
    for (const c of this.cards()) c.setPlace(sku, position);
  }

  // failed tells the viewer why a tap on sku did not work.
  failed(err, sku) {
    if (err?.status === 401) this.onUnauthorized();
    const msg = messageOf(err, { limit: this.catalog.limitOf(sku) ?? this.limitOnCard(sku) });
    if (msg) this.say(msg, "error");
  }

  // limitOnCard is the per-person limit the pinned card shows for sku.
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
      this.onOrder(order, sku);
      return order;
    } catch (err) {
      show("idle");
      if (err?.code === "out_of_stock") this.setStock(sku, 0);
      if (err?.code === "coupon_invalid") this.coupons?.unapply();
      this.failed(err, sku);
      return null;
    }
  }

  // joinLine joins the waitlist of a sold-out sku from card.
  async joinLine(sku, card = this.card) {
    card.setJoining(true);
    try {
      await this.signIn();
      const place = await this.api.post(streamPath(this.streamId, "/waitlist"), { sku });
      this.setPlace(sku, place?.position || 1);
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
      card.setJoining(false);
    }
  }

  // leave leaves the waitlist of sku.
  async leave(sku) {
    try {
      await this.api.request("DELETE", streamPath(this.streamId, "/waitlist"), { json: { sku } });
      this.setPlace(sku, null);
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
    for (const sku of [...this.card.places.keys()]) if (!places.has(sku)) this.setPlace(sku, null);
    for (const [sku, position] of places) this.setPlace(sku, position);
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
    for (const c of this.cards()) c.setOffer(m.sku, on);
    if (on) {
      // The held unit is the viewer's turn: they are out of the line.
      this.setPlace(m.sku, null);
    } else if (resync) {
      this.restore();
    }
  }

  // coupon handles a room "coupon" message.
  coupon(m) {
    this.coupons?.update(m);
  }
}
