package cart

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// The flash-sale cases of the shop's conformance suite (testShop): every
// rule through the HTTP API, on every store.

// mustTee creates "tee" (host1's, 2000 a piece) with variants S (3 units),
// M (2, at 2200) and L (0), limit limit, in live1's lineup.
func (h *harness) mustTee(limit int) {
	h.t.Helper()
	body := map[string]any{"name": "Tee", "price_cents": 2000, "currency": "EUR", "variants": []map[string]any{
		{"sku": "tee-s", "label": "S", "stock": 3},
		{"sku": "tee-m", "label": "M", "stock": 2, "price_cents": 2200},
		{"sku": "tee-l", "label": "L", "stock": 0},
	}}
	if limit > 0 {
		body["limit_per_buyer"] = limit
	}
	h.want(h.do("PUT", "/api/products/tee", h.token(auth.Host, "host1"), body), 201, "")
	h.want(h.do("PUT", "/api/streams/live1/lineup", h.token(auth.Host, "host1"), map[string]any{"skus": []string{"tee"}}), 200, "")
}

func (h *harness) buyWith(token, stream string, body map[string]any, key string) response {
	return h.do("POST", "/api/streams/"+stream+"/buy", token, body, "Idempotency-Key", key)
}

func testVariants(t *testing.T, h *harness) {
	h.mustTee(0)
	var p Product
	h.do("GET", "/api/products/tee", "", nil).decode(t, &p)
	want := []Variant{{SKU: "tee-s", Label: "S", Stock: 3, PriceCents: 2000}, {SKU: "tee-m", Label: "M", Stock: 2, PriceCents: 2200}, {SKU: "tee-l", Label: "L", Stock: 0, PriceCents: 2000}}
	if p.Stock != 5 || !slices.Equal(p.Variants, want) {
		t.Fatalf("tee = %+v, want stock 5 and variants %+v", p, want)
	}
	v := h.token(auth.Viewer, "v1")
	h.want(h.buy(v, "live1", "tee", 1, "k0"), 400, api.BadRequest) // choose a variant
	r := h.buy(v, "live1", "tee-m", 1, "k1")
	h.want(r, 201, "")
	o := h.order(r)
	if len(o.Items) != 1 || o.Items[0].SKU != "tee-m" || o.Items[0].Name != "Tee (M)" || o.Items[0].UnitPriceCents != 2200 || o.TotalCents != 2200 {
		t.Fatalf("order %+v, want one Tee (M) at 2200", o)
	}
	h.wantStock("tee-m", 1)
	h.want(h.buy(v, "live1", "tee-l", 1, "k2"), 409, api.OutOfStock)
	// Stock messages and the ticker name the variant.
	stock, orders, _ := h.events.snapshot()
	if !slices.Contains(stock, "live1 tee-m 1") || !slices.Contains(orders, "live1 tee-m 1 name-v1") {
		t.Fatalf("events %q %q, want tee-m's stock and order", stock, orders)
	}
	// The pinned card offers the variants, and a live price applies to each.
	r = h.do("POST", "/api/streams/live1/pin", h.token(auth.Host, "host1"), map[string]any{"sku": "tee", "price_cents": 1500})
	h.want(r, 200, "")
	var c Card
	r.decode(t, &c)
	if c.Stock != 4 || len(c.Variants) != 3 || c.Variants[1].PriceCents != 1500 || c.Variants[1].Stock != 1 {
		t.Fatalf("card = %+v, want 3 variants at the live price", c)
	}
	h.want(h.do("POST", "/api/streams/live1/pin", h.token(auth.Host, "host1"), map[string]any{"sku": "tee-m"}), 400, api.BadRequest)
	r = h.buy(v, "live1", "tee-s", 1, "k3")
	h.want(r, 201, "")
	if o := h.order(r); o.Items[0].UnitPriceCents != 1500 {
		t.Fatalf("variant bought at %d while pinned at 1500", o.Items[0].UnitPriceCents)
	}
	// A cart holds a variant; checkout names it.
	h.want(h.do("PUT", "/api/cart/items/tee-s", v, CartItemBody{Stream: "live1", Qty: 2}), 200, "")
	h.wantStock("tee-s", 0)
	r = h.do("POST", "/api/cart/checkout", v, "{}", "Idempotency-Key", "c1")
	h.want(r, 201, "")
	if o := h.order(r); o.Items[0].Name != "Tee (S)" || o.Items[0].Qty != 2 {
		t.Fatalf("checkout order %+v", o)
	}
	// A variant is not a lineup product of its own.
	h.want(h.do("PUT", "/api/streams/live1/lineup", h.token(auth.Host, "host1"), map[string]any{"skus": []string{"tee-m"}}), 400, api.BadRequest)
}

