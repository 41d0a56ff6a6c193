// DOM helpers. Every string that reaches the page goes through a text node or
// textContent: nothing here parses HTML, so text from users (names, chat,
// product names) can never become markup.

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

// safeURL returns u when it is http(s) or relative to this page, else "".
export function safeURL(u) {
  if (typeof u !== "string" || u === "") return "";
  try {
    const url = new URL(u, document.baseURI);
    return url.protocol === "https:" || url.protocol === "http:" || url.protocol === "blob:" ? url.href : "";
  } catch {
    return "";
  }
}

// currencyDigits is the number of minor-unit digits of an ISO 4217 currency.
export function currencyDigits(currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

// formatMoney formats integer minor units: (1999, "EUR") → "€19.99".
export function formatMoney(cents, currency = "USD") {
  const digits = currencyDigits(currency);
  const value = Number(cents) / 10 ** digits;
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(value);
  } catch {
    return `${value.toFixed(digits)} ${currency}`;
  }
}

// parseMoney turns "12.50" typed by a person into minor units, or null.
export function parseMoney(text, currency = "USD") {
  const s = String(text).trim().replace(",", ".");
  if (!/^\d+(\.\d+)?$/.test(s)) return null;
  const digits = currencyDigits(currency);
  return Math.round(Number(s) * 10 ** digits);
}

// formatCountdown formats a duration in ms as "m:ss" or "h:mm:ss".
export function formatCountdown(ms) {
  const t = Math.max(0, Math.ceil(ms / 1000));
  const hh = Math.floor(t / 3600), mm = Math.floor((t % 3600) / 60), ss = t % 60;
  const p = (n) => String(n).padStart(2, "0");
  return hh > 0 ? `${hh}:${p(mm)}:${p(ss)}` : `${mm}:${p(ss)}`;
}

// formatTime formats an RFC 3339 time or a Date as a local clock time.
export function formatTime(t) {
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

// newKey returns a fresh random key (an Idempotency-Key), also outside
// secure contexts where crypto.randomUUID is missing.
export function newKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

// toast shows a short message in the page's [data-testid=toasts] area (or
// root's), kind "info" | "error" | "ok".
export function toast(message, kind = "info", root = document) {
  const area = tid("toasts", root);
  if (!area) return;
  const el = h("div", { class: `toast ${kind}`, "data-testid": "toast", role: kind === "error" ? "alert" : "status", text: message });
  area.appendChild(el);
  setTimeout(() => el.classList.add("out"), 3500);
  setTimeout(() => el.remove(), 4000);
}

// codePoints counts Unicode code points, as the server limits text.
export const codePoints = (s) => [...s].length;

// sleep resolves after ms.
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// backoff returns the delay before retry number attempt (0-based):
// exponential from base to max, with "equal jitter" so that many clients
// dropped at once do not come back at once.
export function backoff(attempt, base = 500, max = 15000) {
  const d = Math.min(max, base * 2 ** Math.min(attempt, 16));
  return d / 2 + Math.random() * (d / 2);
}
