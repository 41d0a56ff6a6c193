// The embed's app, loaded by /embed.js on a brand's page: the player, the
// pinned product card (variants, Buy, the waitlist), live coupons and
// waitlist offers, inside a shadow root, talking to livecart by absolute URL
// (CORS).

import { Api } from "./api.js";
import { ProductCard } from "./card.js";
import { Catalog } from "./catalog.js";
import { CouponBanner } from "./coupon.js";
import { h, setText, toast } from "./dom.js";
import { messageOf } from "./messages.js";
import { OfferPanel } from "./offer.js";
import { streamPath } from "./page.js";
import { WhepPlayer } from "./player.js";
import { Room } from "./room.js";
import { Shop } from "./shop.js";
import { SignIn } from "./signin.js";
import { clearToken, loadToken, saveToken } from "./token.js";

// mount fills host with one stream's player and card. opts: base (the
// livecart origin, from the script's src), stream, token (optional).
export async function mount(host, { base, stream, token }) {
  const root = host.attachShadow({ mode: "open" });
  if (token) saveToken("embed", token);
  const api = new Api({ base, token: token || loadToken("embed") });
  const cfg = await fetch(`${base}/assets/config.json`, { credentials: "omit" }).then((r) => r.json()).catch(() => ({ guests: false }));

  const video = h("video", { "data-testid": "video", playsinline: true, autoplay: true, muted: true });
  video.muted = true;
  const state = h("div", { class: "state", "data-testid": "player-state", text: "Connecting…" });
  const unmute = h("button", { type: "button", class: "unmute", "data-testid": "unmute", hidden: true, text: "🔇 Tap to unmute" });
  const title = h("span", { class: "title", "data-testid": "title", text: "" });
  const badge = h("span", { class: "badge", "data-testid": "live-badge", hidden: true, text: "LIVE" });
  const cardEl = h("article", { class: "card", "data-testid": "product-card", hidden: true });
  const offersEl = h("div", { class: "offers", "data-testid": "offers", hidden: true });
  const couponsEl = h("div", { class: "coupons", "data-testid": "coupons", hidden: true });
  const dialog = h("dialog", { "data-testid": "guest-dialog" },
    h("form", { method: "dialog", "data-testid": "guest-form" },
      h("strong", { text: "What should we call you?" }),
      h("input", { name: "name", "data-testid": "guest-name", maxlength: "40", required: true, placeholder: "Your name" }),
      h("p", { class: "error", "data-testid": "guest-error", hidden: true }),
      h("menu", {}, h("button", { type: "button", "data-testid": "guest-cancel", text: "Not now" }), h("button", { type: "submit", class: "primary", "data-testid": "guest-submit", text: "Join" })),
    ));
  root.append(
    h("link", { rel: "stylesheet", href: `${base}/assets/css/embed.css` }),
    h("div", { class: "lc", "data-testid": "embed" },
      video, state, unmute,
      h("div", { class: "top" }, badge, title),
      h("div", { class: "bottom" }, offersEl, couponsEl, cardEl),
      h("div", { class: "toasts", "data-testid": "toasts" }),
    ),
    dialog,
  );

  const catalog = new Catalog();
  const nameOf = (sku) => catalog.nameOf(sku);
  const signIn = new SignIn(dialog, { api, scope: "embed", guests: !!cfg.guests, onToken: () => shop.restore() });
  const say = (msg, kind) => toast(msg, kind, root);

  const addToCart = async (sku) => {
    try {
      await signIn.ensure();
      const cart = await api.get("/api/cart");
      const cur = (cart?.items || []).find((i) => i.sku === sku && i.stream === stream)?.qty || 0;
      await api.put(`/api/cart/items/${encodeURIComponent(sku)}`, { stream, qty: cur + 1 });
      say(`Added ${nameOf(sku)} to your cart`, "ok");
    } catch (err) {
      const msg = messageOf(err, { limit: catalog.limitOf(sku) });
      if (msg) say(msg, "error");
    }
  };
  const card = new ProductCard(cardEl, {
    onBuy: (sku) => shop.buy(sku),
    onAdd: addToCart,
    onJoin: (sku) => shop.join(sku),
    onLeave: (sku) => shop.leave(sku),
    regularPrice: (sku, variant) => catalog.regularPrice(sku, variant),
  });
  const coupons = new CouponBanner(couponsEl, { currency: () => catalog.currency() });
  const offers = new OfferPanel(offersEl, { nameOf, onBuy: (sku) => shop.buyOffer(sku) });
  const shop = new Shop({
    api, streamId: stream, card, coupons, offers, catalog, say,
    signIn: () => signIn.ensure(),
    onUnauthorized: () => {
      clearToken("embed");
      api.setToken(null);
    },
  });

  let status = "";
  const player = new WhepPlayer({
    endpoint: api.url(streamPath(stream, "/whep")),
    video,
    onState: (s) => {
      host.dataset.player = s;
      const text = { connecting: "Connecting…", reconnecting: "Reconnecting…", offline: status === "ended" ? "This show has ended." : "Waiting for the host…" }[s] ?? "";
      setText(state, text);
      state.hidden = !text;
      unmute.hidden = !(s === "playing" && video.muted);
    },
  });
  unmute.addEventListener("click", () => {
    video.muted = false;
    video.play().catch(() => {});
    unmute.hidden = true;
  });
  const setStatus = (s) => {
    if (!s) return;
    status = s;
    host.dataset.status = s;
    badge.hidden = s !== "live";
    if (s === "live") player.retryNow();
    if (s === "ended") player.stop();
  };
  const applyStream = (s) => {
    setText(title, s.title || stream);
    catalog.remember(s.lineup || []);
    if ("pinned" in s) card.set(catalog.cardOf(s.pinned));
    setStatus(s.status);
  };

  try {
    applyStream(await api.get(streamPath(stream)));
  } catch (err) {
    setText(state, err.status === 404 ? "Show not found" : messageOf(err));
    host.dataset.status = err.status === 404 ? "not_found" : "error";
    host.dataset.ready = "true";
    if (err.status === 404) return;
  }

  const room = new Room(api, stream, { onState: (s) => (host.dataset.room = s) });
  room
    .on("welcome", (m) => {
      if (m.stream) applyStream(m.stream);
      if ("pinned" in m) card.set(catalog.cardOf(m.pinned));
      shop.restore();
    })
    .on("product", (m) => card.set(catalog.cardOf(m.card)))
    .on("stock", (m) => {
      catalog.setStock(m.sku, m.stock);
      card.setStock(m.sku, m.stock);
    })
    .on("coupon", (m) => shop.coupon(m))
    .on("offer", (m) => shop.offer(m))
    .on("stream", (m) => setStatus(m.status));
  room.connect();
  if (status !== "ended") player.start();
  host.dataset.ready = "true";
  return { player, room };
}

