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
  limit_reached: "You've reached the limit for this item.",
  coupon_invalid: "That code doesn't work.",
  cancelled: "",
};

// WITH_CONTEXT words the errors whose sentence carries a detail: the
// per-person limit of the item, or the server's reason a code was refused.
const WITH_CONTEXT = {
  limit_reached: (err, ctx) => (ctx.limit ? `You've reached the limit for this item (${ctx.limit} per person)` : TEXT.limit_reached),
  coupon_invalid: (err) => {
    const detail = err.problem?.detail ?? (err.message && err.message !== err.code ? err.message : "");
    return detail ? `That code doesn't work: ${detail}` : TEXT.coupon_invalid;
  },
};

// messageOf returns the sentence for an error (ApiError, room "error"
// message or anything with a code). ctx may say more about what was tried:
// limit is the item's limit per person.
export function messageOf(err, ctx = {}) {
  if (!err) return "";
  // A buy or checkout whose outcome the shop could not confirm in time:
  // it may have been placed, and retrying with its key will say.
  if (err.unknown) return "We couldn't confirm your order yet. Check My orders before trying again.";
  const withContext = WITH_CONTEXT[err.code];
  if (withContext) return withContext(err, ctx);
  return TEXT[err.code] ?? err.message ?? "Something went wrong.";
}
