// /: live and upcoming shows, live first.

import { Api, listItems } from "./api.js";
import { h, tid } from "./dom.js";
import { messageOf } from "./messages.js";

const api = new Api();
const ORDER = { live: 0, offline: 1, ended: 2 };
const LABEL = { live: "LIVE", offline: "Soon", ended: "Ended" };

function card(s) {
  const status = s.status || "offline";
  return h("li", { class: `stream-card ${status}`, "data-testid": "stream-card", dataset: { id: s.id, status } },
    h("a", { href: `/watch/${encodeURIComponent(s.id)}` },
      h("span", { class: `badge ${status}`, "data-testid": "stream-status", text: LABEL[status] || status }),
      status === "live" ? h("span", { class: "viewers", text: `👁 ${Number(s.viewers) || 0}` }) : null,
      h("h2", { "data-testid": "stream-title", text: s.title || s.id }),
    ),
  );
}

async function load() {
  try {
    const streams = listItems(await api.get("/api/streams"));
    streams.sort((a, b) => (ORDER[a.status] ?? 1) - (ORDER[b.status] ?? 1));
    tid("stream-list").replaceChildren(...streams.map(card));
    tid("empty").hidden = streams.length > 0;
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
