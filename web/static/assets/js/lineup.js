// The studio's lineup: each product with its stock (per variant for a
// product with sizes or colours), its per-person limit, an optional flash
// price and end time, Pin; the pinned one with Unpin.

import { h, setText, tid } from "./dom.js";
import { messageOf } from "./messages.js";
import { formatMoney, parseMoney } from "./money.js";
import { streamPath } from "./page.js";
import { toast } from "./toast.js";

const DURATIONS = [["", "no end"], ["60", "1 min"], ["300", "5 min"], ["600", "10 min"], ["900", "15 min"], ["1800", "30 min"]];

export class Lineup {
  // onChange(products) sees the lineup whenever it is set.
  constructor(root, { api, streamId, onChange = () => {} }) {
    this.root = root;
    this.api = api;
    this.streamId = streamId;
    this.onChange = onChange;
    this.products = new Map();
    this.variants = new Map();
    this.pinned = null;
    tid("unpin").addEventListener("click", () => this.unpin());
  }

  // nameOf names a product's or a variant's sku ("Tee (M)").
  nameOf(sku) {
    const pv = this.variants.get(sku);
    if (pv) return `${pv.product.name || pv.product.sku} (${pv.variant.label || sku})`;
    return this.products.get(sku)?.name || sku;
  }

  // currency is the show's currency, as its products say it.
  currency() {
    for (const p of this.products.values()) if (p.currency) return p.currency;
    return "USD";
  }

  set(products = []) {
    this.products = new Map(products.map((p) => [p.sku, { ...p, variants: Array.isArray(p.variants) ? p.variants.map((v) => ({ ...v })) : undefined }]));
    this.variants = new Map();
    for (const p of this.products.values()) for (const v of p.variants || []) this.variants.set(v.sku, { product: p, variant: v });
    const list = tid("lineup", this.root);
    list.replaceChildren(...[...this.products.values()].map((p) => this.row(p)));
    tid("lineup-empty", this.root).hidden = products.length > 0;
    this.showPinned(this.pinned);
    this.onChange([...this.products.values()]);
  }

  row(p) {
    const price = h("input", { "data-testid": "flash-price", inputmode: "decimal", placeholder: "Flash price", "aria-label": `Flash price for ${p.name || p.sku}` });
    const dur = h("select", { "data-testid": "flash-duration", "aria-label": "Flash price ends after" }, DURATIONS.map(([v, t]) => h("option", { value: v, text: t })));
    return h("li", { class: "lineup-item", "data-testid": "lineup-item", dataset: { sku: p.sku, pinned: "false" } },
      h("div", { class: "top" },
        h("span", { class: "name", text: p.name || p.sku }),
        h("span", { class: "price", text: formatMoney(p.price_cents, p.currency) }),
      ),
      h("div", { class: "row muted small" }, "Stock ", h("strong", { "data-testid": "lineup-stock", text: p.stock ?? "—" }), " · ", h("code", { text: p.sku }),
        Number(p.limit_per_buyer) >= 1 ? h("span", { "data-testid": "lineup-limit", text: ` · limit ${p.limit_per_buyer} per person` }) : null),
      p.variants?.length
        ? h("div", { class: "row variants small" }, p.variants.map((v) =>
          h("span", { class: `variant-stock${Number(v.stock) <= 0 ? " sold-out" : ""}`, "data-testid": "lineup-variant", dataset: { sku: v.sku } },
            h("span", { text: v.label || v.sku }), " ", h("strong", { "data-testid": "lineup-variant-stock", text: v.stock ?? "—" }))))
        : null,
      h("div", { class: "row" }, price, dur,
        h("button", { type: "button", class: "primary", "data-testid": "pin", text: "Pin", on: { click: () => this.pin(p.sku, price.value, dur.value) } })),
    );
  }

  async pin(sku, priceText, seconds) {
    const p = this.products.get(sku);
    const body = { sku };
    if (priceText.trim()) {
      const cents = parseMoney(priceText, p?.currency);
      if (cents === null) {
        toast("Type the flash price like 12.50", "error");
        return;
      }
      body.price_cents = cents;
    }
    if (seconds) body.ends_at = new Date(Date.now() + Number(seconds) * 1000).toISOString();
    try {
      await this.api.post(streamPath(this.streamId, "/pin"), body);
      toast(`Pinned ${this.nameOf(sku)}`, "ok");
    } catch (err) {
      toast(messageOf(err), "error");
    }
  }

  async unpin() {
    try {
      await this.api.del(streamPath(this.streamId, "/pin"));
    } catch (err) {
      toast(messageOf(err), "error");
    }
  }

  // showPinned marks the pinned product (a card, a sku or null).
  showPinned(pinned) {
    const card = pinned && typeof pinned === "object" ? pinned : pinned ? { sku: pinned } : null;
    this.pinned = card;
    for (const li of this.root.querySelectorAll('[data-testid="lineup-item"]')) {
      const on = !!card && li.dataset.sku === card.sku;
      li.dataset.pinned = String(on);
      setText(tid("pin", li), on ? "Re-pin" : "Pin");
    }
    tid("unpin").hidden = !card;
    const label = tid("pinned-label", this.root);
    if (!card) setText(label, "Nothing pinned.");
    else {
      const price = typeof card.price_cents === "number" ? ` at ${formatMoney(card.price_cents, card.currency)}` : "";
      setText(label, `Pinned: ${card.name || this.nameOf(card.sku)}${price}${card.ends_at ? " (flash price)" : ""}`);
    }
  }

  // setStock records a room "stock" message, of a product or a variant.
  setStock(sku, stock) {
    const pv = this.variants.get(sku);
    if (pv) {
      pv.variant.stock = stock;
      pv.product.stock = pv.product.variants.reduce((n, v) => n + (Number(v.stock) || 0), 0);
      const li = this.item(pv.product.sku);
      const el = li?.querySelector(`[data-testid="lineup-variant"][data-sku="${CSS.escape(sku)}"]`);
      if (el) {
        setText(tid("lineup-variant-stock", el), stock);
        el.classList.toggle("sold-out", Number(stock) <= 0);
      }
      if (li) setText(tid("lineup-stock", li), pv.product.stock);
      return;
    }
    const p = this.products.get(sku);
    if (p) p.stock = stock;
    const li = this.item(sku);
    if (li) setText(tid("lineup-stock", li), stock);
  }

  item(sku) {
    return this.root.querySelector(`[data-testid="lineup-item"][data-sku="${CSS.escape(sku)}"]`);
  }
}
