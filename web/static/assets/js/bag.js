// The bag: every product of the show's lineup, each a card with its
// picture, description, price, stock, variant picker, Buy now and + Cart, as
// every shopping app keeps one beside the stream. Its button says how many
// products the show has.

import { ProductCard } from "./card.js";
import { h, setText, tid } from "./dom.js";

// Bag is the sheet of the show's products, one ProductCard each, kept in
// step with the lineup by render().
export class Bag {
  // root is the [data-testid=bag] sheet; count the element that shows the
  // number of products. viewer is the page's Viewer (its catalog, shop
  // and pinned card); onAdd(sku) puts one in the cart; base resolves
  // product images.
  constructor(root, { viewer, onAdd, count = null, base = document.baseURI }) {
    this.root = root;
    this.viewer = viewer;
    this.onAdd = onAdd;
    this.count = count;
    this.base = base;
    this.cards = new Map(); // sku → ProductCard
    tid("bag-close", root)?.addEventListener("click", () => this.close());
    root.addEventListener("keydown", (e) => e.key === "Escape" && this.close());
  }

  get isOpen() {
    return !this.root.hidden;
  }

  open() {
    this.root.hidden = false;
    document.body.classList.add("bag-open");
    tid("bag-close", this.root)?.focus({ preventScroll: true });
  }

  close() {
    this.root.hidden = true;
    document.body.classList.remove("bag-open");
  }

  toggle() {
    if (this.isOpen) this.close();
    else this.open();
  }

  // cardFor is what the bag shows for a product: the pinned card (its live
  // price and countdown) while the show is on, else the lineup's.
  cardFor(sku) {
    const v = this.viewer;
    const pinned = v.card.card;
    if (pinned && pinned.sku === sku) return { ...pinned, description: v.catalog.productOf(sku)?.description };
    return v.catalog.cardOf(sku);
  }

  // render lists the lineup, keeping each product's card (its chosen
  // variant and its state) while the product stays.
  render() {
    const v = this.viewer;
    const products = v.catalog.lineup();
    const list = tid("bag-items", this.root);
    const keep = new Set(products.map((p) => p.sku));
    for (const [sku, card] of this.cards) {
      if (!keep.has(sku)) {
        v.shop.detach(card);
        this.cards.delete(sku);
      }
    }
    const items = products.map((p) => {
      let card = this.cards.get(p.sku);
      if (!card) {
        const el = h("article", { class: "card in-bag", "data-testid": "bag-card" });
        card = new ProductCard(el, {
          onBuy: (sku) => v.shop.buy(sku, card),
          onAdd: (sku) => this.onAdd(sku),
          onJoin: (sku) => v.shop.join(sku, card),
          onLeave: (sku) => v.shop.leave(sku),
          regularPrice: (sku, variant) => v.catalog.regularPrice(sku, variant),
          onExpire: () => v.load(),
          base: this.base,
          details: true,
        });
        this.cards.set(p.sku, card);
        v.shop.attach(card);
      }
      card.set(this.cardFor(p.sku));
      const pinned = v.card.card?.sku === p.sku;
      return h("li", { class: `bag-item${pinned ? " pinned" : ""}`, "data-testid": "bag-item", dataset: { sku: p.sku, pinned: String(pinned) } },
        pinned ? h("span", { class: "on-now", text: "On now" }) : null,
        card.root);
    });
    list.replaceChildren(...items);
    tid("bag-empty", this.root).hidden = products.length > 0;
    if (this.count) {
      setText(this.count, products.length);
      this.count.hidden = products.length === 0;
    }
  }
}
