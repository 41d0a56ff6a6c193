package chat

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/redistest"
)

// twoNodes starts two Rooms ("nodes") that share one store and one clock.
type twoNodes func(t *testing.T, cfg Config) (n1, n2 *room)

// forEachBroker runs f with two nodes on a memory broker (one process) and
// on Redis (a broker each, one real redis-server).
func forEachBroker(t *testing.T, f func(t *testing.T, nodes twoNodes)) {
	t.Run("memory", func(t *testing.T) {
		f(t, func(t *testing.T, cfg Config) (*room, *room) {
			b := NewMemoryBroker()
			t.Cleanup(func() { b.Close() })
			return startNodes(t, b, b, cfg)
		})
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		var n atomic.Int64
		f(t, func(t *testing.T, cfg Config) (*room, *room) {
			prefix := "h" + strconv.FormatInt(n.Add(1), 10) + ":"
			b1 := NewRedisBroker(srv.Client(), RedisOptions{Prefix: prefix})
			b2 := NewRedisBroker(srv.Client(), RedisOptions{Prefix: prefix})
			t.Cleanup(func() { b1.Close(); b2.Close() })
			return startNodes(t, b1, b2, cfg)
		})
	})
}

func startNodes(t *testing.T, b1, b2 Broker, cfg Config) (*room, *room) {
	clock := newFakeClock()
	cfg.Now = clock.Now
	n1 := mustRoom(t, b1, cfg)
	n2 := mustRoom(t, b2, cfg)
	n1.clock, n2.clock = clock, clock
	return n1, n2
}

// sync waits until every command c sent before has been handled: c's
// connection handles its lines in order, and an unknown id is answered.
func (c *wsc) sync() {
	c.tb.Helper()
	c.send(`{"type":"delete","id":"sync-point"}`)
	c.expectWhere("error", func(m msg) bool { return m.str("code") == codeNotFound })
}

// postLine posts text and returns the line when it comes back, or the
// first error, muted or banned answer instead.
func (c *wsc) postLine(text string) (line, refusal msg) {
	c.tb.Helper()
	c.send(map[string]any{"type": "chat", "text": text})
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		select {
		case m := <-c.msgs:
			switch m.str("type") {
			case "chat":
				if m.str("text") == text {
					return m, nil
				}
			case "error", "muted", "banned":
				return nil, m
			}
		case <-deadline.C:
			c.tb.Fatalf("posting %q: no answer within %v", text, wait)
			return nil, nil
		}
	}
}

// expectOwnLine posts text and waits for it to come back; a muted, banned or
// forbidden answer fails the test.
func (c *wsc) expectOwnLine(text string) msg {
	c.tb.Helper()
	line, refusal := c.postLine(text)
	if refusal != nil {
		c.tb.Fatalf("posting %q: got %v, want the line", text, refusal)
	}
	return line
}

