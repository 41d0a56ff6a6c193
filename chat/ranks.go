package chat

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/livecart/livecart/auth"
)

// Who may act on whom in a room is auth's decision (Principal.RankIn and
// Rank.Outranks); this file only keeps the facts it needs across nodes:
//
//   - the rank a signed-in user had when it last joined the room above a
//     viewer, in the broker's state under "rank:SUB";
//   - the rank of the author of each chat line, question and answer, in
//     its Publication key ("TYPE ID RANK");
//   - the rank of whoever issued a mute or a ban, with the record itself
//     (see moderation.go).

// rankNames are the stored names of auth's ranks, lowest first.
var rankNames = [...]string{
	auth.RankViewer:    "viewer",
	auth.RankModerator: "moderator",
	auth.RankHost:      "host",
	auth.RankAdmin:     "admin",
}

// rankText is the stored name of r.
func rankText(r auth.Rank) string {
	if r >= 0 && int(r) < len(rankNames) {
		return rankNames[r]
	}
	return rankNames[auth.RankViewer]
}

// parseRank reads a stored rank name; ok is false for anything else.
func parseRank(s string) (auth.Rank, bool) {
	for r, n := range rankNames {
		if n == s {
			return auth.Rank(r), true
		}
	}
	return auth.RankViewer, false
}

// rankKey is the state key under which sub's rank in the room is kept.
func rankKey(sub string) string { return "rank:" + sub }

// lineKey is the Publication key of a chat line, question or answer: its
// type, id and its author's rank.
func lineKey(typ, id string, author auth.Rank) string {
	return typ + " " + id + " " + rankText(author)
}

// splitKey reads a Publication key made by lineKey (or "TYPE ID", as
// deleted and older lines have it); rank is the author's, viewer when the
// key has none.
func splitKey(key string) (typ, id string, rank auth.Rank) {
	typ, rest, _ := strings.Cut(key, " ")
	id, r, _ := strings.Cut(rest, " ")
	rank, _ = parseRank(r)
	return typ, id, rank
}

// recordRank keeps the rank of a joining user when it is above a viewer
// and differs from what states (the room's state as read for the join)
// holds, so that staff on every node know whom they may act on.
func (h *hub) recordRank(ctx context.Context, c *client, states map[string][]byte) {
	if c.p == nil || c.rank <= auth.RankViewer {
		return
	}
	text := rankText(c.rank)
	if string(states[rankKey(c.p.Sub)]) == text {
		return
	}
	if err := h.r.cfg.Broker.SetState(ctx, h.stream, rankKey(c.p.Sub), []byte(text)); err != nil {
		h.r.brokerError("rank", err)
	}
}

// rankOf is the highest rank sub is known to have in the room: as recorded
// on joining (any node), and of its connections to this node.
func (h *hub) rankOf(ctx context.Context, sub string) (auth.Rank, error) {
	states, err := h.r.cfg.Broker.States(ctx, h.stream)
	if err != nil {
		return auth.RankViewer, err
	}
	rank, _ := parseRank(string(states[rankKey(sub)]))
	h.each(func(c *client) bool { return c.p != nil && c.p.Sub == sub }, func(c *client) {
		rank = max(rank, c.rank)
	})
	return rank, nil
}

// lineAuthor is the sub of the author of a line's encoded data ("" when it
// does not say).
func lineAuthor(data []byte) string {
	var l struct {
		User struct {
			Sub string `json:"sub"`
		} `json:"user"`
	}
	if json.Unmarshal(data, &l) != nil {
		return ""
	}
	return l.User.Sub
}

// mayActOn reports whether c may mute, ban or delete the lines of someone
// of rank target; when not, it returns the forbidden frame to answer.
func (c *client) mayActOn(target auth.Rank, what string) []byte {
	if c.rank.Outranks(target) {
		return nil
	}
	return errorFrame(codeForbidden, "you may not "+what+" a "+rankText(target)+" of this room")
}
