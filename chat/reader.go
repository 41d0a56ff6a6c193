package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
)

// Malformed input: this many bad messages within badWindow close the
// connection with 1008.
const (
	badLimit  = 10
	badWindow = 10 * time.Second
)

// Reactions: at most this many emoji code points, and per connection at
// most reactRate taps a second (more are ignored, silently).
const (
	maxEmoji  = 8
	reactRate = 20
)

// opTimeout bounds one broker or pinner call made for a client message.
const opTimeout = 3 * time.Second

// readLoop reads the client's frames until it goes away, answering each
// line. It runs on the HTTP handler's goroutine.
func (c *client) readLoop() {
	defer close(c.readDone)
	cfg := &c.rooms.cfg
	// Frames up to MaxFrame are read; larger ones, up to 16×, are answered
	// too_long and skipped; beyond that gorilla closes with 1009.
	c.conn.SetReadLimit(int64(cfg.MaxFrame) * 16)
	extend := func() { _ = c.conn.SetReadDeadline(time.Now().Add(cfg.PongTimeout)) }
	extend()
	c.conn.SetPongHandler(func(string) error { extend(); return nil })
	buf := make([]byte, cfg.MaxFrame+1)
	reacts := newTokenBucket(reactRate, reactRate)
	for {
		mt, rd, err := c.conn.NextReader()
		if err != nil {
			return
		}
		extend()
		n, err := io.ReadFull(rd, buf)
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return
		}
		if n > cfg.MaxFrame {
			if _, err := io.Copy(io.Discard, rd); err != nil {
				return
			}
			c.send(errorFrame(codeTooLong, "frames are at most "+itoa(cfg.MaxFrame)+" bytes"))
			continue
		}
		if mt != websocket.TextMessage {
			c.reply(c.malformed("frames must be text"))
			continue
		}
		for ln := range bytes.SplitSeq(buf[:n], newline) {
			if len(bytes.TrimSpace(ln)) == 0 {
				continue
			}
			c.reply(c.handle(ln, reacts))
			if c.closing() {
				return
			}
		}
	}
}

func (c *client) reply(data []byte) {
	if data != nil {
		c.send(data)
	}
}

func (c *client) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode != 0
}

// malformed counts a bad message and returns its error frame; the tenth
// within badWindow closes the connection with 1008 instead.
func (c *client) malformed(why string) []byte {
	now := c.rooms.cfg.Now()
	keep := c.bad[:0]
	for _, t := range c.bad {
		if now.Sub(t) < badWindow {
			keep = append(keep, t)
		}
	}
	c.bad = append(keep, now)
	if len(c.bad) >= badLimit {
		c.send(errorFrame(codeBadMessage, why))
		c.close(closePolicy, "too many malformed messages", true)
		return nil
	}
	return errorFrame(codeBadMessage, why)
}