// Moderators act on viewers only, hosts on viewers and moderators, admins
// on anyone; across nodes too.
func TestRoomHierarchy(t *testing.T) {
	forEachBroker(t, func(t *testing.T, nodes twoNodes) {
		var (
			hostTok  = mustToken(t, auth.Host, "host1", "")
			modTok   = mustToken(t, auth.Moderator, "mo", "s1")
			adminTok = mustToken(t, auth.Admin, "boss", "")
			anaTok   = mustToken(t, auth.Viewer, "ana", "")
		)
		t.Run("moderator mutes host: forbidden, host still posts", func(t *testing.T) {
			n1, n2 := nodes(t, Config{})
			host := n1.dial(t, "s1", hostTok, nil)
			mo := n2.dial(t, "s1", modTok, nil)
			mo.send(`{"type":"mute","sub":"host1","seconds":300}`)
			mo.expectError(codeForbidden)
			mo.send(`{"type":"ban","sub":"host1"}`)
			mo.expectError(codeForbidden)
			host.expectOwnLine("still on air")
			// A new connection of the host is not told it is muted either.
			again := n2.dial(t, "s1", hostTok, nil)
			again.expectOwnLine("and again")
		})
		t.Run("moderator bans admin: forbidden", func(t *testing.T) {
			n1, n2 := nodes(t, Config{})
			boss := n1.dial(t, "s1", adminTok, nil)
			mo := n2.dial(t, "s1", modTok, nil)
			mo.send(`{"type":"ban","sub":"boss"}`)
			mo.expectError(codeForbidden)
			mo.send(`{"type":"unban","sub":"boss"}`)
			mo.expectError(codeForbidden)
			boss.expectOwnLine("I am still here")
		})
		t.Run("host mutes moderator: allowed", func(t *testing.T) {
			n1, n2 := nodes(t, Config{})
			mo := n2.dial(t, "s1", modTok, nil)
			host := n1.dial(t, "s1", hostTok, nil)
			host.send(`{"type":"mute","sub":"mo","seconds":60}`)
			mo.expect("muted")
			mo.send(`{"type":"chat","text":"hello?"}`)
			mo.expectError(codeMuted)
			// A moderator may not lift it on itself, nor mute the host back.
			mo.send(`{"type":"mute","sub":"mo","seconds":0}`)
			mo.expectError(codeForbidden)
		})
		t.Run("moderator lifts or shortens host's mute of a viewer: forbidden", func(t *testing.T) {
			n1, n2 := nodes(t, Config{})
			ana := n1.dial(t, "s1", anaTok, nil)
			host := n1.dial(t, "s1", hostTok, nil)
			mo := n2.dial(t, "s1", modTok, nil)
			host.send(`{"type":"mute","sub":"ana","seconds":600}`)
			ana.expect("muted")
			mo.sync() // the mute has reached the moderator's node
			mo.send(`{"type":"mute","sub":"ana","seconds":0}`)
			mo.expectError(codeForbidden)
			mo.send(`{"type":"mute","sub":"ana","seconds":1}`)
			mo.expectError(codeForbidden)
			host.send(`{"type":"ban","sub":"ana"}`)
			ana.expect("banned")
			mo.sync()
			mo.send(`{"type":"unban","sub":"ana"}`)
			mo.expectError(codeForbidden)
			ana.send(`{"type":"chat","text":"let me out"}`)
			ana.expectError(codeBanned)
			// The host lifts its own.
			host.send(`{"type":"unban","sub":"ana"}`)
			host.send(`{"type":"mute","sub":"ana","seconds":0}`)
			ana.expect("banned") // lifted: until now
			ana.expect("muted")
			ana.expectOwnLine("thanks")
		})
		t.Run("moderator deletes host's line: forbidden", func(t *testing.T) {
			n1, n2 := nodes(t, Config{})
			host := n1.dial(t, "s1", hostTok, nil)
			ana := n1.dial(t, "s1", anaTok, nil)
			mo := n2.dial(t, "s1", modTok, nil)
			hostLine := host.expectOwnLine("welcome to the show")
			mo.send(map[string]any{"type": "delete", "id": hostLine.str("id")})
			mo.expectError(codeForbidden)
			// The moderator's own line and a viewer's line it may delete.
			own := mo.expectOwnLine("moderator here")
			viewerLine := ana.expectOwnLine("hi")
			for _, id := range []string{own.str("id"), viewerLine.str("id")} {
				mo.send(map[string]any{"type": "delete", "id": id})
				mo.expectWhere("deleted", func(m msg) bool { return m.str("id") == id })
			}
			late := n2.dial(t, "s1", "", nil)
			if h, _ := late.welcome["history"].([]any); len(h) != 1 || msg(h[0].(map[string]any)).str("id") != hostLine.str("id") {
				t.Errorf("history = %v, want the host's line only", late.welcome["history"])
			}
			// The host may delete it.
			host.send(map[string]any{"type": "delete", "id": hostLine.str("id")})
			ana.expectWhere("deleted", func(m msg) bool { return m.str("id") == hostLine.str("id") })
		})
		t.Run("admin mutes host: allowed", func(t *testing.T) {
			n1, n2 := nodes(t, Config{})
			host := n1.dial(t, "s1", hostTok, nil)
			boss := n2.dial(t, "s1", adminTok, nil)
			boss.send(`{"type":"mute","sub":"host1","seconds":60}`)
			host.expect("muted")
			host.send(`{"type":"chat","text":"hm"}`)
			host.expectError(codeMuted)
		})
		t.Run("a moderator's mute does not block an admin who joins later", func(t *testing.T) {
			n1, n2 := nodes(t, Config{})
			ana := n1.dial(t, "s1", anaTok, nil)
			mo := n2.dial(t, "s1", modTok, nil)
			// boss has never joined: the mute is accepted, as for any viewer.
			mo.send(`{"type":"mute","sub":"boss","seconds":300}`)
			mo.send(`{"type":"ban","sub":"boss","seconds":300}`)
			mo.sync()
			// ana's mute reaches node 1 after boss's (one channel, in order).
			mo.send(`{"type":"mute","sub":"ana","seconds":300}`)
			ana.expect("muted")
			boss := n1.dial(t, "s1", adminTok, nil)
			boss.expectOwnLine("the admin speaks")
			// A viewer of the same sub would be silenced by it.
			asViewer := n1.dial(t, "s1", mustToken(t, auth.Viewer, "boss", ""), nil)
			asViewer.expect("banned")
			asViewer.send(`{"type":"chat","text":"x"}`)
			asViewer.expectError(codeBanned)
		})
	})
}
