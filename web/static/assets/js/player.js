// The WHEP player: receives the stream's video and audio, reconnects on its
// own (connection lost, stream offline, publisher gone), and hangs up with a
// DELETE on its Location when the page goes away.

import { backoff } from "./dom.js";
import { exchange, hangUp, useIceServers, waitGathering } from "./webrtc.js";

// States: "connecting", "playing", "offline" (no one publishes: retrying),
// "reconnecting", "stopped".
export class WhepPlayer {
  constructor({ endpoint, video, onState }) {
    this.endpoint = endpoint;
    this.video = video;
    this.onState = onState || (() => {});
    this.pc = null;
    this.location = null;
    this.iceServers = [];
    this.attempt = 0;
    this.timer = 0;
    this.stallTimer = 0;
    this.stopped = true;
    this.state = "idle";
    this.gen = 0;
    addEventListener("pagehide", () => this.stop());
  }

  setState(s, detail) {
    if (this.state === s && !detail) return;
    this.state = s;
    this.onState(s, detail);
  }

  start() {
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  // retryNow reconnects at once unless playing (the room said "live").
  retryNow() {
    if (this.stopped || this.state === "playing" || this.state === "connecting") return;
    this.attempt = 0;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.teardown();
    this.setState("stopped");
  }

  teardown() {
    clearTimeout(this.stallTimer);
    hangUp(this.location);
    this.location = null;
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
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
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
      } else if (s === "failed") {
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
}
