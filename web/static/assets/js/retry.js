// Retrying safely: waits with backoff and jitter, and keys that make a
// retried request count once.

// sleep resolves after ms.
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// backoff returns the delay before retry number attempt (0-based):
// exponential from base to max, with "equal jitter" so that many clients
// dropped at once do not come back at once.
export function backoff(attempt, base = 500, max = 15000) {
  const d = Math.min(max, base * 2 ** Math.min(attempt, 16));
  return d / 2 + Math.random() * (d / 2);
}

// newKey returns a fresh random key (an Idempotency-Key), also outside
// secure contexts where crypto.randomUUID is missing.
export function newKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
