// The viewer of one show, as the viewer page and the embed share it: the
// stream's status and what it means for the player (video only while the
// room says live; "the host is reconnecting" when the picture stops; no
// card to buy from once the show has ended), the pinned card with its
// variants, one-tap Buy and the waitlist, live coupons and waitlist offers,
// the lineup, the video's shape, and the room messages all of these follow.
// Each page adds what only it shows (chat, cart, bag, …) on viewer.room.

import { ProductCard } from "./card.js";
import { Catalog } from "./catalog.js";
import { CouponBanner } from "./coupon.js";
import { messageOf } from "./messages.js";
import { OfferPanel } from "./offer.js";
import { streamPath } from "./page.js";
import { WhepPlayer } from "./player.js";
import { Room } from "./room.js";
import { Shop } from "./shop.js";

// viewOf is what the viewer sees, from the stream's status and the
// player's state: "not_found", "offline" (no host yet, or the host
// dropped for good), "connecting", "playing", "stalled" (live, but the
// host's picture stopped: they are reconnecting), "reconnecting" (the
// viewer's own connection is being made again) or "ended".
export function viewOf(status, player) {
  if (status === "not_found") return "not_found";
  if (status === "ended") return "ended";
  if (status !== "live") return "offline";
  if (player === "playing" || player === "stalled" || player === "reconnecting") return player;
  return "connecting";
}

// VIEW_TEXT is the line over the video in each view ("" shows none).
export const VIEW_TEXT = {
  not_found: "Show not found",
  offline: "Waiting for the host to go live…",
  connecting: "Connecting…",
  playing: "",
  stalled: "The host is reconnecting…",
  reconnecting: "Reconnecting…",
  ended: "This show has ended.",
};

// shapeOf is "landscape" for a picture wider than tall, else "portrait".
export const shapeOf = (w, h) => (w > 0 && h > 0 && w > h ? "landscape" : "portrait");

// Viewer is one show as a viewer follows it: built by a page, which
// registers its own room handlers on viewer.room and calls load() then
// begin(). The page's callbacks in `on` run on every change they name.
export class Viewer {
  // api talks to livecart (base: its origin, for images in the embed);
  // streamId is the show; video, cardEl, couponsEl and offersEl are the
  // page's elements. signIn() resolves once the person has a token;
  // say(text, kind) shows a toast; onUnauthorized() forgets a rejected
  // token; onAdd(sku) puts one in the cart. on: callbacks stream(s) (each
  // stream view applied), view(view) (each change of what the viewer
  // sees), shape(shape, ratio), order(order, sku), play() (the first
  // picture), room(state) (the room connection's state), player(state)
  // (each change of the player's state).
  constructor({ api, streamId, base = document.baseURI, video, cardEl, couponsEl, offersEl, signIn, say, onUnauthorized = () => {}, onAdd = () => {}, on = {} }) {
    this.api = api;
    this.streamId = streamId;
    this.video = video;
    this.say = say;
    this.on = { stream() {}, view() {}, shape() {}, order() {}, play() {}, room() {}, player() {}, ...on };
    this.status = "";
    this.stream = null;
    this.view = "";
    this.played = false;
    this.catalog = new Catalog();
    this.card = new ProductCard(cardEl, {
      onBuy: (sku) => this.shop.buy(sku),
      onAdd,
      onJoin: (sku) => this.shop.join(sku),
      onLeave: (sku) => this.shop.leave(sku),
      regularPrice: (sku, variant) => this.catalog.regularPrice(sku, variant),
      onExpire: () => this.load(),
      base,
    });
    this.coupons = new CouponBanner(couponsEl, { currency: () => this.catalog.currency() });
    this.offers = new OfferPanel(offersEl, { nameOf: (sku) => this.catalog.nameOf(sku), onBuy: (sku) => this.shop.buyOffer(sku) });
    this.shop = new Shop({
      api, streamId, card: this.card, coupons: this.coupons, offers: this.offers, catalog: this.catalog,
      signIn, say, onUnauthorized,
      onStale: () => this.load(),
      onOrder: (order, sku) => this.on.order(order, sku),
    });
    this.player = new WhepPlayer({
      endpoint: api.url(streamPath(streamId, "/whep")),
      video,
      // After a failure the stream may have gone offline or ended, and
      // the room not said so yet: ask the API before offering again.
      mayConnect: async (retry) => {
        if (retry) await this.refresh();
        return this.status === "live";
      },
      onState: (s) => {
        if (s === "playing" && !this.played) {
          this.played = true;
          this.on.play();
        }
        this.on.player(s);
        this.update();
      },
    });
    video.addEventListener("resize", () => this.on.shape(shapeOf(video.videoWidth, video.videoHeight), video.videoWidth / video.videoHeight || 0));
    this.room = new Room(api, streamId, { onState: (s) => this.on.room(s) });
    this.room
      .on("welcome", (m) => {
        if (m.stream) this.apply(m.stream);
        if ("pinned" in m) this.pin(m.pinned);
        // Offers made while the room was away are only in the API.
        this.shop.restore();
      })
      .on("product", (m) => this.pin(m.card))
      .on("stock", (m) => {
        this.catalog.setStock(m.sku, m.stock);
        this.shop.setStock(m.sku, m.stock);
      })
      .on("coupon", (m) => this.status !== "ended" && this.shop.coupon(m))
      .on("offer", (m) => this.shop.offer(m))
      .on("viewers", (m) => {
        if (this.stream) this.stream.viewers = m.count;
      })
      .on("stream", (m) => this.setStatus(m.status));
  }

