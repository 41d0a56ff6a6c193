// What WHIP and WHEP clients share: the SDP offer/answer exchange over HTTP
// (RFC 9725), ICE servers from Link headers, and waiting for ICE gathering.

// parseLinks parses a Link header into [{url, rel, params}].
export function parseLinks(header) {
  const out = [];
  if (!header) return out;
  // Split on commas outside <…> and quotes.
  const parts = [];
  let cur = "", inURL = false, inQuote = false;
  for (const ch of header) {
    if (ch === "<" && !inQuote) inURL = true;
    else if (ch === ">" && !inQuote) inURL = false;
    else if (ch === '"' && !inURL) inQuote = !inQuote;
    if (ch === "," && !inURL && !inQuote) {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  parts.push(cur);
  for (const part of parts) {
    const m = /^\s*<([^>]*)>\s*(.*)$/.exec(part);
    if (!m) continue;
    const params = {};
    for (const p of m[2].split(";")) {
      const kv = /^\s*([^=\s]+)\s*(?:=\s*(?:"([^"]*)"|([^\s;]*)))?\s*$/.exec(p);
      if (kv) params[kv[1].toLowerCase()] = kv[2] ?? kv[3] ?? "";
    }
    out.push({ url: m[1], rel: (params.rel || "").toLowerCase(), params });
  }
  return out;
}

// iceServersFromLinks returns the RTCIceServers of rel="ice-server" links.
export function iceServersFromLinks(header) {
  return parseLinks(header)
    .filter((l) => l.rel.split(/\s+/).includes("ice-server"))
    .map((l) => {
      const s = { urls: l.url };
      if (l.params.username !== undefined) s.username = l.params.username;
      if (l.params.credential !== undefined) s.credential = l.params.credential;
      return s;
    });
}

// waitGathering resolves when ICE gathering completes or after ms, whichever
// is first: the offer then carries the candidates (no trickle needed).
export function waitGathering(pc, ms = 2500) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      pc.removeEventListener("icecandidate", onCand);
      resolve();
    };
    const check = () => pc.iceGatheringState === "complete" && done();
    const onCand = (e) => !e.candidate && done();
    const timer = setTimeout(done, ms);
    pc.addEventListener("icegatheringstatechange", check);
    pc.addEventListener("icecandidate", onCand);
  });
}

// SignalError is a failed WHIP/WHEP exchange: HTTP status and problem code.
export class SignalError extends Error {
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

// LAYER_REL names a WHEP session's layer resource in a Link header.
export const LAYER_REL = "urn:ietf:params:whep:ext:core:layer";

// exchange POSTs the offer and returns {answer, location, iceServers,
// layerURL} (layerURL: the session's layer resource, null when the
// answer names none).
export async function exchange(endpoint, sdp, token) {
  const headers = { "Content-Type": "application/sdp", Accept: "application/sdp" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(endpoint, { method: "POST", headers, body: sdp, credentials: "omit", cache: "no-store" });
  } catch {
    throw new SignalError(0, "network", "network unreachable");
  }
  if (res.status !== 201 && res.status !== 200) {
    let code = res.status === 404 ? "not_found" : "error", detail = res.statusText;
    try {
      const p = JSON.parse(await res.text());
      code = p.code || code;
      detail = p.detail || detail;
    } catch {
      /* not problem+json */
    }
    throw new SignalError(res.status, code, detail);
  }
  const loc = res.headers.get("Location");
  // endpoint may be root-relative ("/api/…" on livecart's own pages): a
  // URL needs an absolute base.
  const base = new URL(endpoint, location.href);
  const layer = parseLinks(res.headers.get("Link")).find((l) => l.rel.split(/\s+/).includes(LAYER_REL));
  return {
    answer: await res.text(),
    location: loc ? new URL(loc, base).href : null,
    iceServers: iceServersFromLinks(res.headers.get("Link")),
    layerURL: layer ? new URL(layer.url, base).href : null,
  };
}

// hangUp DELETEs a session's Location; keepalive lets it finish as the page
// unloads. Failures are ignored: the server times sessions out.
export function hangUp(location, token) {
  if (!location) return;
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  fetch(location, { method: "DELETE", headers, keepalive: true, credentials: "omit" }).catch(() => {});
}

// useIceServers applies servers learned from Link headers to a running peer
// connection (for later ICE restarts); browsers that refuse keep theirs.
export function useIceServers(pc, servers) {
  if (!servers.length) return;
  try {
    pc.setConfiguration({ ...pc.getConfiguration(), iceServers: servers });
  } catch {
    /* keep the configuration it has */
  }
}
