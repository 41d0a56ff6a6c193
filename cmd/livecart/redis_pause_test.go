package main

import (
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/redistest"
)

// Every Redis call is bounded by storeTimeout: go-redis applies the
// request's context deadline to the socket (ContextTimeoutEnabled), and its
// own read and write timeouts are no longer than that bound.
func TestRedisCallsAreBounded(t *testing.T) {
	rs := redistest.Start(t)
	rdb, err := connectRedis(t.Context(), rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	o := rdb.Options()
	if !o.ContextTimeoutEnabled || o.ReadTimeout > storeTimeout || o.WriteTimeout > storeTimeout ||
		o.PoolTimeout > storeTimeout || o.DialTimeout > storeTimeout {
		t.Fatalf("redis options: context deadlines %v, read %s, write %s, pool %s, dial %s; want context deadlines on and each at most %s",
			o.ContextTimeoutEnabled, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout, o.DialTimeout, storeTimeout)
	}
}

// A buy while Redis stalls answers 503 unavailable with Retry-After (the
// outcome is unknown), and retrying with the same Idempotency-Key once
// Redis is back returns what really happened: exactly one order, appended
// once to livecart:orders, one unit of stock taken.
func TestBuyWhileRedisStalls(t *testing.T) {
	rs := redistest.Start(t)
	ts := MustServe(t, nil, "--redis", rs.URL())
	host := ts.Token(t, auth.Principal{Sub: "h1", Role: auth.Host})
	buyer := ts.Token(t, auth.Principal{Sub: "b1", Name: "Bea", Role: auth.Viewer})
	e2eMust(t, 201, "POST", ts.URL+"/api/streams", host, map[string]any{"id": "stall", "title": "Stall"}, nil)
	e2eMust(t, 201, "PUT", ts.URL+"/api/products/mug", host, map[string]any{"name": "Mug", "price_cents": 900, "currency": "EUR", "stock": 5}, nil)
	e2eMust(t, 200, "PUT", ts.URL+"/api/streams/stall/lineup", host, map[string]any{"skus": []string{"mug"}}, nil)

	key := uuid.NewString()
	buy := map[string]any{"sku": "mug", "qty": 1}
	var resume sync.Once
	rs.Pause()
	t.Cleanup(func() { resume.Do(rs.Resume) })
	r := e2eCall(t, "POST", ts.URL+"/api/streams/stall/buy", buyer, buy, "Idempotency-Key", key)
	e2eProblem(t, "buy while redis stalls", r, 503, "unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	resume.Do(rs.Resume)

	var first, again struct{ ID string }
	e2eUntil(t, "the retried buy answers", func() bool {
		r := e2eCall(t, "POST", ts.URL+"/api/streams/stall/buy", buyer, buy, "Idempotency-Key", key)
		if r.Status == 503 {
			return false
		}
		if r.Status != 201 {
			t.Fatalf("retried buy = %s, want 201", r)
		}
		r.JSON(t, &first)
		return true
	})
	e2eMust(t, 201, "POST", ts.URL+"/api/streams/stall/buy", buyer, buy, &again, "Idempotency-Key", key)
	if again.ID != first.ID {
		t.Fatalf("retries answered orders %s and %s, want the same", first.ID, again.ID)
	}
	var p struct{ Stock int }
	e2eMust(t, 200, "GET", ts.URL+"/api/products/mug", "", nil, &p)
	if p.Stock != 4 {
		t.Errorf("stock = %d, want 4: one unit taken", p.Stock)
	}
	if n, err := rs.Client().XLen(t.Context(), "livecart:orders").Result(); err != nil || n != 1 {
		t.Errorf("livecart:orders holds %d entries (%v), want 1", n, err)
	}
}
