// The HTTP API client: JSON in and out, Bearer tokens, problem+json errors,
// Idempotency-Key retries. base is "" on livecart's own pages and the
// server's origin in the embed.

import { backoff, newKey, sleep } from "./retry.js";

// ApiError is a failed request. status 0 means the network failed (no
// answer). code is the contract's error code ("out_of_stock", …) when the
// server sent problem+json.
export class ApiError extends Error {
  constructor(status, code, detail, problem = null, retryAfter = 0) {
    super(detail || code || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.problem = problem;
    // retryAfter is the server's Retry-After in seconds (0: none said).
    this.retryAfter = retryAfter;
  }
}

const CODE_BY_STATUS = { 400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict", 422: "bad_request", 429: "rate_limited", 503: "unavailable" };

export class Api {
  constructor({ base = "", token = null } = {}) {
    this.base = base.replace(/\/$/, "");
    this.token = token;
  }

  setToken(token) {
    this.token = token || null;
  }

  // url returns the absolute (embed) or root-relative URL of an API path.
  url(path) {
    return this.base + path;
  }

  // wsURL returns the websocket URL of an API path.
  wsURL(path) {
    const u = new URL(this.url(path), location.href);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    return u.href;
  }

  // request sends one request and returns the decoded JSON body (or null).
  async request(method, path, { json, headers = {}, idempotencyKey, keepalive } = {}) {
    const h = { Accept: "application/json", ...headers };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    if (idempotencyKey) h["Idempotency-Key"] = idempotencyKey;
    let body;
    if (json !== undefined) {
      h["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    }
    let res;
    try {
      res = await fetch(this.url(path), { method, headers: h, body, keepalive, credentials: "omit", cache: "no-store" });
    } catch (err) {
      throw new ApiError(0, "network", "The network is unreachable. Check your connection.");
    }
    const text = await res.text().catch(() => "");
    let data = null;
    if (text && /json/.test(res.headers.get("Content-Type") || "")) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!res.ok) {
      const code = (data && data.code) || CODE_BY_STATUS[res.status] || (res.status >= 500 ? "unavailable" : "error");
      const retryAfter = Number.parseInt(res.headers.get("Retry-After") || "0", 10) || 0;
      throw new ApiError(res.status, code, (data && data.detail) || res.statusText, data, retryAfter);
    }
    return data;
  }

  get(path) {
    return this.request("GET", path);
  }
  post(path, json, opts = {}) {
    return this.request("POST", path, { ...opts, json });
  }
  put(path, json, opts = {}) {
    return this.request("PUT", path, { ...opts, json });
  }
  del(path, opts = {}) {
    return this.request("DELETE", path, opts);
  }

  // once sends a request that must happen at most once (buy, checkout): one
  // Idempotency-Key for this call, reused by its retries after a network
  // failure, a 5xx or a 409 "first request still running", so a retry can
  // never make a second order. A 503 or a lost answer leaves the outcome
  // unknown (the order may have been placed), so those are retried with
  // the same key, after Retry-After when the server sent one, until the
  // server says what happened or `patience` ms have passed; then the error
  // is thrown with `unknown` set, for the page to point at "My orders".
  async once(method, path, json, { key = newKey(), patience = 60000 } = {}) {
    const deadline = Date.now() + patience;
    for (let i = 0; ; i++) {
      try {
        return await this.request(method, path, { json, idempotencyKey: key });
      } catch (err) {
        const unknown = err.status === 0 || err.status >= 500;
        const retry = unknown || (err.status === 409 && err.code === "conflict" && /still running/.test(err.message));
        const wait = Math.max(backoff(i, 300, 3000), err.retryAfter * 1000);
        if (!retry) throw err;
        if (Date.now() + wait > deadline) {
          err.unknown = unknown;
          throw err;
        }
        await sleep(wait);
      }
    }
  }
}

// listItems accepts a list page {"items":[…]} or a bare array.
export const listItems = (data) => (Array.isArray(data) ? data : (data && data.items) || []);
