// The studio's coupons: the "Drop a coupon" form (code, percent or amount
// off, how many uses in all and per person, an optional end, optionally only
// some products of the lineup) and the list of the show's coupons with how
// many uses are left, kept live by the room's "coupon" messages.

import { listItems } from "./api.js";
import { couponEnd, couponLeft, couponValue, normCode } from "./coupon.js";
import { h, setText, tid } from "./dom.js";
import { messageOf } from "./messages.js";
import { parseMoney } from "./money.js";
import { streamPath } from "./page.js";
import { formatCountdown } from "./time.js";
import { toast } from "./toast.js";

// CODE is what the server accepts as a code.
const CODE = /^[A-Z0-9_-]{3,32}$/;

// couponBody turns the form's values into the API's body, or throws an
// Error whose message says what to fix. now is the time "ends in" counts
// from; currency prices an amount off.
export function couponBody(v, { currency = "USD", now = Date.now() } = {}) {
  const code = normCode(v.code);
  if (!CODE.test(code)) throw new Error("The code is 3 to 32 letters, digits, - or _.");
  const body = { code };
  if (v.kind === "amount") {
    const cents = parseMoney(v.value, currency);
    if (!cents || cents < 1) throw new Error("Type the amount off like 5 or 4.50.");
    body.amount_off_cents = cents;
  } else {
    const pct = Number(v.value);
    if (!Number.isInteger(pct) || pct < 1 || pct > 100) throw new Error("The percent off is a whole number from 1 to 100.");
    body.percent_off = pct;
  }
  const max = Number(v.max);
  if (!Number.isInteger(max) || max < 1) throw new Error("Uses in all is a whole number, at least 1.");
  body.max_redemptions = max;
  if (String(v.perBuyer ?? "").trim() !== "") {
    const per = Number(v.perBuyer);
    if (!Number.isInteger(per) || per < 1) throw new Error("Uses per person is a whole number, at least 1.");
    body.per_buyer = per;
  }
  if (String(v.minutes ?? "").trim() !== "") {
    const min = Number(v.minutes);
    if (!(min > 0)) throw new Error("Ends in is a number of minutes above 0.");
    body.ends_at = new Date(now + min * 60000).toISOString();
  }
  if (v.skus?.length) body.skus = [...v.skus];
  return body;
}

export class CouponDrop {
  // root is the coupons panel; lineup is the studio's Lineup (names,
  // currency).
  constructor(root, { api, streamId, lineup }) {
    this.root = root;
    this.api = api;
    this.streamId = streamId;
    this.lineup = lineup;
    this.coupons = new Map();
    this.timer = 0;
    this.form = tid("coupon-form", root);
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    tid("coupon-kind", root).addEventListener("change", () => this.showKind());
    this.showKind();
  }

  showKind() {
    const amount = tid("coupon-kind", this.root).value === "amount";
    const input = tid("coupon-value", this.root);
    input.placeholder = amount ? `Amount off (${this.lineup.currency()})` : "% off";
    input.setAttribute("aria-label", amount ? "Amount off" : "Percent off");
  }

  // setProducts offers the lineup's products to limit a coupon to.
  setProducts(products) {
    const box = tid("coupon-skus", this.root);
    const ticked = new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
    box.replaceChildren(
      h("legend", { text: "Only for (none ticked: the whole lineup)" }),
      ...products.map((p) => h("label", { class: "check" },
        h("input", { type: "checkbox", value: p.sku, "data-testid": "coupon-sku", checked: ticked.has(p.sku) }),
        " ", p.name || p.sku)),
    );
    box.hidden = products.length === 0;
    this.showKind();
  }

  values() {
    const f = this.form.elements;
    return {
      code: f.code.value,
      kind: f.kind.value,
      value: f.value.value,
      max: f.max.value,
      perBuyer: f.per_buyer.value,
      minutes: f.minutes.value,
      skus: [...this.form.querySelectorAll('[data-testid="coupon-sku"]:checked')].map((i) => i.value),
    };
  }

  showError(text) {
    const el = tid("coupon-error", this.root);
    setText(el, text);
    el.hidden = !text;
  }

  async submit() {
    let body;
    try {
      body = couponBody(this.values(), { currency: this.lineup.currency() });
    } catch (err) {
      this.showError(err.message);
      return;
    }
    this.showError("");
    const btn = tid("coupon-drop", this.root);
    btn.disabled = true;
    try {
      const c = await this.api.post(streamPath(this.streamId, "/coupons"), body);
      this.update(c || body);
      toast(`Coupon ${body.code} is live`, "ok");
      this.form.elements.code.value = "";
    } catch (err) {
      this.showError(err.code === "conflict" ? `There is already a coupon ${body.code}.` : messageOf(err));
    } finally {
      btn.disabled = false;
    }
  }

  // refresh reads the show's coupons.
  async refresh() {
    try {
      const page = await this.api.get(streamPath(this.streamId, "/coupons"));
      for (const c of listItems(page)) this.update(c);
    } catch (err) {
      toast(`Coupons: ${messageOf(err)}`, "error");
    }
  }

  // update records a coupon (of the API or a room "coupon" message).
  update(c) {
    const code = normCode(c?.code);
    if (!code) return;
    this.coupons.set(code, { ...this.coupons.get(code), ...c, code });
    this.render();
  }

  render() {
    clearInterval(this.timer);
    const list = tid("coupon-list", this.root);
    const all = [...this.coupons.values()].reverse();
    list.replaceChildren(...all.map((c) => {
      const scope = Array.isArray(c.skus) && c.skus.length ? `only ${c.skus.map((s) => this.lineup.nameOf(s)).join(", ")}` : "whole lineup";
      const of = typeof c.max_redemptions === "number" ? ` of ${c.max_redemptions}` : "";
      return h("li", { class: "coupon-row", "data-testid": "coupon-row", dataset: { code: c.code } },
        h("div", { class: "top" },
          h("strong", { class: "code", text: c.code }),
          h("span", { "data-testid": "coupon-row-value", text: couponValue(c, this.lineup.currency()) }),
          h("span", { class: "pill", "data-testid": "coupon-row-left", text: `${couponLeft(c)}${c.left > 0 ? of : ""}` }),
        ),
        h("div", { class: "muted small" },
          c.per_buyer ? `${c.per_buyer} per person · ` : "", scope, " · ",
          h("span", { "data-testid": "coupon-row-ends", dataset: { endsAt: c.ends_at || "" } })),
      );
    }));
    tid("coupon-empty", this.root).hidden = all.length > 0;
    setText(tid("coupon-count", this.root), all.filter((c) => !(c.left <= 0) && couponEnd(c) > 0).length);
    this.tick();
    if (all.length) this.timer = setInterval(() => this.tick(), 1000);
  }

  tick() {
    for (const el of this.root.querySelectorAll('[data-testid="coupon-row-ends"]')) {
      const left = couponEnd({ ends_at: el.dataset.endsAt });
      setText(el, !Number.isFinite(left) ? "no end" : left > 0 ? `ends in ${formatCountdown(left)}` : "ended");
      el.closest('[data-testid="coupon-row"]')?.classList.toggle("ended", left <= 0);
    }
  }
}
