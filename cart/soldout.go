package cart

import (
	"sync"
	"time"
)

// soldOutTTL bounds how long a sold-out mark is trusted without news: a
// mark is normally cleared by the stock change that refills the product,
// and this only limits the harm of a change that never arrived.
const soldOutTTL = 5 * time.Second

// soldOut remembers, per sku, the newest stock this node has heard of (by
// version), so that taps on a sold-out product are answered without asking
// the store. Changes come from this node's own operations and from every
// node through Store.WatchStock; versions order them whichever path is
// faster.
type soldOut struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]stockSeen
}

type stockSeen struct {
	stock   int
	version int64
	at      time.Time
}

func (s *soldOut) init(now func() time.Time) {
	s.now = now
	s.m = make(map[string]stockSeen)
}

// observe records a stock level seen at a version; older news is ignored.
func (s *soldOut) observe(ch StockChange) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[ch.SKU]; ok && old.version > ch.Version {
		return
	}
	// A product with stock is kept too: its version stops older news of
	// zero from marking it sold out again.
	s.m[ch.SKU] = stockSeen{stock: ch.Stock, version: ch.Version, at: s.now()}
}

// isSoldOut reports whether sku is known to be sold out.
func (s *soldOut) isSoldOut(sku string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[sku]
	return ok && v.stock <= 0 && s.now().Sub(v.at) < soldOutTTL
}

// reset forgets everything, after changes may have been missed.
func (s *soldOut) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.m)
}
