package cart

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/redistest"
)

// Storms: many buyers racing for few units, redemptions or places, on one
// node (every store) and on two nodes sharing Redis. Whatever the
// interleaving, no rule is broken: no unit oversold, no buyer over its
// limit, no coupon over its redemptions, every returned unit offered once
// and in join order.

// stormShops are the shops ("nodes") a storm runs on; they share a store.
type stormShops []*Shop

func (ss stormShops) node(i int) *Shop { return ss[i%len(ss)] }

// stormSetup puts the products and coupons of the storms in place.
func stormSetup(t *testing.T, s *Shop) {
	t.Helper()
	ctx := t.Context()
	limit := 2
	in := ProductInput{Name: "Tee", PriceCents: 2000, Currency: "EUR", LimitPerBuyer: &limit,
		Variants: []VariantInput{{SKU: "tee-s", Label: "S", Stock: 1000}, {SKU: "tee-m", Label: "M", Stock: 10}}}
	if _, err := s.PutProductInput(ctx, seedHost, "tee", in); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutProduct(ctx, seedHost, Product{SKU: "mug", Name: "Mug", PriceCents: 1000, Currency: "EUR", Stock: 1000}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutLineup(ctx, seedAdmin, "live1", []string{"tee", "mug"}); err != nil {
		t.Fatal(err)
	}
	pct := int64(10)
	if _, err := s.CreateCoupon(ctx, seedAdmin, "live1", CouponInput{Code: "STORM", PercentOff: &pct, MaxRedemptions: 15}); err != nil {
		t.Fatal(err)
	}
}

// storm runs n goroutines of f at once and waits for them.
func storm(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() { <-start; f(i) })
	}
	close(start)
	wg.Wait()
}

