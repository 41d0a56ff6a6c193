// What a page knows of a show's lineup: its products and their variants,
// by sku, in the show's order, to list them in the bag, name what the room's
// messages and the cart mention ("Tee (M)"), find a variant's regular price
// and its product's per-person limit, and turn a product or a bare pinned
// sku into a card.

export class Catalog {
  constructor() {
    this.products = new Map();
    this.variants = new Map();
    this.order = [];
  }

  // setLineup replaces the lineup with products (as the API sends them).
  setLineup(products = []) {
    this.products = new Map();
    this.variants = new Map();
    this.order = [];
    this.remember(products);
  }

  // remember adds or replaces lineup products (as the API sends them).
  remember(products = []) {
    for (const p of products) {
      if (!p || !p.sku) continue;
      if (!this.products.has(p.sku)) this.order.push(p.sku);
      this.products.set(p.sku, p);
      for (const v of Array.isArray(p.variants) ? p.variants : []) this.variants.set(v.sku, { product: p, variant: v });
    }
  }

  // lineup returns the show's products in its order.
  lineup() {
    return this.order.map((sku) => this.products.get(sku)).filter(Boolean);
  }

  // size is the number of products in the lineup.
  get size() {
    return this.products.size;
  }

  // productOf returns the product of a product's or a variant's sku.
  productOf(sku) {
    return this.variants.get(sku)?.product ?? this.products.get(sku) ?? null;
  }

  // nameOf names a sku: a product's name, or "Product (Label)" for a variant.
  nameOf(sku) {
    const pv = this.variants.get(sku);
    if (pv) return `${pv.product.name || pv.product.sku} (${pv.variant.label || sku})`;
    return this.products.get(sku)?.name || sku;
  }

  // limitOf returns the per-person limit of the product a sku belongs to.
  limitOf(sku) {
    return this.productOf(sku)?.limit_per_buyer;
  }

  // regularPrice is the lineup price of a product, or of one of its
  // variants when variantSku is given.
  regularPrice(sku, variantSku) {
    const p = this.products.get(sku);
    if (!p) return undefined;
    if (variantSku) {
      const v = (p.variants || []).find((x) => x.sku === variantSku);
      return v?.price_cents ?? p.price_cents;
    }
    return p.price_cents;
  }

  // setStock records a room "stock" message (a product's or a variant's).
  setStock(sku, stock) {
    const pv = this.variants.get(sku);
    if (pv) {
      pv.variant.stock = stock;
      pv.product.stock = pv.product.variants.reduce((n, v) => n + (Number(v.stock) || 0), 0);
      return;
    }
    const p = this.products.get(sku);
    if (p) p.stock = stock;
  }

  // currency is the show's currency, as its products say it.
  currency() {
    for (const p of this.products.values()) if (p.currency) return p.currency;
    return "USD";
  }

  // image is the picture of a show: the pinned card's, else the first
  // product's that has one, else "".
  image(pinned) {
    if (pinned && typeof pinned === "object" && pinned.image_url) return pinned.image_url;
    for (const p of this.lineup()) if (p.image_url) return p.image_url;
    return "";
  }

  // cardOf turns a stream's "pinned" (a card, or a bare sku) or a lineup
  // sku into a card.
  cardOf(pinned) {
    if (!pinned) return null;
    if (typeof pinned === "object") return pinned;
    const p = this.products.get(pinned);
    if (!p) return null;
    return {
      sku: p.sku, name: p.name, price_cents: p.price_cents, currency: p.currency, stock: p.stock, image_url: p.image_url, ends_at: null,
      variants: p.variants, limit_per_buyer: p.limit_per_buyer, description: p.description,
    };
  }
}
