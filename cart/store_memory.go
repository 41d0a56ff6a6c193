package cart

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

var _ Store = (*MemoryStore)(nil)

// MemoryStore is the in-process Store: one node, nothing survives a
// restart. Every read and every Apply runs under one mutex, which makes
// each atomic. It applies plans as RedisStore does and decides nothing.
type MemoryStore struct {
	now func() time.Time

	mu        sync.Mutex
	products  map[string]*memProduct
	showcases map[string]*Showcase
	inLineups map[string]map[string]bool // sku → streams
	carts     map[string]*StoredCart
	holds     map[string]time.Time // user → held until
	orders    map[string][]byte
	byUser    map[string][]string // ascending order ids
	byStream  map[string][]string
	counters  map[string]int64
	records   map[string]memRecord
	lists     map[string][]string
	uniques   map[string]map[string]bool
	idem      map[string]idemRecord // user \x00 key
	events    []OrderEvent
	pruned    time.Time

	watchMu  sync.Mutex
	watchers map[*func(StockChange)]struct{}
}

type memProduct struct {
	Product
	version int64
}

type memRecord struct {
	value   []byte
	due     time.Time // zero: not due
	expires time.Time // zero: kept
}

type idemRecord struct {
	record  []byte
	expires time.Time
}

// OrderEvent is one entry of the memory store's fulfilment log, what the
// Redis store appends to livecart:orders.
type OrderEvent struct {
	Event, OrderID, Stream string
	Order                  []byte
}

// NewMemoryStore returns an empty MemoryStore. now (nil: time.Now) only
// ages idempotency records.
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{
		now:       now,
		products:  make(map[string]*memProduct),
		showcases: make(map[string]*Showcase),
		inLineups: make(map[string]map[string]bool),
		carts:     make(map[string]*StoredCart),
		holds:     make(map[string]time.Time),
		orders:    make(map[string][]byte),
		byUser:    make(map[string][]string),
		byStream:  make(map[string][]string),
		counters:  make(map[string]int64),
		records:   make(map[string]memRecord),
		lists:     make(map[string][]string),
		uniques:   make(map[string]map[string]bool),
		idem:      make(map[string]idemRecord),
		watchers:  make(map[*func(StockChange)]struct{}),
	}
}

// Product implements Store.
func (m *MemoryStore) Product(ctx context.Context, sku string) (Product, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.products[sku]
	if !ok {
		return Product{}, productNotFound(sku)
	}
	out := p.Product
	out.Variants = slices.Clone(p.Variants)
	return out, nil
}

// Products implements Store.
func (m *MemoryStore) Products(ctx context.Context, skus []string) ([]Product, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Product
	for _, sku := range skus {
		if p, ok := m.products[sku]; ok {
			pr := p.Product
			pr.Variants = slices.Clone(p.Variants)
			out = append(out, pr)
		}
	}
	return out, nil
}

// Showcase implements Store.
func (m *MemoryStore) Showcase(ctx context.Context, stream string) (Showcase, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sc, ok := m.showcases[stream]
	if !ok {
		return Showcase{}, nil
	}
	return cloneShowcase(*sc), nil
}

// Cart implements Store.
func (m *MemoryStore) Cart(ctx context.Context, user string) (StoredCart, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.carts[user]
	if !ok {
		return StoredCart{}, nil
	}
	out := *c
	out.Lines = slices.Clone(c.Lines)
	return out, nil
}

// Order implements Store.
func (m *MemoryStore) Order(ctx context.Context, id string) (Order, []byte, error) {
	m.mu.Lock()
	raw, ok := m.orders[id]
	m.mu.Unlock()
	if !ok {
		return Order{}, nil, ErrOrderNotFound
	}
	var o Order
	if err := json.Unmarshal(raw, &o); err != nil {
		return Order{}, nil, fmt.Errorf("cart: stored order %s: %w", id, err)
	}
	return o, slices.Clone(raw), nil
}

