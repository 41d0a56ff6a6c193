package cart

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/livecart/livecart/api"
)

// The rules of a sale, decided once for a buy, a cart line and a checkout:
// what a sku sells as, at what price, which per-buyer limit it counts
// against, and what a coupon takes off. Stores only apply their results.

// line is one line of a sale as decided: the product bought (a plain
// product or a variant), the product whose rules apply to it (itself, or
// the product it is a variant of), the quantity and the unit price now.
type line struct {
	prod, base Product
	qty        int
	price      int64
}

// item is the line as an order shows it; a variant is named with its label.
func (l line) item() OrderItem {
	name := l.prod.Name
	if l.prod.Label != "" {
		name += " (" + l.prod.Label + ")"
	}
	return OrderItem{SKU: l.prod.SKU, Name: name, Qty: l.qty, UnitPriceCents: l.price}
}

// saleLine decides what sku sells as in a stream whose showcase is sc, at
// now, adding the revisions it read to expect. A product with variants is
// not sold by its own sku; a variant is sold while its product is in the
// lineup and lists it.
func (s *Shop) saleLine(ctx context.Context, stream string, sc Showcase, sku string, qty int, now time.Time, expect *[]Expect) (line, error) {
	prod, err := s.product(ctx, sku)
	if errors.Is(err, ErrProductNotFound) {
		*expect = append(*expect, Expect{Kind: ExpectProduct, ID: sku})
		if !sc.Has(sku) {
			return line{}, notInLineup(stream, sku)
		}
		return line{}, err
	}
	if err != nil {
		return line{}, err
	}
	*expect = append(*expect, Expect{Kind: ExpectProduct, ID: sku, Rev: prod.Rev})
	if !sc.Has(sku) {
		return line{}, notInLineup(stream, sku)
	}
	if len(prod.Variants) > 0 {
		return line{}, ErrChooseVariant
	}
	base := prod
	if prod.Parent != "" {
		if base, err = s.product(ctx, prod.Parent); err != nil {
			return line{}, err
		}
		*expect = append(*expect, Expect{Kind: ExpectProduct, ID: base.SKU, Rev: base.Rev})
		if !base.hasVariant(sku) {
			return line{}, notInLineup(stream, sku)
		}
	}
	return line{prod: prod, base: base, qty: qty, price: PriceAt(prod, sc.Pin, now)}, nil
}

// Counter keys. A buyer's units of a product in a stream (carts held plus
// orders placed) are counted whether or not the product has a limit, so
// that a limit set later counts what is already held and bought.
func limitKey(stream, user, base string) string {
	return "lim:" + stream + ":" + base + ":" + user
}

// limitDeltas are the counter changes for a buyer taking (qty > 0) or
// giving back (qty < 0) units of lines, bounded by each product's limit.
func limitDeltas(stream, user string, lines []line, sign int) []CounterDelta {
	per := map[string]*CounterDelta{}
	var out []CounterDelta
	for _, l := range lines {
		k := limitKey(stream, user, l.base.SKU)
		if d, ok := per[k]; ok {
			d.Delta += int64(sign * l.qty)
			continue
		}
		out = append(out, CounterDelta{Key: k, Delta: int64(sign * l.qty), Max: int64(l.base.LimitPerBuyer)})
		per[k] = &out[len(out)-1]
	}
	return out
}

// saleErr turns a counter refusal into what the buyer is told.
func saleErr(err error) error {
	var ce *CounterError
	if !errors.As(err, &ce) {
		return err
	}
	switch {
	case strings.HasPrefix(ce.Key, "lim:"):
		return ErrLimitReached
	case strings.HasPrefix(ce.Key, "cpn:"):
		return api.Errorf(api.CouponInvalid, "this coupon is used up: %w", ErrCouponInvalid)
	case strings.HasPrefix(ce.Key, "cpnu:"):
		return api.Errorf(api.CouponInvalid, "you have used this coupon as often as it allows: %w", ErrCouponInvalid)
	}
	return err
}

// Stats counters of a stream's funnel, and of each product in it.
func statKey(stream, what string) string { return "st:" + stream + ":" + what }
func statProductKey(stream, sku, what string) string {
	return "st:" + stream + ":p:" + sku + ":" + what
}

// orderStats are the funnel's counter changes for order o (sign 1 when
// placed, -1 when cancelled); a product is counted under the product
// its line's rules come from.
func orderStats(o Order, lines []line, sign int64) []CounterDelta {
	units := int64(0)
	out := []CounterDelta{}
	perProduct := map[string][3]int64{} // orders, units, revenue
	for i, it := range o.Items {
		units += int64(it.Qty)
		sku := it.SKU
		if i < len(lines) {
			sku = lines[i].base.SKU
		}
		v := perProduct[sku]
		v[0] = 1
		v[1] += int64(it.Qty)
		v[2] += it.UnitPriceCents * int64(it.Qty)
		perProduct[sku] = v
	}
	out = append(out,
		CounterDelta{Key: statKey(o.Stream, "orders"), Delta: sign},
		CounterDelta{Key: statKey(o.Stream, "units"), Delta: sign * units},
		CounterDelta{Key: statKey(o.Stream, "revenue"), Delta: sign * o.TotalCents},
	)
	for sku, v := range perProduct {
		out = append(out,
			CounterDelta{Key: statProductKey(o.Stream, sku, "orders"), Delta: sign * v[0]},
			CounterDelta{Key: statProductKey(o.Stream, sku, "units"), Delta: sign * v[1]},
			CounterDelta{Key: statProductKey(o.Stream, sku, "revenue"), Delta: sign * v[2]},
		)
	}
	return out
}
