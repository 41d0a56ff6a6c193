// The chat: lines, questions with their answers under them, deletions, and
// the composer with its "ask a question" toggle. Text goes in through text
// nodes only.

import { codePoints, formatTime, h, setText, tid, toast } from "./dom.js";
import { messageOf } from "./messages.js";

export const MAX_TEXT = 500;

// userLabel is how a user is named on screen.
export const userLabel = (u) => (u && (u.name || u.sub)) || "someone";

function who(user) {
  const role = user?.role;
  return h("span", { class: `who${role && role !== "viewer" ? ` role-${role}` : ""}`, "data-testid": "chat-user" },
    userLabel(user),
    role === "host" ? h("span", { class: "role", text: "host" }) : role === "moderator" || role === "admin" ? h("span", { class: "role", text: "mod" }) : null,
  );
}

// renderLine renders a chat, question or answer message as an <li>.
// actions(m) may return buttons to add (the moderator's tools).
export function renderLine(m, actions) {
  const isQ = m.type === "question";
  const isA = m.type === "answer";
  const li = h("li", {
    class: `line ${m.type}`,
    "data-testid": isQ ? "question" : isA ? "answer" : "chat-line",
    dataset: { id: m.id ?? "", sub: m.user?.sub ?? "", type: m.type },
    title: m.ts ? formatTime(m.ts) : undefined,
  },
    isQ ? h("span", { class: "tag", text: "Q" }) : isA ? h("span", { class: "tag", text: "A" }) : null,
    who(m.user),
    h("span", { class: "text", "data-testid": "chat-text", text: m.text ?? "" }),
  );
  const extra = actions ? actions(m) : null;
  if (extra && extra.length) li.append(h("span", { class: "tools" }, extra));
  if (isQ) li.append(h("ol", { class: "answers", "data-testid": "answers" }));
  return li;
}

// ChatList keeps the last max lines of a room in an <ol>.
export class ChatList {
  constructor(ol, { max = 150, actions = null, filter = null } = {}) {
    this.ol = ol;
    this.max = max;
    this.actions = actions;
    this.filter = filter;
  }

  find(id) {
    return this.ol.querySelector(`[data-id="${CSS.escape(String(id))}"]`);
  }

  reset(history = []) {
    this.ol.replaceChildren();
    for (const m of history) this.add(m, false);
    this.scroll(true);
  }

  add(m, scroll = true) {
    if (!["chat", "question", "answer"].includes(m.type)) return;
    if (this.filter && !this.filter(m)) return;
    if (m.id !== undefined && this.find(m.id)) return; // seen (a resumed room repeats nothing, but be safe)
    const stick = this.nearBottom();
    const li = renderLine(m, this.actions);
    const q = m.type === "answer" && m.question_id !== undefined ? this.find(m.question_id) : null;
    if (q && q.dataset.type === "question") {
      tid("answers", q)?.append(li);
      q.classList.add("answered");
    } else {
      this.ol.append(li);
    }
    while (this.ol.children.length > this.max) this.ol.firstElementChild.remove();
    if (scroll) this.scroll(stick);
  }

  remove(id) {
    this.find(id)?.remove();
  }

  // skipped counts chat lines a busy room did not send to this page
  // (the room's "skipped" message); the count shows above the list.
  skipped(n) {
    if (!this.skips) this.skips = new SkippedCount(this.ol);
    this.skips.add(n);
  }

  nearBottom() {
    const o = this.ol;
    return o.scrollHeight - o.scrollTop - o.clientHeight < 48;
  }

  scroll(force) {
    if (force) this.ol.scrollTop = this.ol.scrollHeight;
  }
}

// SkippedCount shows how busy a room is: "+240 messages", the lines not
// sent to this page in the last SKIP_WINDOW ms. It sits over the top of the
// chat list (absolutely placed, so nothing moves when it appears) and its
// text changes at most every SKIP_PAINT ms however fast counts arrive.
const SKIP_WINDOW = 10000;
const SKIP_PAINT = 250;