// Orders implements Store.
func (m *MemoryStore) Orders(ctx context.Context, by OrderIndex, cursor string, limit int) ([]Order, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := m.byUser[by.User]
	if by.Stream != "" {
		ids = m.byStream[by.Stream]
	}
	end := len(ids)
	if cursor != "" {
		end = sort.SearchStrings(ids, cursor)
	}
	var out []Order
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		var o Order
		if err := json.Unmarshal(m.orders[ids[i]], &o); err != nil {
			return nil, "", fmt.Errorf("cart: stored order %s: %w", ids[i], err)
		}
		out = append(out, o)
	}
	next := ""
	if len(out) == limit && end-limit > 0 {
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// HeldCarts implements Store.
func (m *MemoryStore) HeldCarts(ctx context.Context, until time.Time, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	type held struct {
		user string
		at   time.Time
	}
	var hs []held
	for u, at := range m.holds {
		if !at.After(until) {
			hs = append(hs, held{u, at})
		}
	}
	sort.Slice(hs, func(i, j int) bool {
		if !hs[i].at.Equal(hs[j].at) {
			return hs[i].at.Before(hs[j].at)
		}
		return hs[i].user < hs[j].user
	})
	var out []string
	for _, h := range hs[:min(limit, len(hs))] {
		out = append(out, h.user)
	}
	return out, nil
}

// Record implements Store.
func (m *MemoryStore) Record(ctx context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.record(key)
	if !ok {
		return nil, nil
	}
	return slices.Clone(r.value), nil
}

// record returns the live record under key; m.mu is held.
func (m *MemoryStore) record(key string) (memRecord, bool) {
	r, ok := m.records[key]
	if ok && !r.expires.IsZero() && !m.now().Before(r.expires) {
		delete(m.records, key)
		return memRecord{}, false
	}
	return r, ok
}

// DueRecords implements Store.
func (m *MemoryStore) DueRecords(ctx context.Context, until time.Time, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k := range m.records {
		if r, ok := m.record(k); ok && !r.due.IsZero() && !r.due.After(until) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := m.records[keys[i]].due, m.records[keys[j]].due
		if !a.Equal(b) {
			return a.Before(b)
		}
		return keys[i] < keys[j]
	})
	return keys[:min(limit, len(keys))], nil
}

// List implements Store.
func (m *MemoryStore) List(ctx context.Context, key string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.lists[key]), nil
}

// Counters implements Store.
func (m *MemoryStore) Counters(ctx context.Context, keys []string) ([]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int64, len(keys))
	for i, k := range keys {
		out[i] = m.counters[k]
	}
	return out, nil
}

// Unique implements Store; the memory store counts exactly.
func (m *MemoryStore) Unique(ctx context.Context, key string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.uniques[key])), nil
}

// Events returns the fulfilment log: every order event applied, in order.
func (m *MemoryStore) Events() []OrderEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events)
}

// Apply implements Store: it checks every precondition and bound, then
// writes, all under the store's lock.
func (m *MemoryStore) Apply(ctx context.Context, p Plan) (Applied, error) {
	m.mu.Lock()
	a, err := m.apply(p)
	m.mu.Unlock()
	m.notify(a.Changes)
	return a, err
}

