package cart

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// MaxCoupons is the most coupons one stream has.
const MaxCoupons = 50

// Coupon is a live coupon of a stream: a percent or an amount off the
// products it is for (all of the lineup when SKUs is empty), redeemed at
// most MaxRedemptions times in all and PerBuyer times per buyer, until
// EndsAt when set.
type Coupon struct {
	Code           string     `json:"code"`
	PercentOff     *int64     `json:"percent_off,omitempty"`
	AmountOffCents *int64     `json:"amount_off_cents,omitempty"`
	MaxRedemptions int64      `json:"max_redemptions"`
	PerBuyer       int64      `json:"per_buyer"`
	EndsAt         *time.Time `json:"ends_at"`
	SKUs           []string   `json:"skus"`
	// Left is how many redemptions are left; set when the coupon is shown.
	Left int64 `json:"left"`
}

// CouponInput is what POST /api/streams/{id}/coupons carries.
type CouponInput struct {
	Code           string     `json:"code"`
	PercentOff     *int64     `json:"percent_off"`
	AmountOffCents *int64     `json:"amount_off_cents"`
	MaxRedemptions int64      `json:"max_redemptions"`
	PerBuyer       *int64     `json:"per_buyer"`
	EndsAt         *time.Time `json:"ends_at"`
	SKUs           []string   `json:"skus"`
}

var codeRe = regexp.MustCompile(`^[A-Z0-9_-]{3,32}$`)

// couponsKey names the record of a stream's coupons (a JSON array).
func couponsKey(stream string) string { return "coupons:" + stream }

// Redemption counters: in all, and per buyer.
func couponKey(stream, code string) string { return "cpn:" + stream + ":" + code }
func couponBuyerKey(stream, code, user string) string {
	return "cpnu:" + stream + ":" + code + ":" + user
}

// coupons reads stream's coupons and the record they were read from.
func (s *Shop) coupons(ctx context.Context, stream string) ([]Coupon, []byte, error) {
	raw, err := s.record(ctx, couponsKey(stream))
	if err != nil || raw == nil {
		return nil, raw, err
	}
	var cs []Coupon
	if err := json.Unmarshal(raw, &cs); err != nil {
		return nil, nil, fmt.Errorf("cart: stored coupons of %s: %w", stream, err)
	}
	return cs, raw, nil
}

