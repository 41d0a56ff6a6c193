package chat

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// Limits of moderation commands.
const (
	maxMuteSeconds = 30 * 24 * 3600
	maxSlowSeconds = 3600
)

// moderate runs a moderator's command; it reports an error frame or nil.
func (c *client) moderate(ctx context.Context, m *clientMsg) []byte {
	r, stream := c.rooms, c.hub.stream
	b := r.cfg.Broker
	now := r.cfg.Now()
	fail := func(err error) []byte {
		r.brokerError(m.Type, err)
		return errorFrame(codeUnavailable, "the room's store did not answer; try again")
	}
	switch m.Type {
	case "delete":
		if m.ID == "" {
			return c.malformed("delete needs id")
		}
		p, err := c.hub.findLine(ctx, m.ID, "")
		if err != nil {
			return fail(err)
		}
		if p == nil {
			return errorFrame(codeNotFound, "no message with that id in the room's history")
		}
		if fr, err := c.mayDelete(ctx, p); err != nil {
			return fail(err)
		} else if fr != nil {
			return fr
		}
		data := encode(deletedMsg{Type: typeDeleted, ID: m.ID})
		if _, err := b.Publish(ctx, stream, Publication{Kind: KindEvent, Key: "deleted " + m.ID, Data: data}, true, r.cfg.HistorySize); err != nil {
			return fail(err)
		}
	case "mute", "ban":
		if m.Sub == "" {
			return c.malformed(m.Type + " needs sub")
		}
		secs := 0
		if m.Seconds != nil {
			secs = *m.Seconds
		}
		if m.Type == "mute" && m.Seconds == nil || secs < 0 || secs > maxMuteSeconds {
			return c.malformed("seconds must be a number from 0 to " + strconv.Itoa(maxMuteSeconds))
		}
		if fr, err := c.mayModerate(ctx, m.Sub, m.Type); err != nil {
			return fail(err)
		} else if fr != nil {
			return fr
		}
		ctl := control{Op: m.Type, Sub: m.Sub, By: rankText(c.rank)}
		key := m.Type + ":" + m.Sub
		var err error
		switch {
		case secs == 0 && m.Type == "mute":
			ctl.Lift = true
			_, err = b.TakeState(ctx, stream, key)
		case secs == 0: // ban without seconds: until unbanned
			err = b.SetState(ctx, stream, key, []byte(recordText(0, c.rank)))
		default:
			ctl.Until = now.Add(time.Duration(secs) * time.Second).UnixMilli()
			err = b.SetState(ctx, stream, key, []byte(recordText(ctl.Until, c.rank)))
		}
		if err == nil {
			err = r.publishControl(ctx, stream, ctl)
		}
		if err != nil {
			return fail(err)
		}
	case "unban":
		if m.Sub == "" {
			return c.malformed("unban needs sub")
		}
		if fr, err := c.mayModerate(ctx, m.Sub, "unban"); err != nil {
			return fail(err)
		} else if fr != nil {
			return fr
		}
		if _, err := b.TakeState(ctx, stream, "ban:"+m.Sub); err != nil {
			return fail(err)
		}
		if err := r.publishControl(ctx, stream, control{Op: "ban", Sub: m.Sub, Lift: true, By: rankText(c.rank)}); err != nil {
			return fail(err)
		}
	case "slow":
		if m.Seconds == nil || *m.Seconds < 0 || *m.Seconds > maxSlowSeconds {
			return c.malformed("slow needs seconds from 0 (off) to " + strconv.Itoa(maxSlowSeconds))
		}
		err := b.SetState(ctx, stream, "slow", []byte(strconv.Itoa(*m.Seconds)))
		if err == nil {
			err = r.publishControl(ctx, stream, control{Op: "slow", Seconds: *m.Seconds})
		}
		if err != nil {
			return fail(err)
		}
	case "pin":
		if m.SKU == nil {
			return c.malformed("pin needs sku (\"\" to unpin)")
		}
		if r.cfg.Pinner == nil {
			return errorFrame(codeNotFound, "pinning is not available on this server")
		}
		if err := r.cfg.Pinner.Pin(ctx, c.p, stream, *m.SKU); err != nil {
			return pinError(err)
		}
	case "approve", "drop":
		if m.ID == "" {
			return c.malformed(m.Type + " needs id")
		}
		return c.review(ctx, m.Type == "approve", m.ID)
	}
	return nil
}

// mayModerate answers whether c may mute, ban or unban sub: nil when it
// outranks sub's known rank and ranks at least as high as whoever set the
// mute or ban it would replace or lift, else the forbidden frame.
func (c *client) mayModerate(ctx context.Context, sub, verb string) ([]byte, error) {
	target, err := c.hub.rankOf(ctx, sub)
	if err != nil {
		return nil, err
	}
	if fr := c.mayActOn(target, verb); fr != nil {
		return fr, nil
	}
	if by, ok := c.hub.issuerOf(verb == "mute", sub); ok && by > c.rank {
		return errorFrame(codeForbidden, "a "+rankText(by)+" set this; only someone of that rank or above may change it"), nil
	}
	return nil, nil
}

// mayDelete answers whether c may delete the line p: its own, or one whose
// author it outranks (the author's rank when it wrote the line, or its
// known rank in the room, whichever is higher).
func (c *client) mayDelete(ctx context.Context, p *Publication) ([]byte, error) {
	_, _, target := splitKey(p.Key)
	author := lineAuthor(p.Data)
	if author != "" && author == c.sub() {
		return nil, nil
	}
	if author != "" {
		known, err := c.hub.rankOf(ctx, author)
		if err != nil {
			return nil, err
		}
		target = max(target, known)
	}
	return c.mayActOn(target, "delete the lines of"), nil
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
		// Only viewers' lines are held.
		l := line{Type: hl.Kind, ID: hl.ID, QuestionID: hl.QuestionID, User: hl.User, Text: hl.Text, TS: hl.TS}
		if fr := r.publishLine(ctx, stream, l, auth.RankViewer); fr != nil {
			return fr
		}
	}
	res := encode(resolvedMsg{Type: typeResolved, ID: id, Action: action})
	if err := r.publishControl(ctx, stream, control{Op: "resolved", Author: hl.User.Sub, Data: res}); err != nil {
		r.brokerError("review", err)
	}
	return nil
}

// pinError maps a Pinner error to an error frame by its api code.
func pinError(err error) []byte {
	msg := err.Error()
	var e *api.Error
	if errors.As(err, &e) {
		msg = e.Message
	}
	switch api.CodeOf(err) {
	case api.Forbidden:
		return errorFrame(codeForbidden, msg)
	case api.Unauthorized:
		return errorFrame(codeUnauthorized, msg)
	case api.NotFound, api.NotInLineup:
		return errorFrame(codeNotFound, msg)
	case api.BadRequest:
		return errorFrame(codeBadMessage, msg)
	case api.RateLimited:
		return errorFrame(codeRateLimited, msg)
	case api.Unavailable:
		return errorFrame(codeUnavailable, msg)
	}
	return errorFrame(codeUnavailable, "pinning failed")
}
