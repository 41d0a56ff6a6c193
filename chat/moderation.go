package chat

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/livecart/livecart/api"
)

// Limits of moderation commands.
const (
	maxMuteSeconds = 30 * 24 * 3600
	maxSlowSeconds = 3600
)

// modState is a stream's moderation state as a hub caches it: kept in the
// broker's state (keys mute:SUB, ban:SUB, slow) and updated on every node by
// control publications.
type modState struct {
	mutes map[string]time.Time
	bans  map[string]time.Time // zero time: until unbanned
	slow  int                  // seconds between lines; 0: off
}

func newModState() modState {
	return modState{mutes: make(map[string]time.Time), bans: make(map[string]time.Time)}
}

func (m *modState) load(states map[string][]byte) {
	for k, v := range states {
		switch {
		case strings.HasPrefix(k, "mute:"):
			if ms, err := strconv.ParseInt(string(v), 10, 64); err == nil {
				m.mutes[k[len("mute:"):]] = time.UnixMilli(ms)
			}
		case strings.HasPrefix(k, "ban:"):
			if ms, err := strconv.ParseInt(string(v), 10, 64); err == nil {
				var t time.Time
				if ms > 0 {
					t = time.UnixMilli(ms)
				}
				m.bans[k[len("ban:"):]] = t
			}
		case k == "slow":
			m.slow, _ = strconv.Atoi(string(v))
		}
	}
}

// blocked reports whether sub may not post at now: "banned" or "muted",
// and until when (zero: until lifted).
func (m *modState) blocked(sub string, now time.Time) (string, time.Time) {
	if until, ok := m.bans[sub]; ok {
		if until.IsZero() || now.Before(until) {
			return codeBanned, until
		}
		delete(m.bans, sub)
	}
	if until, ok := m.mutes[sub]; ok {
		if now.Before(until) {
			return codeMuted, until
		}
		delete(m.mutes, sub)
	}
	return "", time.Time{}
}

// control is the body of a KindControl publication.
type control struct {
	Op      string          `json:"op"` // mute, ban, slow, held, resolved
	Sub     string          `json:"sub,omitempty"`
	Until   int64           `json:"until,omitempty"` // unix ms; 0 with ban: until lifted
	Lift    bool            `json:"lift,omitempty"`
	Seconds int             `json:"seconds,omitempty"`
	Author  string          `json:"author,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"` // the frame for moderators and the author
}

// control applies a control publication on this node.
func (h *hub) control(p Publication) {
	var ctl control
	if err := json.Unmarshal(p.Data, &ctl); err != nil {
		return
	}
	now := h.r.cfg.Now()
	isSub := func(c *client) bool { return c.p != nil && c.p.Sub == ctl.Sub }
	switch ctl.Op {
	case "mute", "ban":
		until := time.UnixMilli(ctl.Until)
		if ctl.Until == 0 {
			until = time.Time{}
		}
		h.mu.Lock()
		m := h.mod.mutes
		if ctl.Op == "ban" {
			m = h.mod.bans
		}
		if ctl.Lift {
			delete(m, ctl.Sub)
			until = now
		} else {
			m[ctl.Sub] = until
		}
		h.mu.Unlock()
		typ := typeMuted
		if ctl.Op == "ban" {
			typ = typeBanned
		}
		data := untilFrame(typ, until)
		h.each(isSub, func(c *client) { c.send(data) })
	case "slow":
		h.mu.Lock()
		h.mod.slow = ctl.Seconds
		clear(h.limiters)
		for c := range h.clients {
			c.send(encode(slowMsg{Type: typeSlow, Seconds: ctl.Seconds}))
		}
		h.mu.Unlock()
	case "held", "resolved":
		data := []byte(ctl.Data)
		h.each(func(c *client) bool { return c.mod || (c.p != nil && c.p.Sub == ctl.Author) },
			func(c *client) { c.send(data) })
	}
}

// userState tells a joining user that it is muted or banned.
func (h *hub) userState(sub string) []byte {
	if sub == "" {
		return nil
	}
	h.mu.Lock()
	typ, until := h.mod.blocked(sub, h.r.cfg.Now())
	h.mu.Unlock()
	if typ == "" {
		return nil
	}
	return untilFrame(typ, until)
}

// publishControl sends ctl to every hub of the stream.
func (r *Rooms) publishControl(ctx context.Context, stream string, ctl control) error {
	data, err := json.Marshal(ctl)
	if err != nil {
		return err
	}
	_, err = r.cfg.Broker.Publish(ctx, stream, Publication{Kind: KindControl, Data: data}, false, 0)
	return err
}

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
		found, err := c.hub.findLine(ctx, m.ID, "")
		if err != nil {
			return fail(err)
		}
		if !found {
			return errorFrame(codeNotFound, "no message with that id in the room's history")
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
		ctl := control{Op: m.Type, Sub: m.Sub}
		key := m.Type + ":" + m.Sub
		var err error
		switch {
		case secs == 0 && m.Type == "mute":
			ctl.Lift = true
			_, err = b.TakeState(ctx, stream, key)
		case secs == 0: // ban without seconds: until unbanned
			err = b.SetState(ctx, stream, key, []byte("0"))
		default:
			ctl.Until = now.Add(time.Duration(secs) * time.Second).UnixMilli()
			err = b.SetState(ctx, stream, key, []byte(strconv.FormatInt(ctl.Until, 10)))
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
		if _, err := b.TakeState(ctx, stream, "ban:"+m.Sub); err != nil {
			return fail(err)
		}
		if err := r.publishControl(ctx, stream, control{Op: "ban", Sub: m.Sub, Lift: true}); err != nil {
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