// CreateCoupon adds a coupon to stream for p, the stream's host, and tells
// the room.
func (s *Shop) CreateCoupon(ctx context.Context, p *auth.Principal, stream string, in CouponInput) (Coupon, error) {
	if err := validStream(stream); err != nil {
		return Coupon{}, err
	}
	if err := s.check(ctx, p, auth.Own, stream); err != nil {
		return Coupon{}, err
	}
	c := Coupon{Code: strings.ToUpper(strings.TrimSpace(in.Code)), PercentOff: in.PercentOff, AmountOffCents: in.AmountOffCents,
		MaxRedemptions: in.MaxRedemptions, PerBuyer: 1, EndsAt: in.EndsAt, SKUs: in.SKUs}
	if in.PerBuyer != nil {
		c.PerBuyer = *in.PerBuyer
	}
	if c.SKUs == nil {
		c.SKUs = []string{}
	}
	now := s.now()
	switch {
	case !codeRe.MatchString(c.Code):
		return Coupon{}, api.New(api.BadRequest, "code must be 3 to 32 letters, digits, '_' or '-'")
	case (c.PercentOff == nil) == (c.AmountOffCents == nil):
		return Coupon{}, api.New(api.BadRequest, "give exactly one of percent_off and amount_off_cents")
	case c.PercentOff != nil && (*c.PercentOff < 1 || *c.PercentOff > 100):
		return Coupon{}, api.New(api.BadRequest, "percent_off must be 1 to 100")
	case c.AmountOffCents != nil && (*c.AmountOffCents < 1 || *c.AmountOffCents > MaxPriceCents):
		return Coupon{}, api.Errorf(api.BadRequest, "amount_off_cents must be 1 to %d", MaxPriceCents)
	case c.MaxRedemptions < 1 || c.MaxRedemptions > MaxStock:
		return Coupon{}, api.Errorf(api.BadRequest, "max_redemptions must be 1 to %d", MaxStock)
	case c.PerBuyer < 1 || c.PerBuyer > c.MaxRedemptions:
		return Coupon{}, api.New(api.BadRequest, "per_buyer must be 1 to max_redemptions")
	case c.EndsAt != nil && !c.EndsAt.After(now):
		return Coupon{}, api.New(api.BadRequest, "ends_at must be in the future")
	case len(c.SKUs) > MaxLineup:
		return Coupon{}, api.Errorf(api.BadRequest, "skus lists at most %d products", MaxLineup)
	}
	if c.EndsAt != nil {
		t := c.EndsAt.UTC().Truncate(time.Millisecond)
		c.EndsAt = &t
	}
	_, err := s.run(ctx, func() (Plan, error) {
		sc, err := s.store.Showcase(ctx, stream)
		if err != nil {
			return Plan{}, storeErr(err)
		}
		prods, err := s.store.Products(ctx, sc.Lineup)
		if err != nil {
			return Plan{}, storeErr(err)
		}
		if err := c.checkProducts(present(prods, nil, now)); err != nil {
			return Plan{}, err
		}
		cs, raw, err := s.coupons(ctx, stream)
		if err != nil {
			return Plan{}, err
		}
		live := cs[:0:0]
		for _, o := range cs {
			if o.Code == c.Code {
				return Plan{}, api.Errorf(api.Conflict, "stream %s already has a coupon %s", stream, c.Code)
			}
			if o.EndsAt == nil || o.EndsAt.After(now.Add(-24*time.Hour)) {
				live = append(live, o) // coupons over for a day are forgotten
			}
		}
		if len(live) >= MaxCoupons {
			return Plan{}, api.Errorf(api.Conflict, "a stream has at most %d coupons", MaxCoupons)
		}
		js, err := json.Marshal(append(live, c))
		if err != nil {
			return Plan{}, err
		}
		return Plan{
			Expect:  []Expect{{Kind: ExpectShowcase, ID: stream, Rev: sc.Rev}, {Kind: ExpectRecord, ID: couponsKey(stream), Value: raw}},
			Records: []RecordWrite{{Key: couponsKey(stream), Value: js}},
		}, nil
	})
	if err != nil {
		return Coupon{}, err
	}
	s.forgetRecord(couponsKey(stream))
	c.Left = c.MaxRedemptions
	s.events.CouponChanged(stream, &c)
	return c, nil
}

// checkProducts checks the coupon against the lineup it is for: its skus
// are lineup products, and an amount off is no more than the cheapest of
// them (or of any variant).
func (c Coupon) checkProducts(lineup []Product) error {
	by := map[string]Product{}
	for _, p := range lineup {
		by[p.SKU] = p
	}
	for _, sku := range c.SKUs {
		if _, ok := by[sku]; !ok {
			return api.Errorf(api.NotInLineup, "coupon for %s, which is not in the lineup: %w", sku, ErrNotInLineup)
		}
	}
	if c.AmountOffCents == nil {
		return nil
	}
	for _, p := range lineup {
		if !c.covers(p.SKU) {
			continue
		}
		prices := []int64{p.PriceCents}
		if len(p.Variants) > 0 {
			prices = prices[:0]
			for _, v := range p.Variants {
				prices = append(prices, v.PriceCents)
			}
		}
		if min := slices.Min(prices); *c.AmountOffCents > min {
			return api.Errorf(api.BadRequest, "amount_off_cents %d is more than the price of %s (%d)", *c.AmountOffCents, p.SKU, min)
		}
	}
	return nil
}

// covers reports whether the coupon is for the product sku.
func (c Coupon) covers(sku string) bool { return len(c.SKUs) == 0 || slices.Contains(c.SKUs, sku) }

