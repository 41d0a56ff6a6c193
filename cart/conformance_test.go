package cart

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// testShop is the conformance suite every Store runs: the contract's rules
// for each endpoint, through the HTTP routes, over a fresh store per test.
func testShop(t *testing.T, newStore newStoreFunc) {
	tests := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"Products", testProducts},
		{"Lineup", testLineup},
		{"PinAndLivePrice", testPin},
		{"Buy", testBuy},
		{"Idempotency", testIdempotency},
		{"ConcurrentDuplicates", testConcurrentDuplicates},
		{"Cart", testCart},
		{"HoldExpires", testHoldExpires},
		{"CheckoutAllOrNothing", testCheckoutAllOrNothing},
		{"Checkout", testCheckout},
		{"Cancel", testCancel},
		{"OrderAccess", testOrderAccess},
		{"Tenancy", testTenancy},
		{"ProductPrecondition", testProductPrecondition},
		{"Scopes", testScopes},
		{"OrderLists", testOrderLists},
		{"Race500For50", testRace},
		{"Variants", testVariants},
		{"VariantsBadInput", testVariantsBadInput},
		{"Limits", testLimits},
		{"Coupons", testCoupons},
		{"Waitlist", testWaitlist},
		{"Funnel", testFunnel},
		{"Storms", testStorms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, mustHarness(t, newStore)) })
	}
}

func testProducts(t *testing.T, h *harness) {
	host, viewer := h.token(auth.Host, "host1"), h.token(auth.Viewer, "v1")
	body := map[string]any{"name": "Red scarf", "price_cents": 1999, "currency": "EUR", "stock": 5, "image_url": "https://img.example/s.jpg"}
	h.want(h.do("PUT", "/api/products/scarf-1", "", body), 401, api.Unauthorized)
	h.want(h.do("PUT", "/api/products/scarf-1", viewer, body), 403, api.Forbidden)
	r := h.do("PUT", "/api/products/scarf-1", host, body)
	h.want(r, 201, "")
	var p Product
	r.decode(t, &p)
	if want := (Product{SKU: "scarf-1", Name: "Red scarf", PriceCents: 1999, Currency: "EUR", Stock: 5, ImageURL: "https://img.example/s.jpg"}); !reflect.DeepEqual(p, want) {
		t.Fatalf("created %+v, want %+v", p, want)
	}
	body["stock"] = 7
	h.want(h.do("PUT", "/api/products/scarf-1", h.token(auth.Admin, "root"), body), 200, "")
	r = h.do("GET", "/api/products/scarf-1", "", nil)
	h.want(r, 200, "")
	r.decode(t, &p)
	if p.Stock != 7 {
		t.Fatalf("stock after replace = %d, want 7", p.Stock)
	}
	h.want(h.do("GET", "/api/products/nope", "", nil), 404, api.NotFound)
	h.want(h.do("GET", "/api/products/bad%20sku", "", nil), 400, api.BadRequest)

	bad := []struct {
		name string
		sku  string
		body any
	}{
		{"currency lower case", "x", map[string]any{"name": "n", "price_cents": 1, "currency": "eur", "stock": 1}},
		{"currency too long", "x", map[string]any{"name": "n", "price_cents": 1, "currency": "EURO", "stock": 1}},
		{"negative price", "x", map[string]any{"name": "n", "price_cents": -1, "currency": "EUR", "stock": 1}},
		{"fractional price", "x", `{"name":"n","price_cents":1.5,"currency":"EUR","stock":1}`},
		{"negative stock", "x", map[string]any{"name": "n", "price_cents": 1, "currency": "EUR", "stock": -1}},
		{"no name", "x", map[string]any{"price_cents": 1, "currency": "EUR", "stock": 1}},
		{"unknown field", "x", map[string]any{"name": "n", "price_cents": 1, "currency": "EUR", "stock": 1, "color": "red"}},
		{"bad sku", "-x", map[string]any{"name": "n", "price_cents": 1, "currency": "EUR", "stock": 1}},
		{"bad image url", "x", map[string]any{"name": "n", "price_cents": 1, "currency": "EUR", "stock": 1, "image_url": "javascript:alert(1)"}},
		{"protocol-relative image url", "x", map[string]any{"name": "n", "price_cents": 1, "currency": "EUR", "stock": 1, "image_url": "//evil.example/x.png"}},
		{"relative image path", "x", map[string]any{"name": "n", "price_cents": 1, "currency": "EUR", "stock": 1, "image_url": "img/x.png"}},
		// Keys are case-sensitive and appear once: "Stock" is not "stock".
		{"key in another case", "x", `{"name":"n","price_cents":1,"currency":"EUR","stock":5,"Stock":999999}`},
		{"duplicate key", "x", `{"name":"n","price_cents":1,"currency":"EUR","stock":5,"stock":999999}`},
		{"invalid UTF-8", "x", "{\"name\":\"n\xff\",\"price_cents\":1,\"currency\":\"EUR\",\"stock\":1}"},
		{"lone surrogate", "x", `{"name":"n\ud800","price_cents":1,"currency":"EUR","stock":1}`},
		{"control character in name", "x", `{"name":"n\u0007","price_cents":1,"currency":"EUR","stock":1}`},
		{"bidi override in name", "x", map[string]any{"name": "gift\u202Etxt.exe", "price_cents": 1, "currency": "EUR", "stock": 1}},
		{"control character in description", "x", map[string]any{"name": "n", "price_cents": 1, "currency": "EUR", "stock": 1, "description": "a\u0000b"}},
		{"not JSON", "x", `this is not json {{{`},
	}
	for _, b := range bad {
		if r := h.do("PUT", "/api/products/"+b.sku, host, b.body); r.status != 400 || r.code() != api.BadRequest {
			t.Errorf("%s: got %d %s, want 400 bad_request", b.name, r.status, r.body)
		}
	}
	big := map[string]any{"name": "n", "price_cents": 1, "currency": "EUR", "stock": 1, "description": strings.Repeat("x", 20<<10)}
	if r := h.do("PUT", "/api/products/x", host, big); r.status != 413 {
		t.Errorf("oversized body: got %d, want 413", r.status)
	}
}