func testVariantsBadInput(t *testing.T, h *harness) {
	host := h.token(auth.Host, "host1")
	h.mustProduct("mug", 900, "EUR", 5)
	base := func(variants ...map[string]any) map[string]any {
		if variants == nil {
			variants = []map[string]any{}
		}
		return map[string]any{"name": "Tee", "price_cents": 2000, "currency": "EUR", "variants": variants}
	}
	v := func(sku, label string, stock int) map[string]any {
		return map[string]any{"sku": sku, "label": label, "stock": stock}
	}
	for _, tc := range []struct {
		name   string
		body   any
		status int
	}{
		{"duplicate skus", base(v("t-s", "S", 1), v("t-s", "M", 1)), 400},
		{"the product's own sku", base(v("tee", "S", 1)), 400},
		{"duplicate labels", base(v("t-s", "S", 1), v("t-m", "S", 1)), 400},
		{"negative stock", base(v("t-s", "S", -1)), 400},
		{"no label", base(v("t-s", "", 1)), 400},
		{"empty list", base(), 400},
		{"stock beside variants", map[string]any{"name": "Tee", "price_cents": 2000, "currency": "EUR", "stock": 3, "variants": []any{v("t-s", "S", 1)}}, 400},
		{"limit of 0", map[string]any{"name": "Tee", "price_cents": 2000, "currency": "EUR", "stock": 3, "limit_per_buyer": 0}, 400},
		{"another product's sku", base(v("mug", "S", 1)), 409},
	} {
		if r := h.do("PUT", "/api/products/tee", host, tc.body); r.status != tc.status {
			t.Errorf("%s: got %d %s, want %d", tc.name, r.status, r.body, tc.status)
		}
	}
	if _, err := h.store.Product(t.Context(), "tee"); err == nil {
		t.Fatal("a refused product was written")
	}
	h.wantStock("mug", 5)
}

func testLimits(t *testing.T, h *harness) {
	h.mustTee(2)
	v := h.token(auth.Viewer, "v1")
	h.want(h.buy(v, "live1", "tee-s", 1, "k1"), 201, "")
	o := h.order(h.buy(v, "live1", "tee-m", 1, "k2")) // variants count together
	h.want(h.buy(v, "live1", "tee-s", 1, "k3"), 409, api.LimitReached)
	h.want(h.do("PUT", "/api/cart/items/tee-s", v, CartItemBody{Stream: "live1", Qty: 1}), 409, api.LimitReached)
	h.wantStock("tee-s", 2)
	// Another buyer has an allowance of its own.
	h.want(h.buy(h.token(auth.Viewer, "v2"), "live1", "tee-s", 2, "k1"), 201, "")
	// A cancel gives the allowance back; a cart's units count while held
	// and stop counting when its hold lapses.
	h.want(h.do("POST", "/api/orders/"+o.ID+"/cancel", v, nil), 200, "")
	h.want(h.do("PUT", "/api/cart/items/tee-m", v, CartItemBody{Stream: "live1", Qty: 1}), 200, "")
	h.want(h.buy(v, "live1", "tee-m", 1, "k4"), 409, api.LimitReached)
	h.clock.Add(testHold + time.Second)
	if _, err := h.shop.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.want(h.buy(v, "live1", "tee-m", 1, "k5"), 201, "")
	// Checkout of the lapsed cart would take it over the limit again.
	h.want(h.do("POST", "/api/cart/checkout", v, "{}", "Idempotency-Key", "c1"), 409, api.LimitReached)
}

