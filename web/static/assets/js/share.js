// Sharing a show: the system share sheet where the browser has one (Web
// Share API), else the link copied to the clipboard, else the link shown,
// selected, to copy by hand.

import { tid } from "./dom.js";

// shareURL is the address to share for a show: the page's own, without
// its query (a token never leaves with it) or fragment.
export function shareURL(loc = location) {
  return loc.origin + loc.pathname;
}

// share offers {title, text, url} and returns how: "shared", "cancelled",
// "copied" or "shown" (the link in the sheet, selected). say(text, kind)
// shows a toast; sheet is the [data-testid=share-sheet] fallback.
export async function share({ title, text, url }, { say, sheet }) {
  const data = { title, text, url };
  if (typeof navigator.share === "function" && (!navigator.canShare || navigator.canShare(data))) {
    try {
      await navigator.share(data);
      return "shared";
    } catch (err) {
      if (err?.name === "AbortError") return "cancelled";
      // Not allowed here (no user activation, a policy): copy instead.
    }
  }
  try {
    await navigator.clipboard.writeText(url);
    say("Link copied", "ok");
    return "copied";
  } catch {
    showSheet(sheet, url);
    return "shown";
  }
}

// showSheet shows the link, selected, with a Copy button.
function showSheet(sheet, url) {
  if (!sheet) return;
  const input = tid("share-url", sheet);
  input.value = url;
  sheet.hidden = false;
  input.focus();
  input.select();
}

// wireSheet makes the sheet's buttons work.
export function wireSheet(sheet, say) {
  if (!sheet) return;
  const input = tid("share-url", sheet);
  tid("share-close", sheet)?.addEventListener("click", () => (sheet.hidden = true));
  tid("share-copy", sheet)?.addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      say("Link copied", "ok");
      sheet.hidden = true;
    } catch {
      say("Select the link and copy it", "info");
    }
  });
}
