package cart

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// BuyBody is what POST /api/streams/{id}/buy carries.
type BuyBody struct {
	SKU    string `json:"sku"`
	Qty    int    `json:"qty"`
	Coupon string `json:"coupon,omitempty"`
}

// Buy places a one-item order for p at once: qty of sku in stream, at the
// price in effect now. key is the request's Idempotency-Key and fp the
// fingerprint of its body; replayed is true when key had already placed
// the order, which is then returned again and nothing else happens.
//
// A product this node knows to be sold out is refused without asking the
// store, unless key placed an order on this node before (a retry must get
// its order back, not out_of_stock).
func (s *Shop) Buy(ctx context.Context, p *auth.Principal, stream string, body BuyBody, key, fp string) (o Order, replayed bool, err error) {
	defer func() { s.countTap(replayed, err) }()
	if err := validStream(stream); err != nil {
		return Order{}, false, err
	}
	if err := ValidSKU(body.SKU); err != nil {
		return Order{}, false, err
	}
	if body.Qty < 1 || body.Qty > MaxQty {
		return Order{}, false, api.Errorf(api.BadRequest, "qty must be 1 to %d", MaxQty)
	}
	if err := auth.Check(p, auth.Buy, auth.On(stream, auth.Owner{})); err != nil {
		return Order{}, false, err
	}
	if err := checkIdempotencyKey(key); err != nil {
		return Order{}, false, err
	}
	if len(body.Coupon) > 64 {
		return Order{}, false, api.New(api.BadRequest, "coupon is a code of at most 32 characters")
	}
	done, err := s.inflight.begin(p.Sub, key)
	if err != nil {
		return Order{}, false, err
	}
	defer done()
	id, err := newOrderID()
	if err != nil {
		return Order{}, false, err
	}
	if s.soldOut.isSoldOut(body.SKU) && !s.recent.has(p.Sub, key) {
		if prod, err := s.product(ctx, body.SKU); err == nil && len(prod.Variants) > 0 {
			return Order{}, false, ErrChooseVariant
		}
		// Sold out as far as this node knows: only a unit held for this
		// buyer (a waitlist offer) can still be had.
		o, err := s.buyOffer(ctx, p, stream, body, key, fp, id)
		if errors.Is(err, errNoOffer) || api.CodeOf(err) == api.Unavailable {
			return Order{}, false, errSoldOutLocal{&OutOfStockError{SKU: body.SKU}}
		}
		return o, false, err
	}
	var (
		order Order
		lines []line
	)
	a, err := s.run(ctx, func() (Plan, error) {
		sc, err := s.showcase(ctx, stream)
		if err != nil {
			return Plan{}, err
		}
		now := s.now()
		expect := []Expect{{Kind: ExpectShowcase, ID: stream, Rev: sc.Rev}}
		l, err := s.saleLine(ctx, stream, sc, body.SKU, body.Qty, now, &expect)
		if err != nil {
			return Plan{}, refuse(err, p.Sub, key, expect)
		}
		lines = []line{l}
		plan, o, err := s.salePlan(ctx, p.Sub, stream, id, body.Coupon, lines, now, expect)
		if err != nil {
			return Plan{}, refuse(err, p.Sub, key, expect)
		}
		order = o
		plan.Stock = []StockDelta{{SKU: l.prod.SKU, Delta: -body.Qty}}
		plan.Counters = append(plan.Counters, limitDeltas(stream, p.Sub, lines, 1)...)
		if err := placeOrder(&plan, order, key, fp); err != nil {
			return Plan{}, err
		}
		return plan, nil
	})
	if err != nil {
		var oos *OutOfStockError
		if errors.As(err, &oos) {
			s.soldOut.observe(StockChange{SKU: oos.SKU, Stock: oos.Stock, Version: oos.Version})
			if o, oerr := s.buyOffer(ctx, p, stream, body, key, fp, id); !errors.Is(oerr, errNoOffer) {
				return o, false, oerr
			}
		}
		return Order{}, false, s.lineupErr(ctx, stream, saleErr(err))
	}
	s.recent.add(p.Sub, key)
	if a.Replay != nil {
		o, err := readRecord(a.Replay, fp)
		if err != nil {
			return Order{}, false, err
		}
		return o, true, nil
	}
	s.placed(order, a.Changes, p)
	return order, false, nil
}

// salePlan decides the order of lines for user in stream at now, with
// coupon code (or none): the order itself and a plan with its
// preconditions (expect and the coupons read), the coupon's redemption and
// the funnel's counters. The caller adds the stock and limit changes.
func (s *Shop) salePlan(ctx context.Context, user, stream, id, code string, lines []line, now time.Time, expect []Expect) (Plan, Order, error) {
	items := make([]OrderItem, len(lines))
	for i, l := range lines {
		items[i] = l.item()
	}
	o := newOrder(id, user, stream, lines[0].prod.Currency, now, items...)
	off, counters, err := s.applyCoupon(ctx, stream, user, code, lines, now, &expect)
	if err != nil {
		return Plan{}, Order{}, err
	}
	if off > 0 || code != "" {
		o.DiscountCents = off
		o.TotalCents -= off
		o.Coupon = strings.ToUpper(strings.TrimSpace(code))
	}
	counters = append(counters, orderStats(o, lines, 1)...)
	return Plan{Expect: expect, Counters: counters}, o, nil
}

// newOrder is a placed order of items at now.
func newOrder(id, user, stream, currency string, now time.Time, items ...OrderItem) Order {
	o := Order{ID: id, User: user, Stream: stream, Items: items, Currency: currency,
		Status: StatusPlaced, CreatedAt: now.UTC().Truncate(time.Millisecond)}
	for _, it := range items {
		o.TotalCents += it.UnitPriceCents * int64(it.Qty)
	}
	return o
}

// placed tells the rooms about a new order and the stock it took.
func (s *Shop) placed(o Order, changes []StockChange, p *auth.Principal) {
	s.metrics.orders.WithLabelValues(StatusPlaced).Inc()
	s.metrics.funnel.WithLabelValues("orders").Inc()
	for _, it := range o.Items {
		s.metrics.funnel.WithLabelValues("units").Add(float64(it.Qty))
	}
	s.metrics.funnel.WithLabelValues("revenue_cents").Add(float64(o.TotalCents))
	s.couponUsed(o.Stream, o.Coupon)
	s.stockChanged(changes)
	for _, it := range o.Items {
		s.events.OrderPlaced(o.Stream, it.SKU, it.Qty, p.Name)
	}
}

// errSoldOutLocal is an out-of-stock answer given from the sold-out mark.
type errSoldOutLocal struct{ *OutOfStockError }

func (s *Shop) countTap(replayed bool, err error) {
	var local errSoldOutLocal
	switch {
	case err == nil && replayed:
		s.metrics.taps.WithLabelValues("replayed").Inc()
	case err == nil:
		s.metrics.taps.WithLabelValues("placed").Inc()
	case errors.As(err, &local):
		s.metrics.taps.WithLabelValues("sold_out_local").Inc()
	default:
		s.metrics.taps.WithLabelValues(string(api.CodeOf(err))).Inc()
	}
}
