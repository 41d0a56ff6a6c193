package main

import (
	"bytes"
	"strconv"
	"sync"
	"testing"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/redistest"
)

// TestE2ETwoNodes is two livecart processes sharing one Redis: what is
// created, said or bought on one is seen on the other.
func TestE2ETwoNodes(t *testing.T) {
	rs := redistest.Start(t)
	a := MustServe(t, nil, "--redis", rs.URL())
	b := MustServe(t, nil, "--redis", rs.URL())
	host := a.e2eToken(t, "host-n", "Nia", auth.Host)
	ana := a.e2eToken(t, "v-ana", "Ana", auth.Viewer)
	bob := b.e2eToken(t, "v-bob", "Bob", auth.Viewer)

	// Created on A, visible on B.
	e2eShow(t, a.URL, host, "nodes",
		e2eProduct{SKU: "kite", Name: "Kite", PriceCents: 3900, Currency: "EUR", Stock: 5},
		e2eProduct{SKU: "yoyo", Name: "Yo-yo", PriceCents: 900, Currency: "EUR", Stock: 9})
	s := e2eGetStream(t, b.URL, "nodes")
	if s.ID != "nodes" || s.Host != "host-n" || len(s.Lineup) != 2 {
		t.Errorf("the stream on B = %+v, want A's stream with its two products", s)
	}
	if got := e2eStock(t, b.URL, "kite"); got != 5 {
		t.Errorf("kite stock on B = %d, want 5", got)
	}
	var list struct {
		Items []e2eStream `json:"items"`
	}
	e2eMust(t, 200, "GET", b.URL+"/api/streams", "", nil, &list)
	if len(list.Items) != 1 || list.Items[0].ID != "nodes" {
		t.Errorf("GET /api/streams on B = %+v, want the stream made on A", list.Items)
	}

	roomA, _ := e2eJoin(t, a.URL, "nodes", ana)
	roomB, _ := e2eJoin(t, b.URL, "nodes", bob)

	t.Run("viewers sum across nodes", func(t *testing.T) {
		roomA.wait(t, 0, "viewers", func(m e2eMsg) bool { return m.num("count") == 2 })
		roomB.wait(t, 0, "viewers", func(m e2eMsg) bool { return m.num("count") == 2 })
		extra, _ := e2eJoin(t, b.URL, "nodes", "")
		roomA.wait(t, 0, "viewers", func(m e2eMsg) bool { return m.num("count") == 3 })
		mark := roomA.mark()
		extra.close()
		roomA.wait(t, mark, "viewers", func(m e2eMsg) bool { return m.num("count") == 2 })
	})

	t.Run("chat crosses nodes", func(t *testing.T) {
		mark := roomB.mark()
		roomA.send(t, map[string]any{"type": "chat", "text": "hi from node A"})
		m := roomB.wait(t, mark, "chat", func(m e2eMsg) bool { return m.str("text") == "hi from node A" })
		if u := m.obj("user"); u["sub"] != "v-ana" || u["name"] != "Ana" {
			t.Errorf("chat on B = %s, want Ana's line", m.Raw)
		}
		mark = roomA.mark()
		roomB.send(t, map[string]any{"type": "question", "text": "from B?"})
		roomA.wait(t, mark, "question", func(m e2eMsg) bool { return m.str("text") == "from B?" })
	})

	t.Run("pin on A reaches B", func(t *testing.T) {
		mark := roomB.mark()
		e2eMust(t, 200, "POST", a.URL+"/api/streams/nodes/pin", host, map[string]any{"sku": "yoyo", "price_cents": 700}, nil)
		m := roomB.wait(t, mark, "product", func(m e2eMsg) bool { return m.obj("card") != nil })
		if c := m.obj("card"); c["sku"] != "yoyo" || c["price_cents"] != 700.0 {
			t.Errorf("card on B = %v, want the yo-yo at 700", c)
		}
	})

	t.Run("buyers on both nodes race", func(t *testing.T) {
		e2eMust(t, 201, "PUT", a.URL+"/api/products/last", host, e2eProduct{Name: "Last ones", PriceCents: 100, Currency: "EUR", Stock: 4}, nil)
		e2eMust(t, 200, "PUT", a.URL+"/api/streams/nodes/lineup", host, map[string]any{"skus": []string{"kite", "yoyo", "last"}}, nil)
		const buyers = 12
		codes := make([]int, buyers)
		var wg sync.WaitGroup
		for i := range buyers {
			node := []*testServer{a, b}[i%2]
			tok := node.e2eToken(t, "racer-"+strconv.Itoa(i), "Racer", auth.Viewer)
			wg.Go(func() { codes[i] = e2eRaceBuy(t, node.URL, tok, "nodes", "last", "race").Status })
		}
		wg.Wait()
		e2eHTTP.CloseIdleConnections() // see TestE2EShop
		won := 0
		for _, c := range codes {
			if c == 201 {
				won++
			} else if c != 409 {
				t.Errorf("a losing buyer got %d, want 409", c)
			}
		}
		if won != 4 {
			t.Errorf("%d buyers on two nodes racing for 4 units made %d orders (%v), want 4", buyers, won, codes)
		}
		for _, n := range []*testServer{a, b} {
			if got := e2eStock(t, n.URL, "last"); got != 0 {
				t.Errorf("stock after the race = %d, want 0", got)
			}
		}
	})

	t.Run("a buy on B is told on A", func(t *testing.T) {
		mark := roomA.mark()
		r := e2eBuy(t, b.URL, bob, "nodes", "kite", 2, "tap-b")
		if r.Status != 201 {
			t.Fatalf("buy on B = %s", r)
		}
		var o e2eOrder
		r.JSON(t, &o)
		roomA.wait(t, mark, "stock", func(m e2eMsg) bool { return m.str("sku") == "kite" && m.num("stock") == 3 })
		roomA.wait(t, mark, "order", func(m e2eMsg) bool { return m.str("sku") == "kite" && m.num("qty") == 2 && m.str("buyer") == "Bob" })
		if got := e2eStock(t, a.URL, "kite"); got != 3 {
			t.Errorf("kite stock on A = %d, want 3", got)
		}
		// The same tap replayed through A is the same order, placed once.
		again := e2eBuy(t, a.URL, bob, "nodes", "kite", 2, "tap-b")
		if again.Status != 201 || !bytes.Equal(again.Body, r.Body) {
			t.Errorf("replay on A = %s, want the first answer %s", again, r.Body)
		}
		if got := e2eStock(t, b.URL, "kite"); got != 3 {
			t.Errorf("kite stock after the replay = %d, want 3", got)
		}
		// The order is readable and cancellable on either node.
		e2eMust(t, 200, "GET", a.URL+"/api/orders/"+o.ID, host, nil, nil)
		mark = roomB.mark()
		e2eMust(t, 200, "POST", a.URL+"/api/orders/"+o.ID+"/cancel", bob, nil, nil)
		roomB.wait(t, mark, "stock", func(m e2eMsg) bool { return m.str("sku") == "kite" && m.num("stock") == 5 })

		// Fulfilment sees each event once.
		entries, err := rs.Client().XRange(t.Context(), "livecart:orders", "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		events := map[string]int{}
		for _, e := range entries {
			if e.Values["order_id"] == o.ID {
				ev, _ := e.Values["event"].(string)
				events[ev]++
				if e.Values["stream"] != "nodes" || e.Values["order"] == nil {
					t.Errorf("livecart:orders entry = %v, want stream and order", e.Values)
				}
			}
		}
		if events["placed"] != 1 || events["cancelled"] != 1 || len(events) != 2 {
			t.Errorf("livecart:orders events for the order = %v, want placed once and cancelled once", events)
		}
	})
}

// TestE2ERedisDown is a Redis that goes away while livecart serves: buys
// are refused as unavailable without taking stock, and work again when it
// is back, without restarting livecart.
func TestE2ERedisDown(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{AppendOnly: true})
	ts := MustServe(t, nil, "--redis", rs.URL())
	host := ts.e2eToken(t, "host-d", "Dee", auth.Host)
	buyer := ts.e2eToken(t, "v-d", "Dan", auth.Viewer)
	e2eShow(t, ts.URL, host, "down", e2eProduct{SKU: "tent", Name: "Tent", PriceCents: 19900, Currency: "EUR", Stock: 5})

	rs.Stop()
	for i := range 3 {
		r := e2eBuy(t, ts.URL, buyer, "down", "tent", 1, "down-"+strconv.Itoa(i))
		e2eProblem(t, "buy while redis is down", r, 503, "unavailable")
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After: %v", r.Header)
		}
	}
	r := e2eCall(t, "PUT", ts.URL+"/api/cart/items/tent", buyer, map[string]any{"stream": "down", "qty": 1})
	e2eProblem(t, "cart while redis is down", r, 503, "unavailable")

	rs.StartAgain()
	e2eUntil(t, "the product answers again", func() bool {
		return e2eCall(t, "GET", ts.URL+"/api/products/tent", "", nil).Status == 200
	})
	if got := e2eStock(t, ts.URL, "tent"); got != 5 {
		t.Errorf("stock after refused buys = %d, want 5 (nothing taken)", got)
	}
	var orders struct {
		Items []e2eOrder `json:"items"`
	}
	e2eMust(t, 200, "GET", ts.URL+"/api/orders", buyer, nil, &orders)
	if len(orders.Items) != 0 {
		t.Errorf("orders after refused buys = %+v, want none", orders.Items)
	}
	// The same tap, retried, now orders once.
	var placed e2eResp
	e2eUntil(t, "a buy succeeds again", func() bool {
		placed = e2eBuy(t, ts.URL, buyer, "down", "tent", 1, "down-0")
		return placed.Status == 201
	})
	e2eCheckOrder(t, placed.Body)
	if got := e2eStock(t, ts.URL, "tent"); got != 4 {
		t.Errorf("stock after one buy = %d, want 4", got)
	}
	room, _ := e2eJoin(t, ts.URL, "down", "")
	mark := room.mark()
	if r := e2eBuy(t, ts.URL, buyer, "down", "tent", 2, "down-after"); r.Status != 201 {
		t.Fatalf("another buy = %s", r)
	}
	room.wait(t, mark, "stock", func(m e2eMsg) bool { return m.str("sku") == "tent" && m.num("stock") == 2 })
}