func (m *MemoryStore) apply(p Plan) (Applied, error) {
	now := m.now()
	m.pruneIdem(now)
	if p.Idem != nil {
		if rec, ok := m.idem[idemKey(p.Idem.User, p.Idem.Key)]; ok && now.Before(rec.expires) {
			return Applied{Replay: slices.Clone(rec.record)}, nil
		}
	}
	for _, e := range p.Expect {
		if !m.expectHolds(e) {
			return Applied{}, &StaleError{Kind: e.Kind, ID: e.ID}
		}
	}
	for _, d := range p.Stock {
		pr, ok := m.products[d.SKU]
		if !ok {
			return Applied{}, &StaleError{Kind: ExpectProduct, ID: d.SKU}
		}
		if pr.Stock+d.Delta < 0 {
			return Applied{}, &OutOfStockError{SKU: d.SKU, Stock: pr.Stock, Version: pr.version}
		}
	}
	for _, c := range p.Counters {
		if c.Max > 0 && c.Delta > 0 && m.counters[c.Key]+c.Delta > c.Max {
			return Applied{}, &CounterError{Key: c.Key}
		}
	}

	var a Applied
	for _, w := range p.Products {
		np := &memProduct{Product: w}
		np.Variants = slices.Clone(w.Variants)
		np.Rev = 1
		if old, ok := m.products[w.SKU]; ok {
			np.Rev = old.Rev + 1
			np.version = old.version
		}
		np.Stock = 0
		m.products[w.SKU] = np
		a.Changes = append(a.Changes, m.bump(np, w.Stock))
	}
	if w := p.Showcase; w != nil {
		m.writeShowcase(w)
	}
	for _, d := range p.Stock {
		a.Changes = append(a.Changes, m.bump(m.products[d.SKU], d.Delta))
	}
	for _, c := range p.Counters {
		if v := m.counters[c.Key] + c.Delta; v > 0 {
			m.counters[c.Key] = v
		} else {
			delete(m.counters, c.Key)
		}
	}
	if w := p.Cart; w != nil {
		m.writeCart(w)
	}
	if w := p.Order; w != nil {
		m.orders[w.ID] = slices.Clone(w.JSON)
		if w.New {
			m.byUser[w.User] = insertSorted(m.byUser[w.User], w.ID)
			m.byStream[w.Stream] = insertSorted(m.byStream[w.Stream], w.ID)
		}
		if w.Event != "" {
			m.events = append(m.events, OrderEvent{Event: w.Event, OrderID: w.ID, Stream: w.Stream, Order: slices.Clone(w.JSON)})
		}
	}
	for _, w := range p.Records {
		if w.Value == nil {
			delete(m.records, w.Key)
			continue
		}
		r := memRecord{value: slices.Clone(w.Value), due: w.Due}
		if w.TTL > 0 {
			r.expires = now.Add(w.TTL)
		}
		m.records[w.Key] = r
	}
	for _, op := range p.Lists {
		l := m.lists[op.Key]
		if op.Remove != "" {
			l = slices.DeleteFunc(l, func(s string) bool { return s == op.Remove })
		}
		if op.Push != "" && !slices.Contains(l, op.Push) {
			l = append(l, op.Push)
		}
		if len(l) == 0 {
			delete(m.lists, op.Key)
		} else {
			m.lists[op.Key] = l
		}
	}
	for _, u := range p.Uniques {
		if m.uniques[u.Key] == nil {
			m.uniques[u.Key] = make(map[string]bool)
		}
		m.uniques[u.Key][u.Member] = true
	}
	for _, pk := range p.Peaks {
		if pk.Value > m.counters[pk.Key] {
			m.counters[pk.Key] = pk.Value
		}
	}
	if p.Idem != nil && p.Idem.Record != nil {
		m.idem[idemKey(p.Idem.User, p.Idem.Key)] = idemRecord{record: slices.Clone(p.Idem.Record), expires: now.Add(p.Idem.TTL)}
	}
	return a, nil
}

// expectHolds reports whether precondition e holds; m.mu is held.
func (m *MemoryStore) expectHolds(e Expect) bool {
	switch e.Kind {
	case ExpectProduct:
		p, ok := m.products[e.ID]
		if !ok {
			return e.Rev == 0
		}
		return p.Rev == e.Rev
	case ExpectShowcase:
		sc, ok := m.showcases[e.ID]
		if !ok {
			return e.Rev == 0
		}
		return sc.Rev == e.Rev
	case ExpectCart:
		c, ok := m.carts[e.ID]
		if !ok {
			return e.Rev == 0
		}
		return c.Rev == e.Rev
	case ExpectOrder:
		raw, ok := m.orders[e.ID]
		return ok && bytes.Equal(raw, e.Value)
	case ExpectRecord:
		r, ok := m.record(e.ID)
		if !ok {
			return e.Value == nil
		}
		return e.Value != nil && bytes.Equal(r.value, e.Value)
	}
	return false
}

