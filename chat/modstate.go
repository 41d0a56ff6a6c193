package chat

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/livecart/livecart/auth"
)

// The room's moderation state (mutes, bans, slow mode) lives in the
// broker's state, so that it outlives connections and spans nodes; each
// hub caches it, loaded when the hub starts and kept current by control
// publications. Commands that change it are in moderation.go.

// modState is a stream's moderation state as a hub caches it: kept in the
// broker's state (keys mute:SUB, ban:SUB, slow) and updated on every node by
// control publications.
type modState struct {
	mutes map[string]modRecord
	bans  map[string]modRecord
	slow  int // seconds between lines; 0: off
}

// modRecord is a mute or a ban. It silences only those its issuer
// outranks, whatever their rank was known to be when it was issued.
type modRecord struct {
	until time.Time // zero: until lifted (bans)
	by    auth.Rank // the issuer's rank
}

func newModState() modState {
	return modState{mutes: make(map[string]modRecord), bans: make(map[string]modRecord)}
}

// recordText is the stored form of a mute or ban: "UNTIL_MS RANK" (0: until
// lifted).
func recordText(untilMS int64, by auth.Rank) string {
	return strconv.FormatInt(untilMS, 10) + " " + rankText(by)
}

// parseRecord reads recordText. A record without its issuer's rank (as
// older nodes wrote them) counts as a moderator's, the lowest that may
// issue one.
func parseRecord(v string) (modRecord, bool) {
	ms, r, _ := strings.Cut(v, " ")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return modRecord{}, false
	}
	rec := modRecord{by: issuerRank(r)}
	if n > 0 {
		rec.until = time.UnixMilli(n)
	}
	return rec, true
}

// issuerRank reads the stored rank of an issuer: a moderator when absent.
func issuerRank(s string) auth.Rank {
	if r, ok := parseRank(s); ok {
		return r
	}
	return auth.RankModerator
}

func (m *modState) load(states map[string][]byte) {
	for k, v := range states {
		switch {
		case strings.HasPrefix(k, "mute:"):
			if rec, ok := parseRecord(string(v)); ok && !rec.until.IsZero() {
				m.mutes[k[len("mute:"):]] = rec
			}
		case strings.HasPrefix(k, "ban:"):
			if rec, ok := parseRecord(string(v)); ok {
				m.bans[k[len("ban:"):]] = rec
			}
		case k == "slow":
			m.slow, _ = strconv.Atoi(string(v))
		}
	}
}

// issuerOf returns the rank of whoever set sub's current mute (mute true)
// or ban, if there is one in force.
func (h *hub) issuerOf(mute bool, sub string) (auth.Rank, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.mod.bans
	if mute {
		m = h.mod.mutes
	}
	rec, ok := m[sub]
	if !ok || (!rec.until.IsZero() && !h.r.cfg.Now().Before(rec.until)) {
		return 0, false
	}
	return rec.by, true
}

// blocked reports whether sub, posting with rank, may not post at now:
// "banned" or "muted", and until when (zero: until lifted). A record
// whose issuer does not outrank rank does not block.
func (m *modState) blocked(sub string, rank auth.Rank, now time.Time) (string, time.Time) {
	if rec, ok := m.bans[sub]; ok {
		if !rec.until.IsZero() && !now.Before(rec.until) {
			delete(m.bans, sub)
		} else if rec.by.Outranks(rank) {
			return codeBanned, rec.until
		}
	}
	if rec, ok := m.mutes[sub]; ok {
		if !now.Before(rec.until) {
			delete(m.mutes, sub)
		} else if rec.by.Outranks(rank) {
			return codeMuted, rec.until
		}
	}
	return "", time.Time{}
}

// control is the body of a KindControl publication.
type control struct {
	Op      string          `json:"op"`              // mute, ban, slow, held, resolved, offer
	Sub     string          `json:"sub,omitempty"`   // mute, ban: whom; offer: for whom
	SKU     string          `json:"sku,omitempty"`   // offer
	Until   int64           `json:"until,omitempty"` // unix ms; 0 with ban: until lifted
	Lift    bool            `json:"lift,omitempty"`
	By      string          `json:"by,omitempty"` // mute, ban: the issuer's rank
	Seconds int             `json:"seconds,omitempty"`
	Author  string          `json:"author,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"` // the frame for moderators and the author; offer: for the viewer
}

// control applies a control publication on this node.
func (h *hub) control(p Publication) {
	var ctl control
	if err := json.Unmarshal(p.Data, &ctl); err != nil {
		return
	}
	now := h.r.cfg.Now()
	switch ctl.Op {
	case "mute", "ban":
		rec := modRecord{by: issuerRank(ctl.By)}
		if ctl.Until != 0 {
			rec.until = time.UnixMilli(ctl.Until)
		}
		h.mu.Lock()
		m := h.mod.mutes
		if ctl.Op == "ban" {
			m = h.mod.bans
		}
		if ctl.Lift {
			delete(m, ctl.Sub)
			rec.until = now
		} else {
			m[ctl.Sub] = rec
		}
		h.mu.Unlock()
		typ := typeMuted
		if ctl.Op == "ban" {
			typ = typeBanned
		}
		data := untilFrame(typ, rec.until)
		// Only the connections the record silences are told.
		h.each(func(c *client) bool { return c.p != nil && c.p.Sub == ctl.Sub && rec.by.Outranks(c.rank) },
			func(c *client) { c.send(data) })
	case "slow":
		h.mu.Lock()
		h.mod.slow = ctl.Seconds
		for c := range h.clients {
			c.send(encode(slowMsg{Type: typeSlow, Seconds: ctl.Seconds}))
		}
		h.mu.Unlock()
	case "held", "resolved":
		data := []byte(ctl.Data)
		h.each(func(c *client) bool { return c.mod || (c.p != nil && c.p.Sub == ctl.Author) },
			func(c *client) { c.send(data) })
	case "offer":
		h.deliverOffer(ctl)
	}
}

// silenced reports whether sub, of rank in the room, may not post at now:
// codeBanned or codeMuted, and until when (zero: until lifted); "" when it
// may.
func (h *hub) silenced(sub string, rank auth.Rank, now time.Time) (string, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mod.blocked(sub, rank, now)
}

// slowSeconds is the room's slow mode: seconds between a viewer's lines,
// 0 when off.
func (h *hub) slowSeconds() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mod.slow
}

// userState tells a joining user, of rank in the room, that it is muted
// or banned.
func (h *hub) userState(sub string, rank auth.Rank) []byte {
	if sub == "" {
		return nil
	}
	typ, until := h.silenced(sub, rank, h.r.cfg.Now())
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
