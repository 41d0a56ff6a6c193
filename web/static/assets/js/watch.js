// /watch/{id}: the viewer. Vertical video (WHEP), chat with questions and
// answers, reactions, viewer count, the pinned product card with its variant
// picker and one-tap Buy, live coupons, the waitlist and its offers, the cart
// drawer and the order ticker.

import { Api } from "./api.js";
import { CartDrawer } from "./cart.js";
import { ProductCard } from "./card.js";
import { Catalog } from "./catalog.js";
import { ChatList, Composer } from "./chat.js";
import { CouponBanner } from "./coupon.js";
import { setText, tid, toast } from "./dom.js";
import { messageOf } from "./messages.js";
import { OfferPanel } from "./offer.js";
import { pageConfig, streamIdFromPath, streamPath } from "./page.js";
import { WhepPlayer } from "./player.js";
import { Reactions } from "./reactions.js";
import { Room } from "./room.js";
import { Shop } from "./shop.js";
import { SignIn } from "./signin.js";
import { Ticker } from "./ticker.js";
import { clearToken, takeToken } from "./token.js";

const cfg = pageConfig();
const id = streamIdFromPath();
const api = new Api({ token: takeToken("viewer") });
const body = document.body;
const video = tid("video");
const catalog = new Catalog();
let status = "";

const nameOf = (sku) => catalog.nameOf(sku);

const room = new Room(api, id, { onState: (s) => (body.dataset.room = s) });
const signIn = new SignIn(tid("guest-dialog"), {
  api, scope: "viewer", guests: cfg.guests,
  onToken: () => {
    room.reconnectNow();
    cart.refresh();
    shop.restore();
  },
});
const chat = new ChatList(tid("chat-list"), { max: 80 });
const composer = new Composer(tid("composer"), { send: (m) => room.send(m), needSignIn: () => signIn.ensure(), notice: tid("notice") });
const reactions = new Reactions(tid("reactions"), { send: (m) => room.send(m) });
const ticker = new Ticker(tid("ticker"), { nameOf });
const coupons = new CouponBanner(tid("coupons"), {
  currency: () => catalog.currency(),
  onChange: () => cart.showCoupon(),
});
const cart = new CartDrawer(tid("cart-drawer"), {
  api, streamId: id, nameOf, messageOf, coupons,
  limitOf: (sku) => catalog.limitOf(sku),
  signIn: () => signIn.ensure(),
  onCount: (n) => {
    const el = tid("cart-count");
    setText(el, n);
    el.hidden = n === 0;
  },
});

const forgetToken = () => {
  clearToken("viewer");
  api.setToken(null);
};

const card = new ProductCard(tid("product-card"), {
  onBuy: (sku) => shop.buy(sku),
  onAdd: (sku) => cart.add(sku),
  onJoin: (sku) => shop.join(sku),
  onLeave: (sku) => shop.leave(sku),
  regularPrice: (sku, variant) => catalog.regularPrice(sku, variant),
  onExpire: () => loadStream(),
});
const offers = new OfferPanel(tid("offers"), { nameOf, onBuy: (sku) => shop.buyOffer(sku) });
const shop = new Shop({
  api, streamId: id, card, coupons, offers, catalog,
  signIn: () => signIn.ensure(),
  say: (text, kind) => toast(text, kind),
  onUnauthorized: forgetToken,
  onStale: () => loadStream(),
});

const player = new WhepPlayer({ endpoint: api.url(streamPath(id, "/whep")), video, onState: playerState });

function playerState(s) {
  body.dataset.player = s;
  const text = {
    connecting: "Connecting…",
    reconnecting: "Reconnecting…",
    offline: status === "ended" ? "This show has ended." : "Waiting for the host to go live…",
    stopped: status === "ended" ? "This show has ended." : "",
  }[s] ?? "";
  const el = tid("player-state");
  setText(el, text);
  el.hidden = !text;
  tid("unmute").hidden = !(s === "playing" && video.muted);
}

function setStatus(s) {
  if (!s) return;
  status = s;
  body.dataset.status = s;
  tid("live-badge").hidden = s !== "live";
  if (s === "live") player.retryNow();
  if (s === "ended") player.stop();
  playerState(player.state);
}

function setViewers(n) {
  setText(tid("viewer-count"), Number(n) || 0);
}

function applyStream(s) {
  if (!s) return;
  if (s.title) {
    setText(tid("title"), s.title);
    document.title = `${s.title} · livecart`;
  }
  catalog.remember(s.lineup || []);
  if ("pinned" in s) card.set(catalog.cardOf(s.pinned));
  if (s.viewers !== undefined) setViewers(s.viewers);
  setStatus(s.status);
}

async function loadStream() {
  try {
    const s = await api.get(streamPath(id));
    applyStream(s);
    return true;
  } catch (err) {
    if (err.status === 404) {
      tid("not-found").hidden = false;
      body.dataset.status = "not_found";
      setText(tid("title"), "Not found");
      const el = tid("player-state");
      el.hidden = true;
      return false;
    }
    toast(messageOf(err), "error");
    return true; // the room and the player retry on their own
  }
}

room
  .on("welcome", (m) => {
    if (m.stream) applyStream(m.stream);
    if (!m.recovered) chat.reset(m.history || []);
    else for (const x of m.history || []) chat.add(x);
    if ("pinned" in m) card.set(catalog.cardOf(m.pinned));
    body.dataset.you = m.you ? m.you.sub : "";
    // Offers made while the room was away are only in the API.
    shop.restore();
  })
  .on("chat", (m) => chat.add(m))
  .on("question", (m) => chat.add(m))
  .on("answer", (m) => chat.add(m))
  .on("deleted", (m) => chat.remove(m.id))
  .on("product", (m) => card.set(catalog.cardOf(m.card)))
  .on("stock", (m) => {
    catalog.setStock(m.sku, m.stock);
    card.setStock(m.sku, m.stock);
  })
  .on("coupon", (m) => shop.coupon(m))
  .on("offer", (m) => shop.offer(m))
  .on("order", (m) => ticker.show(m))
  .on("viewers", (m) => setViewers(m.count))
  .on("reactions", (m) => reactions.show(m.counts))
  .on("stream", (m) => setStatus(m.status))
  .on("muted", (m) => composer.block(m.until, "You're muted"))
  .on("banned", (m) => composer.block(m.until, "You can't chat in this show"))
  .on("error", (m) => {
    if (m.code === "unauthorized") forgetToken();
    toast(messageOf(m), "error");
  });

tid("unmute").addEventListener("click", () => {
  video.muted = false;
  video.play().catch(() => {});
  tid("unmute").hidden = true;
});
video.addEventListener("volumechange", () => (tid("unmute").hidden = !(player.state === "playing" && video.muted)));
tid("cart-button").addEventListener("click", () => cart.toggle());

// The reactions sit beside the chat, above the shop (offers, coupons, the
// card), however tall the shop grows.
const stage = document.querySelector(".stage");
const shopEl = tid("shop");
const placeReactions = () => {
  const h = Math.max(0, stage.getBoundingClientRect().bottom - shopEl.getBoundingClientRect().top);
  stage.style.setProperty("--shop-h", `${Math.round(h)}px`);
  stage.classList.toggle("shop-tall", shopEl.offsetHeight > 220);
};
new ResizeObserver(placeReactions).observe(shopEl);
addEventListener("resize", placeReactions);

if (!id) {
  tid("not-found").hidden = false;
} else if (await loadStream()) {
  if (status !== "ended") player.start();
  room.connect();
  if (api.token) cart.refresh();
}
body.dataset.ready = "true";
