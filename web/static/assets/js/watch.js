// /watch/{id}: the viewer. The video (WHEP, only while the show is live)
// keeps its shape: a portrait picture fills the screen, a landscape one is
// letterboxed, with the card and the chat beside it on a desktop. Around
// it: chat with questions and answers, reactions, viewer count, the pinned
// product card (variants, one-tap Buy, the waitlist), live coupons and
// offers, the bag with the show's whole lineup, the cart drawer with the
// viewer's orders in this show, the order ticker, share, and what the show
// is doing now: waiting for its host (with the host and the lineup), the
// host reconnecting, ended (with other shows), or not found.

import { Api, listItems } from "./api.js";
import { Bag } from "./bag.js";
import { CartDrawer } from "./cart.js";
import { ChatList, Composer } from "./chat.js";
import { h, safeURL, setText, tid } from "./dom.js";
import { messageOf } from "./messages.js";
import { formatMoney } from "./money.js";
import { MyOrders } from "./myorders.js";
import { pageConfig, streamIdFromPath } from "./page.js";
import { Reactions } from "./reactions.js";
import { share, shareURL, wireSheet } from "./share.js";
import { SignIn } from "./signin.js";
import { initial } from "./text.js";
import { Ticker } from "./ticker.js";
import { toast } from "./toast.js";
import { clearToken, takeToken } from "./token.js";
import { VIEW_TEXT, Viewer } from "./viewer.js";

const cfg = pageConfig();
const id = streamIdFromPath();
const api = new Api({ token: takeToken("viewer") });
const body = document.body;
const video = tid("video");
const stage = document.querySelector(".stage");

const forgetToken = () => {
  clearToken("viewer");
  api.setToken(null);
};

const signIn = new SignIn(tid("guest-dialog"), {
  api, scope: "viewer", guests: cfg.guests,
  onToken: () => {
    viewer.room.reconnectNow();
    cart.refresh();
    orders.refresh();
    viewer.shop.restore();
  },
});

const viewer = new Viewer({
  api, streamId: id, video,
  cardEl: tid("product-card"), couponsEl: tid("coupons"), offersEl: tid("offers"),
  signIn: () => signIn.ensure(),
  say: (text, kind) => toast(text, kind),
  onUnauthorized: forgetToken,
  onAdd: (sku) => cart.add(sku),
  on: {
    stream: showStream,
    view: showView,
    shape: (shape, ratio) => {
      body.dataset.shape = shape;
      stage.style.setProperty("--video-ratio", String(ratio || 9 / 16));
      layout();
    },
    order: (order) => {
      orders.add(order);
      orders.refresh();
    },
    room: (s) => (body.dataset.room = s),
    player: (s) => (body.dataset.player = s),
  },
});
const { catalog, room } = viewer;
const nameOf = (sku) => catalog.nameOf(sku);
viewer.coupons.onChange = () => cart.showCoupon();

const chat = new ChatList(tid("chat-list"), { max: 80 });
const composer = new Composer(tid("composer"), { send: (m) => room.send(m), needSignIn: () => signIn.ensure(), notice: tid("notice") });
const reactions = new Reactions(tid("reactions"), { send: (m) => room.send(m) });
const ticker = new Ticker(tid("ticker"), { nameOf });
const cart = new CartDrawer(tid("cart-drawer"), {
  api, streamId: id, nameOf, messageOf, coupons: viewer.coupons,
  limitOf: (sku) => catalog.limitOf(sku),
  signIn: () => signIn.ensure(),
  onCount: (n) => {
    const el = tid("cart-count");
    setText(el, n);
    el.hidden = n === 0;
  },
  onOpen: () => orders.refresh(),
  onOrder: (order) => orders.add(order),
});
const orders = new MyOrders(tid("drawer-orders"), { api, stream: id, nameOf, say: (t, k) => toast(t, k), onUnauthorized: forgetToken });
const bag = new Bag(tid("bag"), { viewer, onAdd: (sku) => cart.add(sku), count: tid("bag-count") });

// showStream shows the stream's title, host and lineup.
function showStream(s) {
  if (s.title) {
    setText(tid("title"), s.title);
    document.title = `${s.title} · livecart`;
  }
  if (s.host) {
    setText(tid("host"), `with ${s.host}`);
    tid("host").hidden = false;
  }
  if (s.viewers !== undefined) setText(tid("viewer-count"), Number(s.viewers) || 0);
  bag.render();
  showLineupStrip();
}

// showLineupStrip lists the lineup on the offline panel: what the show
// will sell, to browse while waiting.
function showLineupStrip() {
  const products = catalog.lineup();
  const s = viewer.stream || {};
  setText(tid("offline-avatar"), initial(s.host || s.title));
  setText(tid("offline-title"), s.host ? `${s.host} isn't live yet` : "Waiting for the host to go live…");
  tid("offline-lineup").replaceChildren(...products.slice(0, 4).map((p) => {
    const img = safeURL(p.image_url || "");
    return h("li", { "data-testid": "offline-product", dataset: { sku: p.sku } },
      h("button", { type: "button", class: "strip-item", on: { click: () => bag.open() } },
        img ? h("img", { src: img, alt: "", loading: "lazy" }) : h("span", { class: "thumb placeholder", text: "🛍" }),
        h("span", { class: "name", text: p.name || p.sku }),
        h("span", { class: "price", text: formatMoney(p.price_cents, p.currency) })));
  }));
  for (const b of [tid("offline-shop"), tid("ended-shop")]) {
    setText(b, products.length === 1 ? "See the product" : `Browse the ${products.length} products`);
    b.hidden = products.length === 0;
  }
}

