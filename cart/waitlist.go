package cart

import (
	"context"
	"encoding/json"
	"errors"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// OfferHold is how long a unit offered to a waiting viewer is held for
// them before it passes to the next in line.
const OfferHold = 60 * time.Second

// Waitlist keys: the line of a sold-out sku in a stream (members in the
// order they joined), the skus a viewer waits for in a stream, and an
// offer held for one viewer.
func waitKey(stream, sku string) string        { return "wait:" + stream + ":" + sku }
func waitsKey(stream, user string) string      { return "waits:" + stream + ":" + user }
func offerKey(stream, sku, user string) string { return "offer:" + stream + ":" + sku + ":" + user }

// offer is a unit held for one viewer, as its record keeps it.
type offer struct {
	Stream    string    `json:"stream"`
	SKU       string    `json:"sku"`
	User      string    `json:"user"`
	HeldUntil time.Time `json:"held_until"`
}

// WaitPlace is a viewer's place in a waitlist.
type WaitPlace struct {
	Stream   string `json:"stream"`
	SKU      string `json:"sku"`
	Position int    `json:"position"`
}

// Offered is an offer as its viewer sees it.
type Offered struct {
	SKU       string    `json:"sku"`
	HeldUntil time.Time `json:"held_until"`
}

// Waiting is what GET /api/streams/{id}/waitlist answers: the caller's
// places and the offers held for it.
type Waiting struct {
	Items  []WaitPlace `json:"items"`
	Offers []Offered   `json:"offers"`
}

var errNoOffer = errors.New("cart: no offer held for this buyer")

// JoinWaitlist puts p in line for sku, sold out in stream: stock that comes
// back is offered to the line in the order it joined. Joining again keeps
// the first place. A sku in stock is refused with conflict.
func (s *Shop) JoinWaitlist(ctx context.Context, p *auth.Principal, stream, sku string) (WaitPlace, error) {
	if err := s.waitlistArgs(p, stream, sku); err != nil {
		return WaitPlace{}, err
	}
	_, err := s.run(ctx, func() (Plan, error) {
		sc, err := s.showcase(ctx, stream)
		if err != nil {
			return Plan{}, err
		}
		expect := []Expect{{Kind: ExpectShowcase, ID: stream, Rev: sc.Rev}}
		if _, err := s.saleLine(ctx, stream, sc, sku, 1, s.now(), &expect); err != nil {
			// Decided from what this node cached: it stands only if the
			// store still has it so (another node may have changed the
			// lineup).
			return Plan{}, &refusal{err: err, check: Plan{Expect: expect}}
		}
		live, err := s.store.Product(ctx, sku)
		if err != nil {
			return Plan{}, storeErr(err)
		}
		if live.Stock > 0 {
			return Plan{}, api.Errorf(api.Conflict, "%s is in stock (%d left): buy it instead", sku, live.Stock)
		}
		waits, raw, err := s.waits(ctx, stream, p.Sub)
		if err != nil {
			return Plan{}, err
		}
		plan := Plan{Expect: append(expect, Expect{Kind: ExpectRecord, ID: waitsKey(stream, p.Sub), Value: raw}),
			Lists: []ListOp{{Key: waitKey(stream, sku), Push: p.Sub}}}
		if !slices.Contains(waits, sku) {
			js, _ := json.Marshal(append(waits, sku))
			plan.Records = []RecordWrite{{Key: waitsKey(stream, p.Sub), Value: js, TTL: 7 * 24 * time.Hour}}
		}
		return plan, nil
	})
	if err != nil {
		return WaitPlace{}, s.lineupErr(ctx, stream, err)
	}
	line, err := s.store.List(ctx, waitKey(stream, sku))
	if err != nil {
		return WaitPlace{}, storeErr(err)
	}
	return WaitPlace{Stream: stream, SKU: sku, Position: slices.Index(line, p.Sub) + 1}, nil
}

// LeaveWaitlist takes p out of sku's line in stream (a no-op when it was
// not in it).
func (s *Shop) LeaveWaitlist(ctx context.Context, p *auth.Principal, stream, sku string) error {
	if err := s.waitlistArgs(p, stream, sku); err != nil {
		return err
	}
	_, err := s.run(ctx, func() (Plan, error) {
		waits, raw, err := s.waits(ctx, stream, p.Sub)
		if err != nil {
			return Plan{}, err
		}
		plan := Plan{Expect: []Expect{{Kind: ExpectRecord, ID: waitsKey(stream, p.Sub), Value: raw}},
			Lists: []ListOp{{Key: waitKey(stream, sku), Remove: p.Sub}}}
		if i := slices.Index(waits, sku); i >= 0 {
			rest := slices.Delete(slices.Clone(waits), i, i+1)
			w := RecordWrite{Key: waitsKey(stream, p.Sub)}
			if len(rest) > 0 {
				w.Value, _ = json.Marshal(rest)
				w.TTL = 7 * 24 * time.Hour
			}
			plan.Records = []RecordWrite{w}
		}
		return plan, nil
	})
	return err
}

// Waiting returns p's places in stream's waitlists and the offers held for
// it.
func (s *Shop) Waiting(ctx context.Context, p *auth.Principal, stream string) (Waiting, error) {
	if err := validStream(stream); err != nil {
		return Waiting{}, err
	}
	if err := auth.Check(p, auth.Buy, auth.On(stream, auth.Owner{})); err != nil {
		return Waiting{}, err
	}
	out := Waiting{Items: []WaitPlace{}, Offers: []Offered{}}
	waits, _, err := s.waits(ctx, stream, p.Sub)
	if err != nil {
		return Waiting{}, err
	}
	now := s.now()
	for _, sku := range waits {
		line, err := s.store.List(ctx, waitKey(stream, sku))
		if err != nil {
			return Waiting{}, storeErr(err)
		}
		if i := slices.Index(line, p.Sub); i >= 0 {
			out.Items = append(out.Items, WaitPlace{Stream: stream, SKU: sku, Position: i + 1})
		}
		rec, err := s.store.Record(ctx, offerKey(stream, sku, p.Sub))
		if err != nil {
			return Waiting{}, storeErr(err)
		}
		var o offer
		if rec != nil && json.Unmarshal(rec, &o) == nil && now.Before(o.HeldUntil) {
			out.Offers = append(out.Offers, Offered{SKU: sku, HeldUntil: o.HeldUntil})
		}
	}
	return out, nil
}

func (s *Shop) waitlistArgs(p *auth.Principal, stream, sku string) error {
	if err := validStream(stream); err != nil {
		return err
	}
	if err := ValidSKU(sku); err != nil {
		return err
	}
	return auth.Check(p, auth.Buy, auth.On(stream, auth.Owner{}))
}

// waits reads the skus user waits for in stream, and the record read.
func (s *Shop) waits(ctx context.Context, stream, user string) ([]string, []byte, error) {
	raw, err := s.store.Record(ctx, waitsKey(stream, user))
	if err != nil {
		return nil, nil, storeErr(err)
	}
	var skus []string
	if raw != nil {
		if err := json.Unmarshal(raw, &skus); err != nil {
			return nil, nil, err
		}
	}
	return skus, raw, nil
}

// stockReturned offers stock that came back (a cancel, a lapsed hold, a
// restock) to the viewers waiting for it, first come first served: each
// gets one unit held for OfferHold. Failures are logged: the units stay
// on sale to anyone.
func (s *Shop) stockReturned(ctx context.Context, _ string, changes []StockChange) {
	for _, ch := range changes {
		if ch.Stock <= 0 {
			continue
		}
		for _, stream := range ch.Streams {
			if err := s.offerNext(ctx, stream, ch.SKU, "", ch.Stock); err != nil {
				s.log.Warn("cart: offering returned stock to the waitlist", "stream", stream, "sku", ch.SKU, "err", err)
			}
		}
	}
}

// offerTries bounds how often one offer is decided again. Offers of one
// product of one stream are made one at a time on a node (offerLocks), so
// a plan goes stale only when another node made an offer of the same
// product meanwhile: each retry follows another node's progress.
const offerTries = 64

// offerLocks serialize, on one node, the offers of one product of one
// stream: units that come back together (a hundred cancels at once) would
// otherwise all decide to offer to the same first viewer in line, and all
// but one decide again, and again. Keys share 64 locks by hash.
type offerLocks struct {
	seed maphash.Seed
	mu   [64]sync.Mutex
}

// lock locks the offers of sku in stream and returns the unlock.
func (l *offerLocks) lock(stream, sku string) func() {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(stream)
	h.WriteByte(0)
	h.WriteString(sku)
	m := &l.mu[h.Sum64()%uint64(len(l.mu))]
	m.Lock()
	return m.Unlock
}

// offerNext offers up to n units of sku in stream to the first waiting
// viewers. When passing is a user whose offer lapsed, its held unit passes
// to the next viewer (or back on sale) instead of taking stock.
func (s *Shop) offerNext(ctx context.Context, stream, sku, passing string, n int) error {
	defer s.offering.lock(stream, sku)()
	for range n {
		var made *offer
		a, err := s.runUpTo(ctx, offerTries, func() (Plan, error) {
			made = nil
			line, err := s.store.List(ctx, waitKey(stream, sku))
			if err != nil {
				return Plan{}, storeErr(err)
			}
			plan := Plan{}
			if passing != "" {
				rec, err := s.store.Record(ctx, offerKey(stream, sku, passing))
				if err != nil {
					return Plan{}, storeErr(err)
				}
				if rec == nil {
					return Plan{}, errNothingToDo // taken or passed on already
				}
				plan.Expect = append(plan.Expect, Expect{Kind: ExpectRecord, ID: offerKey(stream, sku, passing), Value: rec})
				plan.Records = append(plan.Records, RecordWrite{Key: offerKey(stream, sku, passing)})
			}
			if len(line) == 0 {
				if passing == "" {
					return Plan{}, errNothingToDo
				}
				plan.Stock = []StockDelta{{SKU: sku, Delta: 1}} // nobody waits: back on sale
				return plan, nil
			}
			next := line[0]
			o := offer{Stream: stream, SKU: sku, User: next, HeldUntil: s.now().Add(OfferHold).Truncate(time.Millisecond)}
			js, _ := json.Marshal(o)
			plan.Expect = append(plan.Expect, Expect{Kind: ExpectRecord, ID: offerKey(stream, sku, next)})
			plan.Lists = []ListOp{{Key: waitKey(stream, sku), Remove: next}}
			plan.Records = append(plan.Records, RecordWrite{Key: offerKey(stream, sku, next), Value: js, Due: o.HeldUntil, TTL: 24 * time.Hour})
			if passing == "" {
				plan.Stock = []StockDelta{{SKU: sku, Delta: -1}}
			}
			made = &o
			return plan, nil
		})
		var oos *OutOfStockError
		switch {
		case errors.Is(err, errNothingToDo), errors.As(err, &oos):
			return nil
		case err != nil:
			return err
		}
		// The unit held (or put back on sale) changes the stock others see.
		s.stockChanged(a.Changes)
		if passing != "" {
			s.events.Offer(stream, passing, sku, time.Time{})
			passing = ""
		}
		if made == nil {
			return nil
		}
		s.metrics.offers.Inc()
		s.events.Offer(stream, made.User, sku, made.HeldUntil)
	}
	return nil
}

// buyOffer places body's order from the unit held for p by a waitlist
// offer: errNoOffer when there is none (or it lapsed, or qty is not 1).
func (s *Shop) buyOffer(ctx context.Context, p *auth.Principal, stream string, body BuyBody, key, fp, id string) (Order, error) {
	if body.Qty != 1 {
		return Order{}, errNoOffer
	}
	k := offerKey(stream, body.SKU, p.Sub)
	var order Order
	var lines []line
	a, err := s.run(ctx, func() (Plan, error) {
		rec, err := s.store.Record(ctx, k)
		if err != nil {
			return Plan{}, storeErr(err)
		}
		var o offer
		now := s.now()
		if rec == nil || json.Unmarshal(rec, &o) != nil || !now.Before(o.HeldUntil) {
			return Plan{}, errNoOffer
		}
		sc, err := s.showcase(ctx, stream)
		if err != nil {
			return Plan{}, err
		}
		expect := []Expect{{Kind: ExpectShowcase, ID: stream, Rev: sc.Rev}, {Kind: ExpectRecord, ID: k, Value: rec}}
		l, err := s.saleLine(ctx, stream, sc, body.SKU, 1, now, &expect)
		if err != nil {
			return Plan{}, refuse(err, p.Sub, key, expect)
		}
		lines = []line{l}
		plan, ord, err := s.salePlan(ctx, p.Sub, stream, id, body.Coupon, lines, now, expect)
		if err != nil {
			return Plan{}, refuse(err, p.Sub, key, expect)
		}
		order = ord
		// The unit was taken from stock when it was offered.
		plan.Records = []RecordWrite{{Key: k}}
		plan.Counters = append(plan.Counters, limitDeltas(stream, p.Sub, lines, 1)...)
		if err := placeOrder(&plan, order, key, fp); err != nil {
			return Plan{}, err
		}
		return plan, nil
	})
	if err != nil {
		return Order{}, err
	}
	s.recent.add(p.Sub, key)
	if a.Replay != nil {
		return readRecord(a.Replay, fp)
	}
	s.placed(order, a.Changes, p)
	s.events.Offer(stream, p.Sub, body.SKU, time.Time{})
	return order, nil
}

// passOffers passes every offer that lapsed by now to the next viewer in
// its line (or puts its unit back on sale); it returns how many it passed.
func (s *Shop) passOffers(ctx context.Context, now time.Time) (int, error) {
	keys, err := s.store.DueRecords(ctx, now, sweepBatch)
	if err != nil {
		return 0, storeErr(err)
	}
	n := 0
	for _, k := range keys {
		if !strings.HasPrefix(k, "offer:") {
			continue
		}
		rec, err := s.store.Record(ctx, k)
		if err != nil {
			return n, storeErr(err)
		}
		var o offer
		if rec == nil || json.Unmarshal(rec, &o) != nil || now.Before(o.HeldUntil) {
			continue
		}
		if err := s.offerNext(ctx, o.Stream, o.SKU, o.User, 1); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
