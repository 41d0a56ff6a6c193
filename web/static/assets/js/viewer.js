// The viewer of one show, as the viewer page and the embed share it: the
// stream's status and what it means for the player (video only while the
// room says live; "the host is reconnecting" when the picture stops; no
// card to buy from once the show has ended), the pinned card with its
// variants, one-tap Buy and the waitlist, live coupons and waitlist offers,
// the lineup, the video's shape, the video's quality (the simulcast layer
// played), and the room messages all of these follow. Each page adds what
// only it shows (chat, cart, bag, …) on viewer.room.

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

// LAYERS are the qualities a viewer may ask for: "auto" lets the server
// choose from the connection's reports (it starts low and climbs); the
// others pin a simulcast layer of a publisher that sends several.
export const LAYERS = ["auto", "high", "medium", "low"];

// withLayer returns the WHEP endpoint asking for layer on a new session
// (?layer=); "auto", the server's default, leaves it as it is.
export function withLayer(endpoint, layer) {
  if (layer === "auto") return endpoint;
  return `${endpoint}${endpoint.includes("?") ? "&" : "?"}layer=${encodeURIComponent(layer)}`;
}

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
  // (each change of the player's state). quality is the page's quality
  // picker ([data-testid=quality], found beside the video when not
  // given; none in the embed): buttons with data-layer.
  constructor({ api, streamId, base = document.baseURI, video, cardEl, couponsEl, offersEl, quality, signIn, say, onUnauthorized = () => {}, onAdd = () => {}, on = {} }) {
    this.api = api;
    this.streamId = streamId;
    this.video = video;
    this.whep = api.url(streamPath(streamId, "/whep"));
    this.layer = "auto";
    this.layerSeq = 0;
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
      endpoint: this.whep,
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
    this.quality = quality ?? video.getRootNode().querySelector?.('[data-testid="quality"]') ?? null;
    this.quality?.addEventListener("click", (e) => {
      const b = e.target.closest?.("button[data-layer]");
      if (b) this.setLayer(b.dataset.layer);
    });
    this.showLayer();
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

  // setLayer asks for the video quality layer ("auto", "high", "medium",
  // "low"): on the playing session through its layer resource (same peer
  // connection, switched at the layer's next keyframe), and on every new
  // session from then on (?layer=). A refused or failed request leaves
  // the quality as it was; it is logged, not shown.
  async setLayer(layer) {
    if (!LAYERS.includes(layer)) return;
    const seq = ++this.layerSeq;
    const url = this.layerURL();
    if (!url) {
      // No session: the next offer asks for it.
      this.useLayer(layer);
      return;
    }
    this.quality?.setAttribute("aria-busy", "true");
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ layer }),
        credentials: "omit",
        cache: "no-store",
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const s = await res.json().catch(() => ({}));
      if (seq === this.layerSeq) this.useLayer(LAYERS.includes(s.layer) ? s.layer : layer, s.layers);
    } catch (err) {
      console.warn(`livecart: the video quality stays ${this.layer}: asking for ${layer} failed (${err.message || err})`);
    } finally {
      if (seq === this.layerSeq) this.quality?.removeAttribute("aria-busy");
    }
  }

  // layerURL is the playing session's layer resource, or null without a
  // session: the one the WHEP answer names (Link rel
  // urn:ietf:params:whep:ext:core:layer), else the session's URL +
  // "/layer", where livecart serves it.
  layerURL() {
    if (!this.player.location) return null;
    return this.player.layerURL ?? `${this.player.location}/layer`;
  }

  // useLayer makes layer the viewer's quality: shown on the picker and
  // the video (data-layer; data-layers, the stream's layer count, once
  // the server said it), and asked for by the player's next offers.
  useLayer(layer, layers) {
    this.layer = layer;
    this.player.endpoint = withLayer(this.whep, layer);
    if (Number.isInteger(layers)) this.video.dataset.layers = String(layers);
    this.showLayer();
  }

  showLayer() {
    this.video.dataset.layer = this.layer;
    for (const b of this.quality?.querySelectorAll("button[data-layer]") ?? []) {
      b.setAttribute("aria-pressed", String(b.dataset.layer === this.layer));
    }
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
