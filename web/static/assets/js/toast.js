// Toasts: short messages that come and go on their own.

import { h, tid } from "./dom.js";

// MAX_TOASTS is how many toasts are on screen at once; an older one makes
// room for a new one, so that a burst never grows over the page.
export const MAX_TOASTS = 2;

// toast shows a short message in the page's [data-testid=toasts] area (or
// root's), kind "info" | "error" | "ok".
export function toast(message, kind = "info", root = document) {
  const area = tid("toasts", root);
  if (!area || !message) return;
  const el = h("div", { class: `toast ${kind}`, "data-testid": "toast", role: kind === "error" ? "alert" : "status", text: message });
  area.appendChild(el);
  while (area.childElementCount > MAX_TOASTS) area.firstElementChild.remove();
  setTimeout(() => el.classList.add("out"), 3500);
  setTimeout(() => el.remove(), 4000);
}
