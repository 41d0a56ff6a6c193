package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
)

// TestE2EShop is the shop of one show through the real server: a host sets
// it up, pins with a live price, viewers in the room see cards, stock and
// the order ticker while others buy, cancel, and fill and check out carts.
func TestE2EShop(t *testing.T) {
	ts := MustServe(t, nil)
	base := ts.URL
	host := ts.e2eToken(t, "host-1", "Mia", auth.Host)

	t.Run("journey", func(t *testing.T) {
		// The host creates the stream: 201, Location, the stream itself.
		r := e2eMust(t, 201, "POST", base+"/api/streams", host, map[string]any{"id": "spring", "title": "Spring drop"}, nil)
		if loc := r.Header.Get("Location"); loc != "/api/streams/spring" {
			t.Errorf("POST /api/streams Location = %q, want /api/streams/spring", loc)
		}
		var created e2eStream
		r.JSON(t, &created)
		if created.ID != "spring" || created.Title != "Spring drop" || created.Host != "host-1" || created.Status != "offline" {
			t.Errorf("created stream = %+v, want id spring, title, host host-1, offline", created)
		}
		for _, p := range []e2eProduct{
			{SKU: "tee", Name: "Sunset tee", PriceCents: 2900, Currency: "EUR", Stock: 10, ImageURL: "https://img.example/tee.png"},
			{SKU: "mug", Name: "Lagoon mug", PriceCents: 1800, Currency: "EUR", Stock: 3},
		} {
			sku := p.SKU
			p.SKU = "" // the sku is the path's
			r := e2eCall(t, "PUT", base+"/api/products/"+sku, host, p)
			if r.Status != 201 {
				t.Fatalf("PUT /api/products/%s = %s, want 201 (created)", sku, r)
			}
		}
		e2eMust(t, 200, "PUT", base+"/api/streams/spring/lineup", host, map[string]any{"skus": []string{"tee", "mug"}}, nil)

		viewer := ts.e2eToken(t, "v-ana", "Ana", auth.Viewer)
		room, welcome := e2eJoin(t, base, "spring", "")
		if welcome.M["pinned"] != nil {
			t.Errorf("welcome pinned = %v, want null before any pin", welcome.M["pinned"])
		}
		if s := welcome.obj("stream"); s["id"] != "spring" || s["status"] != "offline" {
			t.Errorf("welcome stream = %v, want the stream as GET answers it", s)
		}

		// The host pins over HTTP with a live price until ends_at.
		endsAt := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		mark := room.mark()
		var card map[string]any
		e2eMust(t, 200, "POST", base+"/api/streams/spring/pin", host,
			map[string]any{"sku": "tee", "price_cents": 1500, "ends_at": endsAt.Format(time.RFC3339)}, &card)
		wantCard := []string{"currency", "ends_at", "image_url", "name", "price_cents", "sku", "stock"}
		if got := e2eKeys(card); !slices.Equal(got, wantCard) {
			t.Errorf("pin answer fields = %v, want %v", got, wantCard)
		}
		msg := room.wait(t, mark, "product", func(m e2eMsg) bool { return m.obj("card") != nil })
		c := msg.obj("card")
		if got := e2eKeys(c); !slices.Equal(got, wantCard) {
			t.Errorf("product card fields = %v, want %v", got, wantCard)
		}
		if c["sku"] != "tee" || c["price_cents"] != 1500.0 || c["currency"] != "EUR" || c["stock"] != 10.0 || c["name"] != "Sunset tee" {
			t.Errorf("product card = %v, want tee at the live price 1500 EUR, stock 10", c)
		}
		if s, _ := c["ends_at"].(string); s == "" {
			t.Errorf("card ends_at = %v, want %s", c["ends_at"], endsAt.Format(time.RFC3339))
		} else if got, err := time.Parse(time.RFC3339, s); err != nil || !got.Equal(endsAt) {
			t.Errorf("card ends_at = %q, want %s", s, endsAt.Format(time.RFC3339))
		}

		// A viewer buys: the order at the live price, and the room hears stock
		// and the ticker with the buyer's display name only.
		mark = room.mark()
		r = e2eBuy(t, base, viewer, "spring", "tee", 2, "tap-1")
		if r.Status != 201 {
			t.Fatalf("buy = %s, want 201", r)
		}
		e2eCheckOrder(t, r.Body)
		var order e2eOrder
		r.JSON(t, &order)
		if loc := r.Header.Get("Location"); loc != "/api/orders/"+order.ID {
			t.Errorf("buy Location = %q, want /api/orders/%s", loc, order.ID)
		}
		if order.User != "v-ana" || order.Stream != "spring" || order.Status != "placed" || order.Currency != "EUR" ||
			order.TotalCents != 3000 || len(order.Items) != 1 || order.Items[0].SKU != "tee" || order.Items[0].Qty != 2 ||
			order.Items[0].UnitPriceCents != 1500 || order.Items[0].Name != "Sunset tee" {
			t.Errorf("order = %+v, want 2 × tee at 1500 EUR by v-ana on spring, placed", order)
		}
		room.wait(t, mark, "stock", func(m e2eMsg) bool { return m.str("sku") == "tee" && m.num("stock") == 8 })
		tick := room.wait(t, mark, "order", func(m e2eMsg) bool { return m.str("sku") == "tee" })
		if tick.num("qty") != 2 || tick.str("buyer") != "Ana" {
			t.Errorf("order ticker = %s, want qty 2, buyer Ana", tick.Raw)
		}
		for _, k := range e2eKeys(tick.M) {
			if !slices.Contains([]string{"type", "sku", "qty", "buyer", "offset", "epoch"}, k) {
				t.Errorf("order ticker has field %q: %s", k, tick.Raw)
			}
		}
		if bytes.Contains(tick.Raw, []byte("v-ana")) {
			t.Errorf("order ticker carries the buyer's sub: %s", tick.Raw)
		}

		// GET stream: pinned and the lineup with live stock.
		s := e2eGetStream(t, base, "spring")
		var pinned map[string]any
		_ = json.Unmarshal(s.Pinned, &pinned)
		if pinned["sku"] != "tee" || pinned["price_cents"] != 1500.0 || pinned["stock"] != 8.0 {
			t.Errorf("GET stream pinned = %s, want tee at 1500 with stock 8", s.Pinned)
		}
		stock := map[string]int{}
		for _, p := range s.Lineup {
			stock[p.SKU] = p.Stock
		}
		if len(s.Lineup) != 2 || stock["tee"] != 8 || stock["mug"] != 3 {
			t.Errorf("GET stream lineup = %+v, want tee 8 and mug 3", s.Lineup)
		}

		// The order, to its buyer and the host, not to another viewer.
		e2eMust(t, 200, "GET", base+"/api/orders/"+order.ID, viewer, nil, nil)
		e2eMust(t, 200, "GET", base+"/api/orders/"+order.ID, host, nil, nil)
		other := ts.e2eToken(t, "v-bob", "Bob", auth.Viewer)
		e2eProblem(t, "GET another's order", e2eCall(t, "GET", base+"/api/orders/"+order.ID, other, nil), 403, "forbidden")
		var mine struct {
			Items []e2eOrder `json:"items"`
			Next  *string    `json:"next"`
		}
		e2eMust(t, 200, "GET", base+"/api/orders", viewer, nil, &mine)
		if len(mine.Items) != 1 || mine.Items[0].ID != order.ID {
			t.Errorf("GET /api/orders = %+v, want the one order", mine)
		}

		// The stream's orders: host and its moderator, nobody else.
		mod := ts.e2eToken(t, "mod-1", "Mo", auth.Moderator, "spring")
		for _, tok := range []string{host, mod} {
			var list struct {
				Items []e2eOrder `json:"items"`
				Next  *string    `json:"next"`
			}
			r := e2eMust(t, 200, "GET", base+"/api/streams/spring/orders", tok, nil, &list)
			if len(list.Items) != 1 || list.Items[0].ID != order.ID || list.Next != nil {
				t.Errorf("stream orders = %s, want the one order and next null", r.Body)
			}
		}
		otherMod := ts.e2eToken(t, "mod-2", "Mx", auth.Moderator, "elsewhere")
		otherHost := ts.e2eToken(t, "host-2", "Hx", auth.Host)
		e2eProblem(t, "stream orders by a viewer", e2eCall(t, "GET", base+"/api/streams/spring/orders", viewer, nil), 403, "forbidden")
		e2eProblem(t, "stream orders by another stream's moderator", e2eCall(t, "GET", base+"/api/streams/spring/orders", otherMod, nil), 403, "forbidden")
		e2eProblem(t, "stream orders by another host", e2eCall(t, "GET", base+"/api/streams/spring/orders", otherHost, nil), 403, "forbidden")
		e2eProblem(t, "stream orders anonymous", e2eCall(t, "GET", base+"/api/streams/spring/orders", "", nil), 401, "unauthorized")

		// Cancelling gives the stock back and tells the room.
		mark = room.mark()
		var cancelled e2eOrder
		e2eMust(t, 200, "POST", base+"/api/orders/"+order.ID+"/cancel", viewer, nil, &cancelled)
		if cancelled.ID != order.ID || cancelled.Status != "cancelled" {
			t.Errorf("cancel = %+v, want the order, cancelled", cancelled)
		}
		room.wait(t, mark, "stock", func(m e2eMsg) bool { return m.str("sku") == "tee" && m.num("stock") == 10 })
		if got := e2eStock(t, base, "tee"); got != 10 {
			t.Errorf("stock after cancel = %d, want 10", got)
		}
		e2eProblem(t, "cancel twice", e2eCall(t, "POST", base+"/api/orders/"+order.ID+"/cancel", viewer, nil), 409, "conflict")

		// Unpinning tells the room with a null card.
		mark = room.mark()
		if r := e2eCall(t, "DELETE", base+"/api/streams/spring/pin", host, nil); r.Status != 204 {
			t.Errorf("DELETE pin = %s, want 204", r)
		}
		room.wait(t, mark, "product", func(m e2eMsg) bool { v, ok := m.M["card"]; return ok && v == nil })
		if s := e2eGetStream(t, base, "spring"); string(s.Pinned) != "null" {
			t.Errorf("GET stream pinned after unpin = %s, want null", s.Pinned)
		}
	})

	t.Run("idempotency", func(t *testing.T) {
		e2eShow(t, base, host, "idem", e2eProduct{SKU: "cap", Name: "Night cap", PriceCents: 2400, Currency: "EUR", Stock: 5})
		buyer := ts.e2eToken(t, "v-idem", "Ida", auth.Viewer)

		first := e2eBuy(t, base, buyer, "idem", "cap", 1, "k-1")
		if first.Status != 201 {
			t.Fatalf("buy = %s, want 201", first)
		}
		// The same body, written differently but equal as JSON: the first answer again.
		again := e2eCall(t, "POST", base+"/api/streams/idem/buy", buyer, "{ \"qty\": 1,\n \"sku\": \"cap\" }", "Idempotency-Key", "k-1")
		if again.Status != 201 || !bytes.Equal(again.Body, first.Body) {
			t.Errorf("replay = %s, want 201 and the first body %s", again, first.Body)
		}
		if got := e2eStock(t, base, "cap"); got != 4 {
			t.Errorf("stock after a buy and its replay = %d, want 4", got)
		}
		e2eProblem(t, "same key, another body", e2eBuy(t, base, buyer, "idem", "cap", 2, "k-1"), 422, "idempotency_mismatch")
		e2eProblem(t, "no Idempotency-Key", e2eCall(t, "POST", base+"/api/streams/idem/buy", buyer, map[string]any{"sku": "cap", "qty": 1}), 400, "bad_request")
		if got := e2eStock(t, base, "cap"); got != 4 {
			t.Errorf("stock after refused buys = %d, want 4", got)
		}
		// Keys are per user: another buyer's k-1 is a new order.
		other := ts.e2eToken(t, "v-idem-2", "Olga", auth.Viewer)
		r := e2eBuy(t, base, other, "idem", "cap", 1, "k-1")
		if r.Status != 201 {
			t.Fatalf("another user's k-1 = %s, want 201", r)
		}
		var a, b e2eOrder
		first.JSON(t, &a)
		r.JSON(t, &b)
		if a.ID == b.ID || b.User != "v-idem-2" {
			t.Errorf("another user's k-1 gave order %+v, want a new order of v-idem-2", b)
		}
		var mine struct {
			Items []e2eOrder `json:"items"`
		}
		e2eMust(t, 200, "GET", base+"/api/orders", buyer, nil, &mine)
		if len(mine.Items) != 1 {
			t.Errorf("the first buyer has %d orders, want 1", len(mine.Items))
		}
	})

	t.Run("refusals", func(t *testing.T) {
		e2eShow(t, base, host, "refuse", e2eProduct{SKU: "lamp", Name: "Lamp", PriceCents: 5000, Currency: "EUR", Stock: 2})
		e2eMust(t, 201, "PUT", base+"/api/products/vase", host, e2eProduct{Name: "Vase", PriceCents: 900, Currency: "EUR", Stock: 7}, nil)
		buyer := ts.e2eToken(t, "v-ref", "Rita", auth.Viewer)
		viewer := ts.e2eToken(t, "v-ref-2", "Rob", auth.Viewer)
		room, _ := e2eJoin(t, base, "refuse", "")
		mark := room.mark()

		e2eProblem(t, "buy a product not in the lineup", e2eBuy(t, base, buyer, "refuse", "vase", 1, "r-1"), 422, "not_in_lineup")
		e2eProblem(t, "buy more than the stock", e2eBuy(t, base, buyer, "refuse", "lamp", 3, "r-2"), 409, "out_of_stock")
		e2eProblem(t, "pin a product not in the lineup", e2eCall(t, "POST", base+"/api/streams/refuse/pin", host, map[string]any{"sku": "vase"}), 422, "not_in_lineup")
		e2eProblem(t, "buy on an unknown stream", e2eBuy(t, base, buyer, "nope", "lamp", 1, "r-3"), 404, "not_found")
		e2eProblem(t, "buy with a token for another stream", e2eBuy(t, base, ts.e2eToken(t, "v-ref-3", "Sam", auth.Viewer, "elsewhere"), "refuse", "lamp", 1, "r-11"), 403, "forbidden")
		e2eProblem(t, "cart on an unknown stream", e2eCall(t, "PUT", base+"/api/cart/items/lamp", buyer, map[string]any{"stream": "nope", "qty": 1}), 404, "not_found")
		e2eProblem(t, "pin on an unknown stream", e2eCall(t, "POST", base+"/api/streams/nope/pin", host, map[string]any{"sku": "lamp"}), 404, "not_found")
		e2eProblem(t, "buy without a token", e2eBuy(t, base, "", "refuse", "lamp", 1, "r-4"), 401, "unauthorized")
		e2eProblem(t, "buy with a bad token", e2eBuy(t, base, "not-a-token", "refuse", "lamp", 1, "r-5"), 401, "unauthorized")
		e2eProblem(t, "buy qty 0", e2eBuy(t, base, buyer, "refuse", "lamp", 0, "r-6"), 400, "bad_request")
		e2eProblem(t, "buy with malformed JSON", e2eCall(t, "POST", base+"/api/streams/refuse/buy", buyer, "{", "Idempotency-Key", "r-7"), 400, "bad_request")
		e2eProblem(t, "buy with an unknown field", e2eCall(t, "POST", base+"/api/streams/refuse/buy", buyer, `{"sku":"lamp","qty":1,"price_cents":1}`, "Idempotency-Key", "r-8"), 400, "bad_request")
		e2eProblem(t, "a viewer creates a stream", e2eCall(t, "POST", base+"/api/streams", viewer, map[string]any{"title": "mine"}), 403, "forbidden")
		e2eProblem(t, "a viewer puts a product", e2eCall(t, "PUT", base+"/api/products/x", viewer, e2eProduct{Name: "X", PriceCents: 1, Currency: "EUR", Stock: 1}), 403, "forbidden")
		e2eProblem(t, "a viewer pins", e2eCall(t, "POST", base+"/api/streams/refuse/pin", viewer, map[string]any{"sku": "lamp"}), 403, "forbidden")
		e2eProblem(t, "a viewer sets the lineup", e2eCall(t, "PUT", base+"/api/streams/refuse/lineup", viewer, map[string]any{"skus": []string{"lamp"}}), 403, "forbidden")
		e2eProblem(t, "another host sets the lineup", e2eCall(t, "PUT", base+"/api/streams/refuse/lineup", ts.e2eToken(t, "host-x", "", auth.Host), map[string]any{"skus": []string{"lamp"}}), 403, "forbidden")
		e2eProblem(t, "a taken stream id", e2eCall(t, "POST", base+"/api/streams", host, map[string]any{"id": "refuse", "title": "again"}), 409, "conflict")
		e2eProblem(t, "an unknown stream", e2eCall(t, "GET", base+"/api/streams/nope", "", nil), 404, "not_found")
		e2eProblem(t, "an unknown product", e2eCall(t, "GET", base+"/api/products/nope", "", nil), 404, "not_found")
		e2eProblem(t, "an unknown order", e2eCall(t, "GET", base+"/api/orders/0190a0b0-0000-7000-8000-000000000000", buyer, nil), 404, "not_found")
		e2eProblem(t, "cancel an unknown order", e2eCall(t, "POST", base+"/api/orders/0190a0b0-0000-7000-8000-000000000000/cancel", buyer, nil), 404, "not_found")
		e2eProblem(t, "an unknown endpoint", e2eCall(t, "GET", base+"/api/nothing", "", nil), 404, "not_found")
		e2eProblem(t, "the cart without a token", e2eCall(t, "GET", base+"/api/cart", "", nil), 401, "unauthorized")

		// Nothing was half-done: stock as it was, no orders, nothing told.
		if got := e2eStock(t, base, "lamp"); got != 2 {
			t.Errorf("lamp stock after refusals = %d, want 2", got)
		}
		if got := e2eStock(t, base, "vase"); got != 7 {
			t.Errorf("vase stock after refusals = %d, want 7", got)
		}
		var list struct {
			Items []e2eOrder `json:"items"`
		}
		e2eMust(t, 200, "GET", base+"/api/streams/refuse/orders", host, nil, &list)
		if len(list.Items) != 0 {
			t.Errorf("stream orders after refusals = %+v, want none", list.Items)
		}

		// Selling out: exactly the stock is sold, then out_of_stock.
		r := e2eBuy(t, base, buyer, "refuse", "lamp", 2, "r-9")
		if r.Status != 201 {
			t.Fatalf("buying the last two = %s", r)
		}
		room.wait(t, mark, "stock", func(m e2eMsg) bool { return m.str("sku") == "lamp" && m.num("stock") == 0 })
		e2eProblem(t, "buy when sold out", e2eBuy(t, base, viewer, "refuse", "lamp", 1, "r-10"), 409, "out_of_stock")
		for _, m := range room.since(mark) {
			if m.Type == "order" && m.num("qty") != 2 {
				t.Errorf("the room heard of an order that was refused: %s", m.Raw)
			}
		}
	})

	t.Run("buyers race for the last units", func(t *testing.T) {
		e2eShow(t, base, host, "race", e2eProduct{SKU: "drop", Name: "Limited drop", PriceCents: 10000, Currency: "EUR", Stock: 5})
		const buyers = 16
		codes := make([]int, buyers)
		var wg sync.WaitGroup
		for i := range buyers {
			tok := ts.e2eToken(t, "racer-"+strconv.Itoa(i), "Racer", auth.Viewer)
			wg.Go(func() {
				r := e2eRaceBuy(t, base, tok, "race", "drop", "race")
				codes[i] = r.Status
				if r.Status != 201 {
					e2eProblem(t, "a losing buyer", r, 409, "out_of_stock")
				}
			})
		}
		wg.Wait()
		// Connections the racing client opened but did not use would hold
		// the server's shutdown for net/http's 5 s grace of new connections.
		e2eHTTP.CloseIdleConnections()
		won := 0
		for _, c := range codes {
			if c == 201 {
				won++
			}
		}
		if won != 5 {
			t.Errorf("%d buyers racing for 5 units made %d orders (codes %v), want 5", buyers, won, codes)
		}
		if got := e2eStock(t, base, "drop"); got != 0 {
			t.Errorf("stock after the race = %d, want 0", got)
		}
		var list struct {
			Items []e2eOrder `json:"items"`
		}
		e2eMust(t, 200, "GET", base+"/api/streams/race/orders", host, nil, &list)
		if len(list.Items) != 5 {
			t.Errorf("the stream has %d orders, want 5", len(list.Items))
		}
		for i := 1; i < len(list.Items); i++ {
			newer, err1 := time.Parse(time.RFC3339, list.Items[i-1].CreatedAt)
			older, err2 := time.Parse(time.RFC3339, list.Items[i].CreatedAt)
			if err1 != nil || err2 != nil || older.After(newer) {
				t.Errorf("stream orders not newest first: %s before %s", list.Items[i-1].CreatedAt, list.Items[i].CreatedAt)
			}
		}
	})

	t.Run("cart", func(t *testing.T) {
		e2eShow(t, base, host, "carts",
			e2eProduct{SKU: "sock", Name: "Socks", PriceCents: 700, Currency: "EUR", Stock: 10},
			e2eProduct{SKU: "belt", Name: "Belt", PriceCents: 3500, Currency: "EUR", Stock: 4})
		buyer := ts.e2eToken(t, "v-cart", "Cleo", auth.Viewer)
		room, _ := e2eJoin(t, base, "carts", "")
		mark := room.mark()

		type cartT struct {
			Items []struct {
				Stream         string `json:"stream"`
				SKU            string `json:"sku"`
				Qty            int    `json:"qty"`
				UnitPriceCents int64  `json:"unit_price_cents"`
				HeldUntil      string `json:"held_until"`
			} `json:"items"`
			TotalCents int64   `json:"total_cents"`
			Currency   *string `json:"currency"`
		}
		var c cartT
		e2eMust(t, 200, "GET", base+"/api/cart", buyer, nil, &c)
		if len(c.Items) != 0 || c.TotalCents != 0 {
			t.Errorf("an empty cart = %+v", c)
		}
		e2eMust(t, 200, "PUT", base+"/api/cart/items/sock", buyer, map[string]any{"stream": "carts", "qty": 3}, nil)
		e2eMust(t, 200, "PUT", base+"/api/cart/items/belt", buyer, map[string]any{"stream": "carts", "qty": 1}, &c)
		if len(c.Items) != 2 || c.TotalCents != 3*700+3500 || c.Currency == nil || *c.Currency != "EUR" {
			t.Errorf("cart = %+v, want 3 socks and a belt, 5600 EUR", c)
		}
		for _, it := range c.Items {
			held, err := time.Parse(time.RFC3339, it.HeldUntil)
			if err != nil || !held.After(time.Now()) || it.Stream != "carts" {
				t.Errorf("cart line %+v: want stream carts and held_until in the future", it)
			}
		}
		// Held units are not in stock, and the room hears it.
		room.wait(t, mark, "stock", func(m e2eMsg) bool { return m.str("sku") == "sock" && m.num("stock") == 7 })
		room.wait(t, mark, "stock", func(m e2eMsg) bool { return m.str("sku") == "belt" && m.num("stock") == 3 })
		if got := e2eStock(t, base, "sock"); got != 7 {
			t.Errorf("sock stock with 3 held = %d, want 7", got)
		}
		var c2 cartT
		e2eMust(t, 200, "GET", base+"/api/cart", buyer, nil, &c2)
		if len(c2.Items) != 2 || c2.TotalCents != 5600 {
			t.Errorf("GET cart = %+v, want the two lines, 5600", c2)
		}
		// Setting 0 removes a line and gives its units back.
		e2eMust(t, 200, "PUT", base+"/api/cart/items/belt", buyer, map[string]any{"stream": "carts", "qty": 0}, &c2)
		if len(c2.Items) != 1 || e2eStock(t, base, "belt") != 4 {
			t.Errorf("after removing the belt: cart %+v, belt stock %d; want one line and 4", c2, e2eStock(t, base, "belt"))
		}

		e2eProblem(t, "checkout without Idempotency-Key", e2eCall(t, "POST", base+"/api/cart/checkout", buyer, "{}"), 400, "bad_request")
		mark = room.mark()
		r := e2eCall(t, "POST", base+"/api/cart/checkout", buyer, "{}", "Idempotency-Key", "co-1")
		if r.Status != 201 {
			t.Fatalf("checkout = %s, want 201", r)
		}
		e2eCheckOrder(t, r.Body)
		var o e2eOrder
		r.JSON(t, &o)
		if o.User != "v-cart" || o.Stream != "carts" || o.TotalCents != 2100 || len(o.Items) != 1 || o.Items[0].Qty != 3 || o.Status != "placed" {
			t.Errorf("checkout order = %+v, want 3 socks, 2100", o)
		}
		room.wait(t, mark, "order", func(m e2eMsg) bool { return m.str("sku") == "sock" && m.num("qty") == 3 && m.str("buyer") == "Cleo" })
		replay := e2eCall(t, "POST", base+"/api/cart/checkout", buyer, "{}", "Idempotency-Key", "co-1")
		if replay.Status != 201 || !bytes.Equal(replay.Body, r.Body) {
			t.Errorf("checkout replay = %s, want the first answer %s", replay, r.Body)
		}
		e2eMust(t, 200, "GET", base+"/api/cart", buyer, nil, &c2)
		if len(c2.Items) != 0 {
			t.Errorf("cart after checkout = %+v, want empty", c2)
		}
		if got := e2eStock(t, base, "sock"); got != 7 {
			t.Errorf("sock stock after checkout = %d, want 7", got)
		}
		e2eProblem(t, "checkout an empty cart", e2eCall(t, "POST", base+"/api/cart/checkout", buyer, "{}", "Idempotency-Key", "co-2"), 409, "conflict")
		e2eProblem(t, "cart more than the stock", e2eCall(t, "PUT", base+"/api/cart/items/belt", buyer, map[string]any{"stream": "carts", "qty": 5}), 409, "out_of_stock")
		e2eProblem(t, "cart a product not in the lineup", e2eCall(t, "PUT", base+"/api/cart/items/vase", buyer, map[string]any{"stream": "carts", "qty": 1}), 422, "not_in_lineup")
		if got := e2eStock(t, base, "belt"); got != 4 {
			t.Errorf("belt stock after refused cart changes = %d, want 4", got)
		}
	})
}

