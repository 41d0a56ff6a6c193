// The embed's app, loaded by /embed.js on a brand's page: the player, the
// pinned product card (variants, Buy, Add to cart, the waitlist), live
// coupons and waitlist offers, and a box to ask the host a question, inside
// a shadow root, talking to livecart by absolute URL (CORS). Everything it
// loads (its stylesheet, product images) comes from livecart's origin.
//
// It tells the brand's page what the shopper does, as CustomEvents that
// bubble out of the embed's element to the document: "livecart:play",
// "livecart:buy", "livecart:add-to-cart" and "livecart:question".

import { Api } from "./api.js";
import { h, setText } from "./dom.js";
import { messageOf } from "./messages.js";
import { SignIn } from "./signin.js";
import { codePoints } from "./text.js";
import { toast } from "./toast.js";
import { clearToken, loadToken, saveToken } from "./token.js";
import { VIEW_TEXT, Viewer } from "./viewer.js";

// MAX_QUESTION is the longest question, in code points, as the room limits
// text.
const MAX_QUESTION = 500;

// mount fills host with one stream's player and card. opts: base (the
// livecart origin, from the script's src), stream, token (optional).
export async function mount(host, { base, stream, token }) {
  const root = host.attachShadow({ mode: "open" });
  if (token) saveToken("embed", token);
  const api = new Api({ base, token: token || loadToken("embed") });
  const cfg = await fetch(`${base}/assets/config.json`, { credentials: "omit" }).then((r) => r.json()).catch(() => ({ guests: false }));

  // emit tells the brand's page, with a CustomEvent that leaves the shadow
  // root and bubbles to the document.
  const emit = (name, detail) => host.dispatchEvent(new CustomEvent(`livecart:${name}`, { bubbles: true, composed: true, detail: { stream, ...detail } }));

  const video = h("video", { "data-testid": "video", playsinline: true, autoplay: true, muted: true });
  video.muted = true;
  const state = h("div", { class: "state", "data-testid": "player-state", text: "Connecting…" });
  const unmute = h("button", { type: "button", class: "unmute", "data-testid": "unmute", hidden: true, text: "🔇", "aria-label": "Unmute", title: "Unmute" });
  const title = h("span", { class: "title", "data-testid": "title", text: "" });
  const badge = h("span", { class: "badge", "data-testid": "live-badge", hidden: true, text: "LIVE" });
  const cardEl = h("article", { class: "card", "data-testid": "product-card", hidden: true });
  const offersEl = h("div", { class: "offers", "data-testid": "offers", hidden: true });
  const couponsEl = h("div", { class: "coupons", "data-testid": "coupons", hidden: true });
  const askInput = h("input", { name: "text", "data-testid": "ask-input", maxlength: String(MAX_QUESTION), placeholder: "Ask the host a question…", "aria-label": "Your question", enterkeyhint: "send" });
  const askForm = h("form", { class: "ask", "data-testid": "ask-form", autocomplete: "off" },
    askInput, h("button", { type: "submit", class: "primary", "data-testid": "ask-send", text: "Ask" }));
  const dialog = h("dialog", { "data-testid": "guest-dialog" },
    h("form", { method: "dialog", "data-testid": "guest-form" },
      h("strong", { text: "What should we call you?" }),
      h("input", { name: "name", "data-testid": "guest-name", maxlength: "40", required: true, placeholder: "Your name" }),
      h("p", { class: "error", "data-testid": "guest-error", hidden: true }),
      h("menu", {}, h("button", { type: "button", "data-testid": "guest-cancel", text: "Not now" }), h("button", { type: "submit", class: "primary", "data-testid": "guest-submit", text: "Join" })),
    ));
  root.append(
    h("link", { rel: "stylesheet", href: `${base}/assets/css/embed.css` }),
    h("div", { class: "lc", "data-testid": "embed", dataset: { shape: "portrait" } },
      video, state,
      h("div", { class: "top" }, badge, title, unmute),
      h("div", { class: "toasts", "data-testid": "toasts" }),
      h("div", { class: "bottom" }, offersEl, couponsEl, cardEl, askForm),
    ),
    dialog,
  );

  const say = (msg, kind) => toast(msg, kind, root);
  const signIn = new SignIn(dialog, { api, scope: "embed", guests: !!cfg.guests, onToken: () => viewer.shop.restore() });

  const addToCart = async (sku) => {
    try {
      await signIn.ensure();
      const cart = await api.get("/api/cart");
      const cur = (cart?.items || []).find((i) => i.sku === sku && i.stream === stream)?.qty || 0;
      await api.put(`/api/cart/items/${encodeURIComponent(sku)}`, { stream, qty: cur + 1 });
      say(`Added ${viewer.catalog.nameOf(sku)} to your cart`, "ok");
      emit("add-to-cart", { sku, qty: 1, quantity_in_cart: cur + 1 });
    } catch (err) {
      const msg = messageOf(err, { limit: viewer.catalog.limitOf(sku) });
      if (msg) say(msg, "error");
    }
  };

  const viewer = new Viewer({
    api, streamId: stream, base, video, cardEl, couponsEl, offersEl, signIn: () => signIn.ensure(), say,
    onUnauthorized: () => {
      clearToken("embed");
      api.setToken(null);
    },
    onAdd: addToCart,
    on: {
      stream: (s) => setText(title, s.title || stream),
      view: (v) => {
        host.dataset.status = viewer.status;
        badge.hidden = v !== "playing" && v !== "connecting";
        setText(state, VIEW_TEXT[v] ?? "");
        state.hidden = !VIEW_TEXT[v];
        unmute.hidden = !(v === "playing" && video.muted);
        askForm.hidden = v === "ended" || v === "not_found";
      },
      player: (s) => (host.dataset.player = s),
      // A landscape picture is letterboxed in the portrait frame, whole.
      shape: (shape) => (root.querySelector(".lc").dataset.shape = shape),
      room: (s) => (host.dataset.room = s),
      play: () => emit("play", {}),
      order: (order, sku) => emit("buy", {
        sku, qty: 1, order_id: order.id, total_cents: order.total_cents, currency: order.currency,
        discount_cents: Number(order.discount_cents) || 0, coupon: order.coupon || null,
      }),
    },
  });
  unmute.addEventListener("click", () => {
    video.muted = false;
    video.play().catch(() => {});
    unmute.hidden = true;
  });
  askForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = askInput.value.trim();
    if (!text) return;
    if (codePoints(text) > MAX_QUESTION) {
      say(messageOf({ code: "too_long" }), "error");
      return;
    }
    try {
      await signIn.ensure();
    } catch {
      return;
    }
    if (!viewer.room.send({ type: "question", text })) {
      say("Not connected yet — try again in a second.", "error");
      return;
    }
    askInput.value = "";
    say("Question sent to the host", "ok");
    emit("question", { text });
  });
  viewer.room.on("error", (m) => say(messageOf(m), "error"));

  if (!(await viewer.load())) {
    host.dataset.ready = "true";
    return { viewer };
  }
  viewer.begin();
  host.dataset.ready = "true";
  return { viewer, player: viewer.player, room: viewer.room };
}
