package cart

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/redistest"
)

// The flash sale's waitlist under load: how many units come back at once,
// and how many viewers wait for them.
const (
	flashUnits   = 100
	flashWaiting = 1000
)

// BenchmarkWaitlistOffers measures returned stock reaching a waitlist, end
// to end, on both stores. Before each op, off the clock, a product of
// flashUnits units is bought out by as many one-unit orders and
// flashWaiting viewers join its waitlist one after another. The op is the
// units coming back at once: the stream's host cancels every order, each
// from a goroutine of its own, and the op ends when every Cancel has
// returned (a Cancel returns after offering what it gave back). After each
// op, off the clock, the benchmark fails unless the first flashUnits
// viewers in line each hold one offer and were told of it once, nobody
// else holds one, the others still wait in the order they joined, and no
// unit is left on sale.
func BenchmarkWaitlistOffers(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchWaitlistOffers(b, NewMemoryStore(nil)) })
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		store, err := NewRedisStore(srv.Client(), RedisOptions{})
		if err != nil {
			b.Fatal(err)
		}
		benchWaitlistOffers(b, store)
	})
}

func benchWaitlistOffers(b *testing.B, store Store) {
	signer, _ := auth.NewSigner([]byte("k"), nil)
	offers := &offerTally{}
	s, err := New(Config{Signer: signer, Store: store, Events: offers, Owners: owners{"live1": "host1"}, Now: time.Now})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		sku := fmt.Sprint("flash", i)
		orders, line := flashSoldOut(b, s, sku)
		offers.reset()
		errs := make([]error, len(orders))
		var wg sync.WaitGroup
		b.StartTimer()
		for j, id := range orders {
			wg.Go(func() { _, errs[j] = s.Cancel(ctx, seedHost, id) })
		}
		wg.Wait()
		b.StopTimer()
		for _, err := range errs {
			if err != nil {
				b.Fatalf("cancel: %v", err)
			}
		}
		flashVerify(b, store, sku, line, offers)
	}
}

// flashSoldOut puts sku (flashUnits units) in live1's lineup, sells it out
// to flashUnits buyers of one unit each and lines flashWaiting viewers up
// for it. It returns the orders and the viewers in the order they joined.
func flashSoldOut(b *testing.B, s *Shop, sku string) (orders, line []string) {
	b.Helper()
	ctx := b.Context()
	if _, err := s.PutProduct(ctx, seedHost, Product{SKU: sku, Name: "Flash", PriceCents: 500, Currency: "EUR", Stock: flashUnits}); err != nil {
		b.Fatal(err)
	}
	if err := s.PutLineup(ctx, seedAdmin, "live1", []string{sku}); err != nil {
		b.Fatal(err)
	}
	for j := range flashUnits {
		o, _, err := s.Buy(ctx, viewer(fmt.Sprintf("%s-b%d", sku, j)), "live1", BuyBody{SKU: sku, Qty: 1}, "k", "fp")
		if err != nil {
			b.Fatal(err)
		}
		orders = append(orders, o.ID)
	}
	for j := range flashWaiting {
		u := fmt.Sprintf("%s-w%04d", sku, j)
		place, err := s.JoinWaitlist(ctx, viewer(u), "live1", sku)
		if err != nil {
			b.Fatal(err)
		}
		if place.Position != j+1 {
			b.Fatalf("%s joined at %d, want %d", u, place.Position, j+1)
		}
		line = append(line, u)
	}
	return orders, line
}

// flashVerify fails b unless the first flashUnits of line each hold one
// offer of sku and were told of it once, nobody else holds one or was
// told of one, the rest of line still waits in order, and sku's stock is 0.
func flashVerify(b *testing.B, store Store, sku string, line []string, offers *offerTally) {
	b.Helper()
	ctx := b.Context()
	for j, u := range line {
		rec, err := store.Record(ctx, offerKey("live1", sku, u))
		if err != nil {
			b.Fatal(err)
		}
		if held := rec != nil; held != (j < flashUnits) {
			b.Fatalf("viewer %d in line (%s) holds an offer: %v; want %v", j+1, u, held, j < flashUnits)
		}
		if got, want := offers.held(u), min(1, max(0, flashUnits-j)); got != want {
			b.Fatalf("viewer %d in line (%s) was told of %d offers, want %d", j+1, u, got, want)
		}
	}
	if n := offers.total(); n != flashUnits {
		b.Fatalf("%d offers told, want %d", n, flashUnits)
	}
	rest, err := store.List(ctx, waitKey("live1", sku))
	if err != nil {
		b.Fatal(err)
	}
	if !slices.Equal(rest, line[flashUnits:]) {
		b.Fatalf("the line holds %d viewers (first %q), want the last %d in order", len(rest), rest[:min(3, len(rest))], len(line)-flashUnits)
	}
	p, err := store.Product(ctx, sku)
	if err != nil {
		b.Fatal(err)
	}
	if p.Stock != 0 {
		b.Fatalf("stock of %s is %d after the offers, want 0", sku, p.Stock)
	}
}

// offerTally counts the offers the shop tells viewers of, per viewer, and
// drops every other event. It is safe for concurrent use.
type offerTally struct {
	mu sync.Mutex
	by map[string]int
}

func (t *offerTally) reset() {
	t.mu.Lock()
	t.by = map[string]int{}
	t.mu.Unlock()
}

func (t *offerTally) held(user string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.by[user]
}

func (t *offerTally) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, v := range t.by {
		n += v
	}
	return n
}

func (t *offerTally) Offer(_, user, _ string, heldUntil time.Time) {
	if heldUntil.IsZero() {
		return
	}
	t.mu.Lock()
	if t.by == nil {
		t.by = map[string]int{}
	}
	t.by[user]++
	t.mu.Unlock()
}

func (t *offerTally) StockChanged(string, string, int)        {}
func (t *offerTally) OrderPlaced(string, string, int, string) {}
func (t *offerTally) ProductCard(string, *Card)               {}
func (t *offerTally) CouponChanged(string, *Coupon)           {}