// TestE2EGuests is guest sign-in: on with --guests, a token that can buy;
// off without it.
func TestE2EGuests(t *testing.T) {
	t.Run("on", func(t *testing.T) {
		ts := MustServe(t, nil, "--guests")
		host := ts.e2eToken(t, "host-g", "Gina", auth.Host)
		e2eShow(t, ts.URL, host, "guests", e2eProduct{SKU: "pin-1", Name: "Enamel pin", PriceCents: 500, Currency: "USD", Stock: 3})

		var g struct {
			Token string `json:"token"`
			Sub   string `json:"sub"`
			Name  string `json:"name"`
		}
		r := e2eMust(t, 201, "POST", ts.URL+"/api/guest", "", map[string]any{"name": "  Ana  "}, &g)
		if g.Token == "" || g.Sub == "" || g.Name != "Ana" {
			t.Fatalf("guest = %s, want a token, a sub and the trimmed name", r.Body)
		}
		var g2 struct {
			Sub string `json:"sub"`
		}
		e2eMust(t, 201, "POST", ts.URL+"/api/guest", "", map[string]any{"name": "Ana"}, &g2)
		if g2.Sub == g.Sub {
			t.Errorf("two guests got the same sub %q, want a fresh one each", g.Sub)
		}

		room, welcome := e2eJoin(t, ts.URL, "guests", g.Token)
		if you := welcome.obj("you"); you["sub"] != g.Sub || you["name"] != "Ana" || you["role"] != "viewer" {
			t.Errorf("welcome you = %v, want the guest as a viewer", you)
		}
		mark := room.mark()
		r = e2eBuy(t, ts.URL, g.Token, "guests", "pin-1", 1, "g-1")
		if r.Status != 201 {
			t.Fatalf("a guest buys = %s, want 201", r)
		}
		var o e2eOrder
		r.JSON(t, &o)
		if o.User != g.Sub {
			t.Errorf("the guest's order user = %q, want %q", o.User, g.Sub)
		}
		room.wait(t, mark, "order", func(m e2eMsg) bool { return m.str("buyer") == "Ana" })

		for _, tc := range []struct {
			name string
			body string
		}{
			{"empty", `{"name":""}`},
			{"blank", `{"name":"   "}`},
			{"missing", `{}`},
			{"too long", `{"name":"` + strings.Repeat("n", 41) + `"}`},
			{"control character", `{"name":"A\u0007na"}`},
			{"not JSON", `name=Ana`},
		} {
			e2eProblem(t, "guest name "+tc.name, e2eCall(t, "POST", ts.URL+"/api/guest", "", tc.body), 400, "bad_request")
		}
		e2eMust(t, 201, "POST", ts.URL+"/api/guest", "", map[string]any{"name": strings.Repeat("ñ", 40)}, nil)
	})

	t.Run("off", func(t *testing.T) {
		ts := MustServe(t, nil)
		e2eProblem(t, "POST /api/guest without --guests", e2eCall(t, "POST", ts.URL+"/api/guest", "", map[string]any{"name": "Ana"}), 403, "forbidden")
	})
}

