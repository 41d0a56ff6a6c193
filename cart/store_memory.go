package cart

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

var _ Store = (*MemoryStore)(nil)

// MemoryStore is the in-process Store: one node, nothing survives a
// restart. Every operation runs under one mutex, which makes each atomic.
type MemoryStore struct {
	now func() time.Time

	mu        sync.Mutex
	products  map[string]*memProduct
	lineups   map[string][]string
	members   map[string]map[string]bool // stream → skus
	inLineups map[string]map[string]bool // sku → streams
	pins      map[string]Pin
	carts     map[string]*memCart
	orders    map[string]*Order
	byUser    map[string][]string // ascending order ids
	byStream  map[string][]string
	idem      map[Idem]idemRecord // Fingerprint left empty in the key
	pruned    time.Time

	watchMu  sync.Mutex
	watchers map[*func(StockChange)]struct{}
}

type memProduct struct {
	Product
	version int64
}

type memCart struct {
	stream, currency string
	until            time.Time
	held             bool
	lines            []StoredLine // sorted by sku
}

type idemRecord struct {
	fingerprint string
	order       Order
	at          time.Time
}

// NewMemoryStore returns an empty MemoryStore. now (nil: time.Now) only
// ages idempotency records; holds and prices follow the times in requests.
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{
		now:       now,
		products:  make(map[string]*memProduct),
		lineups:   make(map[string][]string),
		members:   make(map[string]map[string]bool),
		inLineups: make(map[string]map[string]bool),
		pins:      make(map[string]Pin),
		carts:     make(map[string]*memCart),
		orders:    make(map[string]*Order),
		byUser:    make(map[string][]string),
		byStream:  make(map[string][]string),
		idem:      make(map[Idem]idemRecord),
		watchers:  make(map[*func(StockChange)]struct{}),
	}
}

// PutProduct implements Store.
func (m *MemoryStore) PutProduct(ctx context.Context, p Product, create bool) (bool, StockChange, error) {
	m.mu.Lock()
	old, ok := m.products[p.SKU]
	if ok == create || (ok && old.Owner != p.Owner) {
		m.mu.Unlock()
		return false, StockChange{}, fmt.Errorf("put product %s: %w", p.SKU, ErrProductChanged)
	}
	np := &memProduct{Product: p}
	if ok {
		np.version = old.version
	}
	m.products[p.SKU] = np
	ch := m.bump(np, 0)
	m.mu.Unlock()
	m.notify([]StockChange{ch})
	return !ok, ch, nil
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

// Product implements Store.
func (m *MemoryStore) Product(ctx context.Context, sku string) (Product, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.products[sku]
	if !ok {
		return Product{}, productNotFound(sku)
	}
	return p.Product, nil
}

// Products implements Store.
func (m *MemoryStore) Products(ctx context.Context, skus []string) ([]Product, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Product
	for _, sku := range skus {
		if p, ok := m.products[sku]; ok {
			out = append(out, p.Product)
		}
	}
	return out, nil
}

// SetLineup implements Store.
func (m *MemoryStore) SetLineup(ctx context.Context, stream string, skus []string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, sku := range skus {
		if _, ok := m.products[sku]; !ok {
			return false, productNotFound(sku)
		}
	}
	for sku := range m.members[stream] {
		delete(m.inLineups[sku], stream)
	}
	set := make(map[string]bool, len(skus))
	for _, sku := range skus {
		set[sku] = true
		if m.inLineups[sku] == nil {
			m.inLineups[sku] = make(map[string]bool)
		}
		m.inLineups[sku][stream] = true
	}
	m.members[stream] = set
	m.lineups[stream] = slices.Clone(skus)
	if pin, ok := m.pins[stream]; ok && !set[pin.SKU] {
		delete(m.pins, stream)
		return true, nil
	}
	return false, nil
}

// Lineup implements Store.
func (m *MemoryStore) Lineup(ctx context.Context, stream string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.lineups[stream]), nil
}

