package chat

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// post publishes a chat line, question or answer, or holds it for review.
// It returns the reply frame, if any.
func (c *client) post(ctx context.Context, kind string, text *string, questionID string) []byte {
	r, h := c.rooms, c.hub
	if c.p == nil {
		return errorFrame(codeUnauthorized, "sign in (a token) to post")
	}
	if text == nil {
		return c.malformed(kind + " needs text")
	}
	if err := api.Text("text", *text, 0); err != nil {
		return c.malformed(api.ProblemOf(err).Detail)
	}
	t := strings.TrimSpace(*text)
	if t == "" {
		return c.malformed("text is empty")
	}
	if n := utf8.RuneCountInString(t); n > r.cfg.MaxText {
		return errorFrame(codeTooLong, "text is "+itoa(n)+" characters; at most "+itoa(r.cfg.MaxText))
	}
	now := r.cfg.Now()
	typ, until := h.silenced(c.p.Sub, c.rank, now)
	if typ != "" {
		msg := "you are " + typ + " in this room"
		if !until.IsZero() {
			msg += " until " + timestamp(until)
		}
		return errorFrame(typ, msg)
	}
	if !c.mod {
		ok, err := c.allowLine(ctx, now)
		if err != nil {
			r.brokerError("allow", err)
			return errorFrame(codeUnavailable, "the room's store did not answer; try again")
		}
		if !ok {
			return errorFrame(codeRateLimited, "too many messages; slow down")
		}
	}
	if questionID != "" {
		q, err := h.findLine(ctx, questionID, typeQuestion)
		if err != nil {
			r.brokerError("answer", err)
			return errorFrame(codeUnavailable, "the room's store did not answer; try again")
		}
		if q == nil {
			return errorFrame(codeNotFound, "no question with that id in the room's history")
		}
	}
	id := newID()
	u := *userOf(c.p)
	if !c.mod && r.blocked(t) {
		return c.hold(ctx, heldLine{Type: typeHeld, ID: id, Kind: kind, QuestionID: questionID, User: u, Text: t, TS: timestamp(now)})
	}
	return r.publishLine(ctx, h.stream, line{Type: kind, ID: id, QuestionID: questionID, User: u, Text: t, TS: timestamp(now)}, c.rank)
}

// hold keeps a line for review and shows it to the moderators and its
// author.
func (c *client) hold(ctx context.Context, held heldLine) []byte {
	r, stream := c.rooms, c.hub.stream
	data := encode(held)
	err := r.cfg.Broker.SetState(ctx, stream, "held:"+held.ID, data)
	if err == nil {
		err = r.publishControl(ctx, stream, control{Op: "held", Author: held.User.Sub, Data: data})
	}
	if err != nil {
		r.brokerError("hold", err)
		return errorFrame(codeUnavailable, "the room's store did not answer; try again")
	}
	return nil
}

// publishLine publishes a line by an author of rank with history; it
// returns an error frame or nil.
func (r *Rooms) publishLine(ctx context.Context, stream string, l line, author auth.Rank) []byte {
	p := Publication{Kind: KindEvent, Key: lineKey(l.Type, l.ID, author), Data: encode(l)}
	if _, err := r.cfg.Broker.Publish(ctx, stream, p, true, r.cfg.HistorySize); err != nil {
		r.brokerError("publish", err)
		return errorFrame(codeUnavailable, "the room's store did not answer; try again")
	}
	return nil
}

// findLine returns the line (of kind, or any line kind when "") with id
// when it is in the history window and not deleted; nil otherwise.
func (h *hub) findLine(ctx context.Context, id, kind string) (*Publication, error) {
	hist, err := h.r.cfg.Broker.History(ctx, h.stream)
	if err != nil {
		return nil, err
	}
	var found *Publication
	for i, p := range hist.Pubs {
		typ, pid, _ := splitKey(p.Key)
		if pid != id {
			continue
		}
		switch {
		case typ == typeDeleted:
			found = nil
		case kind == "" && isLine(typ), typ == kind:
			found = &hist.Pubs[i]
		}
	}
	return found, nil
}

// isLine reports whether typ is a chat line, question or answer.
func isLine(typ string) bool { return typ == typeChat || typ == typeQuestion || typ == typeAnswer }

// newID returns a time-ordered unique message id (UUIDv7).
func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}
