// The order ticker: "Ana bought 2 × Sneakers" slides in for a few seconds.

import { h } from "./dom.js";

export class Ticker {
  constructor(root, { nameOf = (s) => s } = {}) {
    this.root = root;
    this.nameOf = nameOf;
  }

  // show shows an "order" message of the room.
  show(m) {
    const qty = Number(m.qty) > 1 ? `${m.qty} × ` : "";
    const el = h("div", { class: "tick", "data-testid": "ticker-item" },
      h("strong", { text: m.buyer || "Someone" }), ` just bought ${qty}`, h("span", { text: this.nameOf(m.sku) }));
    this.root.append(el);
    while (this.root.childElementCount > 3) this.root.firstElementChild.remove();
    setTimeout(() => el.classList.add("out"), 4000);
    setTimeout(() => el.remove(), 4600);
  }
}
