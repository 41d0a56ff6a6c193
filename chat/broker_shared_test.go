package chat

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// testBroker is the conformance suite every Broker passes. newBroker
// returns a fresh broker on a fresh store each call, or, given a previous
// broker, another node's broker on the same store.
func testBroker(t *testing.T, newBroker func(t *testing.T, same Broker) Broker) {
	t.Run("publish with history assigns offsets in order", func(t *testing.T) {
		b := newBroker(t, nil)
		got := make(chan Publication, 100)
		unsub, err := b.Subscribe(t.Context(), "a", func(p Publication) { got <- p })
		if err != nil {
			t.Fatal(err)
		}
		defer unsub()
		var epoch string
		for i := 1; i <= 5; i++ {
			p, err := b.Publish(t.Context(), "a", Publication{Kind: KindEvent, Key: fmt.Sprintf("chat %d", i), Data: []byte(`{"type":"chat","n":` + fmt.Sprint(i) + `}`)}, true, 3)
			if err != nil {
				t.Fatal(err)
			}
			if p.Offset != uint64(i) || p.Epoch == "" || (epoch != "" && p.Epoch != epoch) {
				t.Fatalf("publish %d: offset %d epoch %q (first %q)", i, p.Offset, p.Epoch, epoch)
			}
			epoch = p.Epoch
			want := fmt.Sprintf(`{"type":"chat","n":%d,"offset":%d,"epoch":"%s"}`, i, i, epoch)
			if string(p.Data) != want {
				t.Fatalf("data = %s, want %s", p.Data, want)
			}
		}
		for i := 1; i <= 5; i++ {
			p := recv(t, got)
			if p.Offset != uint64(i) || p.Key != fmt.Sprintf("chat %d", i) || p.Kind != KindEvent {
				t.Fatalf("delivery %d = %+v", i, p)
			}
		}
		h, err := b.History(t.Context(), "a")
		if err != nil {
			t.Fatal(err)
		}
		if h.Top != 5 || h.Epoch != epoch || len(h.Pubs) != 3 || h.Pubs[0].Offset != 3 || h.Pubs[2].Key != "chat 5" {
			t.Fatalf("history = %+v", h)
		}
	})
	t.Run("ephemeral publications and kinds", func(t *testing.T) {
		b := newBroker(t, nil)
		got := make(chan Publication, 10)
		unsub, _ := b.Subscribe(t.Context(), "a", func(p Publication) { got <- p })
		other := make(chan Publication, 10)
		unsub2, _ := b.Subscribe(t.Context(), "b", func(p Publication) { other <- p })
		defer unsub2()
		for _, p := range []Publication{
			{Kind: KindState, Key: "stock:x y", Data: []byte(`{"type":"stock"}`)},
			{Kind: KindControl, Data: []byte("{\"op\":\"slow\"}")},
		} {
			if _, err := b.Publish(t.Context(), "a", p, false, 0); err != nil {
				t.Fatal(err)
			}
			q := recv(t, got)
			if q.Kind != p.Kind || q.Key != p.Key || string(q.Data) != string(p.Data) || q.Offset != 0 {
				t.Fatalf("got %+v, want %+v", q, p)
			}
		}
		h, _ := b.History(t.Context(), "a")
		if len(h.Pubs) != 0 || h.Top != 0 || h.Epoch == "" {
			t.Errorf("ephemeral publications reached history: %+v", h)
		}
		unsub()
		unsub() // idempotent
		if _, err := b.Publish(t.Context(), "a", Publication{Data: []byte(`{}`)}, false, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(t.Context(), "b", Publication{Data: []byte(`{"to":"b"}`)}, false, 0); err != nil {
			t.Fatal(err)
		}
		recv(t, other)
		select {
		case p := <-got:
			t.Errorf("delivered after unsubscribe: %+v", p)
		default:
		}
	})
	t.Run("two nodes", func(t *testing.T) {
		b1 := newBroker(t, nil)
		b2 := newBroker(t, b1)
		got := make(chan Publication, 10)
		unsub, _ := b2.Subscribe(t.Context(), "a", func(p Publication) { got <- p })
		defer unsub()
		if _, err := b1.Publish(t.Context(), "a", Publication{Data: []byte(`{"x":1}`)}, true, 10); err != nil {
			t.Fatal(err)
		}
		if p := recv(t, got); p.Offset != 1 {
			t.Errorf("other node got %+v", p)
		}
		if err := b1.SetState(t.Context(), "a", "mute:ana", []byte("123")); err != nil {
			t.Fatal(err)
		}
		st, err := b2.States(t.Context(), "a")
		if err != nil || string(st["mute:ana"]) != "123" {
			t.Errorf("states on node 2 = %v, %v", st, err)
		}
		if err := b1.SetPresence(t.Context(), "a", "n1", 3, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := b2.SetPresence(t.Context(), "a", "n2", 4, time.Minute); err != nil {
			t.Fatal(err)
		}
		if n, err := b1.Presence(t.Context(), "a"); n != 7 || err != nil {
			t.Errorf("presence = %d, %v; want 7", n, err)
		}
		_ = b2.SetPresence(t.Context(), "a", "n2", 0, time.Minute)
		if n, _ := b1.Presence(t.Context(), "a"); n != 3 {
			t.Errorf("presence after n2 left = %d, want 3", n)
		}
		_ = b2.SetPresence(t.Context(), "a", "n2", 4, time.Millisecond)
		eventually(t, "expired presence stops counting", func() bool {
			n, _ := b1.Presence(t.Context(), "a")
			return n == 3
		})
	})
	t.Run("take state once", func(t *testing.T) {
		b := newBroker(t, nil)
		_ = b.SetState(t.Context(), "a", "held:1", []byte("line"))
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for range 8 {
			wg.Go(func() {
				v, err := b.TakeState(t.Context(), "a", "held:1")
				if err != nil {
					t.Error(err)
				}
				if string(v) == "line" {
					mu.Lock()
					won++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if won != 1 {
			t.Errorf("%d takers got the value, want 1", won)
		}
		if v, err := b.TakeState(t.Context(), "a", "absent"); v != nil || err != nil {
			t.Errorf("absent = %q, %v", v, err)
		}
	})
	t.Run("allow is one token bucket for every node", func(t *testing.T) {
		b1 := newBroker(t, nil)
		b2 := newBroker(t, b1)
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		lim := Limit{Every: time.Second, Burst: 3}
		allow := func(b Broker, stream, key string, lim Limit, at time.Time) bool {
			t.Helper()
			ok, err := b.Allow(t.Context(), stream, key, lim, at)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		steps := []struct {
			name string
			b    Broker
			key  string
			lim  Limit
			at   time.Duration
			want bool
		}{
			{"burst 1 on node 1", b1, "ana", lim, 0, true},
			{"burst 2 on node 2", b2, "ana", lim, 0, true},
			{"burst 3 on node 1", b1, "ana", lim, 0, true},
			{"empty on node 2", b2, "ana", lim, 0, false},
			{"empty on node 1", b1, "ana", lim, 999 * time.Millisecond, false},
			{"another key is full", b2, "bob", lim, 0, true},
			{"another limit is another bucket", b1, "ana", Limit{Every: 30 * time.Second, Burst: 1}, 0, true},
			{"which empties", b2, "ana", Limit{Every: 30 * time.Second, Burst: 1}, time.Second, false},
			{"one token a second", b2, "ana", lim, time.Second, true},
			{"and no more", b1, "ana", lim, time.Second, false},
			{"refilled to the burst, no more", b1, "ana", lim, time.Hour, true},
			{"refilled 2", b2, "ana", lim, time.Hour, true},
			{"refilled 3", b1, "ana", lim, time.Hour, true},
			{"refilled 4", b2, "ana", lim, time.Hour, false},
		}
		for _, s := range steps {
			if got := allow(s.b, "a", s.key, s.lim, t0.Add(s.at)); got != s.want {
				t.Fatalf("%s: Allow = %v, want %v", s.name, got, s.want)
			}
		}
		if !allow(b2, "other", "ana", lim, t0) {
			t.Error("another stream's bucket is not full")
		}
		if _, err := b1.Allow(t.Context(), "a", "ana", Limit{}, t0); err == nil {
			t.Error("a zero limit is accepted")
		}
	})
	t.Run("publish rejects a non-object with history", func(t *testing.T) {
		b := newBroker(t, nil)
		if _, err := b.Publish(t.Context(), "a", Publication{Data: []byte(`"x"`)}, true, 10); err == nil {
			t.Error("no error")
		}
	})
	t.Run("closed", func(t *testing.T) {
		b := newBroker(t, nil)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := b.Publish(t.Context(), "a", Publication{Data: []byte(`{}`)}, true, 1); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("publish after close: %v", err)
		}
	})
}

func recv(t *testing.T, ch <-chan Publication) Publication {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(wait):
		t.Fatal("no publication delivered")
		return Publication{}
	}
}

func TestMemoryBroker(t *testing.T) {
	testBroker(t, func(t *testing.T, same Broker) Broker {
		if same != nil {
			return same // one process: the same broker is every hub's
		}
		b := NewMemoryBroker()
		t.Cleanup(func() { b.Close() })
		return b
	})
}
