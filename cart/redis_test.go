package cart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/redistest"
)

// redisShop is a Shop over a RedisStore on srv with the real clock.
func redisShop(t *testing.T, store *RedisStore, hold time.Duration) (*Shop, *recorder) {
	t.Helper()
	signer, _ := auth.NewSigner([]byte("k"), nil)
	ev := &recorder{}
	s, err := New(Config{Signer: signer, Store: store, Events: ev, Owners: owners{"live1": "host1"},
		Hold: hold, SweepEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s, ev
}

// runShop runs s until the test ends.
func runShop(t *testing.T, s *Shop) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func viewer(sub string) *auth.Principal {
	return &auth.Principal{Sub: sub, Name: "name-" + sub, Role: auth.Viewer}
}

func seed(t *testing.T, s *Shop, sku string, stock int) {
	t.Helper()
	if _, err := s.PutProduct(t.Context(), seedHost, Product{SKU: sku, Name: "P " + sku, PriceCents: 500, Currency: "EUR", Stock: stock}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutLineup(t.Context(), seedAdmin, "live1", []string{sku}); err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRedisOrdersStream(t *testing.T) {
	srv := redistest.Start(t)
	store := mustRedisStore(t, srv)
	s, _ := redisShop(t, store, time.Minute)
	seed(t, s, "a", 5)
	o, _, err := s.Buy(t.Context(), viewer("v1"), "live1", BuyBody{SKU: "a", Qty: 2}, "k1", "fp")
	if err != nil {
		t.Fatal(err)
	}
	if _, replayed, err := s.Buy(t.Context(), viewer("v1"), "live1", BuyBody{SKU: "a", Qty: 2}, "k1", "fp"); err != nil || !replayed {
		t.Fatalf("replay: %v %v", replayed, err)
	}
	if _, err := s.Cancel(t.Context(), viewer("v1"), o.ID); err != nil {
		t.Fatal(err)
	}
	msgs, err := srv.Client().XRange(t.Context(), OrdersStream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("%d entries in %s, want 2 (placed, cancelled; the replay appends nothing)", len(msgs), OrdersStream)
	}
	for i, ev := range []string{"placed", "cancelled"} {
		v := msgs[i].Values
		var got Order
		if err := json.Unmarshal([]byte(fmt.Sprint(v["order"])), &got); err != nil {
			t.Fatal(err)
		}
		if v["event"] != ev || v["order_id"] != o.ID || v["stream"] != "live1" || got.ID != o.ID || got.Status != ev || got.TotalCents != 1000 {
			t.Fatalf("entry %d: %v", i, v)
		}
	}
}

// TestRedisNoScript: after the server forgets apply.lua (as after a
// restart or failover), every kind of write loads it again: a buy, cart
// changes and the sweep's releases.
func TestRedisNoScript(t *testing.T) {
	srv := redistest.Start(t)
	store := mustRedisStore(t, srv)
	s, _ := redisShop(t, store, 50*time.Millisecond)
	seed(t, s, "a", 5)
	c := srv.Client()
	if err := c.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Buy(t.Context(), viewer("v1"), "live1", BuyBody{SKU: "a", Qty: 1}, "k1", "fp"); err != nil {
		t.Fatalf("buy after SCRIPT FLUSH: %v", err)
	}
	for _, u := range []string{"v2", "v3"} {
		if err := c.ScriptFlush(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetCartItem(t.Context(), viewer(u), "a", CartItemBody{Stream: "live1", Qty: 1}); err != nil {
			t.Fatalf("cart change after SCRIPT FLUSH: %v", err)
		}
	}
	if err := c.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	n, err := s.Sweep(t.Context())
	if err != nil || n != 2 {
		t.Fatalf("release after SCRIPT FLUSH: %d, %v; want 2", n, err)
	}
	if p, _ := store.Product(t.Context(), "a"); p.Stock != 4 {
		t.Fatalf("stock %d, want 4", p.Stock)
	}
}

// TestRedisHoldLapses: a short real hold gives its stock back with Run's
// sweeper and no request from the viewer; two nodes sweep at once.
func TestRedisHoldLapses(t *testing.T) {
	srv := redistest.Start(t)
	store := mustRedisStore(t, srv)
	a, ev := redisShop(t, store, 200*time.Millisecond)
	b, _ := redisShop(t, mustRedisStoreNoFlush(t, srv), 200*time.Millisecond)
	seed(t, a, "a", 10)
	runShop(t, a)
	runShop(t, b)
	for i := range 5 {
		if _, err := a.SetCartItem(t.Context(), viewer(fmt.Sprint("v", i)), "a", CartItemBody{Stream: "live1", Qty: 2}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "held stock to come back", func() bool {
		p, err := store.Product(t.Context(), "a")
		return err == nil && p.Stock == 10
	})
	time.Sleep(100 * time.Millisecond) // more sweeps: nothing is released twice
	if p, _ := store.Product(t.Context(), "a"); p.Stock != 10 {
		t.Fatalf("stock %d after the sweeps, want 10", p.Stock)
	}
	_ = ev
}

func mustRedisStoreNoFlush(t *testing.T, srv *redistest.Server) *RedisStore {
	s, err := NewRedisStore(srv.Client(), RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRedisDown: with Redis gone requests fail fast with 503 unavailable
// and Retry-After; when it is back the same Shop works again.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	store, err := NewRedisStore(srv.Client(), RedisOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := redisShop(t, store, time.Minute)
	seed(t, s, "a", 5)
	srv.Stop()
	start := time.Now()
	_, _, err = s.Buy(t.Context(), viewer("v1"), "live1", BuyBody{SKU: "a", Qty: 1}, "k1", "fp")
	if api.CodeOf(err) != api.Unavailable {
		t.Fatalf("buy with Redis down: %v, want unavailable", err)
	}
	var e *api.Error
	if !errors.As(err, &e) || e.RetryAfter == 0 {
		t.Fatalf("no Retry-After on %v", err)
	}
	t.Logf("failed in %v", time.Since(start))
	if err := s.Ready(t.Context()); api.CodeOf(err) != api.Unavailable {
		t.Fatalf("ready with Redis down: %v", err)
	}
	srv.StartAgain() // no persistence: the store comes back empty
	seed(t, s, "a", 5)
	if _, _, err := s.Buy(t.Context(), viewer("v1"), "live1", BuyBody{SKU: "a", Qty: 1}, "k2", "fp"); err != nil {
		t.Fatalf("buy after Redis came back: %v", err)
	}
}

// TestRedisSoldOutAcrossNodes: a product sold out on node A is refused on
// node B without asking Redis (B answers out_of_stock with Redis stopped),
// and a restock on A reaches B.
func TestRedisSoldOutAcrossNodes(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	a, _ := redisShop(t, mustRedisStore(t, srv), time.Minute)
	storeB := mustRedisStoreNoFlush(t, srv)
	b, _ := redisShop(t, storeB, time.Minute)
	runShop(t, a)
	runShop(t, b)
	seed(t, a, "z", 1)
	seed(t, a, "a", 1)
	if err := a.PutLineup(t.Context(), seedAdmin, "live1", []string{"a", "z"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Buy(t.Context(), viewer("v1"), "live1", BuyBody{SKU: "a", Qty: 1}, "k1", "fp"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node B to hear that a is sold out", func() bool { return b.soldOut.isSoldOut("a") })
	srv.Stop()
	if _, _, err := b.Buy(t.Context(), viewer("v2"), "live1", BuyBody{SKU: "a", Qty: 1}, "k2", "fp"); !errors.Is(err, ErrOutOfStock) {
		t.Fatalf("sold-out tap on B with Redis down: %v, want out_of_stock from the mark", err)
	}
	if _, _, err := b.Buy(t.Context(), viewer("v2"), "live1", BuyBody{SKU: "z", Qty: 1}, "k3", "fp"); api.CodeOf(err) != api.Unavailable {
		t.Fatalf("tap on a product in stock with Redis down: %v, want unavailable", err)
	}
	srv.StartAgain()
	eventually(t, "Redis to answer", func() bool { return a.Ready(t.Context()) == nil })
	if _, err := a.PutProduct(t.Context(), seedHost, Product{SKU: "a", Name: "P a", PriceCents: 500, Currency: "EUR", Stock: 3}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node B to hear of the restock", func() bool { return !b.soldOut.isSoldOut("a") })
	eventually(t, "a buy on B", func() bool {
		_, _, err := b.Buy(t.Context(), viewer("v2"), "live1", BuyBody{SKU: "a", Qty: 1}, "k4", "fp")
		return err == nil
	})
}

// TestRedisRestartDuringStorm: Redis (appendfsync always) is killed and
// restarted while buyers tap, each retrying with its Idempotency-Key on
// 503. Every order acknowledged to a client exists afterwards, and stock
// plus ordered units equals the stock there was: none lost or created.
func TestRedisRestartDuringStorm(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	if err := srv.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	store, err := NewRedisStore(c, RedisOptions{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := redisShop(t, store, time.Minute)
	const units, buyers = 300, 40
	seed(t, s, "hot", units)

	var acked sync.Map // order id → qty
	var placed, unavailable atomic.Int64
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				key := fmt.Sprintf("b%d-tap%d", i, n)
				for ctx.Err() == nil { // retry the same tap until it has an answer
					o, _, err := s.Buy(context.Background(), viewer(fmt.Sprint("b", i)), "live1", BuyBody{SKU: "hot", Qty: 1}, key, "fp")
					if err == nil {
						acked.Store(o.ID, o.Items[0].Qty)
						placed.Add(1)
						break
					}
					if api.CodeOf(err) != api.Unavailable {
						break // out of stock
					}
					unavailable.Add(1)
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	eventually(t, "a third of the stock sold", func() bool { return placed.Load() >= units/3 })
	srv.Kill()
	time.Sleep(100 * time.Millisecond)
	srv.StartAgain()
	eventually(t, "the rest sold", func() bool {
		p, err := store.Product(t.Context(), "hot")
		return err == nil && p.Stock == 0
	})
	stop()
	wg.Wait()
	t.Logf("acknowledged %d orders, %d unavailable answers", placed.Load(), unavailable.Load())

	p, err := store.Product(t.Context(), "hot")
	if err != nil {
		t.Fatal(err)
	}
	ackedUnits := 0
	acked.Range(func(k, v any) bool {
		o, _, err := store.Order(t.Context(), k.(string))
		if err != nil {
			t.Errorf("acknowledged order %s: %v", k, err)
		} else if o.Status != StatusPlaced {
			t.Errorf("acknowledged order %s is %s", k, o.Status)
		}
		ackedUnits += v.(int)
		return true
	})
	stored := 0
	cursor := ""
	for {
		orders, next, err := store.Orders(t.Context(), OrderIndex{Stream: "live1"}, cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range orders {
			stored += o.Items[0].Qty
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if p.Stock+stored != units {
		t.Fatalf("stock %d + ordered %d = %d, want %d", p.Stock, stored, p.Stock+stored, units)
	}
	if ackedUnits != stored {
		t.Fatalf("acknowledged %d units, stored orders hold %d", ackedUnits, stored)
	}
	if unavailable.Load() == 0 {
		t.Log("no request saw Redis down; the restart fell between taps")
	}
}