  // pin shows the pinned card; an ended show has none to buy from.
  pin(pinned) {
    this.pinned = pinned ?? null;
    this.card.set(this.status === "ended" ? null : this.catalog.cardOf(this.pinned));
  }

  // apply takes in a stream as GET /api/streams/{id} answers it.
  apply(s) {
    if (!s) return;
    this.stream = { ...this.stream, ...s };
    if (Array.isArray(s.lineup)) this.catalog.setLineup(s.lineup);
    this.setStatus(s.status);
    if ("pinned" in s) this.pin(s.pinned);
    this.on.stream(this.stream);
  }

  // setStatus follows the stream's status: the player plays only while it
  // is live, and an ended show sells nothing on its card.
  setStatus(s) {
    if (!s) return;
    const was = this.status;
    this.status = s;
    if (this.stream) this.stream.status = s;
    if (s === "live") {
      if (this.player.running) this.player.retryNow();
      else this.player.start();
    } else if (this.player.running || this.player.state === "idle") {
      // The server closed the session (the show ended, or its host has
      // been gone too long): nothing to hang up.
      this.player.stop(s === "ended" ? "stopped" : "offline", { hangUp: false });
    }
    if (s === "ended" && was !== "ended") {
      this.card.set(null);
      this.coupons.root.hidden = true;
    }
    this.update();
  }

  update() {
    const v = viewOf(this.status, this.player.state);
    if (v === this.view) return;
    this.view = v;
    this.on.view(v);
  }

  // load reads the stream; false when it does not exist.
  async load() {
    try {
      this.apply(await this.api.get(streamPath(this.streamId)));
      return true;
    } catch (err) {
      if (err.status === 404) {
        this.status = "not_found";
        this.update();
        return false;
      }
      this.say(messageOf(err), "error");
      return true; // the room and the player retry on their own
    }
  }

  // refresh reads the stream's status again and follows it when it
  // changed.
  async refresh() {
    try {
      const s = await this.api.get(streamPath(this.streamId));
      if (s?.status && s.status !== this.status) this.apply(s);
    } catch {
      /* the room says it when it can */
    }
  }

  // begin joins the room (which says when the show goes live) and plays if
  // it is live already.
  begin() {
    this.room.connect();
    if (this.status === "live") this.player.start();
  }
}
