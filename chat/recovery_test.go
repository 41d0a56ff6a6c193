package chat

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/livecart/livecart/auth"
)

func TestRecovery(t *testing.T) {
	rm := mustRoom(t, nil, Config{HistorySize: 5})
	host := rm.dial(t, "s1", mustToken(t, auth.Host, "host1", ""), nil)
	viewer := rm.dial(t, "s1", "", nil)
	host.send(`{"type":"chat","text":"seen"}`)
	last := viewer.expect("chat")
	viewer.conn.Close()

	host.send(`{"type":"chat","text":"missed 1"}`)
	host.send(`{"type":"question","text":"missed 2"}`)
	host.expect("question")
	rm.OrderPlaced("s1", "mug", 1, "Ana")
	host.expect("order")
	rm.ProductCard("s1", json.RawMessage(`{"sku":"mug"}`))
	host.expect("product")

	since := func(off float64, epoch string) url.Values {
		return url.Values{"since": {strconv.FormatFloat(off, 'f', 0, 64)}, "epoch": {epoch}}
	}
	back := rm.dial(t, "s1", "", since(last.num("offset"), last.str("epoch")))
	if back.welcome["recovered"] != true {
		t.Fatalf("welcome = %v, want recovered", back.welcome)
	}
	if h, _ := back.welcome["history"].([]any); len(h) != 0 {
		t.Errorf("recovered welcome carries history %v, want [] (the missed messages follow)", h)
	}
	want := []string{"chat", "question", "order", "product"}
	prev := last.num("offset")
	for i, typ := range want {
		m := <-back.msgs
		if m.str("type") != typ || m.num("offset") != prev+1 {
			t.Fatalf("missed message %d = %v, want %s at offset %v", i, m, typ, prev+1)
		}
		prev = m.num("offset")
	}
	// Then live messages, no duplicates.
	host.send(`{"type":"chat","text":"live"}`)
	m := back.expect("chat")
	if m.str("text") != "live" || m.num("offset") != prev+1 {
		t.Errorf("after recovery got %v, want the live line at %v", m, prev+1)
	}

	for name, q := range map[string]url.Values{
		"another epoch":   since(last.num("offset"), "other"),
		"out of window":   since(0, last.str("epoch")),
		"from the future": since(prev+100, last.str("epoch")),
	} {
		t.Run(name, func(t *testing.T) {
			c := rm.dial(t, "s1", "", q)
			if c.welcome["recovered"] != false {
				t.Errorf("recovered = %v, want false", c.welcome["recovered"])
			}
			if h, _ := c.welcome["history"].([]any); len(h) == 0 {
				t.Error("fresh welcome without history")
			}
			if c.welcome.obj("pinned").str("sku") != "mug" {
				t.Errorf("pinned = %v", c.welcome["pinned"])
			}
		})
	}
	// Nothing missed: recovered with nothing to send.
	top := rm.dial(t, "s1", "", since(prev+1, last.str("epoch")))
	if top.welcome["recovered"] != true {
		t.Errorf("up-to-date reconnect: recovered = %v", top.welcome["recovered"])
	}
}

// A viewer that stops reading is dropped with 1013 while the others keep
// receiving everything. The lines are the host's, which a busy room never
// drops, so that every one of them is queued for the slow viewer.
func TestSlowViewerDropped(t *testing.T) {
	rm := mustRoom(t, nil, Config{SendQueue: 16})
	fast := rm.dial(t, "s1", "", nil)
	slow := rm.dialNoRead(t, "s1", "", nil, 4096)
	eventually(t, "both connected", func() bool { return rm.Viewers(t.Context(), "s1") == 2 })

	text := fmt.Sprintf("%0500d", 0)
	sent := 0
	for rmDrops(rm) == 0 {
		if sent > 200000 {
			t.Fatal("the slow viewer was never dropped")
		}
		data := encode(line{Type: typeChat, ID: strconv.Itoa(sent), Text: text})
		if _, err := rm.cfg.Broker.Publish(t.Context(), "s1", Publication{Kind: KindEvent, Key: lineKey(typeChat, strconv.Itoa(sent), auth.RankHost), Data: data}, true, 10); err != nil {
			t.Fatal(err)
		}
		// The fast viewer reads each line, in order, as it comes.
		if m := fast.expect("chat"); m.str("id") != strconv.Itoa(sent) {
			t.Fatalf("fast viewer got line %s, want %d", m.str("id"), sent)
		}
		sent++
	}
	t.Logf("slow viewer dropped after %d lines", sent)
	rm.OrderPlaced("s1", "mug", 1, "after")
	fast.expectWhere("order", func(m msg) bool { return m.str("buyer") == "after" })

	// The slow viewer, reading at last, finds a 1013 close after what was
	// already in flight.
	slow.startReading()
	if code := slow.expectClose(); code != websocket.CloseTryAgainLater {
		t.Fatalf("slow viewer close = %d (%v), want 1013", code, slow.closeErr())
	}
}