// TestE2ECORS is the HTTP side of --allowed-origins.
func TestE2ECORS(t *testing.T) {
	const shop = "https://shop.example"
	ts := MustServe(t, nil, "--allowed-origins", shop)

	r := e2eCall(t, "OPTIONS", ts.URL+"/api/streams/x/whep", "", nil,
		"Origin", shop, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	if r.Status/100 != 2 {
		t.Errorf("preflight from %s = %s, want 2xx", shop, r)
	}
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != shop {
		t.Errorf("preflight Access-Control-Allow-Origin = %q, want %q", got, shop)
	}
	if !strings.Contains(strings.ToLower(r.Header.Get("Access-Control-Allow-Methods")), "post") {
		t.Errorf("preflight Access-Control-Allow-Methods = %q, want POST in it", r.Header.Get("Access-Control-Allow-Methods"))
	}
	// The answer itself exposes Location (WHIP/WHEP, orders) to the script.
	host := ts.e2eToken(t, "host-c", "", auth.Host)
	r = e2eCall(t, "POST", ts.URL+"/api/streams", host, map[string]any{"id": "cors", "title": "CORS"}, "Origin", shop)
	if r.Status != 201 || r.Header.Get("Access-Control-Allow-Origin") != shop {
		t.Errorf("POST from %s = %s, Access-Control-Allow-Origin %q; want 201 and the origin", shop, r, r.Header.Get("Access-Control-Allow-Origin"))
	}
	exposed := strings.ToLower(r.Header.Get("Access-Control-Expose-Headers"))
	if !strings.Contains(exposed, "location") {
		t.Errorf("Access-Control-Expose-Headers = %q, want Location in it", r.Header.Get("Access-Control-Expose-Headers"))
	}

	// WHEP is open to every origin (contract section 4); the rest of the
	// API is not.
	r = e2eCall(t, "OPTIONS", ts.URL+"/api/streams", "", nil,
		"Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	e2eProblem(t, "preflight from a disallowed origin", r, 403, "forbidden")
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("disallowed preflight Access-Control-Allow-Origin = %q, want none", got)
	}
	r = e2eCall(t, "GET", ts.URL+"/api/streams", "", nil, "Origin", "https://evil.example")
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("GET from a disallowed origin: Access-Control-Allow-Origin = %q, want none", got)
	}
}

