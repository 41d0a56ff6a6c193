package chat

import (
	"context"
	"encoding/json"
	"net/url"
	"time"
)

// Live coupons (contract section 5), announced to every viewer of a
// stream. A coupon is room state like stock: kept per code in the room's
// state (key "coupon:CODE", the code escaped) for those who join later, and
// published as a state publication, so that a newer value replaces an
// older one still queued for a connection and a connected viewer always
// ends on the latest.

// Coupon is a live coupon of a stream as the room shows it. Exactly one of
// PercentOff and AmountOffCents is set. Left is how many redemptions are
// left in all; EndsAt is when it stops being accepted (nil: until
// withdrawn).
type Coupon struct {
	Code           string     `json:"code"`
	PercentOff     *int64     `json:"percent_off,omitempty"`
	AmountOffCents *int64     `json:"amount_off_cents,omitempty"`
	Left           int        `json:"left"`
	EndsAt         *time.Time `json:"ends_at"`
}

// couponMsg is a coupon as viewers receive it.
type couponMsg struct {
	Type           string  `json:"type"`
	Code           string  `json:"code"`
	PercentOff     *int64  `json:"percent_off,omitempty"`
	AmountOffCents *int64  `json:"amount_off_cents,omitempty"`
	Left           int     `json:"left"`
	EndsAt         *string `json:"ends_at"`
}

// Coupon tells every viewer of stream, on every node, the coupon c as
// {"type":"coupon","code","percent_off" or "amount_off_cents","left",
// "ends_at"}, and keeps it for connections that join later: they receive
// it right after their welcome while it has not ended (EndsAt) and until
// CouponGone. Call it again whenever Left changes; a coupon that is used
// up (Left 0) or has ended is still sent as given. Values not yet
// published or not yet written to a connection are replaced by newer ones
// of the same code. A coupon without a code, or without exactly one of
// PercentOff and AmountOffCents, is logged and dropped. It never blocks;
// safe from any goroutine.
func (r *Rooms) Coupon(stream string, c Coupon) {
	if c.Code == "" || (c.PercentOff == nil) == (c.AmountOffCents == nil) {
		r.cfg.Log.Error("chat: a coupon needs a code and exactly one of percent_off and amount_off_cents", "stream", stream, "code", c.Code)
		return
	}
	m := couponMsg{Type: typeCoupon, Code: c.Code, PercentOff: c.PercentOff, AmountOffCents: c.AmountOffCents, Left: c.Left}
	if c.EndsAt != nil {
		s := timestamp(*c.EndsAt)
		m.EndsAt = &s
	}
	r.out.add(&outJob{stream: stream, op: "coupon", key: outKey("coupon", stream, c.Code), code: c.Code, data: encode(m)})
}

// CouponGone withdraws the coupon code of stream from what connections
// that join later receive. Viewers already connected are not sent
// anything: the last coupon they received stands (used up or ended). It
// never blocks; safe from any goroutine.
func (r *Rooms) CouponGone(stream, code string) {
	r.out.add(&outJob{stream: stream, op: "coupon_gone", code: code})
}

// couponKey is the state and conflation key of the coupon code.
func couponKey(code string) string { return "coupon:" + url.QueryEscape(code) }

// publishCoupon keeps the coupon in the room's state and publishes it, or
// removes it from the state.
func (r *Rooms) publishCoupon(ctx context.Context, j *outJob) error {
	b, key := r.cfg.Broker, couponKey(j.code)
	if j.op == "coupon_gone" {
		_, err := b.TakeState(ctx, j.stream, key)
		return err
	}
	if err := b.SetState(ctx, j.stream, key, j.data); err != nil {
		return err
	}
	_, err := b.Publish(ctx, j.stream, Publication{Kind: KindState, Key: key, Data: j.data}, false, 0)
	return err
}

// couponLive reports whether the stored coupon data has not ended at now.
func couponLive(data []byte, now time.Time) bool {
	var c struct {
		EndsAt *time.Time `json:"ends_at"`
	}
	if json.Unmarshal(data, &c) != nil {
		return false
	}
	return c.EndsAt == nil || now.Before(*c.EndsAt)
}
