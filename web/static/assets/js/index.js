// /: the shows, live first (with how many watch), then the ones waiting for
// their host ("Offline": not started yet, or the host dropped), then, apart
// and last, the ended ones, whose products can still be bought. Each card
// has the show's picture (the pinned product's, else the first product's,
// else the host's initial) and its host.

import { Api, listItems } from "./api.js";
import { h, safeURL, tid } from "./dom.js";
import { messageOf } from "./messages.js";
import { initial, plural } from "./text.js";

const api = new Api();
const ORDER = { live: 0, offline: 1, ended: 2 };
const LABEL = { live: "LIVE", offline: "Offline", ended: "Ended" };

// pictureOf is a show's picture: the pinned product's image, else the
// first lineup product's that has one.
export function pictureOf(s) {
  const pinned = s.pinned && typeof s.pinned === "object" ? s.pinned : null;
  if (pinned?.image_url) return pinned.image_url;
  for (const p of s.lineup || []) if (p?.image_url) return p.image_url;
  return "";
}

// sortShows orders shows live first, then offline, then ended, each by
// the server's order.
export function sortShows(streams) {
  return streams.map((s, i) => [s, i]).sort(([a, i], [b, j]) => (ORDER[a.status] ?? 1) - (ORDER[b.status] ?? 1) || i - j).map(([s]) => s);
}

function card(s) {
  const status = s.status || "offline";
  const img = safeURL(pictureOf(s));
  const products = (s.lineup || []).length;
  return h("li", { class: `stream-card ${status}`, "data-testid": "stream-card", dataset: { id: s.id, status } },
    h("a", { href: `/watch/${encodeURIComponent(s.id)}` },
      img
        ? h("img", { class: "picture", "data-testid": "stream-picture", src: img, alt: "", loading: "lazy", decoding: "async" })
        : h("span", { class: "picture initial", "data-testid": "stream-picture", "aria-hidden": "true", text: initial(s.host || s.title) }),
      h("span", { class: `badge ${status}`, "data-testid": "stream-status", text: LABEL[status] || status }),
      status === "live" ? h("span", { class: "viewers", "data-testid": "stream-viewers", text: `👁 ${Number(s.viewers) || 0}` }) : null,
      h("span", { class: "caption" },
        h("h2", { "data-testid": "stream-title", text: s.title || s.id }),
        s.host ? h("span", { class: "host", "data-testid": "stream-host", text: `with ${s.host}` }) : null,
        products ? h("span", { class: "products", "data-testid": "stream-products", text: status === "ended" ? `Shop ${plural(products, "product")}` : plural(products, "product") }) : null,
      ),
    ),
  );
}

async function load() {
  try {
    const streams = sortShows(listItems(await api.get("/api/streams")));
    const on = streams.filter((s) => s.status !== "ended");
    const ended = streams.filter((s) => s.status === "ended");
    tid("stream-list").replaceChildren(...on.map(card));
    tid("ended-list").replaceChildren(...ended.map(card));
    tid("ended-shows").hidden = ended.length === 0;
    tid("empty").hidden = on.length > 0;
    tid("error").hidden = true;
  } catch (err) {
    const e = tid("error");
    e.textContent = `Could not load shows: ${messageOf(err)}`;
    e.hidden = false;
  } finally {
    tid("loading").hidden = true;
    document.body.dataset.ready = "true";
  }
}

await load();
setInterval(() => document.visibilityState === "visible" && load(), 15000);
