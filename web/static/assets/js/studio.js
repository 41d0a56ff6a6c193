// /studio/{id}: the host. Go live from the camera (WHIP), in three qualities
// (simulcast) where the browser can, or copy the WHIP URL and token for OBS;
// while live, how long the show has run and the stream's health; End show
// (only while live); the lineup with Pin/Unpin and flash
// prices; live coupons; the show's funnel; live orders and revenue in the
// lineup's currency; viewers; questions to answer (answered ones folded
// away below).

import { ChatList, Composer } from "./chat.js";
import { CouponDrop } from "./coupondrop.js";
import { setText, tid } from "./dom.js";
import { Funnel } from "./funnel.js";
import { StreamHealth } from "./health.js";
import { Lineup } from "./lineup.js";
import { messageOf } from "./messages.js";
import { Orders } from "./orders.js";
import { streamPath } from "./page.js";
import { Room } from "./room.js";
import { answerTools, roomErrors, setStatus, setTitle, staffPage } from "./staff.js";
import { formatElapsed } from "./time.js";
import { toast } from "./toast.js";
import { WhipPublisher } from "./whip.js";

// liveSince remembers, per stream and for this tab, when the studio first
// saw the show live: the elapsed time survives a reload.
const liveSince = {
  key: (id) => `livecart.live-since.${id}`,
  get(id) {
    try {
      return Number(sessionStorage.getItem(this.key(id))) || 0;
    } catch {
      return 0;
    }
  },
  set(id, t) {
    try {
      if (t) sessionStorage.setItem(this.key(id), String(t));
      else sessionStorage.removeItem(this.key(id));
    } catch {
      /* storage off: this page only */
    }
  },
};

// SIMULCAST are the layers the studio sends with simulcast: the camera at a
// quarter, a half and its full size (180×320, 360×640 and 720×1280 of
// CAMERA). The server ranks them by picture size, so the rids are only
// names.
const SIMULCAST = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 2_500_000 },
];

// SIMULCAST_CODECS are the video codecs livecart relays in layers, in the
// order the studio prefers them (the server takes the first it has).
const SIMULCAST_CODECS = ["video/VP8", "video/H264"];

// canSimulcast reports whether this browser can send the layers: one of
// SIMULCAST_CODECS, and transceivers (which carry the encodings).
function canSimulcast() {
  const codecs = globalThis.RTCRtpSender?.getCapabilities?.("video")?.codecs || [];
  return "RTCRtpTransceiver" in globalThis && codecs.some((c) => SIMULCAST_CODECS.includes(c.mimeType));
}

// simulcastCodecs orders codecs (RTCRtpCodec) for simulcast: VP8, then
// H264, then what is not a picture codec (rtx, red, ulpfec); VP9, AV1 and
// the others are left out.
function simulcastCodecs(codecs) {
  const rank = (c) => {
    const i = SIMULCAST_CODECS.indexOf(c.mimeType);
    return i >= 0 ? i : SIMULCAST_CODECS.length;
  };
  const picture = /^video\/(VP8|VP9|AV1|H264|H265)$/i;
  return codecs.filter((c) => rank(c) < SIMULCAST_CODECS.length || !picture.test(c.mimeType)).sort((a, b) => rank(a) - rank(b));
}

// CAMERA is what the studio asks of the camera: a phone's portrait picture
// at 720×1280. Browsers send as many simulcast layers as a picture's size
// allows, counted in pixels: 720p, in either orientation, makes three.
const CAMERA = { facingMode: "user", width: { ideal: 720 }, height: { ideal: 1280 }, frameRate: { ideal: 30 } };

// StudioPublisher is the WHIP publisher with simulcast as an option:
// while layers is set, the camera's video goes out in those encodings,
// with the codecs simulcastCodecs prefers. WhipPublisher adds one
// transceiver per track itself: the layers are added to the video's as
// each new peer connection is set, before its offer is made.
class StudioPublisher extends WhipPublisher {
  layers = null;

  // pc is kept in _pc, a plain property: WhipPublisher's constructor sets
  // pc before this class's own fields exist.
  get pc() {
    return this._pc ?? null;
  }

  set pc(pc) {
    this._pc = pc;
    if (pc && this.layers) sendLayers(pc, this.layers);
  }
}