// SetPin implements Store.
func (m *MemoryStore) SetPin(ctx context.Context, stream string, pin *Pin) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if pin == nil {
		delete(m.pins, stream)
		return nil
	}
	if !m.members[stream][pin.SKU] {
		return notInLineup(stream, pin.SKU)
	}
	m.pins[stream] = *pin
	return nil
}

// Pin implements Store.
func (m *MemoryStore) Pin(ctx context.Context, stream string) (*Pin, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pin, ok := m.pins[stream]
	if !ok {
		return nil, nil
	}
	return &pin, nil
}

// replay looks idem up; m.mu is held. ok reports a record.
func (m *MemoryStore) replay(id Idem) (Placed, bool, error) {
	k := Idem{User: id.User, Key: id.Key}
	rec, ok := m.idem[k]
	if !ok {
		return Placed{}, false, nil
	}
	if m.now().Sub(rec.at) >= IdempotencyTTL {
		delete(m.idem, k)
		return Placed{}, false, nil
	}
	if rec.fingerprint != id.Fingerprint {
		return Placed{}, true, ErrIdempotencyMismatch
	}
	return Placed{Order: cloneOrder(rec.order), Replayed: true}, true, nil
}

// place saves a new order and its idempotency record; m.mu is held.
func (m *MemoryStore) place(id Idem, o *Order) {
	m.orders[o.ID] = o
	m.byUser[o.User] = insertSorted(m.byUser[o.User], o.ID)
	m.byStream[o.Stream] = insertSorted(m.byStream[o.Stream], o.ID)
	m.idem[Idem{User: id.User, Key: id.Key}] = idemRecord{fingerprint: id.Fingerprint, order: cloneOrder(*o), at: m.now()}
}

func insertSorted(ids []string, id string) []string {
	i := sort.SearchStrings(ids, id)
	return slices.Insert(ids, i, id)
}

// Buy implements Store.
func (m *MemoryStore) Buy(ctx context.Context, req BuyRequest) (Placed, error) {
	m.mu.Lock()
	placed, err := m.buy(req)
	m.mu.Unlock()
	m.notify(placed.Changes)
	return placed, err
}

func (m *MemoryStore) buy(req BuyRequest) (Placed, error) {
	if placed, ok, err := m.replay(req.Idem); ok || err != nil {
		return placed, err
	}
	if !m.members[req.Stream][req.SKU] {
		return Placed{}, notInLineup(req.Stream, req.SKU)
	}
	p, ok := m.products[req.SKU]
	if !ok {
		return Placed{}, productNotFound(req.SKU)
	}
	if p.Stock < req.Qty {
		return Placed{}, &OutOfStockError{SKU: p.SKU, Stock: p.Stock, Version: p.version}
	}
	ch := m.bump(p, -req.Qty)
	price := PriceAt(p.Product, m.pin(req.Stream), req.Now)
	o := &Order{
		ID: req.OrderID, User: req.Idem.User, Stream: req.Stream,
		Items:      []OrderItem{{SKU: p.SKU, Name: p.Name, Qty: req.Qty, UnitPriceCents: price}},
		TotalCents: price * int64(req.Qty), Currency: p.Currency, Status: StatusPlaced,
		CreatedAt: req.Now.UTC().Truncate(time.Millisecond),
	}
	m.place(req.Idem, o)
	return Placed{Order: cloneOrder(*o), Changes: []StockChange{ch}}, nil
}

func (m *MemoryStore) pin(stream string) *Pin {
	if pin, ok := m.pins[stream]; ok {
		return &pin
	}
	return nil
}

// lapse gives back the stock of c when its hold has ended; m.mu is held.
func (m *MemoryStore) lapse(c *memCart, now time.Time) []StockChange {
	if c == nil || !c.held || now.Before(c.until) {
		return nil
	}
	var changes []StockChange
	for _, l := range c.lines {
		if p, ok := m.products[l.SKU]; ok {
			changes = append(changes, m.bump(p, l.Qty))
		}
	}
	c.held = false
	return changes
}