func testLineup(t *testing.T, h *harness) {
	h.mustProduct("a", 100, "EUR", 3)
	h.mustProduct("b", 200, "EUR", 3)
	put := func(tok, stream string, skus ...string) response {
		return h.do("PUT", "/api/streams/"+stream+"/lineup", tok, map[string]any{"skus": skus})
	}
	h.want(put("", "live1", "a"), 401, api.Unauthorized)
	h.want(put(h.token(auth.Host, "host2"), "live1", "a"), 403, api.Forbidden)
	h.want(put(h.token(auth.Moderator, "m", "live1"), "live1", "a"), 403, api.Forbidden)
	h.want(put(h.token(auth.Host, "host1"), "missing", "a"), 404, api.NotFound)
	h.want(put(h.token(auth.Host, "host1"), "live1", "a", "zzz"), 404, api.NotFound)
	h.want(put(h.token(auth.Host, "host1"), "live1", "a", "a"), 400, api.BadRequest)
	h.want(put(h.token(auth.Host, "host1"), "live1", "b", "a"), 200, "")
	h.want(put(h.token(auth.Admin, "root"), "live2", "a"), 200, "")
	_, lineup, err := h.shop.Showcase(t.Context(), "live1")
	if err != nil {
		t.Fatal(err)
	}
	if len(lineup) != 2 || lineup[0].SKU != "b" || lineup[1].SKU != "a" || lineup[1].Stock != 3 {
		t.Fatalf("lineup %+v, want b then a with stock", lineup)
	}
	// A product can be bought only where it is in the lineup.
	v := h.token(auth.Viewer, "v1")
	h.want(h.buy(v, "live2", "b", 1, "k1"), 422, api.NotInLineup)
	h.want(h.buy(v, "live2", "a", 1, "k2"), 201, "")
	// Stock events go to every stream whose lineup has the sku.
	stock, _, _ := h.events.snapshot()
	if !slices.Contains(stock, "live1 a 2") || !slices.Contains(stock, "live2 a 2") {
		t.Fatalf("stock events %q, want a's new stock in live1 and live2", stock)
	}
}