// writeShowcase replaces a stream's lineup and pin and keeps the sku →
// streams index; m.mu is held.
func (m *MemoryStore) writeShowcase(w *ShowcaseWrite) {
	old, ok := m.showcases[w.Stream]
	rev := int64(1)
	if ok {
		rev = old.Rev + 1
		for _, sku := range old.Lineup {
			delete(m.inLineups[sku], w.Stream)
		}
	}
	for _, sku := range w.Lineup {
		if m.inLineups[sku] == nil {
			m.inLineups[sku] = make(map[string]bool)
		}
		m.inLineups[sku][w.Stream] = true
	}
	sc := Showcase{Lineup: slices.Clone(w.Lineup), Rev: rev}
	if w.Pin != nil {
		pin := *w.Pin
		sc.Pin = &pin
	}
	m.showcases[w.Stream] = &sc
}

// writeCart replaces or deletes a cart and its hold; m.mu is held.
func (m *MemoryStore) writeCart(w *CartWrite) {
	old, ok := m.carts[w.User]
	if !ok {
		old = &StoredCart{}
	}
	if w.Cart == nil {
		// A deleted cart keeps its revision, so that a plan read before
		// the delete cannot apply to a cart made after it.
		m.carts[w.User] = &StoredCart{Rev: old.Rev + 1}
		delete(m.holds, w.User)
		return
	}
	c := *w.Cart
	c.Lines = slices.Clone(w.Cart.Lines)
	c.Rev = old.Rev + 1
	m.carts[w.User] = &c
	if c.Held {
		m.holds[w.User] = c.HeldUntil
	} else {
		delete(m.holds, w.User)
	}
}

// bump changes p's stock by delta and returns the change; m.mu is held.
func (m *MemoryStore) bump(p *memProduct, delta int) StockChange {
	p.Stock += delta
	p.version++
	streams := make([]string, 0, len(m.inLineups[p.SKU]))
	for s := range m.inLineups[p.SKU] {
		streams = append(streams, s)
	}
	sort.Strings(streams)
	return StockChange{SKU: p.SKU, Stock: p.Stock, Version: p.version, Streams: streams}
}

// pruneIdem forgets expired idempotency records, at most once a minute;
// m.mu is held.
func (m *MemoryStore) pruneIdem(now time.Time) {
	if now.Sub(m.pruned) < time.Minute {
		return
	}
	m.pruned = now
	for k, r := range m.idem {
		if !now.Before(r.expires) {
			delete(m.idem, k)
		}
	}
}

func idemKey(user, key string) string { return user + "\x00" + key }

func insertSorted(ids []string, id string) []string {
	i := sort.SearchStrings(ids, id)
	if i < len(ids) && ids[i] == id {
		return ids
	}
	return slices.Insert(ids, i, id)
}

func cloneShowcase(sc Showcase) Showcase {
	sc.Lineup = slices.Clone(sc.Lineup)
	if sc.Pin != nil {
		pin := *sc.Pin
		sc.Pin = &pin
	}
	return sc
}

func (m *MemoryStore) notify(changes []StockChange) {
	if len(changes) == 0 {
		return
	}
	m.watchMu.Lock()
	fns := make([]func(StockChange), 0, len(m.watchers))
	for f := range m.watchers {
		fns = append(fns, *f)
	}
	m.watchMu.Unlock()
	for _, f := range fns {
		for _, ch := range changes {
			f(ch)
		}
	}
}

// WatchStock implements Store: it calls changed for every change until ctx
// ends. A memory store never misses one, so reset is never called.
func (m *MemoryStore) WatchStock(ctx context.Context, changed func(StockChange), reset func()) error {
	f := &changed
	m.watchMu.Lock()
	m.watchers[f] = struct{}{}
	m.watchMu.Unlock()
	<-ctx.Done()
	m.watchMu.Lock()
	delete(m.watchers, f)
	m.watchMu.Unlock()
	return nil
}

// Ping implements Store; a memory store always answers.
func (m *MemoryStore) Ping(ctx context.Context) error { return nil }
