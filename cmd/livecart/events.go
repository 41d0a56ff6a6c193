package main

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/livecart/livecart/cart"
	"github.com/livecart/livecart/chat"
	"github.com/livecart/livecart/stream"
)

// roomEvents takes what the stream registry and the shop tell (a stream's
// status; stock, orders, the pinned card, coupons and waitlist offers) to
// the room. The room is built after both, as it reads from them, so wire
// hands roomEvents to them empty and connects it once the room exists,
// before either runs or serves a request: they emit nothing before that,
// so its methods always find it connected. Its methods are safe for
// concurrent use.
type roomEvents struct {
	rooms *chat.Rooms
	// shop is told the viewers a card was shown to, for its funnel.
	shop *cart.Shop
	// viewers is each stream's viewer count as the room last said it.
	viewers sync.Map // stream → int
}

var (
	_ stream.Events = (*roomEvents)(nil)
	_ cart.Events   = (*roomEvents)(nil)
)

// connect sets where the events go. wire calls it once, before anything
// runs or is served.
func (e *roomEvents) connect(rooms *chat.Rooms, shop *cart.Shop) {
	e.rooms, e.shop = rooms, shop
}

// viewersNow records stream's viewer count as the room says it (its
// OnViewers hook).
func (e *roomEvents) viewersNow(stream string, count int) {
	e.viewers.Store(stream, count)
}

// StreamStatus tells the room the stream went live, offline or ended.
func (e *roomEvents) StreamStatus(id, status string) {
	e.rooms.StreamStatus(id, status)
}

// StockChanged tells the room sku's stock.
func (e *roomEvents) StockChanged(streamID, sku string, stock int) {
	e.rooms.StockChanged(streamID, sku, stock)
}

// OrderPlaced adds an order to the room's ticker.
func (e *roomEvents) OrderPlaced(streamID, sku string, qty int, buyer string) {
	e.rooms.OrderPlaced(streamID, sku, qty, buyer)
}

// ProductCard shows the pinned card in the room (nil unpins), encoded as
// the shop encodes it, and counts the viewers it was shown to in the
// shop's funnel.
func (e *roomEvents) ProductCard(streamID string, card *cart.Card) {
	if card == nil {
		e.rooms.ProductCard(streamID, nil)
		return
	}
	raw, err := json.Marshal(card)
	if err != nil { // a card is plain data: never
		panic(fmt.Sprintf("product card of %s does not encode: %v", card.SKU, err))
	}
	e.rooms.ProductCard(streamID, raw)
	if n, ok := e.viewers.Load(streamID); ok {
		e.shop.CardShown(streamID, card.SKU, n.(int))
	}
}

// CouponChanged announces the coupon in the room.
func (e *roomEvents) CouponChanged(streamID string, c *cart.Coupon) {
	e.rooms.Coupon(streamID, chat.Coupon{Code: c.Code, PercentOff: c.PercentOff, AmountOffCents: c.AmountOffCents,
		Left: int(c.Left), EndsAt: c.EndsAt})
}

// Offer tells user in the room of a waitlist unit held for them, or that
// the offer is gone (a zero heldUntil).
func (e *roomEvents) Offer(streamID, user, sku string, heldUntil time.Time) {
	if heldUntil.IsZero() {
		e.rooms.OfferGone(streamID, user, sku)
		return
	}
	e.rooms.Offer(streamID, user, sku, heldUntil)
}
