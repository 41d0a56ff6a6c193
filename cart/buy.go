package cart

import (
	"context"
	"errors"
	"time"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// BuyBody is what POST /api/streams/{id}/buy carries.
type BuyBody struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
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
	if s.soldOut.isSoldOut(body.SKU) && !s.recent.has(p.Sub, key) {
		return Order{}, false, errSoldOutLocal{&OutOfStockError{SKU: body.SKU}}
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
	var order Order
	a, err := s.run(ctx, func() (Plan, error) {
		prod, err := s.product(ctx, body.SKU)
		if err != nil && !errors.Is(err, ErrProductNotFound) {
			return Plan{}, err
		}
		sc, serr := s.showcase(ctx, stream)
		if serr != nil {
			return Plan{}, serr
		}
		expect := []Expect{{Kind: ExpectShowcase, ID: stream, Rev: sc.Rev}, {Kind: ExpectProduct, ID: body.SKU, Rev: prod.Rev}}
		switch {
		case !sc.Has(body.SKU):
			return Plan{}, refuse(notInLineup(stream, body.SKU), p.Sub, key, expect)
		case err != nil:
			return Plan{}, refuse(err, p.Sub, key, expect)
		}
		now := s.now()
		order = newOrder(id, p.Sub, stream, prod.Currency, now, OrderItem{
			SKU: prod.SKU, Name: prod.Name, Qty: body.Qty, UnitPriceCents: PriceAt(prod, sc.Pin, now)})
		ow, iw, err := placeOrder(order, key, fp)
		if err != nil {
			return Plan{}, err
		}
		return Plan{Idem: iw, Expect: expect, Stock: []StockDelta{{SKU: prod.SKU, Delta: -body.Qty}}, Order: ow}, nil
	})
	if err != nil {
		var oos *OutOfStockError
		if errors.As(err, &oos) {
			s.soldOut.observe(StockChange{SKU: oos.SKU, Stock: oos.Stock, Version: oos.Version})
		}
		return Order{}, false, s.lineupErr(ctx, stream, err)
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