// sendLayers makes pc's video transceivers send layers (sendEncodings).
function sendLayers(pc, layers) {
  const add = pc.addTransceiver.bind(pc);
  pc.addTransceiver = (trackOrKind, init = {}) => {
    const kind = typeof trackOrKind === "string" ? trackOrKind : trackOrKind.kind;
    if (kind !== "video") return add(trackOrKind, init);
    const t = add(trackOrKind, { ...init, sendEncodings: layers.map((l) => ({ ...l })) });
    try {
      const codecs = RTCRtpSender.getCapabilities("video")?.codecs;
      if (codecs && t.setCodecPreferences) t.setCodecPreferences(simulcastCodecs(codecs));
    } catch (err) {
      // The browser's own order: VP8 comes first in those that simulcast.
      console.warn("studio: simulcast codec order not applied:", err.message || err);
    }
    return t;
  };
}

const page = await staffPage();
if (page) start(page);

function start({ id, api, stream }) {
  const body = document.body;
  setTitle(stream, id);
  tid("watch-link").href = `/watch/${encodeURIComponent(id)}`;
  setText(tid("viewers"), stream?.viewers ?? 0);

  const whipURL = new URL(api.url(streamPath(id, "/whip")), location.href).href;
  tid("whip-url").value = whipURL;
  tid("whip-token").value = api.token;

  let coupons = null;
  const lineup = new Lineup(tid("lineup").closest(".panel"), { api, streamId: id, onChange: (products) => coupons?.setProducts(products) });
  coupons = new CouponDrop(tid("coupons-panel"), { api, streamId: id, lineup });
  lineup.pinned = stream?.pinned ?? null;
  lineup.set(stream?.lineup || []);
  coupons.refresh();
  const funnel = new Funnel(tid("funnel"), { api, streamId: id, nameOf: (s) => lineup.nameOf(s) });
  funnel.start();
  const orders = new Orders(document.body, { api, streamId: id, nameOf: (s) => lineup.nameOf(s), currency: () => lineup.currency() });
  orders.refresh();

  // The show's status: the badge, how long it has been live, and End show
  // only while it is live.
  let since = liveSince.get(id);
  let elapsedTimer = 0;
  const showElapsed = () => {
    const el = tid("elapsed");
    el.hidden = !since;
    if (since) setText(el, `Live ${formatElapsed(Date.now() - since)}`);
  };
  const status = (s) => {
    if (!s) return;
    setStatus(s);
    tid("end-show").hidden = s !== "live";
    if (s === "live" && !since) {
      since = Date.now();
      liveSince.set(id, since);
    }
    if (s !== "live") {
      since = 0;
      liveSince.set(id, 0);
    }
    clearInterval(elapsedTimer);
    showElapsed();
    if (since) elapsedTimer = setInterval(showElapsed, 1000);
  };
  status(stream?.status);

  const room = new Room(api, id, { onState: (s) => (body.dataset.room = s) });
  const send = (m) => room.send(m);
  const questions = new ChatList(tid("questions"), { max: 100, filter: (m) => m.type !== "chat", actions: (m) => answerTools(m, send) });
  // countOpen counts the questions still to answer.
  const countOpen = () => setText(tid("open-questions"), tid("questions").querySelectorAll('[data-testid="question"]:not(.answered)').length);
  const chat = new ChatList(tid("chat-list"), { max: 150 });
  new Composer(tid("composer"), { send });
  const ticker = { show: (m) => toast(`${m.buyer || "Someone"} bought ${m.qty} × ${lineup.nameOf(m.sku)}`, "ok") };

  room
    .on("welcome", (m) => {
      if (m.stream) {
        status(m.stream.status);
        if (m.stream.lineup) lineup.set(m.stream.lineup);
      }
      if (!m.recovered) {
        chat.reset(m.history || []);
        questions.reset(m.history || []);
      } else {
        for (const x of m.history || []) {
          chat.add(x);
          questions.add(x);
        }
      }
      if ("pinned" in m) lineup.showPinned(m.pinned);
      countOpen();
    })
    .on("chat", (m) => chat.add(m))
    .on("question", (m) => {
      chat.add(m);
      questions.add(m);
      countOpen();
    })
    .on("answer", (m) => {
      chat.add(m);
      questions.add(m);
      countOpen();
    })
    .on("deleted", (m) => {
      chat.remove(m.id);
      questions.remove(m.id);
      countOpen();
    })
    .on("product", (m) => lineup.showPinned(m.card))
    .on("stock", (m) => lineup.setStock(m.sku, m.stock))
    .on("order", (m) => {
      ticker.show(m);
      orders.soon();
    })
    .on("coupon", (m) => coupons.update(m))
    .on("viewers", (m) => setText(tid("viewers"), m.count))
    .on("stream", (m) => status(m.status));
  roomErrors(room);
  room.connect();

  // Going live from the browser.
  let camera = null;
  const preview = tid("preview");
  const state = tid("publish-state");
  const simulcast = tid("simulcast");
  const simulcastOK = canSimulcast();
  simulcast.checked = simulcastOK;
  simulcast.disabled = !simulcastOK;
  if (!simulcastOK) setText(tid("simulcast-note"), "This browser cannot send several qualities: the show goes out in one.");
  const publisher = new StudioPublisher({
    endpoint: whipURL,
    token: api.token,
    onState: (s, detail) => {
      body.dataset.publish = s;
      setText(state, { connecting: "Connecting…", live: "● LIVE", reconnecting: "Reconnecting…", stopped: camera ? "Camera on" : "Camera off", error: `Could not go live: ${detail}` }[s] || s);
      tid("go-live").hidden = s === "live" || s === "connecting" || s === "reconnecting";
      tid("stop-live").hidden = !tid("go-live").hidden;
      // The layers are chosen as the show goes live.
      simulcast.disabled = !simulcastOK || tid("go-live").hidden;
      if (s === "error") toast(`Could not go live: ${detail}`, "error");
      health.read();
    },
  });
  const health = new StreamHealth(tid("health"), { api, streamId: id, publisher, note: tid("health-note") });
  health.start();

  async function startCamera() {
    if (camera) return camera;
    try {
      camera = await navigator.mediaDevices.getUserMedia({
        video: CAMERA,
        audio: { echoCancellation: true, noiseSuppression: true },
      });
    } catch (err) {
      toast(`Camera: ${err.message || err.name}`, "error");
      setText(state, "Camera blocked");
      return null;
    }
    preview.srcObject = camera;
    preview.play().catch(() => {});
    setText(state, "Camera on");
    body.dataset.camera = "on";
    tid("go-live").disabled = false;
    tid("camera-start").hidden = true;
    return camera;
  }

  tid("camera-start").addEventListener("click", startCamera);
  tid("go-live").addEventListener("click", async () => {
    const s = await startCamera();
    if (!s) return;
    publisher.layers = simulcast.checked && simulcastOK ? SIMULCAST : null;
    body.dataset.simulcast = publisher.layers ? "on" : "off";
    publisher.start(s);
  });
  tid("stop-live").addEventListener("click", () => publisher.stop());

  // Ending the show takes two taps.
  let armed = 0;
  tid("end-show").addEventListener("click", async (e) => {
    const b = e.currentTarget;
    if (!armed) {
      setText(b, "Tap again to end the show");
      armed = setTimeout(() => {
        armed = 0;
        setText(b, "End show");
      }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = 0;
    setText(b, "End show");
    publisher.stop();
    try {
      await api.post(streamPath(id, "/end"), {});
      status("ended");
    } catch (err) {
      toast(messageOf(err), "error");
    }
  });

  // OBS: copy the URL and the token.
  const copy = async (value, what) => {
    try {
      await navigator.clipboard.writeText(value);
      toast(`${what} copied`, "ok");
    } catch {
      toast(`Select the ${what.toLowerCase()} and copy it`, "error");
    }
  };
  tid("copy-whip-url").addEventListener("click", () => copy(whipURL, "WHIP URL"));
  tid("copy-whip-token").addEventListener("click", () => copy(api.token, "Token"));
  tid("reveal-token").addEventListener("click", (e) => {
    const input = tid("whip-token");
    const hidden = input.type === "password";
    input.type = hidden ? "text" : "password";
    setText(e.currentTarget, hidden ? "Hide" : "Show");
  });

  body.dataset.ready = "true";
}
