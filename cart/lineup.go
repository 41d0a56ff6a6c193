package cart

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// PutProduct creates or replaces prod (without variants) for by; see
// PutProductInput.
func (s *Shop) PutProduct(ctx context.Context, by *auth.Principal, prod Product) (created bool, err error) {
	in := ProductInput{Name: prod.Name, PriceCents: prod.PriceCents, Currency: prod.Currency, Stock: &prod.Stock,
		ImageURL: prod.ImageURL, Description: prod.Description}
	if prod.LimitPerBuyer > 0 {
		in.LimitPerBuyer = &prod.LimitPerBuyer
	}
	return s.PutProductInput(ctx, by, prod.SKU, in)
}

// PutProductInput creates the product sku (and its variants) for by, who
// then owns it (by's org when its token names one), or replaces it when by
// owns it or is an admin; created reports which. A replaced product keeps
// its owner. A variant's sku is its own: it may not be another product's
// or another product's variant (conflict). Stock set here is what can be
// bought now; units held in carts come back on top of it when their holds
// lapse.
func (s *Shop) PutProductInput(ctx context.Context, by *auth.Principal, sku string, in ProductInput) (created bool, err error) {
	if err := auth.Check(by, auth.Create, auth.Resource{}); err != nil {
		return false, err
	}
	prods, err := in.products(sku)
	if err != nil {
		return false, err
	}
	// Decide who may write from what is stored, then write only if every
	// product is still as read (a concurrent create or replace makes the
	// shop decide again).
	variantsChanged := false
	a, err := s.run(ctx, func() (Plan, error) {
		cur, err := s.store.Product(ctx, sku)
		created = errors.Is(err, ErrProductNotFound)
		owner := auth.OwnerOf(by)
		switch {
		case created:
		case err != nil:
			return Plan{}, storeErr(err)
		case cur.Parent != "":
			return Plan{}, api.Errorf(api.Conflict, "%s is a variant of %s: put %s to change it", sku, cur.Parent, cur.Parent)
		default:
			if err := auth.Check(by, auth.EditProduct, auth.Resource{Owner: cur.Owner}); err != nil {
				return Plan{}, err
			}
			owner = cur.Owner
		}
		variantsChanged = !slices.Equal(cur.variantSKUs(), prods[0].variantSKUs())
		plan := Plan{Expect: []Expect{{Kind: ExpectProduct, ID: sku, Rev: cur.Rev}}}
		vs, err := s.store.Products(ctx, prods[0].variantSKUs())
		if err != nil {
			return Plan{}, storeErr(err)
		}
		revs := map[string]int64{}
		for _, v := range vs {
			if v.Parent != sku {
				return Plan{}, api.Errorf(api.Conflict, "sku %s is another product's: a variant needs a sku of its own", v.SKU)
			}
			revs[v.SKU] = v.Rev
		}
		for i := range prods {
			prods[i].Owner = owner
			if i > 0 {
				plan.Expect = append(plan.Expect, Expect{Kind: ExpectProduct, ID: prods[i].SKU, Rev: revs[prods[i].SKU]})
			}
		}
		plan.Products = slices.Clone(prods)
		return plan, nil
	})
	if err != nil {
		return false, err
	}
	for _, p := range prods {
		s.cache.forget(ExpectProduct, p.SKU)
	}
	s.stockChanged(a.Changes)
	if variantsChanged {
		// The streams selling the product now sell its new variants.
		for _, ch := range a.Changes {
			if ch.SKU != sku {
				continue
			}
			for _, stream := range ch.Streams {
				if err := s.resell(ctx, stream); err != nil {
					return created, err
				}
			}
		}
	}
	return created, nil
}

// Product returns the product with sku and its live stock.
func (s *Shop) Product(ctx context.Context, sku string) (Product, error) {
	if err := ValidSKU(sku); err != nil {
		return Product{}, err
	}
	p, err := s.store.Product(ctx, sku)
	if err != nil {
		return Product{}, storeErr(err)
	}
	return s.withVariants(ctx, p, nil)
}