func (h *harness) mustCoupon(body map[string]any) Coupon {
	h.t.Helper()
	r := h.do("POST", "/api/streams/live1/coupons", h.token(auth.Host, "host1"), body)
	h.want(r, 201, "")
	var c Coupon
	r.decode(h.t, &c)
	return c
}

func testCoupons(t *testing.T, h *harness) {
	h.mustProduct("mug", 1000, "EUR", 50)
	h.mustProduct("cap", 500, "EUR", 50)
	h.mustLineup("live1", "mug", "cap")
	host := h.token(auth.Host, "host1")
	body := map[string]any{"code": "flash20", "percent_off": 20, "max_redemptions": 2}
	h.want(h.do("POST", "/api/streams/live1/coupons", h.token(auth.Moderator, "m", "live1"), body), 403, api.Forbidden)
	c := h.mustCoupon(body)
	if c.Code != "FLASH20" || c.Left != 2 || c.PerBuyer != 1 {
		t.Fatalf("coupon = %+v", c)
	}
	h.want(h.do("POST", "/api/streams/live1/coupons", host, body), 409, api.Conflict)
	v1, v2, v3 := h.token(auth.Viewer, "v1"), h.token(auth.Viewer, "v2"), h.token(auth.Viewer, "v3")
	r := h.buyWith(v1, "live1", map[string]any{"sku": "mug", "qty": 2, "coupon": "flash20"}, "k1")
	h.want(r, 201, "")
	o := h.order(r)
	if o.DiscountCents != 400 || o.TotalCents != 1600 || o.Coupon != "FLASH20" {
		t.Fatalf("order %+v, want 400 off 2000", o)
	}
	h.want(h.buyWith(v1, "live1", map[string]any{"sku": "mug", "qty": 1, "coupon": "FLASH20"}, "k2"), 422, api.CouponInvalid) // per buyer
	h.want(h.buyWith(v2, "live1", map[string]any{"sku": "cap", "qty": 1, "coupon": "FLASH20"}, "k1"), 201, "")
	h.want(h.buyWith(v3, "live1", map[string]any{"sku": "cap", "qty": 1, "coupon": "FLASH20"}, "k1"), 422, api.CouponInvalid) // used up
	h.wantStock("cap", 49)
	// A cancel gives the redemption back.
	h.want(h.do("POST", "/api/orders/"+o.ID+"/cancel", v1, nil), 200, "")
	h.want(h.buyWith(v3, "live1", map[string]any{"sku": "cap", "qty": 1, "coupon": "FLASH20"}, "k2"), 201, "")
	h.shop.flushCoupons(t.Context())
	h.events.mu.Lock()
	last := h.events.coupons[len(h.events.coupons)-1]
	h.events.mu.Unlock()
	if last.Code != "FLASH20" || last.Left != 0 {
		t.Fatalf("last coupon event %+v, want FLASH20 with 0 left", last)
	}
	var list struct{ Items []Coupon }
	h.do("GET", "/api/streams/live1/coupons", "", nil).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].Left != 0 {
		t.Fatalf("coupons = %+v", list.Items)
	}
	// Amounts, products, ends and unknown codes.
	h.mustCoupon(map[string]any{"code": "CAP3", "amount_off_cents": 300, "max_redemptions": 10, "skus": []string{"cap"}, "ends_at": h.clock.Now().Add(time.Minute)})
	o = h.order(h.buyWith(v1, "live1", map[string]any{"sku": "cap", "qty": 2, "coupon": "cap3"}, "k3"))
	if o.DiscountCents != 300 || o.TotalCents != 700 {
		t.Fatalf("amount coupon order %+v", o)
	}
	h.want(h.buyWith(v2, "live1", map[string]any{"sku": "mug", "qty": 1, "coupon": "CAP3"}, "k3"), 422, api.CouponInvalid) // not for mugs
	h.want(h.buyWith(v2, "live1", map[string]any{"sku": "mug", "qty": 1, "coupon": "NOPE"}, "k4"), 422, api.CouponInvalid)
	h.clock.Add(2 * time.Minute)
	h.want(h.buyWith(v3, "live1", map[string]any{"sku": "cap", "qty": 1, "coupon": "CAP3"}, "k3"), 422, api.CouponInvalid) // ended
	// Checkout takes a coupon too.
	h.mustCoupon(map[string]any{"code": "CART10", "percent_off": 10, "max_redemptions": 5})
	h.want(h.do("PUT", "/api/cart/items/mug", v2, CartItemBody{Stream: "live1", Qty: 1}), 200, "")
	o = h.order(h.do("POST", "/api/cart/checkout", v2, `{"coupon":"CART10"}`, "Idempotency-Key", "c1"))
	if o.DiscountCents != 100 || o.TotalCents != 900 {
		t.Fatalf("checkout with coupon %+v", o)
	}
	// Bad coupons change nothing.
	for _, b := range []map[string]any{
		{"code": "P0", "percent_off": 10, "max_redemptions": 1},
		{"code": "PCT0", "percent_off": 0, "max_redemptions": 1},
		{"code": "PCT101", "percent_off": 101, "max_redemptions": 1},
		{"code": "BOTH", "percent_off": 10, "amount_off_cents": 5, "max_redemptions": 1},
		{"code": "ZEROMAX", "percent_off": 10, "max_redemptions": 0},
		{"code": "PAST", "percent_off": 10, "max_redemptions": 1, "ends_at": h.clock.Now().Add(-time.Second)},
		{"code": "BIGAMOUNT", "amount_off_cents": 600, "max_redemptions": 1, "skus": []string{"cap"}},
	} {
		if r := h.do("POST", "/api/streams/live1/coupons", host, b); r.status != 400 {
			t.Errorf("coupon %v: %d %s, want 400", b, r.status, r.body)
		}
	}
	h.want(h.do("POST", "/api/streams/live1/coupons", host, map[string]any{"code": "ELSEWHERE", "percent_off": 10, "max_redemptions": 1, "skus": []string{"nope"}}), 422, api.NotInLineup)
}