func testPin(t *testing.T, h *harness) {
	h.mustProduct("a", 1000, "EUR", 5)
	h.mustProduct("b", 500, "EUR", 5)
	h.mustLineup("live1", "a")
	mod := h.token(auth.Moderator, "m1", "live1")
	ends := h.clock.Now().Add(time.Minute)
	pin := map[string]any{"sku": "a", "price_cents": 700, "ends_at": ends}
	h.want(h.do("POST", "/api/streams/live1/pin", h.token(auth.Viewer, "v"), pin), 403, api.Forbidden)
	h.want(h.do("POST", "/api/streams/live1/pin", h.token(auth.Moderator, "m2", "live2"), pin), 403, api.Forbidden)
	h.want(h.do("POST", "/api/streams/live1/pin", mod, map[string]any{"sku": "b"}), 422, api.NotInLineup)
	h.want(h.do("POST", "/api/streams/live1/pin", mod, map[string]any{"sku": "a", "ends_at": h.clock.Now().Add(-time.Second)}), 400, api.BadRequest)
	r := h.do("POST", "/api/streams/live1/pin", mod, pin)
	h.want(r, 200, "")
	var raw map[string]any
	r.decode(t, &raw)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"currency", "ends_at", "image_url", "name", "price_cents", "sku", "stock"}; !slices.Equal(keys, want) {
		t.Fatalf("card fields %q, want %q", keys, want)
	}
	if raw["price_cents"] != 700.0 || raw["stock"] != 5.0 {
		t.Fatalf("card %v, want live price 700 and stock 5", raw)
	}
	card, _, err := h.shop.Showcase(t.Context(), "live1")
	if err != nil || card == nil || card.PriceCents != 700 || card.EndsAt == nil || !card.EndsAt.Equal(ends) {
		t.Fatalf("showcase card %+v, %v; want a at 700 until %v", card, err, ends)
	}
	if _, _, cards := h.events.snapshot(); len(cards) != 1 || cards[0].SKU != "a" {
		t.Fatalf("card events %v, want one for a", cards)
	}
	// The price in effect is the server's at the moment of the order.
	v := h.token(auth.Viewer, "v1")
	if o := h.order(h.buy(v, "live1", "a", 2, "k1")); o.Items[0].UnitPriceCents != 700 || o.TotalCents != 1400 {
		t.Fatalf("order during live price: %+v, want 700 each", o)
	}
	h.clock.Add(time.Minute)
	if o := h.order(h.buy(v, "live1", "a", 1, "k2")); o.Items[0].UnitPriceCents != 1000 {
		t.Fatalf("order after ends_at: %+v, want the catalog price 1000", o)
	}
	// The room's pin message: same checks, empty sku unpins.
	if err := h.shop.Pin(t.Context(), &auth.Principal{Sub: "v", Role: auth.Viewer}, "live1", ""); api.CodeOf(err) != api.Forbidden {
		t.Fatalf("viewer unpin: %v, want forbidden", err)
	}
	h.want(h.do("DELETE", "/api/streams/live1/pin", h.token(auth.Host, "host1"), nil), 204, "")
	if card, _, _ := h.shop.Showcase(t.Context(), "live1"); card != nil {
		t.Fatalf("card after unpin %+v, want none", card)
	}
	if _, _, cards := h.events.snapshot(); len(cards) != 2 || cards[1] != nil {
		t.Fatalf("card events %v, want a then nil", cards)
	}
	if err := h.shop.Pin(t.Context(), &auth.Principal{Sub: "host1", Role: auth.Host}, "live1", "a"); err != nil {
		t.Fatalf("room pin by host: %v", err)
	}
	// A product leaving the lineup is unpinned.
	h.mustLineup("live1", "b")
	if card, _, _ := h.shop.Showcase(t.Context(), "live1"); card != nil {
		t.Fatalf("card after its product left the lineup %+v, want none", card)
	}
}

func testBuy(t *testing.T, h *harness) {
	h.mustProduct("a", 1250, "EUR", 3)
	h.mustLineup("live1", "a")
	v := h.token(auth.Viewer, "v1")
	h.want(h.buy("", "live1", "a", 1, "k"), 401, api.Unauthorized)
	h.want(h.do("POST", "/api/streams/live1/buy", v, BuyBody{SKU: "a", Qty: 1}), 400, api.BadRequest)
	h.want(h.buy(v, "live1", "a", 0, "k"), 400, api.BadRequest)
	h.want(h.buy(v, "live1", "a", 100, "k"), 400, api.BadRequest)
	h.want(h.buy(v, "live1", "nope", 1, "k"), 422, api.NotInLineup)
	h.want(h.buy(v, "no-such-stream", "a", 1, "k"), 404, api.NotFound)
	h.want(h.buy(h.token(auth.Viewer, "v1", "live2"), "live1", "a", 1, "k"), 403, api.Forbidden)
	h.want(h.do("POST", "/api/streams/live1/buy", v, `{"sku":"a","qty":1,"x":1}`, "Idempotency-Key", "k"), 400, api.BadRequest)
	r := h.buy(v, "live1", "a", 2, "k1")
	h.want(r, 201, "")
	var raw map[string]any
	r.decode(t, &raw)
	keys := make([]string, 0)
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"created_at", "currency", "discount_cents", "id", "items", "status", "stream", "total_cents", "user"}; !slices.Equal(keys, want) {
		t.Fatalf("order fields %q, want %q", keys, want)
	}
	o := h.order(r)
	want := Order{ID: o.ID, User: "v1", Stream: "live1", Items: []OrderItem{{SKU: "a", Name: "Product a", Qty: 2, UnitPriceCents: 1250}},
		TotalCents: 2500, Currency: "EUR", Status: "placed", CreatedAt: h.clock.Now()}
	if fmt.Sprint(o) != fmt.Sprint(want) || !o.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("order %+v, want %+v", o, want)
	}
	if len(o.ID) != 36 || o.ID[14] != '7' {
		t.Fatalf("order id %q is not a UUIDv7", o.ID)
	}
	h.wantStock("a", 1)
	h.want(h.buy(v, "live1", "a", 2, "k2"), 409, api.OutOfStock)
	h.wantStock("a", 1)
	h.want(h.buy(h.token(auth.Viewer, "v2"), "live1", "a", 1, "k3"), 201, "")
	h.wantStock("a", 0)
	h.want(h.buy(v, "live1", "a", 1, "k4"), 409, api.OutOfStock)
	_, orders, _ := h.events.snapshot()
	if want := []string{"live1 a 2 name-v1", "live1 a 1 name-v2"}; !slices.Equal(orders, want) {
		t.Fatalf("order events %q, want %q", orders, want)
	}
	stock, _, _ := h.events.snapshot()
	if stock[len(stock)-1] != "live1 a 0" {
		t.Fatalf("last stock event %q, want live1 a 0", stock[len(stock)-1])
	}
}

