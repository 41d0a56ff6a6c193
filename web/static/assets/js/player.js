// The WHEP player: receives the stream's video and audio while the room says
// the stream is live, reconnects on its own (connection lost, publisher not
// there yet), notices when the picture stops (the host's connection dropped:
// the server keeps viewers connected while the host comes back), and hangs
// up with a DELETE on its Location when the page goes away.

import { backoff } from "./retry.js";
import { exchange, hangUp, useIceServers, waitGathering } from "./webrtc.js";

// STALL_MS is how long a connected player may go without a new video frame
// before it says the picture stopped.
export const STALL_MS = 2500;

// States: "idle" (not started), "connecting", "playing", "stalled"
// (connected, but no frames come: the host is reconnecting), "reconnecting"
// (the viewer's own connection is being made again), "offline" (the
// server has no publisher: retrying while the room says live), "stopped".
export class WhepPlayer {
  // endpoint is the stream's WHEP URL; onState(state) sees every change.
  // mayConnect(retry) is asked before each connection (retry: after a
  // failure) and may answer later (a promise): false while the stream is
  // not live, so that no offer is sent in vain.
  constructor({ endpoint, video, onState, mayConnect = () => true }) {
    this.endpoint = endpoint;
    this.video = video;
    this.onState = onState || (() => {});
    this.mayConnect = mayConnect;
    this.pc = null;
    this.location = null;
    this.layerURL = null;
    this.iceServers = [];
    this.attempt = 0;
    this.timer = 0;
    this.stallTimer = 0;
    this.watchTimer = 0;
    this.stopped = true;
    this.state = "idle";
    this.gen = 0;
    this.lastFrames = -1;
    this.lastFrameAt = 0;
    addEventListener("pagehide", () => this.stop());
  }

  setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.onState(s);
  }

  // running reports whether the player is started (playing or trying to).
  get running() {
    return !this.stopped;
  }

  // start connects unless already started.
  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  // retryNow reconnects at once unless playing or connecting.
  retryNow() {
    if (this.stopped || this.state === "playing" || this.state === "stalled" || this.state === "connecting") return;
    this.attempt = 0;
    this.connect();
  }

  // stop ends playback and shows state ("stopped", or "offline" while the
  // show waits for its host). hangUp false skips the DELETE: the server
  // already closed the session (the show ended or went offline).
  stop(state = "stopped", { hangUp: bye = true } = {}) {
    this.stopped = true;
    this.gen++;
    clearTimeout(this.timer);
    this.teardown(bye);
    this.setState(state);
  }

  teardown(bye = true) {
    clearTimeout(this.stallTimer);
    clearInterval(this.watchTimer);
    if (bye) hangUp(this.location);
    this.location = null;
    this.layerURL = null;
    if (this.pc) {
      this.pc.ontrack = this.pc.onconnectionstatechange = null;
      this.pc.close();
      this.pc = null;
    }
  }

  schedule(state) {
    this.teardown();
    if (this.stopped) return;
    this.setState(state);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), backoff(this.attempt++, 1000, 10000));
  }

  async connect() {
    clearTimeout(this.timer);
    this.teardown();
    if (this.stopped) return;
    const gen = ++this.gen;
    const retry = this.attempt > 0;
    this.setState(retry ? "reconnecting" : "connecting");
    let may = true;
    try {
      may = await this.mayConnect(retry);
    } catch {
      may = true; // no answer: try, the server says no itself
    }
    if (gen !== this.gen || this.stopped) return;
    if (!may) {
      this.stop("offline", { hangUp: false });
      return;
    }
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle" });
    this.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const stream = new MediaStream();
    pc.ontrack = (e) => {
      stream.addTrack(e.track);
      if (this.video.srcObject !== stream) this.video.srcObject = stream;
      this.video.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      if (gen !== this.gen) return;
      const s = pc.connectionState;
      if (s === "connected") {
        clearTimeout(this.stallTimer);
        this.attempt = 0;
        this.setState("playing");
        this.watchFrames(pc, gen);
      } else if (s === "failed" || s === "closed") {
        this.schedule("reconnecting");
      } else if (s === "disconnected") {
        // Often recovers by itself; give it a moment.
        clearTimeout(this.stallTimer);
        this.stallTimer = setTimeout(() => gen === this.gen && pc.connectionState !== "connected" && this.schedule("reconnecting"), 4000);
      }
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await waitGathering(pc);
      if (gen !== this.gen) return;
      const r = await exchange(this.endpoint, pc.localDescription.sdp);
      if (gen !== this.gen) {
        hangUp(r.location);
        return;
      }
      this.location = r.location;
      this.layerURL = r.layerURL;
      if (r.iceServers.length) {
        this.iceServers = r.iceServers;
        useIceServers(pc, r.iceServers);
      }
      await pc.setRemoteDescription({ type: "answer", sdp: r.answer });
    } catch (err) {
      if (gen !== this.gen) return;
      const offline = err.status === 404 || err.code === "stream_offline";
      this.schedule(offline ? "offline" : "reconnecting");
    }
  }

  // watchFrames counts the video frames received, once a second: none for
  // STALL_MS while connected is "stalled", and frames again are "playing".
  watchFrames(pc, gen) {
    clearInterval(this.watchTimer);
    this.lastFrames = -1;
    this.lastFrameAt = performance.now();
    this.watchTimer = setInterval(async () => {
      if (gen !== this.gen || this.pc !== pc) return;
      let frames = 0;
      try {
        const stats = await pc.getStats();
        stats.forEach((r) => {
          if (r.type === "inbound-rtp" && r.kind === "video") frames += (r.framesReceived ?? r.packetsReceived ?? 0);
        });
      } catch {
        return;
      }
      if (gen !== this.gen) return;
      const now = performance.now();
      if (frames !== this.lastFrames) {
        this.lastFrames = frames;
        this.lastFrameAt = now;
        if (this.state === "stalled") this.setState("playing");
      } else if (now - this.lastFrameAt >= STALL_MS && this.state === "playing") {
        this.setState("stalled");
      }
    }, 500);
  }
}
