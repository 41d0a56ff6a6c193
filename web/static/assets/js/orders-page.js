// /orders: my orders, newest first, across every show, each with a link to
// its show and Cancel while it is placed. The viewer's token is the one the
// viewer page keeps (a guest name, or the link the brand's site gave).

import { Api } from "./api.js";
import { setText, tid } from "./dom.js";
import { MyOrders } from "./myorders.js";
import { streamPath } from "./page.js";
import { toast } from "./toast.js";
import { claims, clearToken, takeToken } from "./token.js";

const api = new Api({ token: takeToken("viewer") });
const titles = new Map();

const list = new MyOrders(tid("orders-list"), {
  api,
  say: (t, k) => toast(t, k),
  streamLink: (id) => ({ href: `/watch/${encodeURIComponent(id)}`, text: titles.get(id) || id }),
  onChange: (orders) => nameShows(orders),
  onUnauthorized: () => {
    clearToken("viewer");
    api.setToken(null);
    signedOut();
  },
});

// signedOut says where orders come from, in place of the list.
function signedOut() {
  tid("need-sign-in").hidden = false;
  tid("orders-list").hidden = true;
  setText(tid("who"), "");
}

// nameShows reads the title of each show the orders came from, once.
async function nameShows(orders) {
  const missing = [...new Set(orders.map((o) => o.stream))].filter((id) => id && !titles.has(id));
  if (!missing.length) return;
  for (const id of missing) titles.set(id, id);
  await Promise.all(missing.map(async (id) => {
    try {
      const s = await api.get(streamPath(id));
      if (s?.title) titles.set(id, s.title);
    } catch {
      /* the id stands for the title */
    }
  }));
  list.render();
}

if (!api.token) {
  signedOut();
} else {
  const c = claims(api.token);
  setText(tid("who"), c?.name || c?.sub ? `Signed in as ${c.name || c.sub}` : "");
  await list.refresh();
}
document.body.dataset.ready = "true";