func testWaitlist(t *testing.T, h *harness) {
	h.mustTee(0)
	w1, w2, w3 := h.token(auth.Viewer, "w1"), h.token(auth.Viewer, "w2"), h.token(auth.Viewer, "w3")
	join := func(tok, sku string) response {
		return h.do("POST", "/api/streams/live1/waitlist", tok, map[string]any{"sku": sku})
	}
	h.want(join(w1, "tee-m"), 409, api.Conflict) // in stock
	buyer := h.token(auth.Viewer, "b1")
	o := h.order(h.buy(buyer, "live1", "tee-m", 2, "k1"))
	var place WaitPlace
	r := join(w1, "tee-m")
	h.want(r, 201, "")
	if r.decode(t, &place); place.Position != 1 {
		t.Fatalf("w1 place %+v", place)
	}
	join(w2, "tee-m").decode(t, &place)
	join(w1, "tee-m") // again: keeps its place
	join(w3, "tee-m").decode(t, &place)
	if place.Position != 3 {
		t.Fatalf("w3 place %+v, want 3", place)
	}
	// Two units come back: w1 and w2 each get one, held for them.
	h.want(h.do("POST", "/api/orders/"+o.ID+"/cancel", buyer, nil), 200, "")
	h.wantStock("tee-m", 0)
	if got := h.events.offerEvents(); !slices.Equal(got, []string{"live1 w1 tee-m held", "live1 w2 tee-m held"}) {
		t.Fatalf("offers %q", got)
	}
	h.want(h.buy(w3, "live1", "tee-m", 1, "k1"), 409, api.OutOfStock)
	// The room ends on the stock others can buy: none, both units held.
	stock, _, _ := h.events.snapshot()
	var last string
	for _, e := range stock {
		if strings.HasPrefix(e, "live1 tee-m ") {
			last = e
		}
	}
	if last != "live1 tee-m 0" {
		t.Fatalf("last stock event of tee-m = %q, want 0 (the returned units are held for w1 and w2)", last)
	}
	var waiting Waiting
	h.do("GET", "/api/streams/live1/waitlist", w3, nil).decode(t, &waiting)
	if len(waiting.Items) != 1 || waiting.Items[0].Position != 1 || len(waiting.Offers) != 0 {
		t.Fatalf("w3 waiting %+v", waiting)
	}
	h.do("GET", "/api/streams/live1/waitlist", w1, nil).decode(t, &waiting)
	if len(waiting.Items) != 0 || len(waiting.Offers) != 1 || waiting.Offers[0].SKU != "tee-m" {
		t.Fatalf("w1 waiting %+v", waiting)
	}
	// w1 takes its unit with a plain buy; w2 lets its offer lapse, and it
	// passes to w3.
	r = h.buy(w1, "live1", "tee-m", 1, "k1")
	h.want(r, 201, "")
	h.clock.Add(OfferHold + time.Second)
	if _, err := h.shop.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := h.events.offerEvents(); !slices.Contains(got, "live1 w1 tee-m gone") || !slices.Contains(got, "live1 w2 tee-m gone") || !slices.Contains(got, "live1 w3 tee-m held") {
		t.Fatalf("offers %q, want w1's taken, w2's passed to w3", got)
	}
	h.want(h.buy(w2, "live1", "tee-m", 1, "k1"), 409, api.OutOfStock)
	h.want(h.buy(w3, "live1", "tee-m", 1, "k2"), 201, "")
	h.wantStock("tee-m", 0)
	// A lapsed offer with nobody waiting goes back on sale.
	h.want(join(w2, "tee-m"), 201, "")
	h.want(h.do("DELETE", "/api/streams/live1/waitlist", w2, map[string]any{"sku": "tee-m"}), 204, "")
	o = h.order(h.buy(w3, "live1", "tee-s", 3, "k3"))
	h.want(join(w2, "tee-s"), 201, "")
	h.want(h.do("POST", "/api/orders/"+o.ID+"/cancel", w3, nil), 200, "")
	h.wantStock("tee-s", 2) // one held for w2
	h.clock.Add(OfferHold + time.Second)
	if _, err := h.shop.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.wantStock("tee-s", 3)
	// Not sold here: no line.
	h.want(join(w1, "nope"), 422, api.NotInLineup)
}

