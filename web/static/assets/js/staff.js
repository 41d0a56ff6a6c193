// What the studio and the moderator console share: the token gate, the
// stream header, and the answer box under a question.

import { Api } from "./api.js";
import { h, setText, tid } from "./dom.js";
import { messageOf } from "./messages.js";
import { streamIdFromPath, streamPath } from "./page.js";
import { toast } from "./toast.js";
import { saveToken, takeToken } from "./token.js";

// gate shows the page's gate (need-token or not-found) in place of the page:
// the header keeps only the page's title.
function gate(which, id) {
  document.querySelector("main").hidden = true;
  document.body.classList.add("gated");
  tid(which).hidden = false;
  setText(tid("title"), id ? `${tid("title").textContent} · ${id}` : tid("title").textContent);
  const watch = tid("gate-watch");
  if (watch) watch.href = `/watch/${encodeURIComponent(id)}`;
  document.body.dataset.ready = "true";
}

// staffPage returns {id, api, stream} once the page has a token and the
// stream exists; otherwise it shows the gate and returns null. Without a
// token the gate explains where one comes from and takes one pasted.
export async function staffPage() {
  const id = streamIdFromPath();
  const token = takeToken("staff");
  const api = new Api({ token });
  if (!token) {
    const form = tid("token-form");
    form?.addEventListener("submit", (e) => {
      e.preventDefault();
      const t = form.elements.token.value.trim();
      if (!t) return;
      saveToken("staff", t);
      location.reload();
    });
    gate("need-token", id);
    return null;
  }
  try {
    const stream = await api.get(streamPath(id));
    return { id, api, stream };
  } catch (err) {
    if (err.status === 404) {
      gate("not-found", id);
      return null;
    }
    toast(messageOf(err), "error");
    return { id, api, stream: null };
  }
}

// setStatus shows a stream status in the header badge.
export function setStatus(status) {
  if (!status) return;
  const b = tid("status");
  b.className = `badge ${status === "live" ? "" : status}`;
  setText(b, status === "live" ? "LIVE" : status);
  document.body.dataset.status = status;
}

export function setTitle(stream, fallback) {
  const t = stream?.title || fallback;
  setText(tid("title"), t);
  document.title = `${t} · livecart`;
}

// answerTools returns the answer box for a question (host and moderators).
export function answerTools(m, send) {
  if (m.type !== "question") return null;
  const input = h("input", { "data-testid": "answer-input", maxlength: "500", placeholder: "Answer…", "aria-label": "Answer" });
  const go = () => {
    const text = input.value.trim();
    if (!text) return;
    if (send({ type: "answer", question_id: m.id, text })) input.value = "";
    else toast("Not connected yet — try again in a second.", "error");
  };
  input.addEventListener("keydown", (e) => e.key === "Enter" && (e.preventDefault(), go()));
  return [input, h("button", { type: "button", class: "primary", "data-testid": "answer-send", text: "Answer", on: { click: go } })];
}

// roomErrors shows the room's error messages as toasts.
export function roomErrors(room) {
  room.on("error", (m) => toast(messageOf(m), "error"));
}