// A stalled reader is cut after a bounded backlog, with the default queue:
// the kernel's send buffer is bounded too, so megabytes cannot pile up
// there before the queue even starts to fill. The lines are the host's,
// never dropped by the line budget.
func TestStalledViewerCutAfterBoundedBacklog(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	rm.dialNoRead(t, "s1", "", nil, 4096)
	eventually(t, "connected", func() bool { return rm.Viewers(t.Context(), "s1") == 1 })
	text := fmt.Sprintf("%0500d", 0)
	const limit = 4000 // ~2 MB of lines: far more than queue and buffers hold
	sent := 0
	for rmDrops(rm) == 0 {
		if sent >= limit {
			t.Fatalf("a stalled viewer was not cut after %d lines of 500 characters", sent)
		}
		data := encode(line{Type: typeChat, ID: strconv.Itoa(sent), Text: text})
		if _, err := rm.cfg.Broker.Publish(t.Context(), "s1", Publication{Kind: KindEvent, Key: lineKey(typeChat, strconv.Itoa(sent), auth.RankHost), Data: data}, true, 10); err != nil {
			t.Fatal(err)
		}
		sent++
		if sent%10 == 0 {
			rm.waitTicked(t, "s1") // let the writer drain into the kernel, as time would
		}
	}
	t.Logf("stalled viewer cut after %d lines", sent)
}

func rmDrops(rm *room) int {
	return int(testutilValue(rm.metrics.slowDrops))
}

// A viewer that reads slowly but keeps up with its queue always ends on the
// latest stock, even when older values were skipped.
func TestConflatedStock(t *testing.T) {
	rm := mustRoom(t, nil, Config{SendQueue: 8})
	slow := rm.dialNoRead(t, "s1", "", nil, 4096)
	eventually(t, "connected", func() bool { return rm.Viewers(t.Context(), "s1") == 1 })
	// The viewer reads nothing while thousands of stock values are
	// published (straight to the broker, as another node would): far more
	// than its queue of 8 holds.
	const n = 3000
	for i := 1; i <= n; i++ {
		data := encode(stockMsg{Type: typeStock, SKU: "mug", Stock: i})
		if _, err := rm.cfg.Broker.Publish(t.Context(), "s1", Publication{Kind: KindState, Key: "stock:mug", Data: data}, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	slow.startReading()
	slow.expect("welcome")
	var got []float64
	slow.expectWhere("stock", func(m msg) bool {
		got = append(got, m.num("stock"))
		return m.num("stock") == n
	})
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("stock went back from %v to %v", got[i-1], got[i])
		}
	}
	if rmDrops(rm) != 0 {
		t.Error("a viewer of state only was dropped")
	}
	t.Logf("%d stock updates arrived as %d messages", n, len(got))
}

func TestDeadPeerFoundByPing(t *testing.T) {
	rm := mustRoom(t, nil, Config{PingInterval: 50 * time.Millisecond, PongTimeout: 300 * time.Millisecond})
	alive := rm.dial(t, "s1", "", nil) // its reader answers pings
	rm.dialNoRead(t, "s1", "", nil, 0) // never reads, never answers
	alive.expectWhere("viewers", func(m msg) bool { return m.num("count") == 2 })
	alive.expectWhere("viewers", func(m msg) bool { return m.num("count") == 1 })
}

func TestShutdownClosesWith1001(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	a := rm.dial(t, "s1", "", nil)
	b := rm.dial(t, "s2", mustToken(t, auth.Viewer, "ana", ""), nil)
	if err := rm.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wsc{a, b} {
		if code := c.expectClose(); code != websocket.CloseGoingAway {
			t.Errorf("close = %d, want 1001", code)
		}
	}
	if err := rm.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	_, resp, _ := dialRaw(t, rm.url("s1", "", nil), nil, 0)
	if resp == nil || resp.StatusCode != 503 {
		t.Errorf("dial after Shutdown: %v, want 503", resp)
	}
}
