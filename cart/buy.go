package cart

import (
	"context"
	"errors"

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
	placed, err := s.store.Buy(ctx, BuyRequest{
		Idem:   Idem{User: p.Sub, Key: key, Fingerprint: fp},
		Stream: stream, SKU: body.SKU, Qty: body.Qty, OrderID: id, Now: s.now(),
	})
	if err != nil {
		var oos *OutOfStockError
		if errors.As(err, &oos) {
			s.soldOut.observe(StockChange{SKU: oos.SKU, Stock: oos.Stock, Version: oos.Version})
		}
		return Order{}, false, s.lineupErr(ctx, stream, storeErr(err))
	}
	s.recent.add(p.Sub, key)
	if !placed.Replayed {
		s.placed(placed, p)
	}
	return placed.Order, placed.Replayed, nil
}

// placed tells the rooms about a new order.
func (s *Shop) placed(pl Placed, p *auth.Principal) {
	s.metrics.orders.WithLabelValues(StatusPlaced).Inc()
	s.stockChanged(pl.Changes)
	for _, it := range pl.Order.Items {
		s.events.OrderPlaced(pl.Order.Stream, it.SKU, it.Qty, p.Name)
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