// SetCartItem implements Store.
func (m *MemoryStore) SetCartItem(ctx context.Context, req CartChange) ([]StockChange, error) {
	m.mu.Lock()
	changes, err := m.setCartItem(req)
	m.mu.Unlock()
	m.notify(changes)
	return changes, err
}

func (m *MemoryStore) setCartItem(req CartChange) ([]StockChange, error) {
	c := m.carts[req.User]
	if c == nil {
		c = &memCart{}
	}
	old, others := 0, 0
	for _, l := range c.lines {
		if l.SKU == req.SKU {
			old = l.Qty
		} else {
			others++
		}
	}
	var p *memProduct
	if req.Qty > 0 {
		if others > 0 && c.stream != req.Stream {
			return nil, cartConflict("your cart holds products of stream %q; check it out or empty it first", c.stream)
		}
		if !m.members[req.Stream][req.SKU] {
			return nil, notInLineup(req.Stream, req.SKU)
		}
		var ok bool
		if p, ok = m.products[req.SKU]; !ok {
			return nil, productNotFound(req.SKU)
		}
		if others > 0 && c.currency != p.Currency {
			return nil, cartConflict("your cart is in %s and %s is in %s", c.currency, req.SKU, p.Currency)
		}
		if old == 0 && others >= MaxCartLines {
			return nil, ErrCartFull
		}
	}
	changes := m.lapse(c, req.Now)
	lines := setLine(c.lines, req.SKU, req.Qty)
	switch {
	case req.Qty == 0 && !c.held:
		// Removing a line from a cart whose hold lapsed holds nothing.
	case c.held:
		if need := req.Qty - old; need > 0 && p.Stock < need {
			return changes, &OutOfStockError{SKU: p.SKU, Stock: p.Stock, Version: p.version}
		}
		if old != req.Qty {
			changes = append(changes, m.bump(m.products[req.SKU], old-req.Qty))
		}
	default:
		for _, l := range lines {
			if q := m.products[l.SKU]; q.Stock < l.Qty {
				return changes, &OutOfStockError{SKU: q.SKU, Stock: q.Stock, Version: q.version}
			}
		}
		for _, l := range lines {
			changes = append(changes, m.bump(m.products[l.SKU], -l.Qty))
		}
	}
	if len(lines) == 0 {
		delete(m.carts, req.User)
		return changes, nil
	}
	wasHeld := c.held
	c.lines = lines
	if req.Qty > 0 || wasHeld {
		if p != nil {
			c.stream, c.currency = req.Stream, p.Currency
		}
		c.until, c.held = req.Now.Add(req.Hold).Truncate(time.Millisecond), true
	}
	m.carts[req.User] = c
	return changes, nil
}

// setLine returns lines (sorted by sku) with sku's quantity set to qty.
func setLine(lines []StoredLine, sku string, qty int) []StoredLine {
	out := make([]StoredLine, 0, len(lines)+1)
	for _, l := range lines {
		if l.SKU != sku {
			out = append(out, l)
		}
	}
	if qty > 0 {
		out = append(out, StoredLine{SKU: sku, Qty: qty})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SKU < out[j].SKU })
	return out
}

// Cart implements Store.
func (m *MemoryStore) Cart(ctx context.Context, user string) (StoredCart, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.carts[user]
	if c == nil {
		return StoredCart{}, nil
	}
	return StoredCart{Stream: c.stream, Currency: c.currency, HeldUntil: c.until, Held: c.held, Lines: slices.Clone(c.lines)}, nil
}

// Checkout implements Store.
func (m *MemoryStore) Checkout(ctx context.Context, req CheckoutRequest) (Placed, error) {
	m.mu.Lock()
	placed, err := m.checkout(req)
	m.mu.Unlock()
	m.notify(placed.Changes)
	return placed, err
}