func testFunnel(t *testing.T, h *harness) {
	h.mustProduct("mug", 1000, "EUR", 50)
	h.mustLineup("live1", "mug")
	host := h.token(auth.Host, "host1")
	h.want(h.do("POST", "/api/streams/live1/pin", host, map[string]any{"sku": "mug"}), 200, "")
	for i := range 4 {
		h.shop.Viewed("live1", fmt.Sprint("v", i))
	}
	h.shop.Viewed("live1", "v0")
	h.shop.ViewersNow("live1", 3)
	h.shop.ViewersNow("live1", 2)
	h.shop.CardShown("live1", "mug", 2)
	h.want(h.do("PUT", "/api/cart/items/mug", h.token(auth.Viewer, "v1"), CartItemBody{Stream: "live1", Qty: 1}), 200, "")
	h.want(h.buy(h.token(auth.Viewer, "v2"), "live1", "mug", 2, "k1"), 201, "")
	o := h.order(h.buy(h.token(auth.Viewer, "v3"), "live1", "mug", 1, "k1"))
	h.want(h.do("POST", "/api/orders/"+o.ID+"/cancel", host, nil), 200, "")
	h.shop.flushStats(t.Context())
	h.want(h.do("GET", "/api/streams/live1/stats", h.token(auth.Viewer, "v1"), nil), 403, api.Forbidden)
	var st Stats
	h.do("GET", "/api/streams/live1/stats", h.token(auth.Moderator, "m", "live1"), nil).decode(t, &st)
	if st.Viewers != 4 || st.PeakViewers != 3 || st.CardViews != 7 || st.Carts != 1 || st.Orders != 1 || st.Units != 2 ||
		st.RevenueCents != 2000 || st.Conversion != 0.25 || st.Currency == nil || *st.Currency != "EUR" {
		t.Fatalf("stats = %+v, want 4 viewers, peak 3, 7 card views (5 joins + 2), 1 cart, 1 order of 2 for 2000, 25%%", st)
	}
	if len(st.Products) != 1 || st.Products[0] != (ProductStats{SKU: "mug", Name: "Product mug", CardViews: 7, Carts: 1, Orders: 1, Units: 2, RevenueCents: 2000}) {
		t.Fatalf("product stats = %+v", st.Products)
	}
}
