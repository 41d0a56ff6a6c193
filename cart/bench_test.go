package cart

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/redistest"
)

// BenchmarkBuy measures one-tap buys through the Shop (validation, the
// store's atomic buy, events) on both stores, from parallel buyers.
func BenchmarkBuy(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchBuy(b, NewMemoryStore(nil)) })
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		store, err := NewRedisStore(srv.Client(), RedisOptions{})
		if err != nil {
			b.Fatal(err)
		}
		benchBuy(b, store)
	})
}

func benchBuy(b *testing.B, store Store) {
	signer, _ := auth.NewSigner([]byte("k"), nil)
	s, err := New(Config{Signer: signer, Store: store, Owners: owners{"live1": "host1"}, Now: time.Now})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	if _, err := s.PutProduct(ctx, seedHost, Product{SKU: "hot", Name: "Hot", PriceCents: 100, Currency: "EUR", Stock: MaxStock}); err != nil {
		b.Fatal(err)
	}
	if err := s.PutLineup(ctx, seedAdmin, "live1", []string{"hot"}); err != nil {
		b.Fatal(err)
	}
	var buyer atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		p := viewer(fmt.Sprint("b", buyer.Add(1)))
		mine := make([]time.Duration, 0, 1024)
		for n := 0; pb.Next(); n++ {
			start := time.Now()
			if _, _, err := s.Buy(ctx, p, "live1", BuyBody{SKU: "hot", Qty: 1}, fmt.Sprint("k", n), "fp"); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "buys/s")
	}
}
