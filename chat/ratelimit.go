package chat

import (
	"context"
	"time"
)

// A viewer's lines are limited per stream across every node: the limit is
// decided here, from the configuration and the room's slow mode, and the
// Broker keeps the one token bucket that every node takes from. Hosts,
// moderators and admins are exempt and cost no broker call.

// lineLimit is the limit on each viewer's lines in the room now: one line
// per slow-mode interval when slow mode is on, else the configured rate
// and burst.
func (h *hub) lineLimit() Limit {
	if slow := h.slowSeconds(); slow > 0 {
		return Limit{Every: time.Duration(slow) * time.Second, Burst: 1}
	}
	cfg := &h.r.cfg
	return Limit{Every: max(time.Duration(float64(time.Second)/cfg.RatePerSecond), time.Microsecond), Burst: cfg.Burst}
}

// allowLine takes one line from c's allowance at now. A change of limit
// (slow mode on or off) starts a full bucket.
func (c *client) allowLine(ctx context.Context, now time.Time) (bool, error) {
	return c.rooms.cfg.Broker.Allow(ctx, c.hub.stream, "line:"+c.sub(), c.hub.lineLimit(), now)
}
