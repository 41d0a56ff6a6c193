// Package cart is livecart's shop: the catalog, each stream's lineup and
// pinned card, live stock, carts that hold stock for a while, one-tap buys,
// checkout, orders and idempotency (contract section 5).
//
// A Shop serves the HTTP API over a Store: NewMemoryStore for a single
// node, NewRedisStore for any number of nodes sharing one Redis. It tells
// the live room what happened through Events and learns who owns a stream
// through Owners; it imports neither the room nor the streams.
package cart

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// Owners tells who owns a stream. StreamOwner returns its owner (host and
// org), or an error with code api.NotFound when the stream does not exist.
type Owners interface {
	StreamOwner(ctx context.Context, id string) (auth.Owner, error)
}

// Events is what the shop tells the live rooms. The shop calls it after an
// operation, outside the store's locks, from the request's goroutine (or
// the sweeper's): implementations must not block for long and must not
// call back into the Shop. StockChanged calls are serialized and never go
// back in time (a change older than one already reported is skipped).
type Events interface {
	// StockChanged: sku's stock is now stock; called once for every stream
	// whose lineup has sku.
	StockChanged(stream, sku string, stock int)
	// OrderPlaced: buyer (a display name) ordered qty of sku in stream;
	// called once per order line.
	OrderPlaced(stream, sku string, qty int, buyer string)
	// ProductCard: stream pinned card, or unpinned it (card nil).
	ProductCard(stream string, card *Card)
	// CouponChanged: stream's coupon was created, or what is left of it
	// changed (coalesced: at most a few times a second).
	CouponChanged(stream string, c *Coupon)
	// Offer: a unit of sku is held for user in stream until heldUntil (a
	// zero heldUntil: the offer is gone, taken or passed on).
	Offer(stream, user, sku string, heldUntil time.Time)
}

// Config is what a Shop needs. Store, Signer and Owners are required.
type Config struct {
	Log    *slog.Logger
	Signer *auth.Signer
	Store  Store
	// Events receives room events; nil drops them.
	Events Events
	Owners Owners
	// Hold is how long a cart keeps its stock (default 10m).
	Hold time.Duration
	// SweepEvery is how often Run looks for lapsed holds (default 1s).
	SweepEvery time.Duration
	// Now is the clock (default time.Now); holds and live prices follow it.
	Now func() time.Time
	// Metrics registers the shop's metrics; nil registers nothing.
	Metrics prometheus.Registerer
}

// DefaultHold is the hold of a cart when Config.Hold is zero.
const DefaultHold = 10 * time.Minute

// Shop is the cart capability. Its methods are safe for concurrent use.
// The goroutines of Run are owned by Run's caller and end with its ctx.
type Shop struct {
	log        *slog.Logger
	signer     *auth.Signer
	store      Store
	events     Events
	owners     Owners
	hold       time.Duration
	sweepEvery time.Duration
	now        func() time.Time
	metrics    *metrics

	inflight inflight
	offering offerLocks
	cache    cache
	views    viewBuffer
	soldOut  soldOut
	recent   recentKeys
	running  sync.Mutex

	dirtyMu sync.Mutex
	dirty   map[[2]string]bool // (stream, coupon code) used since the last flush

	emitMu  sync.Mutex       // serializes StockChanged events
	emitted map[string]int64 // sku → version last told to the rooms
}

// New returns a Shop for cfg.
func New(cfg Config) (*Shop, error) {
	if cfg.Store == nil {
		return nil, errors.New("cart: config: Store is required")
	}
	if cfg.Signer == nil {
		return nil, errors.New("cart: config: Signer is required")
	}
	if cfg.Owners == nil {
		return nil, errors.New("cart: config: Owners is required")
	}
	if cfg.Hold < 0 || cfg.SweepEvery < 0 {
		return nil, errors.New("cart: config: Hold and SweepEvery must not be negative")
	}
	s := &Shop{
		log: cfg.Log, signer: cfg.Signer, store: cfg.Store, events: cfg.Events,
		owners: cfg.Owners, hold: cfg.Hold, sweepEvery: cfg.SweepEvery, now: cfg.Now,
	}
	s.offering.seed = maphash.MakeSeed()
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.events == nil {
		s.events = nopEvents{}
	}
	if s.hold == 0 {
		s.hold = DefaultHold
	}
	if s.sweepEvery == 0 {
		s.sweepEvery = time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.soldOut.init(s.now)
	s.emitted = make(map[string]int64)
	return s, nil
}

// Run sweeps lapsed holds every SweepEvery and follows the store's stock
// changes (for the sold-out marks) until ctx ends; it then returns nil.
// Call it once per Shop; it owns the goroutines it starts and waits for
// them before returning.
func (s *Shop) Run(ctx context.Context) error {
	if !s.running.TryLock() {
		return errors.New("cart: Run is already running")
	}
	defer s.running.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { s.watch(ctx) })
	wg.Go(func() { s.sweepLoop(ctx) })
	wg.Go(func() { s.flushLoop(ctx) })
	wg.Wait()
	return nil
}