// PutLineup replaces what can be bought in stream for p, who must own
// stream. Every sku must exist, appear once and be a product p may edit
// (the host's own; an admin's any).
func (s *Shop) PutLineup(ctx context.Context, p *auth.Principal, stream string, skus []string) error {
	if err := validStream(stream); err != nil {
		return err
	}
	if err := s.check(ctx, p, auth.Own, stream); err != nil {
		return err
	}
	if len(skus) > MaxLineup {
		return api.Errorf(api.BadRequest, "a lineup has at most %d products", MaxLineup)
	}
	seen := make(map[string]bool, len(skus))
	for _, sku := range skus {
		if err := ValidSKU(sku); err != nil {
			return err
		}
		if seen[sku] {
			return api.Errorf(api.BadRequest, "sku %s appears twice in the lineup", sku)
		}
		seen[sku] = true
	}
	prods, err := s.store.Products(ctx, skus)
	if err != nil {
		return storeErr(err)
	}
	found := make(map[string]bool, len(prods))
	for _, prod := range prods {
		found[prod.SKU] = true
		if prod.Parent != "" {
			return api.Errorf(api.BadRequest, "%s is a variant of %s: a lineup lists products, and sells their variants", prod.SKU, prod.Parent)
		}
		if err := auth.Check(p, auth.EditProduct, auth.Resource{Owner: prod.Owner}); err != nil {
			return api.Errorf(api.Forbidden, "product %s belongs to another host; a lineup holds only the host's own products: %w", prod.SKU, auth.ErrForbidden)
		}
	}
	for _, sku := range skus {
		if !found[sku] {
			return productNotFound(sku)
		}
	}
	// The stream sells each product and its variants; the pin stays when
	// its product stays in the lineup.
	unpinned := false
	_, err = s.run(ctx, func() (Plan, error) {
		sc, err := s.store.Showcase(ctx, stream)
		if err != nil {
			return Plan{}, storeErr(err)
		}
		pin := sc.Pin
		unpinned = pin != nil && !seen[pin.SKU]
		if unpinned {
			pin = nil
		}
		return Plan{
			Expect:   []Expect{{Kind: ExpectShowcase, ID: stream, Rev: sc.Rev}},
			Showcase: &ShowcaseWrite{Stream: stream, Lineup: sellable(prods), Pin: pin},
		}, nil
	})
	if err != nil {
		return err
	}
	s.cache.forget(ExpectShowcase, stream)
	if unpinned {
		s.events.ProductCard(stream, nil)
	}
	return nil
}

// resell writes stream's lineup again with its products' variants as they
// are now, after a product's variants changed.
func (s *Shop) resell(ctx context.Context, stream string) error {
	_, err := s.run(ctx, func() (Plan, error) {
		sc, err := s.store.Showcase(ctx, stream)
		if err != nil {
			return Plan{}, storeErr(err)
		}
		prods, err := s.store.Products(ctx, sc.Lineup)
		if err != nil {
			return Plan{}, storeErr(err)
		}
		var lineup []Product
		for _, p := range prods {
			if p.Parent == "" {
				lineup = append(lineup, p)
			}
		}
		return Plan{
			Expect:   []Expect{{Kind: ExpectShowcase, ID: stream, Rev: sc.Rev}},
			Showcase: &ShowcaseWrite{Stream: stream, Lineup: sellable(lineup), Pin: sc.Pin},
		}, nil
	})
	s.cache.forget(ExpectShowcase, stream)
	return err
}

// setPin pins pin.SKU in stream (which must be in its lineup), or unpins
// when pin is nil.
func (s *Shop) setPin(ctx context.Context, stream string, pin *Pin) error {
	var next Showcase
	_, err := s.run(ctx, func() (Plan, error) {
		sc, err := s.store.Showcase(ctx, stream)
		if err != nil {
			return Plan{}, storeErr(err)
		}
		if pin != nil && !sc.Has(pin.SKU) {
			return Plan{}, notInLineup(stream, pin.SKU)
		}
		next = Showcase{Lineup: sc.Lineup, Pin: pin, Rev: sc.Rev + 1}
		return Plan{
			Expect:   []Expect{{Kind: ExpectShowcase, ID: stream, Rev: sc.Rev}},
			Showcase: &ShowcaseWrite{Stream: stream, Lineup: sc.Lineup, Pin: pin},
		}, nil
	})
	s.cache.forget(ExpectShowcase, stream)
	if err == nil {
		// A write makes the revision one more than it was: the showcase
		// as written is what this node sells from (and counts card views
		// of) now.
		put(&s.cache, &s.cache.showcases, stream, next)
	}
	return err
}

