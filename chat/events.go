package chat

import (
	"context"
	"encoding/json"
)

// Events in: what the rest of livecart tells the room (the stream's status,
// the pinned card, stock and orders from the shop; the shop's waitlist
// offers and coupons are in offers.go and coupons.go). Each call queues a
// job in the outbox and returns at once; the outbox's goroutine publishes
// it through the Broker as below.

// StreamStatus tells every viewer of stream its new status ("live",
// "offline", "ended"). It never blocks; safe from any goroutine.
func (r *Rooms) StreamStatus(stream, status string) {
	r.out.add(&outJob{stream: stream, op: "stream", data: encode(streamMsg{Type: typeStream, Status: status})})
}

// ProductCard shows card, the contract's product card (section 6,
// product.card) encoded as JSON, to every viewer of stream, and keeps it
// as the pinned card for those who join later; nil unpins. The room
// passes it on as it is. It never blocks; safe from any goroutine.
func (r *Rooms) ProductCard(stream string, card json.RawMessage) {
	raw := json.RawMessage("null")
	if card != nil {
		raw = card
	}
	data := encode(productMsg{Type: typeProduct, Card: raw})
	r.out.add(&outJob{stream: stream, op: "product", card: raw, data: data})
}

// StockChanged tells every viewer of stream the stock of sku. Values not yet
// published are replaced by newer ones. It never blocks; safe from any
// goroutine.
func (r *Rooms) StockChanged(stream, sku string, stock int) {
	data := encode(stockMsg{Type: typeStock, SKU: sku, Stock: stock})
	r.out.add(&outJob{stream: stream, op: "stock", key: outKey("stock", stream, sku), sku: sku, data: data})
}

// OrderPlaced adds an order to stream's ticker; buyer is a display name. It
// never blocks; safe from any goroutine.
func (r *Rooms) OrderPlaced(stream, sku string, qty int, buyer string) {
	data := encode(orderMsg{Type: typeOrder, SKU: sku, Qty: qty, Buyer: buyer})
	r.out.add(&outJob{stream: stream, op: "order", data: data})
}

// outKey is the conflation key of an outbox job: its kind and the parts
// that name the value it replaces.
func outKey(kind, stream string, parts ...string) string {
	k := kind + "\x00" + stream
	for _, p := range parts {
		k += "\x00" + p
	}
	return k
}

// publish makes one event known to every node: state kept for those who
// join later, then the publication.
func (o *outbox) publish(j *outJob) {
	r := o.r
	b := r.cfg.Broker
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var err error
	switch j.op {
	case "product":
		if string(j.card) == "null" {
			_, err = b.TakeState(ctx, j.stream, "pinned")
		} else {
			err = b.SetState(ctx, j.stream, "pinned", j.card)
		}
		if err == nil {
			_, err = b.Publish(ctx, j.stream, Publication{Kind: KindState, Key: "product", Data: j.data}, true, r.cfg.HistorySize)
		}
	case "stock":
		err = b.SetState(ctx, j.stream, "stock:"+j.sku, j.data)
		if err == nil {
			_, err = b.Publish(ctx, j.stream, Publication{Kind: KindState, Key: "stock:" + j.sku, Data: j.data}, false, 0)
		}
	case "offer", "offer_gone":
		err = r.publishOffer(ctx, j)
	case "coupon", "coupon_gone":
		err = r.publishCoupon(ctx, j)
	case "order":
		_, err = b.Publish(ctx, j.stream, Publication{Kind: KindEvent, Key: "order", Data: j.data}, true, r.cfg.HistorySize)
	case "stream":
		_, err = b.Publish(ctx, j.stream, Publication{Kind: KindState, Key: "stream", Data: j.data}, false, 0)
	}
	if err != nil {
		r.brokerError(j.op, err)
	}
}
