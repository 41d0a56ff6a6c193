package cart

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// Cart is a viewer's cart as GET /api/cart shows it. Unit prices are the
// ones in effect now; checkout charges those in effect when it runs.
// A cart holds one stream's products in one currency.
type Cart struct {
	Items      []CartItem `json:"items"`
	TotalCents int64      `json:"total_cents"`
	// Currency is null while the cart is empty.
	Currency *string `json:"currency"`
}

// CartItem is one line of a Cart. HeldUntil is when its stock stops being
// reserved; once past, the stock is back on sale and the line stays in the
// cart without it until the cart changes or is checked out.
type CartItem struct {
	Stream         string    `json:"stream"`
	SKU            string    `json:"sku"`
	Qty            int       `json:"qty"`
	UnitPriceCents int64     `json:"unit_price_cents"`
	HeldUntil      time.Time `json:"held_until"`
}

// CartItemBody is what PUT /api/cart/items/{sku} carries.
type CartItemBody struct {
	Stream string `json:"stream"`
	Qty    int    `json:"qty"`
}

// Cart returns p's cart. A token limited to one stream sees the cart
// empty while it holds another stream's products.
func (s *Shop) Cart(ctx context.Context, p *auth.Principal) (Cart, error) {
	if err := auth.Check(p, auth.Account, auth.Resource{}); err != nil {
		return Cart{}, err
	}
	sc, err := s.store.Cart(ctx, p.Sub)
	if err != nil {
		return Cart{}, storeErr(err)
	}
	c := Cart{Items: []CartItem{}}
	if len(sc.Lines) == 0 || !p.Can(auth.Buy, auth.On(sc.Stream, auth.Owner{})) {
		return c, nil
	}
	skus := make([]string, len(sc.Lines))
	for i, l := range sc.Lines {
		skus[i] = l.SKU
	}
	prods, err := s.store.Products(ctx, skus)
	if err != nil {
		return Cart{}, storeErr(err)
	}
	show, err := s.store.Showcase(ctx, sc.Stream)
	if err != nil {
		return Cart{}, storeErr(err)
	}
	pin := show.Pin
	bySKU := make(map[string]Product, len(prods))
	for _, p := range prods {
		bySKU[p.SKU] = p
	}
	now := s.now()
	cur := sc.Currency
	c.Currency = &cur
	for _, l := range sc.Lines {
		prod, ok := bySKU[l.SKU]
		if !ok {
			continue
		}
		price := PriceAt(prod, pin, now)
		c.Items = append(c.Items, CartItem{Stream: sc.Stream, SKU: l.SKU, Qty: l.Qty, UnitPriceCents: price, HeldUntil: sc.HeldUntil.UTC()})
		c.TotalCents += price * int64(l.Qty)
	}
	return c, nil
}

// SetCartItem sets p's cart line for sku to body.Qty (0 removes it) and
// holds the cart's stock for another Hold. The line's product must be in
// body.Stream's lineup; a cart holds one stream and one currency, and an
// item of another is refused with conflict.
func (s *Shop) SetCartItem(ctx context.Context, p *auth.Principal, sku string, body CartItemBody) (Cart, error) {
	if err := ValidSKU(sku); err != nil {
		return Cart{}, err
	}
	if err := validStream(body.Stream); err != nil {
		return Cart{}, err
	}
	if body.Qty < 0 || body.Qty > MaxQty {
		return Cart{}, api.Errorf(api.BadRequest, "qty must be 0 to %d", MaxQty)
	}
	if err := auth.Check(p, auth.Buy, auth.On(body.Stream, auth.Owner{})); err != nil {
		return Cart{}, err
	}
	var started bool
	a, err := s.run(ctx, func() (Plan, error) {
		plan, st, err := s.decideCartLine(ctx, p.Sub, body.Stream, sku, body.Qty)
		started = st
		return plan, err
	})
	if err != nil {
		return Cart{}, s.lineupErr(ctx, body.Stream, err)
	}
	if started {
		s.metrics.funnel.WithLabelValues("carts").Inc()
	}
	s.stockChanged(a.Changes)
	return s.Cart(ctx, p)
}

