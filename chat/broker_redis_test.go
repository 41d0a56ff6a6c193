package chat

import (
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/redistest"
)

func TestRedisBroker(t *testing.T) {
	srv := redistest.Start(t)
	var mu sync.Mutex
	n := 0
	testBroker(t, func(t *testing.T, same Broker) Broker {
		mu.Lock()
		defer mu.Unlock()
		var prefix string
		if same != nil {
			prefix = same.(*RedisBroker).prefix
		} else {
			n++
			prefix = "t" + itoa(n) + ":"
		}
		b := NewRedisBroker(srv.Client(), RedisOptions{Prefix: prefix})
		t.Cleanup(func() { b.Close() })
		return b
	})
}

func mustRedisBroker(t *testing.T, rdb *redis.Client) *RedisBroker {
	b := NewRedisBroker(rdb, RedisOptions{})
	t.Cleanup(func() { b.Close() })
	return b
}

// Two nodes (two Rooms, each with its own broker) on one Redis are one room.
func TestTwoNodesOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	n1 := mustRoom(t, mustRedisBroker(t, srv.Client()), Config{})
	n2 := mustRoom(t, mustRedisBroker(t, srv.Client()), Config{})
	n2.clock = n1.clock // one clock for both nodes
	ana := n1.dial(t, "s1", mustToken(t, auth.Viewer, "ana", ""), nil)
	bob := n2.dial(t, "s1", mustToken(t, auth.Viewer, "bob", ""), nil)
	host := n2.dial(t, "s1", mustToken(t, auth.Host, "host1", ""), nil)

	ana.send(`{"type":"chat","text":"from node 1"}`)
	line := bob.expectWhere("chat", func(m msg) bool { return m.str("text") == "from node 1" })

	host.send(map[string]any{"type": "delete", "id": line.str("id")})
	if got := ana.expect("deleted").str("id"); got != line.str("id") {
		t.Errorf("deleted on node 1 = %q", got)
	}
	host.send(`{"type":"mute","sub":"ana","seconds":300}`)
	ana.expect("muted")
	ana.send(`{"type":"chat","text":"muted?"}`)
	ana.expectError(codeMuted)
	// A new connection on node 1 learns the mute from Redis, too.
	ana2 := n1.dial(t, "s1", mustToken(t, auth.Viewer, "ana", ""), nil)
	ana2.expect("muted")

	n1.StockChanged("s1", "mug", 7)
	if s := bob.expect("stock"); s.num("stock") != 7 {
		t.Errorf("stock on node 2 = %v", s)
	}
	// ana twice and bob; the host is staff, not a viewer.
	bob.expectWhere("viewers", func(m msg) bool { return m.num("count") == 3 })
	if got := n1.Viewers(t.Context(), "s1"); got != 3 {
		t.Errorf("Viewers on node 1 = %d, want 3", got)
	}
}

// The room survives Redis going away and coming back.
func TestRoomSurvivesRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	rm := mustRoom(t, mustRedisBroker(t, srv.Client()), Config{})
	host := rm.dial(t, "s1", mustToken(t, auth.Host, "host1", ""), nil)
	viewer := rm.dial(t, "s1", "", nil)
	host.send(`{"type":"chat","text":"before"}`)
	viewer.expect("chat")

	srv.Kill()
	host.send(`{"type":"chat","text":"while down"}`)
	host.expectError(codeUnavailable)
	rm.StockChanged("s1", "mug", 1) // dropped, logged; nothing crashes
	srv.StartAgain()

	// Pub/sub reconnects in the background; post until a line comes through.
	eventually(t, "a line through the restarted Redis", func() bool {
		host.send(`{"type":"chat","text":"after"}`)
		for {
			select {
			case m := <-viewer.msgs:
				if m.str("type") == "chat" && m.str("text") == "after" {
					return true
				}
			default:
				return false
			}
		}
	})
	// A new viewer joins; its welcome has the new epoch (history was lost).
	late := rm.dial(t, "s1", "", nil)
	if late.welcome.str("epoch") == "" {
		t.Error("no epoch after restart")
	}
}
