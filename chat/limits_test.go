package chat

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/redistest"
)

// tryLine posts text and reports whether it was published (it comes back)
// or refused with rate_limited; any other answer fails the test.
func (c *wsc) tryLine(text string) bool {
	c.tb.Helper()
	_, refusal := c.postLine(text)
	if refusal != nil && (refusal.str("type") != "error" || refusal.str("code") != codeRateLimited) {
		c.tb.Fatalf("posting %q: %v", text, refusal)
	}
	return refusal == nil
}

// A viewer connected to two nodes on one Redis has one allowance, not one
// per node: the rate limit and slow mode hold across nodes.
func TestRateLimitAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	clock := newFakeClock()
	n1 := mustRoom(t, mustRedisBroker(t, srv.Client()), Config{Now: clock.Now})
	n2 := mustRoom(t, mustRedisBroker(t, srv.Client()), Config{Now: clock.Now})
	tok := mustToken(t, auth.Viewer, "ana", "")
	on := []*wsc{n1.dial(t, "s1", tok, nil), n2.dial(t, "s1", tok, nil)}

	// The clock stands still: the burst (5) is all there is, on both nodes.
	accepted := 0
	for i := range 12 {
		if on[i%2].tryLine("burst " + strconv.Itoa(i)) {
			accepted++
		}
	}
	if accepted != 5 {
		t.Errorf("%d lines accepted on two nodes in one instant, want the burst of 5", accepted)
	}
	// One second later, one more line, on whichever node.
	clock.Advance(time.Second)
	if !on[1].tryLine("a second later") {
		t.Error("no line allowed a second later")
	}
	if on[0].tryLine("and another") {
		t.Error("two lines allowed after one second")
	}

	// Slow mode, set on node 1, holds on node 2 too.
	host := n1.dial(t, "s1", mustToken(t, auth.Host, "host1", ""), nil)
	host.send(`{"type":"slow","seconds":30}`)
	on[0].expect("slow")
	on[1].expect("slow")
	if !on[0].tryLine("slow 1") {
		t.Fatal("the first line in slow mode was refused")
	}
	if on[1].tryLine("slow 2 on the other node") {
		t.Error("slow mode let a second line through on the other node")
	}
	clock.Advance(30 * time.Second)
	if !on[1].tryLine("slow 3") {
		t.Error("no line 30 s later in slow mode")
	}
	// Staff is exempt.
	for i := range 10 {
		if !host.tryLine("host " + strconv.Itoa(i)) {
			t.Fatalf("the host was rate limited at line %d", i)
		}
	}
}

// Room connections are bounded per client address and per node, refused
// before the upgrade with problem+json and Retry-After.
func TestAdmission(t *testing.T) {
	cases := []struct {
		name   string
		cfg    Config
		open   int
		status int
		code   string
	}{
		{"per client", Config{MaxConnsPerClient: 2, MaxConns: 100}, 2, 429, "rate_limited"},
		{"per node", Config{MaxConnsPerClient: 100, MaxConns: 3}, 3, 503, "unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rm := mustRoom(t, nil, tc.cfg)
			var open []*wsc
			for range tc.open {
				open = append(open, rm.dial(t, "s1", "", nil))
			}
			conn, resp, _ := dialRaw(t, rm.url("s1", "", nil), nil, 0)
			if conn != nil {
				conn.Close()
			}
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("connection %d: response %v, want %d", tc.open+1, resp, tc.status)
			}
			if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("Retry-After = %q, want seconds", resp.Header.Get("Retry-After"))
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			body, _ := io.ReadAll(resp.Body)
			var p struct {
				Code   string
				Status int
			}
			if err := json.Unmarshal(body, &p); err != nil || p.Code != tc.code || p.Status != tc.status {
				t.Errorf("body %s: want code %q, status %d", body, tc.code, tc.status)
			}
			// A closed connection frees its slot.
			open[0].conn.Close()
			eventually(t, "a slot freed by a closed connection", func() bool {
				conn, resp, _ := dialRaw(t, rm.url("s1", "", nil), nil, 0)
				if conn != nil {
					conn.Close()
				}
				return resp != nil && resp.StatusCode == http.StatusSwitchingProtocols
			})
		})
	}
}