// watch follows stock changes from every node until ctx ends, resubscribing
// after failures.
func (s *Shop) watch(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.store.WatchStock(ctx, s.soldOut.observe, s.reset)
		s.reset()
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("cart: stock watch stopped; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// Ready reports whether the store answers, for /readyz.
func (s *Shop) Ready(ctx context.Context) error { return s.store.Ping(ctx) }

// check checks that p may do a on stream, looking the owner up when the
// action needs it.
func (s *Shop) check(ctx context.Context, p *auth.Principal, a auth.Action, stream string) error {
	res := auth.On(stream, auth.Owner{})
	if p == nil || !p.InScope(stream) {
		return auth.Check(p, a, res)
	}
	if a == auth.Own || a == auth.Moderate {
		o, err := s.owners.StreamOwner(ctx, stream)
		if err != nil {
			return err
		}
		res.Owner = o
	}
	return auth.Check(p, a, res)
}

// stockChanged tells the sold-out marks and the rooms about changes. Room
// events are serialized and ordered by version, so that of two concurrent
// operations the room always ends with the newer stock; a change older
// than one already told is not told.
func (s *Shop) stockChanged(changes []StockChange) {
	if len(changes) == 0 {
		return
	}
	for _, ch := range changes {
		s.soldOut.observe(ch)
	}
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	for _, ch := range changes {
		if v, ok := s.emitted[ch.SKU]; ok && v >= ch.Version {
			continue
		}
		s.emitted[ch.SKU] = ch.Version
		for _, st := range ch.Streams {
			s.events.StockChanged(st, ch.SKU, ch.Stock)
		}
	}
}

// reset forgets what this node knew of stock versions, after changes may
// have been missed or the store lost its data.
func (s *Shop) reset() {
	s.soldOut.reset()
	s.emitMu.Lock()
	clear(s.emitted)
	s.emitMu.Unlock()
}

// storeErr is how a store error leaves the shop: coded errors as they are,
// anything else as a store failure.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	var e *api.Error
	if errors.As(err, &e) || errors.Is(err, context.Canceled) {
		return err
	}
	return api.Unavailablef(err, "the store is unavailable; try again shortly")
}

// lineupErr refines a not_in_lineup answer about stream: when the stream
// does not exist at all the answer is not_found. Only that answer pays the
// lookup; a normal buy does not.
func (s *Shop) lineupErr(ctx context.Context, stream string, err error) error {
	if api.CodeOf(err) != api.NotInLineup {
		return err
	}
	if _, oerr := s.owners.StreamOwner(ctx, stream); oerr != nil && api.CodeOf(oerr) == api.NotFound {
		return oerr
	}
	return err
}

type nopEvents struct{}

func (nopEvents) StockChanged(string, string, int)        {}
func (nopEvents) OrderPlaced(string, string, int, string) {}
func (nopEvents) ProductCard(string, *Card)               {}
func (nopEvents) CouponChanged(string, *Coupon)           {}
func (nopEvents) Offer(string, string, string, time.Time) {}

// flushEvery is how often coupons' counts and the funnel's buffered
// figures are flushed.
const flushEvery = 300 * time.Millisecond

// flushLoop flushes what is buffered until ctx ends.
func (s *Shop) flushLoop(ctx context.Context) {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.flushCoupons(ctx)
		s.flushStats(ctx)
	}
}
