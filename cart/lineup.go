package cart

import (
	"context"
	"errors"
	"time"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// PutProduct creates prod for by, who then owns it (by's org when its
// token names one), or replaces it when by owns it or is an admin; created
// reports which. A replaced product keeps its owner. Stock set here is what
// can be bought now; units held in carts come back on top of it when their
// holds lapse.
func (s *Shop) PutProduct(ctx context.Context, by *auth.Principal, prod Product) (created bool, err error) {
	if err := auth.Check(by, auth.Create, auth.Resource{}); err != nil {
		return false, err
	}
	if err := prod.Validate(); err != nil {
		return false, err
	}
	// Decide who may write from what is stored, then write only if the
	// product is still as read (a concurrent create or replace makes the
	// shop decide again).
	a, err := s.run(ctx, func() (Plan, error) {
		cur, err := s.store.Product(ctx, prod.SKU)
		created = errors.Is(err, ErrProductNotFound)
		switch {
		case created:
			prod.Owner = auth.OwnerOf(by)
		case err != nil:
			return Plan{}, storeErr(err)
		default:
			if err := auth.Check(by, auth.EditProduct, auth.Resource{Owner: cur.Owner}); err != nil {
				return Plan{}, err
			}
			prod.Owner = cur.Owner
		}
		w := prod
		return Plan{Expect: []Expect{{Kind: ExpectProduct, ID: prod.SKU, Rev: cur.Rev}}, Product: &w}, nil
	})
	if err != nil {
		return false, err
	}
	s.cache.forget(ExpectProduct, prod.SKU)
	s.stockChanged(a.Changes)
	return created, nil
}

// Product returns the product with sku and its live stock.
func (s *Shop) Product(ctx context.Context, sku string) (Product, error) {
	if err := ValidSKU(sku); err != nil {
		return Product{}, err
	}
	p, err := s.store.Product(ctx, sku)
	return p, storeErr(err)
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
		if err := auth.Check(p, auth.EditProduct, auth.Resource{Owner: prod.Owner}); err != nil {
			return api.Errorf(api.Forbidden, "product %s belongs to another host; a lineup holds only the host's own products: %w", prod.SKU, auth.ErrForbidden)
		}
	}
	for _, sku := range skus {
		if !found[sku] {
			return productNotFound(sku)
		}
	}
	// The pin stays when its product stays in the lineup.
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
			Showcase: &ShowcaseWrite{Stream: stream, Lineup: skus, Pin: pin},
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

// setPin pins pin.SKU in stream (which must be in its lineup), or unpins
// when pin is nil.
func (s *Shop) setPin(ctx context.Context, stream string, pin *Pin) error {
	_, err := s.run(ctx, func() (Plan, error) {
		sc, err := s.store.Showcase(ctx, stream)
		if err != nil {
			return Plan{}, storeErr(err)
		}
		if pin != nil && !sc.Has(pin.SKU) {
			return Plan{}, notInLineup(stream, pin.SKU)
		}
		return Plan{
			Expect:   []Expect{{Kind: ExpectShowcase, ID: stream, Rev: sc.Rev}},
			Showcase: &ShowcaseWrite{Stream: stream, Lineup: sc.Lineup, Pin: pin},
		}, nil
	})
	s.cache.forget(ExpectShowcase, stream)
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
	if err := s.setPin(ctx, stream, pin); err != nil {
		return nil, err
	}
	prod, err := s.store.Product(ctx, req.SKU)
	if err != nil {
		return nil, storeErr(err)
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
	if prods == nil {
		prods = []Product{}
	}
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