func testIdempotency(t *testing.T, h *harness) {
	h.mustProduct("a", 100, "EUR", 10)
	h.mustLineup("live1", "a")
	v := h.token(auth.Viewer, "v1")
	first := h.do("POST", "/api/streams/live1/buy", v, `{"sku":"a","qty":2}`, "Idempotency-Key", "tap-1")
	h.want(first, 201, "")
	// Equal as JSON: other key order and spacing.
	again := h.do("POST", "/api/streams/live1/buy", v, "{ \"qty\": 2, \"sku\": \"a\" }", "Idempotency-Key", "tap-1")
	h.want(again, 201, "")
	if string(again.body) != string(first.body) {
		t.Fatalf("replay answered %s, want the first answer %s", again.body, first.body)
	}
	h.wantStock("a", 8)
	h.want(h.do("POST", "/api/streams/live1/buy", v, `{"sku":"a","qty":3}`, "Idempotency-Key", "tap-1"), 422, api.IdempotencyMismatch)
	h.want(h.buy(v, "live2", "a", 2, "tap-1"), 422, api.IdempotencyMismatch) // another stream is another request
	h.wantStock("a", 8)
	// Keys are per user.
	h.want(h.do("POST", "/api/streams/live1/buy", h.token(auth.Viewer, "v2"), `{"sku":"a","qty":2}`, "Idempotency-Key", "tap-1"), 201, "")
	h.wantStock("a", 6)
	// The first answer comes back even after the order was cancelled.
	o := h.order(first)
	h.want(h.do("POST", "/api/orders/"+o.ID+"/cancel", v, nil), 200, "")
	again = h.buy(v, "live1", "a", 2, "tap-1")
	if again.status != 201 || h.order(again).Status != StatusPlaced || h.order(again).ID != o.ID {
		t.Fatalf("replay after cancel: %d %s, want the first answer", again.status, again.body)
	}
	h.wantStock("a", 8)
	if r := h.buy(v, "live1", "a", 1, strings.Repeat("k", 256)); r.status != 400 {
		t.Fatalf("overlong key: got %d, want 400", r.status)
	}
	// Checkout needs a key too.
	h.want(h.do("POST", "/api/cart/checkout", v, nil), 400, api.BadRequest)

	// A retry of a tap that took the last units gets its order back, not
	// out_of_stock, though the product is now sold out (and known to be).
	h.mustProduct("last", 100, "EUR", 1)
	h.mustLineup("live1", "a", "last")
	won := h.buy(v, "live1", "last", 1, "tap-last")
	h.want(won, 201, "")
	h.want(h.buy(h.token(auth.Viewer, "v3"), "live1", "last", 1, "late"), 409, api.OutOfStock)
	retry := h.buy(v, "live1", "last", 1, "tap-last")
	if retry.status != 201 || string(retry.body) != string(won.body) {
		t.Fatalf("retry of the winning tap after sell-out: %d %s, want the first answer %s", retry.status, retry.body, won.body)
	}
}

