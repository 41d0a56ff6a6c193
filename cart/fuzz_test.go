package cart

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
)

// FuzzJSONBodies sends arbitrary bytes as the JSON body of every shop
// endpoint that takes one. Whatever arrives, each answer is a success or a
// problem+json client error (never a 5xx), the stock never goes below zero
// nor above what was put, and afterwards the shop still serves a sentinel:
// a valid buy of the last unit places an order.
//
// go test -run '^$' -fuzz FuzzJSONBodies -fuzztime 10s ./cart/
func FuzzJSONBodies(f *testing.F) {
	for _, seed := range []string{
		`{"sku":"a","qty":1}`,
		`{"sku":"a","qty":99}`,
		`{"sku":"a","qty":-1}`,
		`{"sku":"a","qty":1e308}`,
		`{"sku":"a","Qty":1,"qty":2}`,
		`{"sku":"a","qty":1,"qty":1}`,
		`{"stream":"live1","qty":3}`,
		`{"name":"n","price_cents":1,"currency":"EUR","stock":5,"Stock":999999}`,
		`{"name":"\ud800","price_cents":1,"currency":"EUR","stock":1}`,
		"{\"name\":\"\xff\",\"price_cents\":1,\"currency\":\"EUR\",\"stock\":1}",
		`{"skus":["a","a"]}`,
		`{"skus":null}`,
		`{"sku":"a","price_cents":0,"ends_at":"9999-12-31T23:59:59Z"}`,
		`{"sku":"a","ends_at":"not a time"}`,
		`this is not json {{{`,
		`[]`, `null`, `""`, `{}`, ``, `{"a":{"b":{"c":[[[[[]]]]]}}}`,
	} {
		for route := range 6 {
			f.Add(uint8(route), []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		h := mustHarness(t, func(t *testing.T, now func() time.Time) Store { return NewMemoryStore(now) })
		h.mustProduct("a", 500, "EUR", 3)
		h.mustLineup("live1", "a")
		host, viewer := h.token(auth.Host, "host1"), h.token(auth.Viewer, "v1")
		var r response
		switch route % 6 {
		case 0:
			r = h.do("POST", "/api/streams/live1/buy", viewer, string(body), "Idempotency-Key", "fuzz")
		case 1:
			r = h.do("PUT", "/api/cart/items/a", viewer, string(body))
		case 2:
			r = h.do("POST", "/api/cart/checkout", viewer, string(body), "Idempotency-Key", "fuzz")
		case 3:
			r = h.do("PUT", "/api/products/a", host, string(body))
		case 4:
			r = h.do("PUT", "/api/streams/live1/lineup", host, string(body))
		case 5:
			r = h.do("POST", "/api/streams/live1/pin", host, string(body))
		}
		if r.status >= 500 {
			t.Fatalf("route %d answered %d %s", route%6, r.status, r.body)
		}
		if r.status >= 400 {
			var p map[string]any
			if r.header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(r.body, &p) != nil || p["code"] == "" {
				t.Fatalf("route %d: error %d is not problem+json: %q", route%6, r.status, r.body)
			}
		}
		p, err := h.store.Product(t.Context(), "a")
		if err != nil {
			t.Fatal(err)
		}
		if p.Stock < 0 || (route%6 != 3 && p.Stock > 3) {
			t.Fatalf("stock of a = %d after route %d", p.Stock, route%6)
		}
		// The sentinel: with stock restored, a clean buy still works.
		if _, err := h.shop.PutProduct(t.Context(), seedHost, Product{SKU: "a", Name: "A", PriceCents: 500, Currency: "EUR", Stock: 1}); err != nil {
			t.Fatal(err)
		}
		h.mustLineup("live1", "a")
		h.want(h.buy(h.token(auth.Viewer, "sentinel"), "live1", "a", 1, "sentinel"), 201, "")
	})
}
