// /watch/{id}: the viewer. Vertical video (WHEP), chat with questions and
// answers, reactions, viewer count, the pinned product card with one-tap Buy,
// the cart drawer and the order ticker.

import { Api } from "./api.js";
import { CartDrawer } from "./cart.js";
import { oneTap, ProductCard } from "./card.js";
import { ChatList, Composer } from "./chat.js";
import { formatMoney, setText, tid, toast } from "./dom.js";
import { messageOf } from "./messages.js";
import { pageConfig, streamIdFromPath, streamPath } from "./page.js";
import { WhepPlayer } from "./player.js";
import { Reactions } from "./reactions.js";
import { Room } from "./room.js";
import { SignIn } from "./signin.js";
import { Ticker } from "./ticker.js";
import { clearToken, takeToken } from "./token.js";

const cfg = pageConfig();
const id = streamIdFromPath();
const api = new Api({ token: takeToken("viewer") });
const body = document.body;
const video = tid("video");
const lineup = new Map();
let status = "";

const nameOf = (sku) => lineup.get(sku)?.name || sku;

const room = new Room(api, id, { onState: (s) => (body.dataset.room = s) });
const signIn = new SignIn(tid("guest-dialog"), {
  api, scope: "viewer", guests: cfg.guests,
  onToken: () => {
    room.reconnectNow();
    cart.refresh();
  },
});
const chat = new ChatList(tid("chat-list"), { max: 80 });
const composer = new Composer(tid("composer"), { send: (m) => room.send(m), needSignIn: () => signIn.ensure(), notice: tid("notice") });
const reactions = new Reactions(tid("reactions"), { send: (m) => room.send(m) });
const ticker = new Ticker(tid("ticker"), { nameOf });
const cart = new CartDrawer(tid("cart-drawer"), {
  api, streamId: id, nameOf, messageOf,
  signIn: () => signIn.ensure(),
  onCount: (n) => {
    const el = tid("cart-count");
    setText(el, n);
    el.hidden = n === 0;
  },
});

// One tap, one order: taps while an order is on its way are ignored, and the
// order's Idempotency-Key is kept across its retries (Api.once).
const buy = oneTap(async (sku) => {
  card.setBuying("pending");
  try {
    await signIn.ensure();
    const order = await api.once("POST", streamPath(id, "/buy"), { sku, qty: 1 });
    card.setBuying("done");
    toast(`Ordered ${nameOf(sku)} · ${formatMoney(order.total_cents, order.currency)}`, "ok");
    setTimeout(() => card.setBuying("idle"), 1500);
  } catch (err) {
    card.setBuying("idle");
    if (err.code === "out_of_stock") card.setStock(sku, 0);
    if (err.status === 401) {
      clearToken("viewer");
      api.setToken(null);
    }
    const msg = messageOf(err);
    if (msg) toast(msg, "error");
  }
});

const card = new ProductCard(tid("product-card"), {
  onBuy: buy,
  onAdd: (sku) => cart.add(sku),
  regularPrice: (sku) => lineup.get(sku)?.price_cents,
  onExpire: () => loadStream(),
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

// cardOf turns a stream's "pinned" (a card, or a bare sku) into a card.
function cardOf(pinned) {
  if (!pinned) return null;
  if (typeof pinned === "object") return pinned;
  const p = lineup.get(pinned);
  return p ? { sku: p.sku, name: p.name, price_cents: p.price_cents, currency: p.currency, stock: p.stock, image_url: p.image_url, ends_at: null } : null;
}

function applyStream(s) {
  if (!s) return;
  if (s.title) {
    setText(tid("title"), s.title);
    document.title = `${s.title} · livecart`;
  }
  for (const p of s.lineup || []) lineup.set(p.sku, p);
  if ("pinned" in s) card.set(cardOf(s.pinned));
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
    if ("pinned" in m) card.set(cardOf(m.pinned));
    body.dataset.you = m.you ? m.you.sub : "";
  })
  .on("chat", (m) => chat.add(m))
  .on("question", (m) => chat.add(m))
  .on("answer", (m) => chat.add(m))
  .on("deleted", (m) => chat.remove(m.id))
  .on("product", (m) => card.set(cardOf(m.card)))
  .on("stock", (m) => {
    const p = lineup.get(m.sku);
    if (p) p.stock = m.stock;
    card.setStock(m.sku, m.stock);
  })
  .on("order", (m) => ticker.show(m))
  .on("viewers", (m) => setViewers(m.count))
  .on("reactions", (m) => reactions.show(m.counts))
  .on("stream", (m) => setStatus(m.status))
  .on("muted", (m) => composer.block(m.until, "You're muted"))
  .on("banned", (m) => composer.block(m.until, "You can't chat in this show"))
  .on("error", (m) => {
    if (m.code === "unauthorized") {
      clearToken("viewer");
      api.setToken(null);
    }
    toast(messageOf(m), "error");
  });

tid("unmute").addEventListener("click", () => {
  video.muted = false;
  video.play().catch(() => {});
  tid("unmute").hidden = true;
});
video.addEventListener("volumechange", () => (tid("unmute").hidden = !(player.state === "playing" && video.muted)));
tid("cart-button").addEventListener("click", () => cart.toggle());

if (!id) {
  tid("not-found").hidden = false;
} else if (await loadStream()) {
  if (status !== "ended") player.start();
  room.connect();
  if (api.token) cart.refresh();
}
body.dataset.ready = "true";
