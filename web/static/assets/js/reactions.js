// Reactions: taps send "react", and the room's "reactions" counts float up
// the side of the video (a few per emoji, however many there were).

import { h } from "./dom.js";

export const EMOJI = ["❤️", "🔥", "👏", "😂", "😮"];

export class Reactions {
  constructor(root, { send }) {
    this.floats = root.querySelector(".floats");
    this.send = send;
    for (const e of EMOJI) {
      root.append(h("button", { type: "button", class: "react", "data-testid": "react", dataset: { emoji: e }, "aria-label": `React ${e}`, text: e, on: { click: () => this.tap(e) } }));
    }
  }

  tap(emoji) {
    this.send({ type: "react", emoji });
    this.float(emoji);
  }

  // show plays the counts of a "reactions" message.
  show(counts = {}) {
    for (const [emoji, n] of Object.entries(counts)) {
      const k = Math.min(Number(n) || 0, 6);
      for (let i = 0; i < k; i++) setTimeout(() => this.float(emoji), i * 120);
    }
  }

  float(emoji) {
    if (!this.floats || this.floats.childElementCount > 40) return;
    const el = h("span", { class: "float", text: String(emoji).slice(0, 8) });
    el.style.setProperty("--x", `${Math.round(Math.random() * 40 - 20)}px`);
    el.addEventListener("animationend", () => el.remove());
    this.floats.append(el);
  }
}

