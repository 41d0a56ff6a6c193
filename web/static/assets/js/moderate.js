// /moderate/{id}: the question queue (answer, dismiss), the chat with
// delete, mute and ban, slow mode, and lines held for review.

import { ChatList, Composer, userLabel } from "./chat.js";
import { h, setText, tid } from "./dom.js";
import { Room } from "./room.js";
import { answerTools, roomErrors, setStatus, setTitle, staffPage } from "./staff.js";
import { toast } from "./toast.js";

// HELD names the room messages of review: the server sends HELD.held
// {id,user,text,ts} to moderators for each line held back, and HELD.resolved
// {id} when any moderator has decided; the console answers HELD.approve {id}
// or HELD.drop {id}. Change the names here to match the room.
export const HELD = { held: "held", resolved: ["released", "approved", "dropped"], approve: "approve", drop: "drop" };

const STAFF = new Set(["host", "moderator", "admin"]);

const page = await staffPage();
if (page) start(page);

function start({ id, api, stream }) {
  const body = document.body;
  setTitle(stream, id);
  setStatus(stream?.status);
  setText(tid("viewers"), stream?.viewers ?? 0);

  const room = new Room(api, id, { onState: (s) => (body.dataset.room = s) });
  const send = (m) => {
    const ok = room.send(m);
    if (!ok) toast("Not connected yet — try again in a second.", "error");
    return ok;
  };

  // Dismissed questions stay out of this console's queue (kept per stream).
  const dismissKey = `livecart.dismissed.${id}`;
  const dismissed = new Set(JSON.parse(sessionStorage.getItem(dismissKey) || "[]"));
  const dismiss = (qid) => {
    dismissed.add(String(qid));
    sessionStorage.setItem(dismissKey, JSON.stringify([...dismissed].slice(-500)));
    queue.remove(qid);
    counts();
  };

  const queueTools = (m) => {
    const tools = answerTools(m, send) || [];
    tools.push(h("button", { type: "button", "data-testid": "dismiss", text: "Dismiss", on: { click: () => dismiss(m.id) } }));
    return tools;
  };
  const queue = new ChatList(tid("question-queue"), { max: 200, filter: (m) => m.type === "question" && !dismissed.has(String(m.id)), actions: queueTools });

  const muteSeconds = () => Number(tid("mute-seconds").value) || 300;
  const chatTools = (m) => {
    const tools = [h("button", { type: "button", "data-testid": "delete", text: "Delete", on: { click: () => send({ type: "delete", id: m.id }) } })];
    const sub = m.user?.sub;
    if (sub && !STAFF.has(m.user?.role) && sub !== body.dataset.you) {
      tools.push(h("button", { type: "button", "data-testid": "mute", text: "Mute", on: { click: () => send({ type: "mute", sub, seconds: muteSeconds() }) && toast(`Muted ${userLabel(m.user)}`, "ok") } }));
      tools.push(h("button", {
        type: "button", class: "danger", "data-testid": "ban", text: "Ban",
        on: {
          click: (e) => {
            const b = e.currentTarget;
            if (b.dataset.armed !== "true") {
              b.dataset.armed = "true";
              setText(b, "Sure?");
              setTimeout(() => {
                b.dataset.armed = "false";
                setText(b, "Ban");
              }, 3000);
              return;
            }
            if (send({ type: "ban", sub })) toast(`Banned ${userLabel(m.user)}`, "ok");
          },
        },
      }));
    }
    return tools;
  };
  const chat = new ChatList(tid("chat-list"), { max: 300, actions: chatTools });
  new Composer(tid("composer"), { send });

  // Lines held for review.
  const held = tid("held-list");
  const resolveHeld = (hid) => {
    held.querySelector(`[data-id="${CSS.escape(String(hid))}"]`)?.remove();
    counts();
  };
  const addHeld = (m) => {
    if (held.querySelector(`[data-id="${CSS.escape(String(m.id))}"]`)) return;
    held.append(h("li", { class: "line held", "data-testid": "held-item", dataset: { id: m.id, sub: m.user?.sub ?? "" } },
      h("span", { class: "who", "data-testid": "chat-user", text: userLabel(m.user) }),
      h("span", { class: "text", "data-testid": "chat-text", text: m.text ?? "" }),
      h("span", { class: "tools" },
        h("button", { type: "button", class: "primary", "data-testid": "approve", text: "Approve", on: { click: () => send({ type: HELD.approve, id: m.id }) && resolveHeld(m.id) } }),
        h("button", { type: "button", class: "danger", "data-testid": "drop", text: "Drop", on: { click: () => send({ type: HELD.drop, id: m.id }) && resolveHeld(m.id) } }),
      )));
    counts();
  };

  function counts() {
    const q = tid("question-queue").children.length;
    setText(tid("queue-count"), q);
    tid("queue-empty").hidden = q > 0;
    const n = held.children.length;
    setText(tid("held-count"), n);
    tid("held-empty").hidden = n > 0;
  }

  const unansweredOnly = (m) => {
    if (m.type === "answer") queue.remove(m.question_id);
  };

  room
    .on("welcome", (m) => {
      body.dataset.you = m.you?.sub ?? "";
      if (m.stream) setStatus(m.stream.status);
      const hist = m.history || [];
      if (!m.recovered) {
        chat.reset(hist);
        queue.reset(hist);
        held.replaceChildren();
      } else for (const x of hist) {
        chat.add(x);
        queue.add(x);
      }
      for (const x of hist) unansweredOnly(x);
      for (const x of m.held || []) addHeld(x);
      counts();
    })
    .on("chat", (m) => chat.add(m))
    .on("question", (m) => {
      chat.add(m);
      queue.add(m);
      counts();
    })
    .on("answer", (m) => {
      chat.add(m);
      unansweredOnly(m);
      counts();
    })
    .on("deleted", (m) => {
      chat.remove(m.id);
      queue.remove(m.id);
      resolveHeld(m.id);
    })
    .on(HELD.held, addHeld)
    .on("viewers", (m) => setText(tid("viewers"), m.count))
    .on("stream", (m) => setStatus(m.status));
  for (const t of HELD.resolved) room.on(t, (m) => resolveHeld(m.id));
  roomErrors(room);

  tid("slow-mode").addEventListener("change", (e) => {
    const seconds = Number(e.currentTarget.value) || 0;
    if (send({ type: "slow", seconds })) toast(seconds ? `Slow mode: one line per ${seconds} s` : "Slow mode off", "ok");
  });

  room.connect();
  counts();
  body.dataset.ready = "true";
}
