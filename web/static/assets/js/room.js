// The live room websocket: one JSON object per line in each frame, reconnects
// with exponential backoff and jitter, and resumes with ?since=&epoch= so a
// short drop loses nothing.

import { backoff } from "./dom.js";
import { streamPath } from "./page.js";

// parseFrame splits a text frame into its messages; a line that is not a JSON
// object is skipped.
export function parseFrame(data) {
  const out = [];
  for (const line of String(data).split("\n")) {
    if (!line.trim()) continue;
    try {
      const m = JSON.parse(line);
      if (m && typeof m === "object" && typeof m.type === "string") out.push(m);
    } catch {
      /* not JSON: skip */
    }
  }
  return out;
}

// Room is one connection to a stream's room. Handlers are registered with
// on(type, fn); "*" sees every message. onState sees "connecting", "open",
// "closed" (the page is leaving) and "waiting" (a reconnect is scheduled).
export class Room {
  constructor(api, streamId, { onState } = {}) {
    this.api = api;
    this.streamId = streamId;
    this.onState = onState || (() => {});
    this.handlers = new Map();
    this.ws = null;
    this.since = null;
    this.epoch = null;
    this.attempt = 0;
    this.timer = 0;
    this.closed = false;
    this.state = "idle";
    this.welcomed = false;
    addEventListener("online", () => this.reconnectNow());
  }

  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(fn);
    return this;
  }

  setState(s) {
    this.state = s;
    this.onState(s);
  }

  url() {
    const q = new URLSearchParams();
    if (this.api.token) q.set("token", this.api.token);
    if (this.since !== null && this.epoch !== null) {
      q.set("since", String(this.since));
      q.set("epoch", String(this.epoch));
    }
    const qs = q.toString();
    return this.api.wsURL(streamPath(this.streamId, "/ws")) + (qs ? `?${qs}` : "");
  }

  connect() {
    this.closed = false;
    clearTimeout(this.timer);
    if (this.ws) {
      const old = this.ws;
      this.ws = null;
      old.onclose = old.onmessage = old.onerror = null;
      try {
        old.close(1000);
      } catch {
        /* ignore */
      }
    }
    this.setState("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.schedule();
      return;
    }
    this.ws = ws;
    ws.onopen = () => this.setState("open");
    ws.onmessage = (ev) => {
      for (const m of parseFrame(ev.data)) this.dispatch(m);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.closed) this.setState("closed");
      else this.schedule();
    };
  }

  schedule() {
    if (this.closed) return;
    const delay = backoff(this.attempt++, 500, 15000);
    this.setState("waiting");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  // reconnectNow reconnects at once (a new token, the network came back).
  reconnectNow() {
    if (this.closed || this.state === "idle") return;
    this.attempt = 0;
    this.connect();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
    this.setState("closed");
  }

  // send sends one client message; false when the room is not connected.
  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  track(m) {
    if (typeof m.offset === "number" && (this.since === null || m.offset > this.since)) this.since = m.offset;
    if (m.epoch !== undefined && m.epoch !== null) this.epoch = m.epoch;
  }

  dispatch(m) {
    if (m.type === "welcome") {
      this.attempt = 0;
      this.welcomed = true;
      if (!m.recovered) this.since = null;
      if (m.epoch !== undefined && m.epoch !== null) this.epoch = m.epoch;
      if (typeof m.offset === "number") this.since = m.offset;
      for (const x of m.history || []) this.track(x);
    } else {
      this.track(m);
    }
    for (const fn of [...(this.handlers.get(m.type) || []), ...(this.handlers.get("*") || [])]) {
      try {
        fn(m);
      } catch (err) {
        console.error(`room: handling ${m.type}:`, err);
      }
    }
  }
}