// PinRequest is what POST /api/streams/{id}/pin carries.
type PinRequest struct {
	SKU        string     `json:"sku"`
	PriceCents *int64     `json:"price_cents,omitempty"`
	EndsAt     *time.Time `json:"ends_at,omitempty"`
}

// Pin pins sku in stream for p (the room's `pin {sku}`); an empty sku
// unpins. p must moderate stream.
func (s *Shop) Pin(ctx context.Context, p *auth.Principal, stream, sku string) error {
	if sku == "" {
		return s.Unpin(ctx, p, stream)
	}
	_, err := s.PinCard(ctx, p, stream, PinRequest{SKU: sku})
	return err
}

// PinCard pins req.SKU in stream for p, with an optional live price until
// req.EndsAt, and returns the card every viewer now sees.
func (s *Shop) PinCard(ctx context.Context, p *auth.Principal, stream string, req PinRequest) (*Card, error) {
	if err := validStream(stream); err != nil {
		return nil, err
	}
	if err := ValidSKU(req.SKU); err != nil {
		return nil, err
	}
	now := s.now()
	if req.PriceCents != nil && (*req.PriceCents < 0 || *req.PriceCents > MaxPriceCents) {
		return nil, api.Errorf(api.BadRequest, "price_cents must be 0 to %d", MaxPriceCents)
	}
	if req.EndsAt != nil && !req.EndsAt.After(now) {
		return nil, api.New(api.BadRequest, "ends_at must be in the future")
	}
	if err := s.check(ctx, p, auth.Moderate, stream); err != nil {
		return nil, err
	}
	pin := &Pin{SKU: req.SKU, PriceCents: req.PriceCents}
	if req.EndsAt != nil {
		t := req.EndsAt.UTC().Truncate(time.Millisecond)
		pin.EndsAt = &t
	}
	prod, err := s.store.Product(ctx, req.SKU)
	if err != nil {
		return nil, s.lineupErr(ctx, stream, notInLineup(stream, req.SKU))
	}
	if prod.Parent != "" {
		return nil, api.Errorf(api.BadRequest, "%s is a variant of %s: pin the product, whose card offers its variants", req.SKU, prod.Parent)
	}
	if err := s.setPin(ctx, stream, pin); err != nil {
		return nil, err
	}
	if prod, err = s.withVariants(ctx, prod, pin); err != nil {
		return nil, err
	}
	c := card(prod, pin, now)
	s.events.ProductCard(stream, c)
	return c, nil
}

// Unpin hides stream's card for p, who must moderate stream.
func (s *Shop) Unpin(ctx context.Context, p *auth.Principal, stream string) error {
	if err := validStream(stream); err != nil {
		return err
	}
	if err := s.check(ctx, p, auth.Moderate, stream); err != nil {
		return err
	}
	if err := s.setPin(ctx, stream, nil); err != nil {
		return err
	}
	s.events.ProductCard(stream, nil)
	return nil
}

// Showcase returns what GET /api/streams/{id} shows of the shop: the pinned
// card (nil when none) and the lineup's products with live stock.
func (s *Shop) Showcase(ctx context.Context, stream string) (*Card, []Product, error) {
	sc, err := s.store.Showcase(ctx, stream)
	if err != nil {
		return nil, nil, storeErr(err)
	}
	prods, err := s.store.Products(ctx, sc.Lineup)
	if err != nil {
		return nil, nil, storeErr(err)
	}
	prods = present(prods, sc.Pin, s.now())
	pin := sc.Pin
	if pin == nil {
		return nil, prods, nil
	}
	for _, p := range prods {
		if p.SKU == pin.SKU {
			return card(p, pin, s.now()), prods, nil
		}
	}
	return nil, prods, nil
}
