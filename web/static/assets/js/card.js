// The pinned product card: name, live price (a flash price struck against
// the regular one), countdown to its end, stock ("Only 3 left", "Sold out"),
// the per-person limit, a size/colour picker when the product has variants,
// one-tap Buy and Add to cart, and the waitlist of a sold-out item ("Join
// waitlist", then "You're #N in line" with Leave). The pinned card of the
// viewer page and the embed, and each product in the viewer's bag, are one.

import { h, safeURL, setText, tid } from "./dom.js";
import { formatMoney } from "./money.js";
import { formatCountdown } from "./time.js";

// LOW_STOCK is the stock at and below which the card says "Only N left".
export const LOW_STOCK = 5;

// stockText is what the card says about stock.
export function stockText(stock) {
  if (typeof stock !== "number") return "";
  if (stock <= 0) return "Sold out";
  if (stock <= LOW_STOCK) return `Only ${stock} left`;
  return "In stock";
}

// limitText is what the card says about a per-person limit ("" for none).
export function limitText(limit) {
  return Number(limit) >= 1 ? `Limit ${limit} per person` : "";
}

// placeText is what the card says about a place in the waitlist.
export const placeText = (position) => `You're #${position} in line`;

// oneTap wraps an async action so that taps while it runs, and for
// cooldownMs after it ends, do nothing: a double tap is one tap. Each run
// that does start is a new purchase (the action makes its own
// Idempotency-Key).
export function oneTap(action, cooldownMs = 1200) {
  let busy = false;
  return async (...args) => {
    if (busy) return undefined;
    busy = true;
    try {
      return await action(...args);
    } finally {
      setTimeout(() => (busy = false), cooldownMs);
    }
  };
}

const soldOutStock = (stock) => typeof stock === "number" && stock <= 0;

export class ProductCard {
  // root is the [data-testid=product-card] element. onBuy(sku), onAdd(sku),
  // onJoin(sku) and onLeave(sku) act on the sku a tap means: the chosen
  // variant, or the product itself when it has none. regularPrice(sku,
  // variantSku) returns the lineup price (or undefined); onExpire runs when
  // a flash price's time is up. base is the origin product images are
  // resolved against (livecart's, in the embed); details shows the
  // product's description (in the bag).
  constructor(root, { onBuy, onAdd, onJoin, onLeave, regularPrice = () => undefined, onExpire = () => {}, base = document.baseURI, details = false }) {
    this.root = root;
    this.base = base;
    this.details = details;
    this.onBuy = onBuy;
    this.onAdd = onAdd;
    this.onJoin = onJoin;
    this.onLeave = onLeave;
    this.regularPrice = regularPrice;
    this.onExpire = onExpire;
    this.card = null;
    this.chosen = null;
    this.busy = "idle";
    this.joining = false;
    // places and offers are the viewer's, per sku, whatever is pinned.
    this.places = new Map();
    this.offers = new Set();
    this.timer = 0;
    this.expired = false;
  }

  get sku() {
    return this.card?.sku ?? null;
  }

  // variants returns the shown product's variants ([] for none).
  get variants() {
    return Array.isArray(this.card?.variants) ? this.card.variants : [];
  }

  // target is the sku a tap acts on: the chosen variant, the product when
  // it has no variants, or null when a variant must be chosen first.
  get target() {
    if (!this.card) return null;
    if (!this.variants.length) return this.card.sku;
    return this.chosen;
  }

  // variant returns the shown product's variant of that sku, or null.
  variant(sku) {
    return this.variants.find((v) => v.sku === sku) ?? null;
  }

