package cart

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// Order statuses.
const (
	StatusPlaced    = "placed"
	StatusCancelled = "cancelled"
)

// Order is a placed (or cancelled) order, exactly as clients and the
// livecart:orders stream see it.
type Order struct {
	ID     string      `json:"id"`
	User   string      `json:"user"`
	Stream string      `json:"stream"`
	Items  []OrderItem `json:"items"`
	// DiscountCents is what a coupon took off; TotalCents is after it.
	DiscountCents int64 `json:"discount_cents"`
	// Coupon is the code of the coupon used, if any.
	Coupon     string    `json:"coupon,omitempty"`
	TotalCents int64     `json:"total_cents"`
	Currency   string    `json:"currency"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
}

// OrderItem is one line of an order, at the price in effect when the order
// was placed.
type OrderItem struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Qty            int    `json:"qty"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

// timeFormat is how created_at is written: RFC 3339 in UTC with
// milliseconds, the precision the stores keep.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// newOrderID returns a fresh UUIDv7: time-ordered, so that order ids sort
// by creation.
func newOrderID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// validOrderID checks an order id or cursor from a request.
func validOrderID(id string) error {
	u, err := uuid.Parse(id)
	if err != nil || u.String() != id {
		return api.New(api.BadRequest, "an order id is a lowercase UUID")
	}
	return nil
}

// Order returns the order with id if p may see it: its buyer, the host of
// its stream, or an admin.
func (s *Shop) Order(ctx context.Context, p *auth.Principal, id string) (Order, error) {
	if err := validOrderID(id); err != nil {
		return Order{}, err
	}
	o, _, err := s.store.Order(ctx, id)
	if err != nil {
		return Order{}, storeErr(err)
	}
	if err := s.mayManage(ctx, p, o); err != nil {
		return Order{}, err
	}
	return o, nil
}

// mayManage checks that p may read and cancel o: its buyer, the host of
// o's stream or an admin, within the token's scope. The stream's owner is
// looked up only when the buyer and scope alone do not decide.
func (s *Shop) mayManage(ctx context.Context, p *auth.Principal, o Order) error {
	res := auth.Resource{Stream: o.Stream, Buyer: o.User}
	if p == nil || p.Can(auth.ManageOrder, res) || !p.InScope(o.Stream) || p.Role != auth.Host {
		return auth.Check(p, auth.ManageOrder, res)
	}
	owner, err := s.owners.StreamOwner(ctx, o.Stream)
	if err != nil && api.CodeOf(err) != api.NotFound {
		return err
	}
	res.Owner = owner
	return auth.Check(p, auth.ManageOrder, res)
}

// Cancel cancels order id for p (its buyer, the stream's host or an admin)
// and gives its stock back.
func (s *Shop) Cancel(ctx context.Context, p *auth.Principal, id string) (Order, error) {
	if err := validOrderID(id); err != nil {
		return Order{}, err
	}
	var cancelled Order
	a, err := s.run(ctx, func() (Plan, error) {
		o, raw, err := s.store.Order(ctx, id)
		if err != nil {
			return Plan{}, storeErr(err)
		}
		if err := s.mayManage(ctx, p, o); err != nil {
			return Plan{}, err
		}
		if o.Status == StatusCancelled {
			return Plan{}, ErrAlreadyCancelled
		}
		cancelled = o
		cancelled.Items = slices.Clone(o.Items)
		cancelled.Status = StatusCancelled
		js, err := json.Marshal(cancelled)
		if err != nil {
			return Plan{}, err
		}
		// The stock, the buyer's allowance, the coupon's redemption and the
		// funnel's figures all come back.
		deltas := map[string]int{}
		lines := make([]line, len(o.Items))
		for i, it := range o.Items {
			deltas[it.SKU] += it.Qty
			base, err := s.baseOf(ctx, it.SKU)
			if err != nil {
				return Plan{}, err
			}
			lines[i] = line{prod: Product{SKU: it.SKU}, base: Product{SKU: base}, qty: it.Qty, price: it.UnitPriceCents}
		}
		counters := limitDeltas(o.Stream, o.User, lines, -1)
		if o.Coupon != "" {
			counters = append(counters,
				CounterDelta{Key: couponKey(o.Stream, o.Coupon), Delta: -1},
				CounterDelta{Key: couponBuyerKey(o.Stream, o.Coupon, o.User), Delta: -1})
		}
		counters = append(counters, orderStats(o, lines, -1)...)
		return Plan{
			Expect:   []Expect{{Kind: ExpectOrder, ID: id, Value: raw}},
			Stock:    stockDeltas(deltas),
			Counters: counters,
			Order:    &OrderWrite{ID: id, User: o.User, Stream: o.Stream, JSON: js, Event: StatusCancelled},
		}, nil
	})
	if err != nil {
		return Order{}, err
	}
	s.metrics.orders.WithLabelValues(StatusCancelled).Inc()
	s.couponUsed(cancelled.Stream, cancelled.Coupon)
	s.stockChanged(a.Changes)
	s.stockReturned(ctx, cancelled.Stream, a.Changes)
	return cancelled, nil
}

// Orders lists p's own orders, newest first. A token limited to one
// stream lists only that stream's orders.
func (s *Shop) Orders(ctx context.Context, p *auth.Principal, cursor string, limit int) ([]Order, string, error) {
	if err := auth.Check(p, auth.Account, auth.Resource{}); err != nil {
		return nil, "", err
	}
	if p.Stream == "" {
		return s.listOrders(ctx, OrderIndex{User: p.Sub}, cursor, limit)
	}
	// Page through the user's orders keeping the stream's, so that a page
	// still holds up to limit of them; bounded, so a user with many orders
	// elsewhere gets a short page and a cursor to go on from.
	var out []Order
	for range 10 {
		page, next, err := s.listOrders(ctx, OrderIndex{User: p.Sub}, cursor, limit)
		if err != nil {
			return nil, "", err
		}
		for i, o := range page {
			if p.Can(auth.ManageOrder, auth.Resource{Stream: o.Stream, Buyer: o.User}) {
				out = append(out, o)
				if len(out) == limit {
					if i == len(page)-1 {
						return out, next, nil
					}
					return out, o.ID, nil
				}
			}
		}
		if next == "" {
			return out, "", nil
		}
		cursor = next
	}
	return out, cursor, nil
}

// StreamOrders lists the orders of stream, newest first, for its host, its
// moderators and admins.
func (s *Shop) StreamOrders(ctx context.Context, p *auth.Principal, stream, cursor string, limit int) ([]Order, string, error) {
	if err := validStream(stream); err != nil {
		return nil, "", err
	}
	if err := s.check(ctx, p, auth.Moderate, stream); err != nil {
		return nil, "", err
	}
	return s.listOrders(ctx, OrderIndex{Stream: stream}, cursor, limit)
}

func (s *Shop) listOrders(ctx context.Context, by OrderIndex, cursor string, limit int) ([]Order, string, error) {
	if cursor != "" {
		if err := validOrderID(cursor); err != nil {
			return nil, "", api.New(api.BadRequest, "cursor is not one this server gave")
		}
	}
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	return s.store.Orders(ctx, by, cursor, limit)
}