func (m *MemoryStore) checkout(req CheckoutRequest) (Placed, error) {
	if placed, ok, err := m.replay(req.Idem); ok || err != nil {
		return placed, err
	}
	c := m.carts[req.Idem.User]
	if c == nil || len(c.lines) == 0 {
		return Placed{}, ErrCartEmpty
	}
	changes := m.lapse(c, req.Now)
	fail := func(err error) (Placed, error) { return Placed{Changes: changes}, err }
	for _, l := range c.lines {
		if !m.members[c.stream][l.SKU] {
			return fail(notInLineup(c.stream, l.SKU))
		}
		p, ok := m.products[l.SKU]
		if !ok {
			return fail(productNotFound(l.SKU))
		}
		if p.Currency != c.currency {
			return fail(cartConflict("%s is now sold in %s, your cart is in %s", l.SKU, p.Currency, c.currency))
		}
		if !c.held && p.Stock < l.Qty {
			return fail(&OutOfStockError{SKU: p.SKU, Stock: p.Stock, Version: p.version})
		}
	}
	pin := m.pin(c.stream)
	o := &Order{ID: req.OrderID, User: req.Idem.User, Stream: c.stream, Currency: c.currency,
		Status: StatusPlaced, CreatedAt: req.Now.UTC().Truncate(time.Millisecond)}
	for _, l := range c.lines {
		p := m.products[l.SKU]
		if !c.held {
			changes = append(changes, m.bump(p, -l.Qty))
		}
		price := PriceAt(p.Product, pin, req.Now)
		o.Items = append(o.Items, OrderItem{SKU: p.SKU, Name: p.Name, Qty: l.Qty, UnitPriceCents: price})
		o.TotalCents += price * int64(l.Qty)
	}
	delete(m.carts, req.Idem.User)
	m.place(req.Idem, o)
	return Placed{Order: cloneOrder(*o), Changes: changes}, nil
}

// ReleaseExpired implements Store.
func (m *MemoryStore) ReleaseExpired(ctx context.Context, now time.Time, limit int) (int, []StockChange, error) {
	m.mu.Lock()
	var changes []StockChange
	n := 0
	for _, c := range m.carts {
		if n >= limit {
			break
		}
		if c.held && !now.Before(c.until) {
			changes = append(changes, m.lapse(c, now)...)
			n++
		}
	}
	if t := m.now(); t.Sub(m.pruned) > time.Minute {
		m.pruned = t
		for k, rec := range m.idem {
			if t.Sub(rec.at) >= IdempotencyTTL {
				delete(m.idem, k)
			}
		}
	}
	m.mu.Unlock()
	m.notify(changes)
	return n, changes, nil
}

// Order implements Store.
func (m *MemoryStore) Order(ctx context.Context, id string) (Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.orders[id]
	if !ok {
		return Order{}, ErrOrderNotFound
	}
	return cloneOrder(*o), nil
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
		out = append(out, cloneOrder(*m.orders[ids[i]]))
	}
	next := ""
	if len(out) == limit && end-limit > 0 {
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// Cancel implements Store.
func (m *MemoryStore) Cancel(ctx context.Context, id string) (Order, []StockChange, error) {
	m.mu.Lock()
	o, changes, err := m.cancel(id)
	m.mu.Unlock()
	m.notify(changes)
	return o, changes, err
}

func (m *MemoryStore) cancel(id string) (Order, []StockChange, error) {
	o, ok := m.orders[id]
	if !ok {
		return Order{}, nil, ErrOrderNotFound
	}
	if o.Status == StatusCancelled {
		return Order{}, nil, ErrAlreadyCancelled
	}
	var changes []StockChange
	for _, it := range o.Items {
		if p, ok := m.products[it.SKU]; ok {
			changes = append(changes, m.bump(p, it.Qty))
		}
	}
	o.Status = StatusCancelled
	return cloneOrder(*o), changes, nil
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

func cloneOrder(o Order) Order {
	o.Items = slices.Clone(o.Items)
	return o
}