func testConcurrentDuplicates(t *testing.T, h *harness) {
	h.mustProduct("a", 100, "EUR", 100)
	h.mustLineup("live1", "a")
	v := h.token(auth.Viewer, "v1")
	const n = 50
	var wg sync.WaitGroup
	results := make([]response, n)
	for i := range n {
		wg.Go(func() { results[i] = h.buy(v, "live1", "a", 1, "same-tap") })
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, r := range results {
		switch {
		case r.status == 201:
			ids[h.order(r).ID] = true
		case r.status == 409 && r.code() == api.Conflict:
		default:
			t.Fatalf("duplicate answered %d %s, want 201 (same order) or 409 conflict", r.status, r.body)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%d distinct orders for one key, want 1", len(ids))
	}
	h.wantStock("a", 99)
	orders, _, err := h.store.Orders(t.Context(), OrderIndex{User: "v1"}, "", 100)
	if err != nil || len(orders) != 1 {
		t.Fatalf("orders %d, %v; want 1", len(orders), err)
	}
}

func testCart(t *testing.T, h *harness) {
	h.mustProduct("a", 300, "EUR", 5)
	h.mustProduct("b", 200, "EUR", 5)
	h.mustProduct("u", 100, "USD", 5)
	h.mustLineup("live1", "a", "b", "u")
	h.mustLineup("live2", "a")
	v := h.token(auth.Viewer, "v1")
	put := func(sku, stream string, qty int) response {
		return h.do("PUT", "/api/cart/items/"+sku, v, CartItemBody{Stream: stream, Qty: qty})
	}
	r := h.do("GET", "/api/cart", v, nil)
	h.want(r, 200, "")
	if string(r.body) != `{"items":[],"total_cents":0,"currency":null}`+"\n" {
		t.Fatalf("empty cart %s", r.body)
	}
	h.want(h.do("GET", "/api/cart", "", nil), 401, api.Unauthorized)
	h.want(put("a", "live1", 100), 400, api.BadRequest)
	h.want(put("a", "live1", -1), 400, api.BadRequest)
	h.want(put("zz", "live1", 1), 422, api.NotInLineup)
	h.want(put("a", "no-such-stream", 1), 404, api.NotFound)
	h.want(put("a", "live1", 6), 409, api.OutOfStock)
	h.want(put("a", "live1", 2), 200, "")
	r = put("b", "live1", 1)
	h.want(r, 200, "")
	var c struct {
		Items []struct {
			Stream         string    `json:"stream"`
			SKU            string    `json:"sku"`
			Qty            int       `json:"qty"`
			UnitPriceCents int64     `json:"unit_price_cents"`
			HeldUntil      time.Time `json:"held_until"`
		} `json:"items"`
		TotalCents int64  `json:"total_cents"`
		Currency   string `json:"currency"`
	}
	r.decode(t, &c)
	if len(c.Items) != 2 || c.TotalCents != 800 || c.Currency != "EUR" || c.Items[0].SKU != "a" || c.Items[0].Qty != 2 ||
		c.Items[0].Stream != "live1" || c.Items[0].UnitPriceCents != 300 || !c.Items[1].HeldUntil.Equal(h.clock.Now().Add(testHold)) {
		t.Fatalf("cart %s", r.body)
	}
	h.wantStock("a", 3)
	h.wantStock("b", 4)
	h.want(put("u", "live1", 1), 409, api.Conflict) // another currency
	h.want(put("a", "live2", 1), 409, api.Conflict) // another stream
	h.want(put("a", "live1", 4), 200, "")           // more units are held
	h.wantStock("a", 1)
	h.want(put("a", "live1", 6), 409, api.OutOfStock) // 2 more than free
	h.wantStock("a", 1)
	// A change renews the hold of the whole cart.
	h.clock.Add(time.Minute)
	h.want(put("a", "live1", 1), 200, "")
	h.wantStock("a", 4)
	r = h.do("GET", "/api/cart", v, nil)
	r.decode(t, &c)
	for _, it := range c.Items {
		if !it.HeldUntil.Equal(h.clock.Now().Add(testHold)) {
			t.Fatalf("held_until %v after a change, want %v", it.HeldUntil, h.clock.Now().Add(testHold))
		}
	}
	h.want(put("a", "live1", 0), 200, "")
	h.want(put("b", "live1", 0), 200, "")
	h.wantStock("a", 5)
	h.wantStock("b", 5)
	r = h.do("GET", "/api/cart", v, nil)
	r.decode(t, &c)
	if len(c.Items) != 0 {
		t.Fatalf("cart after removing everything %s", r.body)
	}
	// An empty cart takes any stream and currency.
	h.want(put("u", "live1", 1), 200, "")
	h.want(h.do("PUT", "/api/cart/items/u", v, `{"stream":"live1"}`), 200, "") // qty 0 removes
	h.wantStock("u", 5)
}

func testHoldExpires(t *testing.T, h *harness) {
	h.mustProduct("a", 300, "EUR", 5)
	h.mustLineup("live1", "a")
	for _, u := range []string{"v1", "v2", "v3"} {
		h.want(h.do("PUT", "/api/cart/items/a", h.token(auth.Viewer, u), CartItemBody{Stream: "live1", Qty: 1}), 200, "")
	}
	h.wantStock("a", 2)
	h.clock.Add(testHold - time.Millisecond)
	if n, err := h.shop.Sweep(t.Context()); err != nil || n != 0 {
		t.Fatalf("sweep before the end: %d, %v; want 0", n, err)
	}
	h.wantStock("a", 2)
	h.clock.Add(time.Millisecond)
	// Several sweepers (nodes) at once release each hold once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 4 {
		wg.Go(func() {
			n, err := h.shop.Sweep(t.Context())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != 3 {
		t.Fatalf("sweepers released %d holds, want 3", total)
	}
	h.wantStock("a", 5)
	stock, _, _ := h.events.snapshot()
	if stock[len(stock)-1] != "live1 a 5" {
		t.Fatalf("last stock event %q, want live1 a 5", stock[len(stock)-1])
	}
	// The line stays, without its stock, until the cart changes.
	v := h.token(auth.Viewer, "v1")
	var c Cart
	h.do("GET", "/api/cart", v, nil).decode(t, &c)
	if len(c.Items) != 1 || c.Items[0].HeldUntil.After(h.clock.Now()) {
		t.Fatalf("cart after its hold lapsed: %+v", c)
	}
	h.want(h.do("PUT", "/api/cart/items/a", v, CartItemBody{Stream: "live1", Qty: 2}), 200, "")
	h.wantStock("a", 3)
}

func testCheckoutAllOrNothing(t *testing.T, h *harness) {
	h.mustProduct("a", 300, "EUR", 5)
	h.mustProduct("b", 200, "EUR", 1)
	h.mustLineup("live1", "a", "b")
	v := h.token(auth.Viewer, "v1")
	h.want(h.do("PUT", "/api/cart/items/a", v, CartItemBody{Stream: "live1", Qty: 2}), 200, "")
	h.want(h.do("PUT", "/api/cart/items/b", v, CartItemBody{Stream: "live1", Qty: 1}), 200, "")
	h.clock.Add(testHold)
	if _, err := h.shop.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The last b goes to someone else while v1's hold has lapsed.
	h.want(h.buy(h.token(auth.Viewer, "v2"), "live1", "b", 1, "k"), 201, "")
	h.want(h.do("POST", "/api/cart/checkout", v, nil, "Idempotency-Key", "c1"), 409, api.OutOfStock)
	h.wantStock("a", 5)
	h.wantStock("b", 0)
	if orders, _, _ := h.store.Orders(t.Context(), OrderIndex{User: "v1"}, "", 10); len(orders) != 0 {
		t.Fatalf("orders after a failed checkout: %+v", orders)
	}
	// Without b, the rest goes through at today's prices.
	h.want(h.do("PUT", "/api/cart/items/b", v, CartItemBody{Stream: "live1", Qty: 0}), 200, "")
	r := h.do("POST", "/api/cart/checkout", v, nil, "Idempotency-Key", "c2")
	h.want(r, 201, "")
	if o := h.order(r); len(o.Items) != 1 || o.Items[0].Qty != 2 || o.TotalCents != 600 {
		t.Fatalf("order %+v, want 2 of a", o)
	}
	h.wantStock("a", 3)
}

func testCheckout(t *testing.T, h *harness) {
	h.mustProduct("a", 300, "EUR", 5)
	h.mustProduct("b", 250, "EUR", 5)
	h.mustLineup("live1", "a", "b")
	v := h.token(auth.Viewer, "v1")
	h.want(h.do("POST", "/api/cart/checkout", v, nil, "Idempotency-Key", "c0"), 409, api.Conflict) // empty cart
	h.want(h.do("PUT", "/api/cart/items/a", v, CartItemBody{Stream: "live1", Qty: 2}), 200, "")
	h.want(h.do("PUT", "/api/cart/items/b", v, CartItemBody{Stream: "live1", Qty: 1}), 200, "")
	h.want(h.do("POST", "/api/streams/live1/pin", h.token(auth.Host, "host1"), map[string]any{"sku": "b", "price_cents": 199}), 200, "")
	h.want(h.do("POST", "/api/cart/checkout", h.token(auth.Viewer, "v1", "live2"), nil, "Idempotency-Key", "c1"), 403, api.Forbidden)
	// A body, when sent, is a JSON object of checkout's fields: nothing
	// else is taken, and nothing is ordered.
	for _, body := range []string{`this is not json {{{`, `[]`, `{"total_cents":1}`, `{} {}`} {
		h.want(h.do("POST", "/api/cart/checkout", v, body, "Idempotency-Key", "bad-body"), 400, api.BadRequest)
	}
	h.wantStock("a", 3) // two held in the cart, none ordered
	r := h.do("POST", "/api/cart/checkout", v, nil, "Idempotency-Key", "c1")
	h.want(r, 201, "")
	o := h.order(r)
	if o.Stream != "live1" || len(o.Items) != 2 || o.Items[1].UnitPriceCents != 199 || o.TotalCents != 799 || o.Currency != "EUR" {
		t.Fatalf("order %+v, want a×2 at 300 and b at the live 199", o)
	}
	h.wantStock("a", 3)
	h.wantStock("b", 4)
	var c Cart
	h.do("GET", "/api/cart", v, nil).decode(t, &c)
	if len(c.Items) != 0 {
		t.Fatalf("cart after checkout %+v, want empty", c)
	}
	again := h.do("POST", "/api/cart/checkout", v, nil, "Idempotency-Key", "c1")
	if again.status != 201 || string(again.body) != string(r.body) {
		t.Fatalf("checkout replay: %d %s", again.status, again.body)
	}
	_, events, _ := h.events.snapshot()
	if want := []string{"live1 a 2 name-v1", "live1 b 1 name-v1"}; !slices.Equal(events, want) {
		t.Fatalf("order events %q, want %q", events, want)
	}
	// A hold that has lapsed but is not swept yet is taken again.
	h.want(h.do("PUT", "/api/cart/items/a", v, CartItemBody{Stream: "live1", Qty: 3}), 200, "")
	h.wantStock("a", 0)
	h.clock.Add(testHold + time.Second)
	h.want(h.do("POST", "/api/cart/checkout", v, nil, "Idempotency-Key", "c2"), 201, "")
	h.wantStock("a", 0)
	if n, _ := h.shop.Sweep(t.Context()); n != 0 {
		t.Fatalf("sweep after checkout released %d, want 0", n)
	}
	h.wantStock("a", 0)
}

func testCancel(t *testing.T, h *harness) {
	h.mustProduct("a", 100, "EUR", 5)
	h.mustLineup("live1", "a")
	v := h.token(auth.Viewer, "v1")
	o := h.order(h.buy(v, "live1", "a", 3, "k1"))
	h.wantStock("a", 2)
	path := "/api/orders/" + o.ID + "/cancel"
	h.want(h.do("POST", path, "", nil), 401, api.Unauthorized)
	h.want(h.do("POST", path, h.token(auth.Viewer, "v2"), nil), 403, api.Forbidden)
	h.want(h.do("POST", path, h.token(auth.Host, "host2"), nil), 403, api.Forbidden)
	h.want(h.do("POST", path, h.token(auth.Moderator, "m", "live1"), nil), 403, api.Forbidden)
	r := h.do("POST", path, v, nil)
	h.want(r, 200, "")
	if c := h.order(r); c.Status != StatusCancelled || c.ID != o.ID || c.TotalCents != 300 {
		t.Fatalf("cancelled %+v", c)
	}
	h.wantStock("a", 5)
	h.want(h.do("POST", path, v, nil), 409, api.Conflict)
	h.wantStock("a", 5)
	if got := h.order(h.do("GET", "/api/orders/"+o.ID, v, nil)); got.Status != StatusCancelled {
		t.Fatalf("order after cancel %+v", got)
	}
	// The stream's host and an admin may cancel too.
	o2 := h.order(h.buy(v, "live1", "a", 1, "k2"))
	h.want(h.do("POST", "/api/orders/"+o2.ID+"/cancel", h.token(auth.Host, "host1"), nil), 200, "")
	o3 := h.order(h.buy(v, "live1", "a", 1, "k3"))
	h.want(h.do("POST", "/api/orders/"+o3.ID+"/cancel", h.token(auth.Admin, "root"), nil), 200, "")
	h.wantStock("a", 5)
	h.want(h.do("POST", "/api/orders/01890a5d-ac96-774b-bcce-b302099a8057/cancel", v, nil), 404, api.NotFound)
}

func testOrderAccess(t *testing.T, h *harness) {
	h.mustProduct("a", 100, "EUR", 5)
	h.mustLineup("live1", "a")
	v := h.token(auth.Viewer, "v1")
	o := h.order(h.buy(v, "live1", "a", 1, "k1"))
	path := "/api/orders/" + o.ID
	for _, c := range []struct {
		who    string
		token  string
		status int
	}{
		{"buyer", v, 200},
		{"host", h.token(auth.Host, "host1"), 200},
		{"admin", h.token(auth.Admin, "root"), 200},
		{"other viewer", h.token(auth.Viewer, "v2"), 403},
		{"other host", h.token(auth.Host, "host2"), 403},
		{"anonymous", "", 401},
	} {
		if r := h.do("GET", path, c.token, nil); r.status != c.status {
			t.Errorf("%s: got %d %s, want %d", c.who, r.status, r.body, c.status)
		}
	}
	h.want(h.do("GET", "/api/orders/01890a5d-ac96-774b-bcce-b302099a8057", v, nil), 404, api.NotFound)
	h.want(h.do("GET", "/api/orders/not-an-id", v, nil), 400, api.BadRequest)
}

func testOrderLists(t *testing.T, h *harness) {
	h.mustProduct("a", 100, "EUR", 50)
	h.mustLineup("live1", "a")
	h.mustLineup("live2", "a")
	v := h.token(auth.Viewer, "v1")
	var ids []string
	for i := range 5 {
		h.clock.Add(time.Millisecond)
		ids = append(ids, h.order(h.buy(v, "live1", "a", 1, fmt.Sprint("k", i))).ID)
	}
	h.want(h.buy(h.token(auth.Viewer, "v2"), "live2", "a", 1, "x"), 201, "")
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		path := "/api/orders?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := h.do("GET", path, v, nil)
		h.want(r, 200, "")
		var page api.Page[Order]
		r.decode(t, &page)
		for _, o := range page.Items {
			got = append(got, o.ID)
		}
		if page.Next == nil {
			break
		}
		if pages > 5 {
			t.Fatal("too many pages")
		}
		cursor = *page.Next
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Fatalf("my orders %q, want newest first %q", got, want)
	}
	h.want(h.do("GET", "/api/orders?cursor=zzz", v, nil), 400, api.BadRequest)
	h.want(h.do("GET", "/api/streams/live1/orders", v, nil), 403, api.Forbidden)
	h.want(h.do("GET", "/api/streams/live1/orders", h.token(auth.Host, "host2"), nil), 403, api.Forbidden)
	for _, tok := range []string{h.token(auth.Host, "host1"), h.token(auth.Moderator, "m", "live1")} {
		r := h.do("GET", "/api/streams/live1/orders", tok, nil)
		h.want(r, 200, "")
		var page api.Page[Order]
		r.decode(t, &page)
		if len(page.Items) != 5 || page.Items[0].ID != ids[4] || page.Next != nil {
			t.Fatalf("stream orders %s", r.body)
		}
	}
	r := h.do("GET", "/api/orders", h.token(auth.Viewer, "nobody"), nil)
	if string(r.body) != `{"items":[],"next":null}`+"\n" {
		t.Fatalf("no orders: %s", r.body)
	}
}

// testRace: 500 buyers race for 50 units; exactly 50 orders, stock 0, and
// the orders hold every unit taken.
func testRace(t *testing.T, h *harness) {
	const buyers, units = 500, 50
	h.mustProduct("hot", 999, "EUR", units)
	h.mustLineup("live1", "hot")
	tokens := make([]string, buyers)
	for i := range tokens {
		tokens[i] = h.token(auth.Viewer, fmt.Sprint("b", i))
	}
	var wg sync.WaitGroup
	statuses := make([]int, buyers)
	start := make(chan struct{})
	for i := range buyers {
		wg.Go(func() {
			<-start
			r := h.buy(tokens[i], "live1", "hot", 1, "tap")
			statuses[i] = r.status
			if r.status != 201 && r.code() != api.OutOfStock {
				t.Errorf("buyer %d: %d %s", i, r.status, r.body)
			}
		})
	}
	close(start)
	wg.Wait()
	placed := 0
	for _, s := range statuses {
		if s == http.StatusCreated {
			placed++
		}
	}
	if placed != units {
		t.Fatalf("%d orders, want %d", placed, units)
	}
	h.wantStock("hot", 0)
	sum := 0
	cursor := ""
	for {
		orders, next, err := h.store.Orders(t.Context(), OrderIndex{Stream: "live1"}, cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range orders {
			sum += o.Items[0].Qty
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if sum != units {
		t.Fatalf("orders hold %d units, want %d", sum, units)
	}
}