// handle answers one client line; it returns the reply frame, if any.
func (c *client) handle(ln []byte, reacts *tokenBucket) []byte {
	if !utf8.Valid(ln) {
		return c.malformed("messages must be valid UTF-8")
	}
	var m clientMsg
	if err := json.Unmarshal(ln, &m); err != nil {
		return c.malformed("each line must be a JSON object: " + strings.TrimPrefix(err.Error(), "json: "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	switch m.Type {
	case "chat", "question":
		return c.post(ctx, m.Type, m.Text, "")
	case "answer":
		if !c.mod {
			return c.denied()
		}
		if m.QuestionID == "" {
			return c.malformed("answer needs question_id")
		}
		return c.post(ctx, "answer", m.Text, m.QuestionID)
	case "react":
		e := strings.TrimSpace(m.Emoji)
		if e == "" || utf8.RuneCountInString(e) > maxEmoji || strings.ContainsFunc(e, isControl) {
			return c.malformed("react needs emoji: a short string")
		}
		if reacts.allow(time.Now()) {
			c.hub.react(e)
		}
		return nil
	case "delete", "mute", "ban", "unban", "slow", "pin", "approve", "drop":
		if !c.mod {
			return c.denied()
		}
		return c.moderate(ctx, &m)
	case "":
		return c.malformed("type is required")
	}
	return c.malformed("unknown type " + quote(m.Type))
}

func (c *client) denied() []byte {
	if c.p == nil {
		return errorFrame(codeUnauthorized, "sign in (a token) to do this")
	}
	return errorFrame(codeForbidden, "only this stream's host, its moderators or an admin may do this")
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// post publishes a chat line, question or answer, or holds it for review.
func (c *client) post(ctx context.Context, kind string, text *string, questionID string) []byte {
	r, h := c.rooms, c.hub
	if c.p == nil {
		return errorFrame(codeUnauthorized, "sign in (a token) to post")
	}
	if text == nil {
		return c.malformed(kind + " needs text")
	}
	t := strings.TrimSpace(*text)
	if t == "" {
		return c.malformed("text is empty")
	}
	if n := utf8.RuneCountInString(t); n > r.cfg.MaxText {
		return errorFrame(codeTooLong, "text is "+itoa(n)+" characters; at most "+itoa(r.cfg.MaxText))
	}
	now := r.cfg.Now()
	h.mu.Lock()
	typ, until := h.mod.blocked(c.p.Sub, now)
	h.mu.Unlock()
	if typ != "" {
		msg := "you are " + typ + " in this room"
		if !until.IsZero() {
			msg += " until " + timestamp(until)
		}
		return errorFrame(typ, msg)
	}
	if !c.mod && !h.allow(c.p.Sub, now) {
		return errorFrame(codeRateLimited, "too many messages; slow down")
	}
	if questionID != "" {
		found, err := h.findLine(ctx, questionID, "question")
		if err != nil {
			r.brokerError("answer", err)
			return errorFrame(codeUnavailable, "the room's store did not answer; try again")
		}
		if !found {
			return errorFrame(codeNotFound, "no question with that id in the room's history")
		}
	}
	id := newID()
	u := *userOf(c.p)
	if !c.mod && r.blocked(t) {
		held := heldLine{Type: typeHeld, ID: id, Kind: kind, QuestionID: questionID, User: u, Text: t, TS: timestamp(now)}
		data := encode(held)
		err := r.cfg.Broker.SetState(ctx, h.stream, "held:"+id, data)
		if err == nil {
			err = r.publishControl(ctx, h.stream, control{Op: "held", Author: u.Sub, Data: data})
		}
		if err != nil {
			r.brokerError("hold", err)
			return errorFrame(codeUnavailable, "the room's store did not answer; try again")
		}
		return nil
	}
	return r.publishLine(ctx, h.stream, line{Type: kind, ID: id, QuestionID: questionID, User: u, Text: t, TS: timestamp(now)})
}

// publishLine publishes a line with history; it returns an error frame or nil.
func (r *Rooms) publishLine(ctx context.Context, stream string, l line) []byte {
	p := Publication{Kind: KindEvent, Key: l.Type + " " + l.ID, Data: encode(l)}
	if _, err := r.cfg.Broker.Publish(ctx, stream, p, true, r.cfg.HistorySize); err != nil {
		r.brokerError("publish", err)
		return errorFrame(codeUnavailable, "the room's store did not answer; try again")
	}
	return nil
}

// review approves (publishes) or drops a held line.
func (c *client) review(ctx context.Context, approve bool, id string) []byte {
	r, stream := c.rooms, c.hub.stream
	data, err := r.cfg.Broker.TakeState(ctx, stream, "held:"+id)
	if err != nil {
		r.brokerError("review", err)
		return errorFrame(codeUnavailable, "the room's store did not answer; try again")
	}
	if data == nil {
		return errorFrame(codeNotFound, "no held message with that id")
	}
	var hl heldLine
	if err := json.Unmarshal(data, &hl); err != nil {
		return errorFrame(codeNotFound, "no held message with that id")
	}
	action := "dropped"
	if approve {
		action = "approved"
		if fr := r.publishLine(ctx, stream, line{Type: hl.Kind, ID: hl.ID, QuestionID: hl.QuestionID, User: hl.User, Text: hl.Text, TS: hl.TS}); fr != nil {
			return fr
		}
	}
	res := encode(resolvedMsg{Type: typeResolved, ID: id, Action: action})
	if err := r.publishControl(ctx, stream, control{Op: "resolved", Author: hl.User.Sub, Data: res}); err != nil {
		r.brokerError("review", err)
	}
	return nil
}

// findLine reports whether a line (of kind, or any line kind when "") with
// id is in the history window and not deleted.
func (h *hub) findLine(ctx context.Context, id, kind string) (bool, error) {
	hist, err := h.r.cfg.Broker.History(ctx, h.stream)
	if err != nil {
		return false, err
	}
	found := false
	for _, p := range hist.Pubs {
		typ, pid, _ := strings.Cut(p.Key, " ")
		if pid != id {
			continue
		}
		switch {
		case typ == typeDeleted:
			found = false
		case kind == "" && (typ == typeChat || typ == typeQuestion || typ == typeAnswer), typ == kind:
			found = true
		}
	}
	return found, nil
}

// newID returns a time-ordered unique message id (UUIDv7).
func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}