  // set shows a card (an object of the room's "product" message) or hides
  // it (null). The chosen variant is kept while the same product stays.
  set(card) {
    clearInterval(this.timer);
    const same = !!card && !!this.card && card.sku === this.card.sku;
    this.card = card ? { ...card, variants: Array.isArray(card.variants) ? card.variants.map((v) => ({ ...v })) : undefined } : null;
    if (!same || !this.variant(this.chosen)) this.chosen = null;
    this.root.replaceChildren();
    this.root.hidden = !card;
    if (!card) {
      delete this.root.dataset.sku;
      delete this.root.dataset.chosen;
      return;
    }
    this.expired = false;
    this.root.dataset.sku = card.sku;
    const img = safeURL(card.image_url || "", this.base);
    const variants = this.variants;
    this.root.classList.toggle("has-variants", variants.length > 0);
    // Element.append writes null as the text "null": only the parts this
    // card has go in.
    this.root.append(...[
      img ? h("img", { class: "thumb", src: img, alt: "", loading: "lazy", decoding: "async" }) : h("div", { class: "thumb placeholder", "aria-hidden": "true", text: "🛍" }),
      h("div", { class: "info" },
        h("h3", { class: "name", "data-testid": "card-name", text: card.name || card.sku }),
        h("div", { class: "price-row" },
          h("span", { class: "price", "data-testid": "card-price" }),
          h("s", { class: "was", "data-testid": "card-was", hidden: true }),
        ),
        h("div", { class: "meta" },
          h("span", { class: "stock", "data-testid": "card-stock" }),
          h("span", { class: "limit", "data-testid": "card-limit", hidden: !limitText(card.limit_per_buyer), text: limitText(card.limit_per_buyer) }),
          h("span", { class: "countdown", "data-testid": "card-countdown", hidden: !card.ends_at }),
        ),
        this.details && card.description ? h("p", { class: "description", "data-testid": "card-description", text: card.description }) : null,
      ),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", "data-testid": "add-to-cart", "aria-label": "Add to cart", text: "+ Cart", on: { click: () => this.tapAdd() } }),
        h("button", { type: "button", class: "secondary", "data-testid": "waitlist-leave", hidden: true, text: "Leave", "aria-label": "Leave the waitlist", on: { click: () => this.target && this.onLeave?.(this.target) } }),
        h("button", { type: "button", class: "primary buy", "data-testid": "buy", "data-state": "idle", text: "Buy now", on: { click: () => this.tapBuy() } }),
      ),
      variants.length
        ? h("div", { class: "variants", role: "radiogroup", "aria-label": "Choose one", "data-testid": "variant-picker" },
          variants.map((v) => h("button", {
            type: "button", class: "chip", role: "radio", "aria-checked": "false", "data-testid": "variant", dataset: { sku: v.sku },
            text: v.label || v.sku, on: { click: () => this.choose(v.sku) },
          })))
        : null,
      variants.length ? h("p", { class: "hint", "data-testid": "variant-hint", hidden: true, text: "Choose one first" }) : null,
    ].filter(Boolean));
    this.render();
    if (card.ends_at) {
      this.tick();
      this.timer = setInterval(() => this.tick(), 250);
    }
  }

  // choose picks a variant (sold-out ones too: their button joins the
  // waitlist).
  choose(sku) {
    if (!this.variant(sku)) return;
    this.chosen = sku;
    const hint = tid("variant-hint", this.root);
    if (hint) hint.hidden = true;
    this.root.classList.remove("ask-pick");
    this.render();
  }

  // askToPick points at the picker when a tap needs a variant.
  askToPick() {
    const hint = tid("variant-hint", this.root);
    if (hint) hint.hidden = false;
    this.root.classList.remove("ask-pick");
    void this.root.offsetWidth; // restart the animation
    this.root.classList.add("ask-pick");
  }

  // tapBuy is a tap on the primary button: Buy, Join waitlist, or (with
  // no variant chosen) a pointer at the picker.
  tapBuy() {
    const sku = this.target;
    if (!sku) return this.askToPick();
    const state = tid("buy", this.root)?.dataset.state;
    if (state === "waiting" || state === "pending" || state === "joining") return undefined;
    if (state === "soldout") return this.onJoin?.(sku);
    return this.onBuy?.(sku);
  }

  // tapAdd is a tap on "+ Cart".
  tapAdd() {
    const sku = this.target;
    if (!sku) return this.askToPick();
    return this.onAdd?.(sku);
  }

  // setStock updates the stock of the shown product or of one of its
  // variants.
  setStock(sku, stock) {
    if (!this.card) return;
    const v = this.variant(sku);
    if (v) {
      v.stock = stock;
      this.card.stock = this.variants.reduce((n, x) => n + (Number(x.stock) || 0), 0);
    } else if (this.card.sku === sku) {
      this.card.stock = stock;
    } else {
      return;
    }
    this.render();
  }

  // setBuying shows the Buy button's state: "idle", "pending", "done".
  setBuying(state) {
    this.busy = state;
    if (this.card) this.render();
  }

  // setJoining shows that joining the waitlist is on its way (or done).
  setJoining(on) {
    this.joining = on;
    if (this.card) this.render();
  }

  // setPlace records the viewer's place in the waitlist of sku (null: not
  // in line).
  setPlace(sku, position) {
    if (position) this.places.set(sku, position);
    else this.places.delete(sku);
    if (this.card) this.render();
  }

  // setOffer records that a unit of sku is held for the viewer (or no
  // longer is).
  setOffer(sku, on) {
    if (on) this.offers.add(sku);
    else this.offers.delete(sku);
    if (this.card) this.render();
  }

  // stockOf is the stock a tap on sku meets; with no variant chosen, the
  // product's total.
  stockOf(sku) {
    const v = this.variant(sku);
    if (v) return v.stock;
    if (this.variants.length) return this.variants.reduce((n, x) => n + (Number(x.stock) || 0), 0);
    return this.card.stock;
  }

  // render brings price, picker, stock and buttons in line with the state.
  render() {
    this.renderPrice();
    this.renderVariants();
    this.renderStock();
    this.renderActions();
  }

  renderPrice() {
    const card = this.card;
    const v = this.variant(this.chosen);
    let text;
    if (v) {
      text = formatMoney(v.price_cents ?? card.price_cents, card.currency);
    } else if (this.variants.length) {
      const prices = this.variants.map((x) => x.price_cents ?? card.price_cents).filter((p) => typeof p === "number");
      const low = prices.length ? Math.min(...prices) : card.price_cents;
      text = (prices.some((p) => p !== low) ? "from " : "") + formatMoney(low, card.currency);
    } else {
      text = formatMoney(card.price_cents, card.currency);
    }
    setText(tid("card-price", this.root), text);
    const shown = v ? v.price_cents ?? card.price_cents : card.price_cents;
    const regular = this.regularPrice(card.sku, v?.sku);
    const was = tid("card-was", this.root);
    const strike = typeof regular === "number" && typeof shown === "number" && regular !== shown && (!this.variants.length || v);
    was.hidden = !strike;
    setText(was, strike ? formatMoney(regular, card.currency) : "");
  }

  renderVariants() {
    this.root.dataset.chosen = this.chosen ?? "";
    for (const chip of this.root.querySelectorAll('[data-testid="variant"]')) {
      const v = this.variant(chip.dataset.sku);
      const out = soldOutStock(v?.stock);
      const on = chip.dataset.sku === this.chosen;
      chip.classList.toggle("sold-out", out);
      chip.setAttribute("aria-checked", String(on));
      chip.setAttribute("aria-label", `${v?.label || chip.dataset.sku}${out ? ", sold out" : ""}`);
      chip.dataset.soldOut = String(out);
    }
  }

  renderStock() {
    const stock = this.stockOf(this.target);
    setText(tid("card-stock", this.root), stockText(stock));
    const soldOut = soldOutStock(stock);
    this.root.classList.toggle("sold-out", soldOut);
    this.root.classList.toggle("low", typeof stock === "number" && stock > 0 && stock <= LOW_STOCK);
  }

  // buyState is what the Buy button means now: "pick" (choose a variant
  // first), "pending" (an order on its way), "joining" (joining the line),
  // "waiting" (in line), "soldout" (join the waitlist), or the purchase's
  // "idle" and "done".
  buyState() {
    const sku = this.target;
    if (!sku) return "pick";
    if (this.busy === "pending") return "pending";
    if (soldOutStock(this.stockOf(sku)) && !this.offers.has(sku)) {
      if (this.places.has(sku)) return "waiting";
      return this.joining ? "joining" : "soldout";
    }
    return this.busy;
  }

  renderActions() {
    const b = tid("buy", this.root);
    const add = tid("add-to-cart", this.root);
    const leave = tid("waitlist-leave", this.root);
    if (!b) return;
    const sku = this.target;
    const state = this.buyState();
    const soldOut = !!sku && soldOutStock(this.stockOf(sku)) && !this.offers.has(sku);
    b.dataset.state = state;
    b.disabled = state === "pending" || state === "joining";
    b.setAttribute("aria-disabled", String(state === "waiting"));
    const text = {
      pick: "Buy now",
      waiting: placeText(this.places.get(sku)),
      soldout: "Join waitlist",
      pending: "Ordering…",
      joining: "Joining…",
      done: "Ordered ✓",
    }[state] ?? (this.offers.has(sku) ? "Buy now · held" : "Buy now");
    setText(b, text);
    add.hidden = state === "waiting";
    add.disabled = soldOut;
    leave.hidden = state !== "waiting";
  }

  tick() {
    const el = tid("card-countdown", this.root);
    if (!this.card?.ends_at || !el) return;
    const left = new Date(this.card.ends_at).getTime() - Date.now();
    if (Number.isNaN(left)) return;
    if (left <= 0) {
      setText(el, "Offer ended");
      clearInterval(this.timer);
      if (!this.expired) {
        this.expired = true;
        this.onExpire(this.card.sku);
      }
      return;
    }
    setText(el, `Ends in ${formatCountdown(left)}`);
  }
}
