package cart

import (
	"context"
	"math"
	"sync"

	"github.com/livecart/livecart/auth"
)

// The show's funnel: unique viewers, their peak, card views, carts,
// orders, units and revenue, in all and per product. Orders, units,
// revenue and carts are counted by the same plans that place orders and
// fill carts, so they are exact and shared by every node; viewers and
// card views come from the room, are buffered here and flushed every
// flushEvery in one plan per stream.

// Stats is the funnel of a stream as GET /api/streams/{id}/stats answers it.
type Stats struct {
	Viewers      int64          `json:"viewers"`
	PeakViewers  int64          `json:"peak_viewers"`
	CardViews    int64          `json:"card_views"`
	Carts        int64          `json:"carts"`
	Orders       int64          `json:"orders"`
	Units        int64          `json:"units"`
	RevenueCents int64          `json:"revenue_cents"`
	Currency     *string        `json:"currency"`
	Conversion   float64        `json:"conversion"`
	Products     []ProductStats `json:"products"`
}

// ProductStats is the funnel of one lineup product (its variants
// together).
type ProductStats struct {
	SKU          string `json:"sku"`
	Name         string `json:"name"`
	CardViews    int64  `json:"card_views"`
	Carts        int64  `json:"carts"`
	Orders       int64  `json:"orders"`
	Units        int64  `json:"units"`
	RevenueCents int64  `json:"revenue_cents"`
}

// viewBuffer holds the room's figures until the next flush.
type viewBuffer struct {
	mu      sync.Mutex
	viewers map[string]map[string]bool // stream → viewer keys seen
	peaks   map[string]int64           // stream → highest count seen
	cards   map[[2]string]int64        // (stream, sku) → card views
}

// Viewed records that viewer (a sub, or an anonymous connection's id)
// joined stream's room, and saw its pinned card when there is one. It
// returns at once; the figures reach the store at the next flush.
func (s *Shop) Viewed(stream, viewer string) {
	b := &s.views
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.viewers == nil {
		b.viewers = make(map[string]map[string]bool)
	}
	if b.viewers[stream] == nil {
		b.viewers[stream] = make(map[string]bool)
	}
	b.viewers[stream][viewer] = true
	s.metrics.funnel.WithLabelValues("joins").Inc()
	if sku := s.pinnedSKU(stream); sku != "" {
		s.cardViewsLocked(stream, sku, 1)
	}
}

// ViewersNow records stream's viewer count (for its peak).
func (s *Shop) ViewersNow(stream string, count int) {
	b := &s.views
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.peaks == nil {
		b.peaks = make(map[string]int64)
	}
	b.peaks[stream] = max(b.peaks[stream], int64(count))
}

// CardShown records that stream's card of sku was shown to viewers
// viewers at once (when it was pinned).
func (s *Shop) CardShown(stream, sku string, viewers int) {
	if viewers <= 0 || sku == "" {
		return
	}
	s.views.mu.Lock()
	defer s.views.mu.Unlock()
	s.cardViewsLocked(stream, sku, int64(viewers))
}

func (s *Shop) cardViewsLocked(stream, sku string, n int64) {
	s.metrics.funnel.WithLabelValues("card_views").Add(float64(n))
	b := &s.views
	if b.cards == nil {
		b.cards = make(map[[2]string]int64)
	}
	b.cards[[2]string{stream, sku}] += n
}

// pinnedSKU is the sku pinned in stream as this node last read it.
func (s *Shop) pinnedSKU(stream string) string {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	if sc, ok := s.cache.showcases[stream]; ok && sc.Pin != nil {
		return sc.Pin.SKU
	}
	return ""
}

// flushStats writes the buffered figures, one plan per stream.
func (s *Shop) flushStats(ctx context.Context) {
	b := &s.views
	b.mu.Lock()
	viewers, peaks, cards := b.viewers, b.peaks, b.cards
	b.viewers, b.peaks, b.cards = nil, nil, nil
	b.mu.Unlock()
	plans := map[string]*Plan{}
	plan := func(stream string) *Plan {
		if plans[stream] == nil {
			plans[stream] = &Plan{}
		}
		return plans[stream]
	}
	for stream, vs := range viewers {
		p := plan(stream)
		for v := range vs {
			p.Uniques = append(p.Uniques, UniqueAdd{Key: statKey(stream, "viewers"), Member: v})
		}
	}
	for stream, n := range peaks {
		plan(stream).Peaks = append(plan(stream).Peaks, CounterPeak{Key: statKey(stream, "peak"), Value: n})
	}
	for k, n := range cards {
		p := plan(k[0])
		p.Counters = append(p.Counters,
			CounterDelta{Key: statKey(k[0], "cards"), Delta: n},
			CounterDelta{Key: statProductKey(k[0], k[1], "cards"), Delta: n})
	}
	for stream, p := range plans {
		p.Counters = mergeCounters(p.Counters)
		if _, err := s.store.Apply(ctx, *p); err != nil {
			s.log.Warn("cart: flushing the funnel's figures", "stream", stream, "err", err)
		}
	}
}

// mergeCounters adds up deltas of the same key, as a plan takes one per key.
func mergeCounters(cs []CounterDelta) []CounterDelta {
	idx := map[string]int{}
	var out []CounterDelta
	for _, c := range cs {
		if i, ok := idx[c.Key]; ok {
			out[i].Delta += c.Delta
			continue
		}
		idx[c.Key] = len(out)
		out = append(out, c)
	}
	return out
}

// Stats returns stream's funnel for p, who must moderate it.
func (s *Shop) Stats(ctx context.Context, p *auth.Principal, stream string) (Stats, error) {
	if err := validStream(stream); err != nil {
		return Stats{}, err
	}
	if err := s.check(ctx, p, auth.Moderate, stream); err != nil {
		return Stats{}, err
	}
	sc, err := s.store.Showcase(ctx, stream)
	if err != nil {
		return Stats{}, storeErr(err)
	}
	prods, err := s.store.Products(ctx, sc.Lineup)
	if err != nil {
		return Stats{}, storeErr(err)
	}
	lineup := present(prods, nil, s.now())
	keys := []string{"peak", "cards", "carts", "orders", "units", "revenue"}
	all := make([]string, 0, len(keys)*(1+len(lineup)))
	for _, k := range keys {
		all = append(all, statKey(stream, k))
	}
	for _, p := range lineup {
		for _, k := range keys[1:] {
			all = append(all, statProductKey(stream, p.SKU, k))
		}
	}
	vals, err := s.store.Counters(ctx, all)
	if err != nil {
		return Stats{}, storeErr(err)
	}
	unique, err := s.store.Unique(ctx, statKey(stream, "viewers"))
	if err != nil {
		return Stats{}, storeErr(err)
	}
	st := Stats{Viewers: unique, PeakViewers: vals[0], CardViews: vals[1], Carts: vals[2], Orders: vals[3],
		Units: vals[4], RevenueCents: vals[5], Products: make([]ProductStats, 0, len(lineup))}
	if st.Viewers > 0 {
		st.Conversion = math.Round(float64(st.Orders)/float64(st.Viewers)*10000) / 10000
	}
	for i, p := range lineup {
		v := vals[len(keys)+i*(len(keys)-1):]
		st.Products = append(st.Products, ProductStats{SKU: p.SKU, Name: p.Name, CardViews: v[0], Carts: v[1], Orders: v[2], Units: v[3], RevenueCents: v[4]})
		if st.Currency == nil {
			cur := p.Currency
			st.Currency = &cur
		}
	}
	return st, nil
}