// decideCartLine plans setting user's line for sku (from stream) to qty.
//
// The rules: a cart holds one stream's products in one currency, at most
// MaxCartLines lines. While its hold lasts only the changed line's stock
// moves and the hold is renewed; a hold that has lapsed gives its stock
// back first. A cart that holds nothing takes the stock of all its lines
// again when a line is set (and the hold starts anew), while removing a
// line from it moves no stock.
func (s *Shop) decideCartLine(ctx context.Context, user, stream, sku string, qty int) (plan Plan, started bool, err error) {
	c, err := s.store.Cart(ctx, user)
	if err != nil {
		return Plan{}, false, storeErr(err)
	}
	now := s.now()
	expect := []Expect{{Kind: ExpectCart, ID: user, Rev: c.Rev}}
	old := lineQty(c.Lines, sku)
	others := len(c.Lines)
	if old > 0 {
		others--
	}
	cur, cartStream := c.Currency, c.Stream
	if qty > 0 {
		if others > 0 && c.Stream != stream {
			return Plan{}, false, cartConflict("your cart holds products of stream %q; check it out or empty it first", c.Stream)
		}
		sc, err := s.showcase(ctx, stream)
		if err != nil {
			return Plan{}, false, err
		}
		expect = append(expect, Expect{Kind: ExpectShowcase, ID: stream, Rev: sc.Rev})
		l, err := s.saleLine(ctx, stream, sc, sku, qty, now, &expect)
		if err != nil {
			return Plan{}, false, err
		}
		if others > 0 && c.Currency != l.prod.Currency {
			return Plan{}, false, cartConflict("your cart is in %s; this product is in another currency", c.Currency)
		}
		if old == 0 && others >= MaxCartLines {
			return Plan{}, false, ErrCartFull
		}
		cur, cartStream = l.prod.Currency, stream
	}
	lines := setLine(c.Lines, sku, qty)

	// Stock and limits move together: a held line takes both.
	deltas := map[string]int{}
	held := c.Held && now.Before(c.HeldUntil)
	if c.Held && !held { // lapsed: its stock comes back first
		for _, l := range c.Lines {
			deltas[l.SKU] += l.Qty
		}
	}
	hold := held || qty > 0
	switch {
	case held:
		deltas[sku] -= qty - old
	case qty > 0: // the whole cart is held anew
		for _, l := range lines {
			deltas[l.SKU] -= l.Qty
		}
	}
	plan = Plan{Expect: expect, Stock: stockDeltas(deltas)}
	limits, err := s.limitsOf(ctx, cartStream, user, deltas)
	if err != nil {
		return Plan{}, false, err
	}
	plan.Counters = limits
	if len(c.Lines) == 0 && qty > 0 {
		plan.Counters = append(plan.Counters, CounterDelta{Key: statKey(stream, "carts"), Delta: 1})
		started = true
	}
	if old == 0 && qty > 0 {
		base, err := s.baseOf(ctx, sku)
		if err != nil {
			return Plan{}, false, err
		}
		plan.Counters = append(plan.Counters, CounterDelta{Key: statProductKey(stream, base, "carts"), Delta: 1})
	}
	switch {
	case len(lines) == 0:
		plan.Cart = &CartWrite{User: user}
	case hold:
		plan.Cart = &CartWrite{User: user, Cart: &StoredCart{Stream: cartStream, Currency: cur, Held: true, HeldUntil: now.Add(s.hold).Truncate(time.Millisecond), Lines: lines}}
	default:
		plan.Cart = &CartWrite{User: user, Cart: &StoredCart{Stream: c.Stream, Currency: c.Currency, HeldUntil: c.HeldUntil, Lines: lines}}
	}
	return plan, started, nil
}

// baseOf is the product whose rules apply to sku: the product it is a
// variant of, or itself.
func (s *Shop) baseOf(ctx context.Context, sku string) (string, error) {
	p, err := s.product(ctx, sku)
	if errors.Is(err, ErrProductNotFound) {
		return sku, nil
	}
	if err != nil {
		return "", err
	}
	if p.Parent != "" {
		return p.Parent, nil
	}
	return sku, nil
}

