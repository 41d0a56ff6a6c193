// The pinned product card: name, live price (a flash price struck against
// the regular one), countdown to its end, stock ("Only 3 left", "Sold out"),
// one-tap Buy and Add to cart.

import { formatCountdown, formatMoney, h, safeURL, setText, tid } from "./dom.js";

// LOW_STOCK is the stock at and below which the card says "Only N left".
export const LOW_STOCK = 5;

// stockText is what the card says about stock.
export function stockText(stock) {
  if (typeof stock !== "number") return "";
  if (stock <= 0) return "Sold out";
  if (stock <= LOW_STOCK) return `Only ${stock} left`;
  return "In stock";
}

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

export class ProductCard {
  // root is the [data-testid=product-card] element. regularPrice(sku)
  // returns the lineup price (or undefined); onExpire runs when a flash
  // price's time is up.
  constructor(root, { onBuy, onAdd, regularPrice = () => undefined, onExpire = () => {} }) {
    this.root = root;
    this.onBuy = onBuy;
    this.onAdd = onAdd;
    this.regularPrice = regularPrice;
    this.onExpire = onExpire;
    this.card = null;
    this.timer = 0;
    this.expired = false;
  }

  get sku() {
    return this.card?.sku ?? null;
  }

  // set shows a card (an object of the room's "product" message) or hides
  // it (null).
  set(card) {
    clearInterval(this.timer);
    this.card = card ? { ...card } : null;
    this.root.replaceChildren();
    this.root.hidden = !card;
    if (!card) {
      delete this.root.dataset.sku;
      return;
    }
    this.expired = false;
    this.root.dataset.sku = card.sku;
    const img = safeURL(card.image_url || "");
    const regular = this.regularPrice(card.sku);
    this.root.append(
      img ? h("img", { class: "thumb", src: img, alt: "", loading: "lazy", decoding: "async" }) : h("div", { class: "thumb placeholder", "aria-hidden": "true", text: "🛍" }),
      h("div", { class: "info" },
        h("h3", { class: "name", "data-testid": "card-name", text: card.name || card.sku }),
        h("div", { class: "price-row" },
          h("span", { class: "price", "data-testid": "card-price", text: formatMoney(card.price_cents, card.currency) }),
          typeof regular === "number" && regular !== card.price_cents
            ? h("s", { class: "was", "data-testid": "card-was", text: formatMoney(regular, card.currency) })
            : null,
        ),
        h("div", { class: "meta" },
          h("span", { class: "stock", "data-testid": "card-stock" }),
          h("span", { class: "countdown", "data-testid": "card-countdown", hidden: !card.ends_at }),
        ),
      ),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", "data-testid": "add-to-cart", "aria-label": "Add to cart", text: "+ Cart", on: { click: () => this.onAdd?.(this.card.sku) } }),
        h("button", { type: "button", class: "primary buy", "data-testid": "buy", "data-state": "idle", text: "Buy now", on: { click: () => this.onBuy?.(this.card.sku) } }),
      ),
    );
    this.renderStock();
    if (card.ends_at) {
      this.tick();
      this.timer = setInterval(() => this.tick(), 250);
    }
  }

  // setStock updates the stock of the shown product.
  setStock(sku, stock) {
    if (!this.card || this.card.sku !== sku) return;
    this.card.stock = stock;
    this.renderStock();
  }

  // setBuying shows the Buy button's state: "idle", "pending", "done".
  setBuying(state) {
    const b = tid("buy", this.root);
    if (!b || b.dataset.state === "soldout") return;
    b.dataset.state = state;
    b.disabled = state === "pending";
    setText(b, state === "pending" ? "Ordering…" : state === "done" ? "Ordered ✓" : "Buy now");
  }

  renderStock() {
    const stock = this.card.stock;
    setText(tid("card-stock", this.root), stockText(stock));
    const soldOut = typeof stock === "number" && stock <= 0;
    this.root.classList.toggle("sold-out", soldOut);
    this.root.classList.toggle("low", typeof stock === "number" && stock > 0 && stock <= LOW_STOCK);
    for (const id of ["buy", "add-to-cart"]) {
      const b = tid(id, this.root);
      if (!b) continue;
      b.disabled = soldOut;
      if (id === "buy") {
        b.dataset.state = soldOut ? "soldout" : b.dataset.state === "soldout" ? "idle" : b.dataset.state;
        if (soldOut) setText(b, "Sold out");
        else if (b.dataset.state === "idle") setText(b, "Buy now");
      }
    }
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