// showView shows what the viewer sees now: the line over the video, the
// LIVE badge, and the offline, ended and not-found panels.
function showView(v) {
  body.dataset.view = v;
  body.dataset.status = viewer.status;
  tid("live-badge").hidden = v !== "playing" && v !== "connecting";
  const el = tid("player-state");
  setText(el, VIEW_TEXT[v] ?? "");
  // The offline and ended panels say it themselves.
  el.hidden = !VIEW_TEXT[v] || v === "offline" || v === "ended" || v === "not_found";
  tid("offline-panel").hidden = v !== "offline";
  tid("ended-panel").hidden = v !== "ended";
  tid("not-found").hidden = v !== "not_found";
  tid("unmute").hidden = !(v === "playing" && video.muted);
  if (v === "ended") {
    composer.block("", "The show has ended: chat is closed");
    showOthers();
  }
  if (v === "not_found") setText(tid("title"), "Not found");
  layout();
}

// showOthers lists other shows (live first) on the ended panel.
async function showOthers() {
  let streams = [];
  try {
    streams = listItems(await api.get("/api/streams")).filter((s) => s.id !== id && s.status !== "ended");
  } catch {
    /* the link to all shows stays */
  }
  tid("other-shows").replaceChildren(...streams.slice(0, 3).map((s) =>
    h("li", { "data-testid": "other-show", dataset: { id: s.id, status: s.status } },
      h("a", { href: `/watch/${encodeURIComponent(s.id)}` },
        h("span", { class: `badge ${s.status}`, text: s.status === "live" ? "LIVE" : "Offline" }),
        h("span", { class: "name", text: s.title || s.id }),
        s.host ? h("span", { class: "muted", text: ` · ${s.host}` }) : null))));
  tid("no-other-shows").hidden = streams.length > 0;
}

room
  .on("welcome", (m) => {
    if (!m.recovered) chat.reset(m.history || []);
    else for (const x of m.history || []) chat.add(x);
    body.dataset.you = m.you ? m.you.sub : "";
  })
  .on("chat", (m) => chat.add(m))
  .on("question", (m) => chat.add(m))
  .on("answer", (m) => chat.add(m))
  .on("deleted", (m) => chat.remove(m.id))
  .on("skipped", (m) => chat.skipped(m.count))
  .on("product", () => bag.render())
  .on("order", (m) => ticker.show(m))
  .on("viewers", (m) => setText(tid("viewer-count"), Number(m.count) || 0))
  .on("reactions", (m) => reactions.show(m.counts))
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
video.addEventListener("volumechange", () => (tid("unmute").hidden = !(viewer.view === "playing" && video.muted)));
tid("cart-button").addEventListener("click", () => {
  bag.close();
  cart.toggle();
});
tid("bag-button").addEventListener("click", () => {
  cart.close();
  bag.toggle();
});
for (const b of [tid("offline-shop"), tid("ended-shop")]) b.addEventListener("click", () => bag.open());
const sheet = tid("share-sheet");
wireSheet(sheet, (t, k) => toast(t, k));
tid("share").addEventListener("click", () => {
  const s = viewer.stream || {};
  share({ title: s.title || document.title, text: s.host ? `Live shopping with ${s.host}` : "Live shopping", url: shareURL() },
    { say: (t, k) => toast(t, k), sheet });
});

// layout keeps the parts of the stage apart: the reactions beside the
// chat, above the shop (offers, coupons, the card), however tall the shop
// grows, and the state panels above the chat.
const shopEl = tid("shop");
const bottomEl = tid("side");
const topbar = tid("topbar");
function layout() {
  const box = stage.getBoundingClientRect();
  const sb = box.bottom;
  stage.style.setProperty("--top-h", `${Math.round(topbar.getBoundingClientRect().bottom - box.top)}px`);
  stage.style.setProperty("--shop-h", `${Math.round(Math.max(0, sb - shopEl.getBoundingClientRect().top))}px`);
  stage.style.setProperty("--bottom-h", `${Math.round(Math.max(0, sb - bottomEl.getBoundingClientRect().top))}px`);
  stage.classList.toggle("shop-tall", shopEl.offsetHeight > 220);
}
new ResizeObserver(layout).observe(shopEl);
new ResizeObserver(layout).observe(bottomEl);
new ResizeObserver(layout).observe(topbar);
addEventListener("resize", layout);

if (!id || body.dataset.status === "not_found") {
  // The server said so: nothing to load.
  viewer.status = "not_found";
  viewer.update();
} else if (await viewer.load()) {
  viewer.begin();
  if (api.token) {
    cart.refresh();
    orders.refresh();
  }
}
body.dataset.ready = "true";
