package cart

import (
	"context"
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
	pin, err := s.store.Pin(ctx, sc.Stream)
	if err != nil {
		return Cart{}, storeErr(err)
	}
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
	changes, err := s.store.SetCartItem(ctx, CartChange{User: p.Sub, Stream: body.Stream, SKU: sku, Qty: body.Qty, Now: s.now(), Hold: s.hold})
	s.stockChanged(changes) // a lapsed hold may have been released even on error
	if err != nil {
		return Cart{}, s.lineupErr(ctx, body.Stream, storeErr(err))
	}
	return s.Cart(ctx, p)
}

// Checkout turns p's whole cart into one order, atomically: every line at
// the price in effect now, or nothing when one cannot be had. key and fp
// are as for Buy.
func (s *Shop) Checkout(ctx context.Context, p *auth.Principal, key, fp string) (Order, bool, error) {
	if err := auth.Check(p, auth.Account, auth.Resource{}); err != nil {
		return Order{}, false, err
	}
	if err := checkIdempotencyKey(key); err != nil {
		return Order{}, false, err
	}
	if p.Stream != "" {
		// A token for one stream checks out only that stream's cart.
		sc, err := s.store.Cart(ctx, p.Sub)
		if err != nil {
			return Order{}, false, storeErr(err)
		}
		if len(sc.Lines) > 0 {
			if err := auth.Check(p, auth.Buy, auth.On(sc.Stream, auth.Owner{})); err != nil {
				return Order{}, false, err
			}
		}
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
	placed, err := s.store.Checkout(ctx, CheckoutRequest{Idem: Idem{User: p.Sub, Key: key, Fingerprint: fp}, OrderID: id, Now: s.now()})
	if err != nil {
		s.stockChanged(placed.Changes) // a lapsed hold may have been released
		return Order{}, false, storeErr(err)
	}
	if placed.Replayed {
		return placed.Order, true, nil
	}
	s.placed(placed, p)
	return placed.Order, false, nil
}