// TestE2EHolds is a cart hold that lapses: its units go back on sale by
// themselves, and checkout takes them again.
func TestE2EHolds(t *testing.T) {
	ts := MustServe(t, nil, "--hold", "1s")
	host := ts.e2eToken(t, "host-h", "Hal", auth.Host)
	buyer := ts.e2eToken(t, "v-h", "Hana", auth.Viewer)
	e2eShow(t, ts.URL, host, "holds", e2eProduct{SKU: "vase", Name: "Vase", PriceCents: 1200, Currency: "EUR", Stock: 4})
	room, _ := e2eJoin(t, ts.URL, "holds", "")
	mark := room.mark()
	e2eMust(t, 200, "PUT", ts.URL+"/api/cart/items/vase", buyer, map[string]any{"stream": "holds", "qty": 3}, nil)
	room.wait(t, mark, "stock", func(m e2eMsg) bool { return m.str("sku") == "vase" && m.num("stock") == 1 })
	// Nobody touches the cart: the hold lapses and the room hears the stock come back.
	room.wait(t, mark, "stock", func(m e2eMsg) bool { return m.str("sku") == "vase" && m.num("stock") == 4 })
	if got := e2eStock(t, ts.URL, "vase"); got != 4 {
		t.Errorf("stock after the hold lapsed = %d, want 4", got)
	}
	var c struct {
		Items []struct {
			Qty       int    `json:"qty"`
			HeldUntil string `json:"held_until"`
		} `json:"items"`
	}
	e2eMust(t, 200, "GET", ts.URL+"/api/cart", buyer, nil, &c)
	if len(c.Items) != 1 || c.Items[0].Qty != 3 {
		t.Fatalf("cart after the hold lapsed = %+v, want the line kept", c)
	}
	if held, err := time.Parse(time.RFC3339, c.Items[0].HeldUntil); err != nil || held.After(time.Now()) {
		t.Errorf("held_until after the lapse = %q, want a time in the past", c.Items[0].HeldUntil)
	}
	r := e2eCall(t, "POST", ts.URL+"/api/cart/checkout", buyer, "{}", "Idempotency-Key", "h-1")
	if r.Status != 201 {
		t.Fatalf("checkout after the lapse = %s, want 201", r)
	}
	if got := e2eStock(t, ts.URL, "vase"); got != 1 {
		t.Errorf("stock after checkout = %d, want 1", got)
	}
}
