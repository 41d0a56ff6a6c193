// What people read when something goes wrong: one place that turns API and
// room error codes into plain sentences.

const TEXT = {
  network: "You're offline. We'll keep trying.",
  unauthorized: "Please sign in first.",
  forbidden: "You're not allowed to do that here.",
  not_found: "Not found.",
  stream_offline: "The show is offline right now.",
  out_of_stock: "Sold out — someone was faster.",
  not_in_lineup: "This product isn't on sale in this show any more.",
  idempotency_mismatch: "That order was already sent differently. Please try again.",
  conflict: "Still working on your last tap…",
  rate_limited: "Slow down a little.",
  unavailable: "The shop is busy. Try again in a moment.",
  too_long: "That message is too long (500 characters at most).",
  muted: "You're muted for now.",
  banned: "You can't chat in this show.",
  bad_message: "That message could not be sent.",
  cancelled: "",
};

// messageOf returns the sentence for an error (ApiError, room "error"
// message or anything with a code).
export function messageOf(err) {
  if (!err) return "";
  // A buy or checkout whose outcome the shop could not confirm in time:
  // it may have been placed, and retrying with its key will say.
  if (err.unknown) return "We couldn't confirm your order yet. Check My orders before trying again.";
  return TEXT[err.code] ?? err.message ?? "Something went wrong.";
}
