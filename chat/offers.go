package chat

import (
	"context"
	"encoding/json"
	"net/url"
	"time"
)

// Waitlist offers (contract section 5): a unit the shop holds for one
// viewer. An offer is private to that viewer: it is never in the history,
// it travels between nodes as a control publication, and each node's hub
// gives it only to the connections whose principal has the viewer's sub.
// The latest offer per viewer and sku is kept in the room's state (key
// offerKey) until it is gone, so that a connection the viewer opens while
// the offer lasts receives it right after its welcome.

// offerMsg is an offer as the viewer receives it; HeldUntil is nil when
// the offer is gone.
type offerMsg struct {
	Type      string  `json:"type"`
	SKU       string  `json:"sku"`
	HeldUntil *string `json:"held_until"`
}

// Offer tells the viewer sub that one unit of sku is held for it in stream
// until heldUntil: every room connection of sub to stream, on every node,
// receives {"type":"offer","sku","held_until"}, and so does each one it
// opens before heldUntil or before OfferGone, right after its welcome. No
// other connection receives it. A newer offer of the same sku to the same
// viewer replaces the older one. It never blocks; safe from any goroutine.
func (r *Rooms) Offer(stream, sub, sku string, heldUntil time.Time) {
	if sub == "" {
		r.cfg.Log.Error("chat: an offer without a viewer", "stream", stream, "sku", sku)
		return
	}
	until := timestamp(heldUntil)
	data := encode(offerMsg{Type: typeOffer, SKU: sku, HeldUntil: &until})
	r.out.add(&outJob{stream: stream, op: "offer", key: outKey("offer", stream, offerKey(sub, sku)), sub: sub, sku: sku, data: data})
}

// OfferGone withdraws the offer of sku to the viewer sub in stream (taken,
// expired or passed on): the viewer's connections receive the offer again
// with "held_until": null, so that the page drops it, and connections
// opened later do not receive it. It never blocks; safe from any
// goroutine.
func (r *Rooms) OfferGone(stream, sub, sku string) {
	if sub == "" {
		return
	}
	data := encode(offerMsg{Type: typeOffer, SKU: sku})
	r.out.add(&outJob{stream: stream, op: "offer_gone", key: outKey("offer", stream, offerKey(sub, sku)), sub: sub, sku: sku, data: data})
}

// offerPrefix starts the state keys of sub's offers. The sub is escaped,
// so that it holds no ':' and one viewer's prefix never matches another's.
func offerPrefix(sub string) string { return "offer:" + url.QueryEscape(sub) + ":" }

// offerKey is the state key of the offer of sku to sub: offer:SUB:SKU,
// both escaped.
func offerKey(sub, sku string) string { return offerPrefix(sub) + url.QueryEscape(sku) }

// publishOffer keeps (or removes) the offer in the room's state, then
// sends it to every hub of the stream for the viewer's connections.
func (r *Rooms) publishOffer(ctx context.Context, j *outJob) error {
	b, key := r.cfg.Broker, offerKey(j.sub, j.sku)
	var err error
	if j.op == "offer" {
		err = b.SetState(ctx, j.stream, key, j.data)
	} else {
		_, err = b.TakeState(ctx, j.stream, key)
	}
	if err != nil {
		return err
	}
	return r.publishControl(ctx, j.stream, control{Op: "offer", Sub: j.sub, SKU: j.sku, Data: j.data})
}

// deliverOffer gives an offer (or its withdrawal) to this node's
// connections of the viewer it is for. It is state for each connection: a
// newer value for the same sku replaces one still queued.
func (h *hub) deliverOffer(ctl control) {
	if ctl.Sub == "" || len(ctl.Data) == 0 {
		return
	}
	p := Publication{Kind: KindState, Key: "offer:" + ctl.SKU, Data: []byte(ctl.Data)}
	h.each(func(c *client) bool { return c.p != nil && c.p.Sub == ctl.Sub }, func(c *client) { c.push(p) })
}

// offerLive reports whether the stored offer data still holds its unit at
// now.
func offerLive(data []byte, now time.Time) bool {
	var o struct {
		HeldUntil *time.Time `json:"held_until"`
	}
	if json.Unmarshal(data, &o) != nil || o.HeldUntil == nil {
		return false
	}
	return now.Before(*o.HeldUntil)
}
