// Building and finding elements. Every string that reaches the page goes
// through a text node or textContent: nothing here parses HTML, so text from
// users (names, chat, product names) can never become markup.
//
// Money, time, retries, toasts and text measures live in their own modules
// (money.js, time.js, retry.js, toast.js, text.js); the names re-exported at
// the end keep working for the modules that import them from here.

const URL_ATTRS = new Set(["href", "src", "action", "formaction", "poster"]);

// h builds an element. attrs: "class", "text" (textContent), "dataset"
// (object), "on" (object of event listeners), "hidden"/"disabled" booleans,
// and any other attribute as a string. children: nodes or strings (text).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = String(v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k.startsWith("on")) throw new Error(`h: inline handler ${k} refused`);
    else if (URL_ATTRS.has(k)) { const u = safeURL(v); if (u) el.setAttribute(k, u); }
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// $ and $$ query by CSS selector; tid selects by data-testid.
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
export const tid = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

// setText sets an element's text (never HTML).
export function setText(el, s) {
  if (el) el.textContent = s === undefined || s === null ? "" : String(s);
}

// show toggles the hidden attribute.
export function show(el, on = true) {
  if (el) el.hidden = !on;
}

// safeURL returns u as an absolute URL when it is http(s) or blob:, resolved
// against base (by default this page), else "". The embed passes livecart's
// origin as base, so that a product image "/assets/…" loads from livecart
// and not from the brand's page.
export function safeURL(u, base = document.baseURI) {
  if (typeof u !== "string" || u === "") return "";
  try {
    const url = new URL(u, base);
    return url.protocol === "https:" || url.protocol === "http:" || url.protocol === "blob:" ? url.href : "";
  } catch {
    return "";
  }
}

export { currencyDigits, formatMoney, parseMoney } from "./money.js";
export { formatCountdown, formatTime } from "./time.js";
export { backoff, newKey, sleep } from "./retry.js";
export { toast } from "./toast.js";
export { codePoints } from "./text.js";