func runStorms(t *testing.T, ss stormShops, st Store) {
	ctx := context.Background()
	stormSetup(t, ss[0])

	t.Run("limit", func(t *testing.T) {
		// 20 buyers, each tapping 6 times at once on S and M: 2 units
		// each, variants together, however the taps interleave.
		var placed sync.Map
		storm(120, func(i int) {
			buyer := fmt.Sprint("lim", i%20)
			sku := "tee-s"
			if i%3 == 0 {
				sku = "tee-m"
			}
			o, _, err := ss.node(i).Buy(ctx, viewer(buyer), "live1", BuyBody{SKU: sku, Qty: 1}, fmt.Sprint("k", i), "fp")
			switch {
			case err == nil:
				v, _ := placed.LoadOrStore(buyer, new(atomic.Int64))
				v.(*atomic.Int64).Add(int64(o.Items[0].Qty))
			case api.CodeOf(err) != api.LimitReached && api.CodeOf(err) != api.OutOfStock:
				t.Errorf("buy: %v", err)
			}
		})
		for b := range 20 {
			v, _ := placed.Load(fmt.Sprint("lim", b))
			if v == nil || v.(*atomic.Int64).Load() != 2 {
				t.Errorf("buyer lim%d has %v units, want exactly 2", b, v)
			}
		}
	})

	t.Run("coupon", func(t *testing.T) {
		// 60 buyers race for a coupon redeemed at most 15 times.
		var used atomic.Int64
		storm(60, func(i int) {
			o, _, err := ss.node(i).Buy(ctx, viewer(fmt.Sprint("cpn", i)), "live1", BuyBody{SKU: "mug", Qty: 1, Coupon: "STORM"}, "k", "fp")
			switch {
			case err == nil && o.DiscountCents == 100:
				used.Add(1)
			case err == nil:
				t.Errorf("order %+v without its discount", o)
			case api.CodeOf(err) != api.CouponInvalid:
				t.Errorf("buy: %v", err)
			}
		})
		if used.Load() != 15 {
			t.Fatalf("%d orders used the coupon, want exactly 15", used.Load())
		}
		n, _ := st.Counters(ctx, []string{couponKey("live1", "STORM")})
		if n[0] != 15 {
			t.Fatalf("redemptions counted %d, want 15", n[0])
		}
	})

	t.Run("variant", func(t *testing.T) {
		// M has units left after the limit storm; 100 new buyers race for them.
		p, _ := st.Product(ctx, "tee-m")
		left := p.Stock
		var got atomic.Int64
		storm(100, func(i int) {
			_, _, err := ss.node(i).Buy(ctx, viewer(fmt.Sprint("var", i)), "live1", BuyBody{SKU: "tee-m", Qty: 1}, "k", "fp")
			if err == nil {
				got.Add(1)
			} else if api.CodeOf(err) != api.OutOfStock {
				t.Errorf("buy: %v", err)
			}
		})
		if p, _ := st.Product(ctx, "tee-m"); got.Load() != int64(left) || p.Stock != 0 {
			t.Fatalf("%d bought of %d, stock now %d", got.Load(), left, p.Stock)
		}
	})

	t.Run("waitlist", func(t *testing.T) {
		// 200 viewers wait for M, joining at once; 10 units come back at
		// once (cancels): each is offered once, to the first 10 in line.
		storm(200, func(i int) {
			if _, err := ss.node(i).JoinWaitlist(ctx, viewer(fmt.Sprint("w", i)), "live1", "tee-m"); err != nil {
				t.Errorf("join: %v", err)
			}
		})
		line, err := st.List(ctx, waitKey("live1", "tee-m"))
		if err != nil || len(line) != 200 {
			t.Fatalf("line of %d, %v; want 200", len(line), err)
		}
		orders, _, err := st.Orders(ctx, OrderIndex{Stream: "live1"}, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var cancels []Order
		for _, o := range orders {
			if o.Items[0].SKU == "tee-m" && len(cancels) < 10 {
				cancels = append(cancels, o)
			}
		}
		storm(len(cancels), func(i int) {
			if _, err := ss.node(i).Cancel(ctx, seedAdmin, cancels[i].ID); err != nil {
				t.Errorf("cancel: %v", err)
			}
		})
		checkOffered(t, st, "tee-m", line, len(cancels))
	})
	t.Run("waitlist, a hundred back at once", func(t *testing.T) {
		// 100 units sold to 100 buyers, 300 viewers waiting in a known
		// order; the 100 orders are cancelled at once, on every node: the
		// first 100 in line each hold one offer, the others still wait in
		// order, and no unit is left on sale.
		const units, waiting = 100, 300
		s := ss.node(0)
		if _, err := s.PutProduct(ctx, seedHost, Product{SKU: "cap", Name: "Cap", PriceCents: 900, Currency: "EUR", Stock: units}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutLineup(ctx, seedAdmin, "live1", []string{"tee", "mug", "cap"}); err != nil {
			t.Fatal(err)
		}
		ids := make([]string, units)
		for i := range ids {
			o, _, err := s.Buy(ctx, viewer(fmt.Sprint("capb", i)), "live1", BuyBody{SKU: "cap", Qty: 1}, "k", "fp")
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = o.ID
		}
		line := make([]string, waiting)
		for i := range line {
			line[i] = fmt.Sprintf("capw%03d", i)
			if _, err := ss.node(i).JoinWaitlist(ctx, viewer(line[i]), "live1", "cap"); err != nil {
				t.Fatal(err)
			}
		}
		storm(units, func(i int) {
			if _, err := ss.node(i).Cancel(ctx, seedAdmin, ids[i]); err != nil {
				t.Errorf("cancel: %v", err)
			}
		})
		checkOffered(t, st, "cap", line, units)
	})
}

// checkOffered fails t unless, of the viewers waiting for sku in live1 in
// the order of line, the first n each hold an offer and nobody else does,
// the others still wait in order, and no unit of sku is left on sale.
func checkOffered(t *testing.T, st Store, sku string, line []string, n int) {
	t.Helper()
	ctx := t.Context()
	offered := 0
	for i, u := range line {
		rec, err := st.Record(ctx, offerKey("live1", sku, u))
		if err != nil {
			t.Fatal(err)
		}
		if (rec != nil) != (i < n) {
			t.Errorf("%s, #%d in line: offer %v, want one for the first %d", u, i+1, rec != nil, n)
		}
		if rec != nil {
			offered++
		}
	}
	rest, _ := st.List(ctx, waitKey("live1", sku))
	if p, _ := st.Product(ctx, sku); offered != n || p.Stock != 0 || !slices.Equal(rest, line[n:]) {
		t.Fatalf("%d offered of %d returned, stock %d, %d still waiting", offered, n, p.Stock, len(rest))
	}
}

func testStorms(t *testing.T, h *harness) {
	runStorms(t, stormShops{h.shop}, h.store)
}

// Two nodes on one Redis: the same storms, every other request on the
// other node.
func TestRedisStormsAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := redisShop(t, mustRedisStore(t, srv), time.Minute)
	b, _ := redisShop(t, mustRedisStore(t, srv), time.Minute)
	runStorms(t, stormShops{a, b}, mustRedisStore(t, srv))
}

// A Redis killed (-9) and restarted from its append-only file in the
// middle of a coupon storm loses no acknowledged order and redeems the
// coupon no more than it allows.
func TestRedisKillDuringCouponStorm(t *testing.T) {
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
	seed(t, s, "hot", 10_000)
	const max = 150
	pct := int64(50)
	if _, err := s.CreateCoupon(t.Context(), seedAdmin, "live1", CouponInput{Code: "HALF", PercentOff: &pct, MaxRedemptions: max}); err != nil {
		t.Fatal(err)
	}
	var acked sync.Map // order id → struct{}
	var placed, unavailable atomic.Int64
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				buyer := fmt.Sprintf("b%d-%d", i, n)
				for ctx.Err() == nil { // retry the same tap until it has an answer
					o, _, err := s.Buy(context.Background(), viewer(buyer), "live1", BuyBody{SKU: "hot", Qty: 1, Coupon: "HALF"}, "tap", "fp")
					if err == nil {
						acked.Store(o.ID, struct{}{})
						placed.Add(1)
						break
					}
					if api.CodeOf(err) != api.Unavailable {
						if api.CodeOf(err) == api.CouponInvalid {
							return // used up
						}
						t.Errorf("buy: %v", err)
						return
					}
					unavailable.Add(1)
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	eventually(t, "a third of the redemptions", func() bool { return placed.Load() >= max/3 })
	srv.Kill()
	time.Sleep(100 * time.Millisecond)
	srv.StartAgain()
	wg.Wait()
	stop()
	t.Logf("acknowledged %d orders, %d unavailable answers", placed.Load(), unavailable.Load())

	used, err := store.Counters(t.Context(), []string{couponKey("live1", "HALF")})
	if err != nil {
		t.Fatal(err)
	}
	withCoupon := 0
	cursor := ""
	for {
		orders, next, err := store.Orders(t.Context(), OrderIndex{Stream: "live1"}, cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range orders {
			if o.Coupon == "HALF" {
				withCoupon++
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if used[0] > max || int64(withCoupon) != used[0] {
		t.Fatalf("coupon counted %d redemptions, %d orders carry it; want them equal and at most %d", used[0], withCoupon, max)
	}
	acked.Range(func(k, _ any) bool {
		if o, _, err := store.Order(t.Context(), k.(string)); err != nil || o.Status != StatusPlaced {
			t.Errorf("acknowledged order %s: %+v, %v", k, o, err)
		}
		return true
	})
}