// limitsOf turns stock deltas of a buyer's units in stream (negative: the
// buyer takes them) into the changes of its per-buyer counters, bounded by
// each product's limit.
func (s *Shop) limitsOf(ctx context.Context, stream, user string, deltas map[string]int) ([]CounterDelta, error) {
	per := map[string]int{}
	for sku, d := range deltas {
		if d == 0 {
			continue
		}
		base, err := s.baseOf(ctx, sku)
		if err != nil {
			return nil, err
		}
		per[base] -= d
	}
	var out []CounterDelta
	for base, n := range per {
		if n == 0 {
			continue
		}
		limit := 0
		if p, err := s.product(ctx, base); err == nil {
			limit = p.LimitPerBuyer
		}
		out = append(out, CounterDelta{Key: limitKey(stream, user, base), Delta: int64(n), Max: int64(limit)})
	}
	slices.SortFunc(out, func(a, b CounterDelta) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// lineQty is the quantity of sku in lines (0 when absent).
func lineQty(lines []StoredLine, sku string) int {
	for _, l := range lines {
		if l.SKU == sku {
			return l.Qty
		}
	}
	return 0
}

// setLine returns lines with sku's quantity set to qty (0 removes it),
// sorted by sku.
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
	slices.SortFunc(out, func(a, b StoredLine) int { return strings.Compare(a.SKU, b.SKU) })
	return out
}

// stockDeltas lists the non-zero deltas, by sku.
func stockDeltas(m map[string]int) []StockDelta {
	var out []StockDelta
	for sku, d := range m {
		if d != 0 {
			out = append(out, StockDelta{SKU: sku, Delta: d})
		}
	}
	slices.SortFunc(out, func(a, b StockDelta) int { return strings.Compare(a.SKU, b.SKU) })
	return out
}

// CheckoutBody is what POST /api/cart/checkout may carry.
type CheckoutBody struct {
	Coupon string `json:"coupon,omitempty"`
}

// Checkout turns p's whole cart into one order, atomically: every line at
// the price in effect now, or nothing when one cannot be had. key and fp
// are as for Buy.
func (s *Shop) Checkout(ctx context.Context, p *auth.Principal, body CheckoutBody, key, fp string) (Order, bool, error) {
	if err := auth.Check(p, auth.Account, auth.Resource{}); err != nil {
		return Order{}, false, err
	}
	if err := checkIdempotencyKey(key); err != nil {
		return Order{}, false, err
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
		c, err := s.store.Cart(ctx, p.Sub)
		if err != nil {
			return Plan{}, storeErr(err)
		}
		expect := []Expect{{Kind: ExpectCart, ID: p.Sub, Rev: c.Rev}}
		if len(c.Lines) == 0 {
			return Plan{}, refuse(ErrCartEmpty, p.Sub, key, expect)
		}
		// A token for one stream checks out only that stream's cart.
		if err := auth.Check(p, auth.Buy, auth.On(c.Stream, auth.Owner{})); err != nil {
			return Plan{}, err
		}
		sc, err := s.showcase(ctx, c.Stream)
		if err != nil {
			return Plan{}, err
		}
		expect = append(expect, Expect{Kind: ExpectShowcase, ID: c.Stream, Rev: sc.Rev})
		now := s.now()
		lines := make([]line, 0, len(c.Lines))
		deltas := map[string]int{}
		for _, cl := range c.Lines {
			l, err := s.saleLine(ctx, c.Stream, sc, cl.SKU, cl.Qty, now, &expect)
			if err != nil {
				return Plan{}, refuse(err, p.Sub, key, expect)
			}
			if l.prod.Currency != c.Currency {
				return Plan{}, refuse(cartConflict("your cart is in %s; %s is in another currency", c.Currency, cl.SKU), p.Sub, key, expect)
			}
			lines = append(lines, l)
			// A held cart's stock is reserved until the sweep gives it
			// back, even past its hold; an unheld one takes it now.
			if !c.Held {
				deltas[cl.SKU] -= cl.Qty
			}
		}
		plan, o, err := s.salePlan(ctx, p.Sub, c.Stream, id, body.Coupon, lines, now, expect)
		if err != nil {
			return Plan{}, refuse(err, p.Sub, key, expect)
		}
		order = o
		plan.Stock = stockDeltas(deltas)
		if !c.Held {
			// A held cart's units already count against the limits.
			plan.Counters = append(plan.Counters, limitDeltas(c.Stream, p.Sub, lines, 1)...)
		}
		plan.Cart = &CartWrite{User: p.Sub}
		if err := placeOrder(&plan, order, key, fp); err != nil {
			return Plan{}, err
		}
		return plan, nil
	})
	if err != nil {
		return Order{}, false, err
	}
	if a.Replay != nil {
		o, err := readRecord(a.Replay, fp)
		return o, err == nil, err
	}
	s.placed(order, a.Changes, p)
	return order, false, nil
}
