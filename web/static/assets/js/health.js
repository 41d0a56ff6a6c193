// The studio's stream health while the host is live from the page: the
// outgoing video bitrate and frame rate, packet loss and round-trip time as
// the viewers' side reports them (RTCPeerConnection.getStats of the WHIP
// connection), and the server's count of viewers (GET /api/streams/{id}).

import { setText, tid } from "./dom.js";
import { streamPath } from "./page.js";

// HEALTH_EVERY_MS is how often the connection's stats are read.
export const HEALTH_EVERY_MS = 1000;

// SERVER_EVERY_MS is how often the server's viewer count is read.
export const SERVER_EVERY_MS = 5000;

// readStats sums what one getStats report says about the video sent:
// bytes sent, frames per second, packets sent and lost, round-trip time
// in seconds (or null when not measured yet).
export function readStats(report) {
  const out = { bytes: 0, fps: null, sent: 0, lost: 0, rtt: null };
  report.forEach((r) => {
    if (r.type === "outbound-rtp" && r.kind === "video") {
      out.bytes += r.bytesSent || 0;
      out.sent += r.packetsSent || 0;
      if (typeof r.framesPerSecond === "number") out.fps = Math.max(out.fps ?? 0, r.framesPerSecond);
    } else if (r.type === "remote-inbound-rtp" && r.kind === "video") {
      out.lost += Math.max(0, r.packetsLost || 0);
      if (typeof r.roundTripTime === "number") out.rtt = r.roundTripTime;
    } else if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded" && out.rtt === null && typeof r.currentRoundTripTime === "number") {
      out.rtt = r.currentRoundTripTime;
    }
  });
  return out;
}

// healthText words one reading against the one before, dt seconds apart.
export function healthText(now, before, dt) {
  const kbps = before && dt > 0 ? Math.max(0, ((now.bytes - before.bytes) * 8) / dt / 1000) : null;
  const sent = before ? now.sent - before.sent : now.sent;
  const lost = before ? now.lost - before.lost : now.lost;
  const loss = sent + lost > 0 ? (Math.max(0, lost) / (sent + Math.max(0, lost))) * 100 : 0;
  return {
    bitrate: kbps === null ? "—" : `${Math.round(kbps).toLocaleString()} kbps`,
    fps: now.fps === null ? "—" : `${Math.round(now.fps)} fps`,
    loss: `${loss.toFixed(1)}%`,
    rtt: now.rtt === null ? "—" : `${Math.round(now.rtt * 1000)} ms`,
  };
}

// StreamHealth reads and shows the stream's health from start() on.
export class StreamHealth {
  // root is the [data-testid=health] list; publisher the page's
  // WhipPublisher (its pc while live).
  constructor(root, { api, streamId, publisher, note = null }) {
    Object.assign(this, { root, api, streamId, publisher, note });
    this.before = null;
    this.beforeAt = 0;
    this.timer = 0;
    this.serverTimer = 0;
  }

  // start reads the stats every HEALTH_EVERY_MS and the server's count
  // every SERVER_EVERY_MS.
  start() {
    clearInterval(this.timer);
    clearInterval(this.serverTimer);
    this.timer = setInterval(() => this.read(), HEALTH_EVERY_MS);
    this.serverTimer = setInterval(() => this.readServer(), SERVER_EVERY_MS);
    this.read();
    this.readServer();
  }

  async read() {
    const pc = this.publisher.state === "live" ? this.publisher.pc : null;
    if (this.note) this.note.hidden = !!pc;
    this.root.dataset.live = String(!!pc);
    if (!pc) {
      this.before = null;
      for (const k of ["bitrate", "fps", "loss", "rtt"]) setText(tid(`health-${k}`, this.root), "—");
      return;
    }
    let now;
    try {
      now = readStats(await pc.getStats());
    } catch {
      return;
    }
    const at = performance.now();
    const text = healthText(now, this.before, (at - this.beforeAt) / 1000);
    this.before = now;
    this.beforeAt = at;
    for (const [k, v] of Object.entries(text)) setText(tid(`health-${k}`, this.root), v);
  }

  async readServer() {
    if (document.hidden) return;
    try {
      const s = await this.api.get(streamPath(this.streamId));
      setText(tid("health-viewers", this.root), Number(s?.viewers) || 0);
    } catch {
      /* shown again at the next read */
    }
  }
}
