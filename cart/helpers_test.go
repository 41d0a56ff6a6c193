package cart

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// owners is a fixed table of stream hosts.
type owners map[string]string

func (o owners) StreamOwner(ctx context.Context, id string) (auth.Owner, error) {
	h, ok := o[id]
	if !ok {
		return auth.Owner{}, api.Errorf(api.NotFound, "no stream %q", id)
	}
	return auth.Owner{Sub: h}, nil
}

// Principals the tests set the catalog up as: host1 creates the products,
// an admin (who may put any product in any lineup) sets lineups.
var (
	seedHost  = &auth.Principal{Sub: "host1", Role: auth.Host}
	seedAdmin = &auth.Principal{Sub: "seed-admin", Role: auth.Admin}
)

// recorder records the shop's events.
type recorder struct {
	mu      sync.Mutex
	stock   []string // "stream sku stock"
	orders  []string // "stream sku qty buyer"
	cards   []*Card
	coupons []Coupon
	offers  []string // "stream user sku held|gone"
}

func (r *recorder) StockChanged(stream, sku string, stock int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stock = append(r.stock, stream+" "+sku+" "+itoa(stock))
}

func (r *recorder) OrderPlaced(stream, sku string, qty int, buyer string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.orders = append(r.orders, stream+" "+sku+" "+itoa(qty)+" "+buyer)
}

func (r *recorder) ProductCard(stream string, card *Card) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cards = append(r.cards, card)
}

func (r *recorder) CouponChanged(stream string, c *Coupon) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.coupons = append(r.coupons, *c)
}

func (r *recorder) Offer(stream, user, sku string, heldUntil time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	what := "gone"
	if !heldUntil.IsZero() {
		what = "held"
	}
	r.offers = append(r.offers, stream+" "+user+" "+sku+" "+what)
}

func (r *recorder) offerEvents() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.offers...)
}

func (r *recorder) snapshot() (stock, orders []string, cards []*Card) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.stock...), append([]string(nil), r.orders...), append([]*Card(nil), r.cards...)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// harness is a Shop over one store with its HTTP routes, a clock, tokens
// and recorded events.
type harness struct {
	t      *testing.T
	shop   *Shop
	store  Store
	mux    *http.ServeMux
	clock  *testClock
	signer *auth.Signer
	events *recorder
}

// newStoreFunc makes a fresh, empty store for one test.
type newStoreFunc func(t *testing.T, now func() time.Time) Store

const testHold = 10 * time.Minute

func mustHarness(t *testing.T, newStore newStoreFunc) *harness {
	t.Helper()
	h := &harness{t: t, clock: newTestClock(), events: &recorder{}}
	signer, err := auth.NewSigner([]byte("test-secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	h.signer = signer
	h.store = newStore(t, h.clock.Now)
	h.shop, err = New(Config{
		Signer: signer, Store: h.store, Events: h.events, Hold: testHold, Now: h.clock.Now,
		Owners: owners{"live1": "host1", "live2": "host2", "other": "host2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.mux = http.NewServeMux()
	h.shop.Routes(h.mux)
	return h
}

func (h *harness) token(role auth.Role, sub string, stream ...string) string {
	h.t.Helper()
	p := auth.Principal{Sub: sub, Name: "name-" + sub, Role: role}
	if len(stream) > 0 {
		p.Stream = stream[0]
	}
	tok, err := h.signer.Issue(p, time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// response is an answer as a client sees it.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) code() api.Code {
	var p api.Problem
	_ = json.Unmarshal(r.body, &p)
	return p.Code
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends a request; body is marshalled unless it is a string. headers
// come in pairs.
func (h *harness) do(method, path, token string, body any, headers ...string) response {
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.mux.ServeHTTP(w, req)
	return response{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
}

// want checks a response's status and, for errors, its problem code.
func (h *harness) want(r response, status int, code api.Code) {
	h.t.Helper()
	if r.status != status || (code != "" && r.code() != code) {
		h.t.Fatalf("got %d %s, want %d %s", r.status, r.body, status, code)
	}
	if status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
		h.t.Fatalf("error answered as %q, want application/problem+json", r.header.Get("Content-Type"))
	}
}

func (h *harness) mustProduct(sku string, price int64, currency string, stock int) {
	h.t.Helper()
	if _, err := h.shop.PutProduct(h.t.Context(), seedHost, Product{SKU: sku, Name: "Product " + sku, PriceCents: price, Currency: currency, Stock: stock}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) mustLineup(stream string, skus ...string) {
	h.t.Helper()
	if err := h.shop.PutLineup(h.t.Context(), seedAdmin, stream, skus); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) stock(sku string) int {
	h.t.Helper()
	p, err := h.store.Product(h.t.Context(), sku)
	if err != nil {
		h.t.Fatal(err)
	}
	return p.Stock
}

func (h *harness) wantStock(sku string, want int) {
	h.t.Helper()
	if got := h.stock(sku); got != want {
		h.t.Fatalf("stock of %s = %d, want %d", sku, got, want)
	}
}

func (h *harness) buy(token, stream, sku string, qty int, key string) response {
	return h.do("POST", "/api/streams/"+stream+"/buy", token, BuyBody{SKU: sku, Qty: qty}, "Idempotency-Key", key)
}

func (h *harness) order(r response) Order {
	h.t.Helper()
	var o Order
	r.decode(h.t, &o)
	return o
}