export class SkippedCount {
  constructor(list) {
    this.el = h("div", { class: "chat-skipped", "data-testid": "chat-skipped", "aria-hidden": "true", hidden: true });
    list.after(this.el); // after its anchor, the list (watch.css)
    this.counts = []; // [time, n], oldest first
    this.timer = 0;
    this.due = 0;
    this.painted = 0;
    this.paints = 0; // text changes, for tests
  }

  get total() {
    return this.counts.reduce((sum, [, n]) => sum + n, 0);
  }

  add(n) {
    n = Number(n);
    if (!(n > 0)) return;
    this.counts.push([Date.now(), n]);
    this.schedule(Math.max(Date.now(), this.painted + SKIP_PAINT));
  }

  // schedule paints no later than at.
  schedule(at) {
    if (this.timer && this.due <= at) return;
    clearTimeout(this.timer);
    this.due = at;
    this.timer = setTimeout(() => this.paint(), Math.max(0, at - Date.now()));
  }

  paint() {
    this.timer = 0;
    this.painted = Date.now();
    const cut = this.painted - SKIP_WINDOW;
    while (this.counts.length && this.counts[0][0] <= cut) this.counts.shift();
    const total = this.total;
    const text = total > 0 ? `+${total.toLocaleString("en-US")} messages` : "";
    if (this.el.textContent !== text) {
      this.el.textContent = text;
      this.el.title = total > 0 ? `${total.toLocaleString("en-US")} messages of the last ${SKIP_WINDOW / 1000} seconds were not shown: the chat is busy` : "";
      this.el.hidden = total === 0;
      this.paints++;
    }
    // Count down as the oldest counts leave the window.
    if (this.counts.length) this.schedule(this.counts[0][0] + SKIP_WINDOW + 1);
  }
}

// Composer is the chat input with its "ask a question" toggle. send(msg)
// returns false when the room is not connected. needSignIn() resolves when
// the person may chat (or rejects).
export class Composer {
  constructor(form, { send, needSignIn = async () => {}, notice }) {
    this.form = form;
    this.input = form.elements.text;
    this.ask = tid("ask-toggle", form);
    this.sendFn = send;
    this.needSignIn = needSignIn;
    this.notice = notice;
    this.blockedUntil = 0;
    this.unblockTimer = 0;
    this.ask?.addEventListener("click", () => this.setAsking(this.ask.getAttribute("aria-pressed") !== "true"));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
  }

  get asking() {
    return this.ask?.getAttribute("aria-pressed") === "true";
  }

  setAsking(on) {
    this.ask?.setAttribute("aria-pressed", String(on));
    this.form.classList.toggle("asking", on);
    this.input.placeholder = on ? "Ask the host a question…" : "Say something…";
  }

  async submit() {
    const text = this.input.value.trim();
    if (!text) return;
    if (codePoints(text) > MAX_TEXT) {
      toast(messageOf({ code: "too_long" }), "error");
      return;
    }
    try {
      await this.needSignIn();
    } catch {
      return;
    }
    if (!this.sendFn({ type: this.asking ? "question" : "chat", text })) {
      toast("Not connected yet — try again in a second.", "error");
      return;
    }
    this.input.value = "";
    if (this.asking) this.setAsking(false);
  }

  // block disables the composer until `until` (RFC 3339; empty: for good)
  // with a notice (muted, banned).
  block(until, text) {
    clearTimeout(this.unblockTimer);
    const t = until ? new Date(until).getTime() : Infinity;
    this.input.disabled = true;
    this.form.classList.add("blocked");
    this.showNotice(until && Number.isFinite(t) ? `${text} until ${formatTime(until)}.` : `${text}.`);
    if (Number.isFinite(t)) {
      this.unblockTimer = setTimeout(() => this.unblock(), Math.max(0, t - Date.now()));
    }
  }

  unblock() {
    this.input.disabled = false;
    this.form.classList.remove("blocked");
    this.showNotice("");
  }

  showNotice(text) {
    if (!this.notice) return;
    setText(this.notice, text);
    this.notice.hidden = !text;
  }
}
