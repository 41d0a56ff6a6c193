package cart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/livecart/livecart/api"
)

// The shop decides, the store applies. Every operation that writes is a
// decide function: it reads what it needs (from the cache below or the
// store), applies the business rules and returns a Plan whose
// preconditions name the revisions it read. The store applies the plan
// only if they still hold; when one moved, the shop forgets what it had
// cached of that thing and decides again.

// maxDecisions bounds how often one operation decides again after a
// precondition moved.
const maxDecisions = 4

// errBusy answers an operation whose preconditions kept moving.
var errBusy = api.New(api.Conflict, "the shop changed while this request ran; try again")

// run decides and applies until the plan applies, a decision fails or
// maxDecisions is reached. decide returns the plan, or an error: a
// *refusal is checked by the store first (see refuse); any other is
// returned as is.
func (s *Shop) run(ctx context.Context, decide func() (Plan, error)) (Applied, error) {
	return s.runUpTo(ctx, maxDecisions, decide)
}

// runUpTo is run deciding at most tries times.
func (s *Shop) runUpTo(ctx context.Context, tries int, decide func() (Plan, error)) (Applied, error) {
	for range tries {
		p, err := decide()
		var ref *refusal
		if errors.As(err, &ref) {
			p = ref.check
		} else if err != nil {
			return Applied{}, err
		}
		a, err := s.store.Apply(ctx, p)
		var stale *StaleError
		if errors.As(err, &stale) {
			s.cache.forget(stale.Kind, stale.ID)
			s.metrics.stale.WithLabelValues(string(stale.Kind)).Inc()
			continue
		}
		var ce *CounterError
		if errors.As(err, &ce) {
			return Applied{}, saleErr(err)
		}
		if err != nil {
			return Applied{}, storeErr(err)
		}
		if ref != nil && a.Replay == nil {
			return Applied{}, ref.err
		}
		return a, nil
	}
	return Applied{}, errBusy
}

// refusal is what an idempotent request's decide function returns when it
// refuses (not in the lineup, an empty cart…): the refusal stands only if
// the request's key placed nothing before (a retry must learn what
// happened, even once the product left the lineup) and what it was decided
// from is still so; else run returns the stored record.
type refusal struct {
	err   error
	check Plan
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// refuse returns the refusal err of the request (user, key), decided from
// what expect names.
func refuse(err error, user, key string, expect []Expect) error {
	return &refusal{err: err, check: Plan{Idem: &IdemWrite{User: user, Key: key}, Expect: expect}}
}

// idemRecordJSON is the stored answer to an idempotent request: the
// fingerprint of what was asked and the order it placed.
type idemRecordJSON struct {
	Fingerprint string          `json:"fp"`
	Order       json.RawMessage `json:"order"`
}

// newIdemRecord is the record of a request with fingerprint fp that placed
// the order whose JSON is order.
func newIdemRecord(fp string, order []byte) []byte {
	b, _ := json.Marshal(idemRecordJSON{Fingerprint: fp, Order: order})
	return b
}

// readRecord reads a stored record for a request with fingerprint fp: the
// order it placed, or ErrIdempotencyMismatch when the record is of another
// request. Records of the earlier format ("fp\nJSON") are read too.
func readRecord(rec []byte, fp string) (Order, error) {
	var r idemRecordJSON
	if err := json.Unmarshal(rec, &r); err != nil {
		before, after, ok := bytesCut(rec, '\n')
		if !ok {
			return Order{}, fmt.Errorf("cart: stored idempotency record: %w", err)
		}
		r = idemRecordJSON{Fingerprint: string(before), Order: after}
	}
	if r.Fingerprint != fp {
		return Order{}, ErrIdempotencyMismatch
	}
	var o Order
	if err := json.Unmarshal(r.Order, &o); err != nil {
		return Order{}, fmt.Errorf("cart: stored order: %w", err)
	}
	return o, nil
}

func bytesCut(b []byte, sep byte) ([]byte, []byte, bool) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

// placeOrder adds to plan the writes of new order o and of the record
// that replays it for key.
func placeOrder(plan *Plan, o Order, key, fp string) error {
	js, err := json.Marshal(o)
	if err != nil {
		return err
	}
	plan.Order = &OrderWrite{ID: o.ID, User: o.User, Stream: o.Stream, JSON: js, New: true, Event: StatusPlaced}
	plan.Idem = &IdemWrite{User: o.User, Key: key, Record: newIdemRecord(fp, js), TTL: IdempotencyTTL}
	return nil
}

// maxCached bounds each map of the cache; a full map is emptied.
const maxCached = 50_000

// cache holds what plans are decided from and changes rarely: products'
// catalog fields and streams' showcases, each with its revision. A stale
// entry is harmless: the plan's precondition catches it and the shop
// forgets it. Stock is never read from here.
type cache struct {
	mu        sync.Mutex
	products  map[string]Product
	showcases map[string]Showcase
	records   map[string][]byte
}

func (c *cache) forget(kind ExpectKind, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch kind {
	case ExpectProduct:
		delete(c.products, id)
	case ExpectShowcase:
		delete(c.showcases, id)
	case ExpectRecord:
		delete(c.records, id)
	}
}

// cached returns m[key] under c's lock, or reads it, keeps it in m (which
// is emptied when full) and returns it.
func cached[T any](c *cache, m *map[string]T, key string, read func() (T, error)) (T, error) {
	c.mu.Lock()
	v, ok := (*m)[key]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := read()
	if err != nil {
		var zero T
		return zero, storeErr(err)
	}
	c.mu.Lock()
	if *m == nil || len(*m) >= maxCached {
		*m = make(map[string]T)
	}
	(*m)[key] = v
	c.mu.Unlock()
	return v, nil
}

// put keeps v as key's entry of m, under c's lock.
func put[T any](c *cache, m *map[string]T, key string, v T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *m == nil || len(*m) >= maxCached {
		*m = make(map[string]T)
	}
	(*m)[key] = v
}

// product returns sku's catalog entry, from the cache or the store.
func (s *Shop) product(ctx context.Context, sku string) (Product, error) {
	return cached(&s.cache, &s.cache.products, sku, func() (Product, error) { return s.store.Product(ctx, sku) })
}

// showcase returns stream's showcase, from the cache or the store.
func (s *Shop) showcase(ctx context.Context, stream string) (Showcase, error) {
	return cached(&s.cache, &s.cache.showcases, stream, func() (Showcase, error) { return s.store.Showcase(ctx, stream) })
}

// record reads a record through the cache.
func (s *Shop) record(ctx context.Context, key string) ([]byte, error) {
	return cached(&s.cache, &s.cache.records, key, func() ([]byte, error) { return s.store.Record(ctx, key) })
}
