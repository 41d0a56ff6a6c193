// The WHIP publisher: sends a MediaStream (the camera) to livecart, and
// publishes again on its own when the connection drops: within the server's
// 30 s grace, viewers keep playing without noticing.

import { backoff } from "./retry.js";
import { exchange, hangUp, useIceServers, waitGathering } from "./webrtc.js";

// States: "idle", "connecting", "live", "reconnecting", "error" (with a
// message: the token was refused, …), "stopped".
export class WhipPublisher {
  constructor({ endpoint, token, onState }) {
    this.endpoint = endpoint;
    this.token = token;
    this.onState = onState || (() => {});
    this.pc = null;
    this.location = null;
    this.iceServers = [];
    this.stream = null;
    this.attempt = 0;
    this.timer = 0;
    this.gen = 0;
    this.stopped = true;
    addEventListener("pagehide", () => this.stop());
  }

  setState(s, detail = "") {
    this.state = s;
    this.onState(s, detail);
  }

  // start publishes stream's tracks.
  start(stream) {
    this.stream = stream;
    this.stopped = false;
    this.attempt = 0;
    return this.connect();
  }

  // stop ends publishing with a DELETE on the session.
  stop() {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.teardown();
    this.setState("stopped");
  }

  teardown() {
    hangUp(this.location, this.token);
    this.location = null;
    if (this.pc) {
      this.pc.onconnectionstatechange = null;
      this.pc.close();
      this.pc = null;
    }
  }

  retry() {
    this.teardown();
    if (this.stopped) return;
    this.setState("reconnecting");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), backoff(this.attempt++, 500, 5000));
  }

  async connect() {
    this.teardown();
    if (this.stopped) return;
    const gen = ++this.gen;
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle" });
    this.pc = pc;
    for (const track of this.stream.getTracks()) {
      pc.addTransceiver(track, { direction: "sendonly", streams: [this.stream] });
    }
    pc.onconnectionstatechange = () => {
      if (gen !== this.gen) return;
      const s = pc.connectionState;
      if (s === "connected") {
        this.attempt = 0;
        this.setState("live");
      } else if (s === "failed") {
        this.retry();
      }
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await waitGathering(pc);
      if (gen !== this.gen) return;
      const r = await exchange(this.endpoint, pc.localDescription.sdp, this.token);
      if (gen !== this.gen) {
        hangUp(r.location, this.token);
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
      if (err.status === 401 || err.status === 403 || err.status === 404 || err.status === 400 || err.status === 409) {
        // The server said no: retrying will not change its mind.
        this.stopped = true;
        this.teardown();
        this.setState("error", err.message);
        return;
      }
      this.retry();
    }
  }
}
