// Times and durations as people read them.

const pad = (n) => String(n).padStart(2, "0");

// formatCountdown formats a duration in ms as "m:ss" or "h:mm:ss", rounding
// up: what is left of a countdown.
export function formatCountdown(ms) {
  const t = Math.max(0, Math.ceil(ms / 1000));
  const hh = Math.floor(t / 3600), mm = Math.floor((t % 3600) / 60), ss = t % 60;
  return hh > 0 ? `${hh}:${pad(mm)}:${pad(ss)}` : `${mm}:${pad(ss)}`;
}

// formatElapsed formats a duration in ms as "m:ss" or "h:mm:ss", rounding
// down: how long something has run.
export function formatElapsed(ms) {
  const t = Math.max(0, Math.floor(ms / 1000));
  const hh = Math.floor(t / 3600), mm = Math.floor((t % 3600) / 60), ss = t % 60;
  return hh > 0 ? `${hh}:${pad(mm)}:${pad(ss)}` : `${mm}:${pad(ss)}`;
}

// formatTime formats an RFC 3339 time or a Date as a local clock time.
export function formatTime(t) {
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

// formatDate formats an RFC 3339 time as a local date and time ("12 Mar,
// 14:05"), or only the time when it is today.
export function formatDate(t, now = new Date()) {
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) return "";
  if (d.toDateString() === now.toDateString()) return formatTime(d);
  return d.toLocaleString(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}