// discount decides what coupon code takes off lines at now: the discount
// and the counters that redeem it for user. An unknown, expired or
// inapplicable code is ErrCouponInvalid.
func (c Coupon) discount(stream, user string, lines []line, now time.Time) (int64, []CounterDelta, error) {
	if c.EndsAt != nil && !now.Before(*c.EndsAt) {
		return 0, nil, api.Errorf(api.CouponInvalid, "coupon %s has ended: %w", c.Code, ErrCouponInvalid)
	}
	eligible := int64(0)
	for _, l := range lines {
		if c.covers(l.base.SKU) {
			eligible += l.price * int64(l.qty)
		}
	}
	if eligible == 0 {
		return 0, nil, api.Errorf(api.CouponInvalid, "coupon %s is not for these products: %w", c.Code, ErrCouponInvalid)
	}
	var off int64
	if c.PercentOff != nil {
		off = eligible * *c.PercentOff / 100
	} else {
		off = min(*c.AmountOffCents, eligible)
	}
	return off, []CounterDelta{
		{Key: couponKey(stream, c.Code), Delta: 1, Max: c.MaxRedemptions},
		{Key: couponBuyerKey(stream, c.Code, user), Delta: 1, Max: c.PerBuyer},
	}, nil
}

// applyCoupon decides code for a sale of lines in stream: it returns the
// coupon's discount and redemption counters, and adds the precondition
// that the coupons are as read. An empty code is no coupon.
func (s *Shop) applyCoupon(ctx context.Context, stream, user, code string, lines []line, now time.Time, expect *[]Expect) (int64, []CounterDelta, error) {
	if code == "" {
		return 0, nil, nil
	}
	code = strings.ToUpper(strings.TrimSpace(code))
	cs, raw, err := s.coupons(ctx, stream)
	if err != nil {
		return 0, nil, err
	}
	*expect = append(*expect, Expect{Kind: ExpectRecord, ID: couponsKey(stream), Value: raw})
	for _, c := range cs {
		if c.Code == code {
			return c.discount(stream, user, lines, now)
		}
	}
	return 0, nil, api.Errorf(api.CouponInvalid, "no coupon %s in this show: %w", code, ErrCouponInvalid)
}

// Coupons lists stream's coupons with what is left of each.
func (s *Shop) Coupons(ctx context.Context, stream string) ([]Coupon, error) {
	if err := validStream(stream); err != nil {
		return nil, err
	}
	cs, _, err := s.coupons(ctx, stream)
	if err != nil {
		return nil, err
	}
	if err := s.fillLeft(ctx, stream, cs); err != nil {
		return nil, err
	}
	if cs == nil {
		cs = []Coupon{}
	}
	return cs, nil
}

// fillLeft sets Left of each coupon from its redemption counter.
func (s *Shop) fillLeft(ctx context.Context, stream string, cs []Coupon) error {
	if len(cs) == 0 {
		return nil
	}
	keys := make([]string, len(cs))
	for i, c := range cs {
		keys[i] = couponKey(stream, c.Code)
	}
	used, err := s.store.Counters(ctx, keys)
	if err != nil {
		return storeErr(err)
	}
	for i := range cs {
		cs[i].Left = max(0, cs[i].MaxRedemptions-used[i])
	}
	return nil
}

// couponUsed marks stream's coupon code as changed: the room is told what
// is left of it at the next flush (flushCoupons), once however many
// redemptions happened meanwhile.
func (s *Shop) couponUsed(stream, code string) {
	if code == "" {
		return
	}
	s.dirtyMu.Lock()
	if s.dirty == nil {
		s.dirty = make(map[[2]string]bool)
	}
	s.dirty[[2]string{stream, code}] = true
	s.dirtyMu.Unlock()
}

// flushCoupons tells the rooms what is left of every coupon used since the
// last flush.
func (s *Shop) flushCoupons(ctx context.Context) {
	s.dirtyMu.Lock()
	dirty := s.dirty
	s.dirty = nil
	s.dirtyMu.Unlock()
	byStream := map[string][]string{}
	for k := range dirty {
		byStream[k[0]] = append(byStream[k[0]], k[1])
	}
	for stream, codes := range byStream {
		cs, err := s.Coupons(ctx, stream)
		if err != nil {
			s.log.Warn("cart: reading coupons", "stream", stream, "err", err)
			continue
		}
		for i := range cs {
			if slices.Contains(codes, cs[i].Code) {
				s.events.CouponChanged(stream, &cs[i])
			}
		}
	}
}

func (s *Shop) forgetRecord(key string) { s.cache.forget(ExpectRecord, key) }
