package cart

import (
	"context"
	"slices"
	"time"

	"github.com/livecart/livecart/api"
)

// Bounds on variants and limits.
const (
	// MaxVariants is the most variants one product has.
	MaxVariants = 20
	// MaxLabelLen bounds a variant's label, in code points.
	MaxLabelLen = 40
	// MaxLimitPerBuyer bounds limit_per_buyer.
	MaxLimitPerBuyer = 1000
)

// ProductInput is what PUT /api/products/{sku} carries.
type ProductInput struct {
	Name          string         `json:"name"`
	PriceCents    int64          `json:"price_cents"`
	Currency      string         `json:"currency"`
	Stock         *int           `json:"stock"`
	ImageURL      string         `json:"image_url"`
	Description   string         `json:"description"`
	LimitPerBuyer *int           `json:"limit_per_buyer"`
	Variants      []VariantInput `json:"variants"`
}

// VariantInput is one variant as PUT: its own sku and stock, and a price
// of its own or the product's.
type VariantInput struct {
	SKU        string `json:"sku"`
	Label      string `json:"label"`
	Stock      int    `json:"stock"`
	PriceCents *int64 `json:"price_cents"`
}

// products checks in and returns what it writes for sku: the product
// and, when it has variants, each variant as a product of its own (with
// Parent and Label, its price resolved). Nothing is written when an error
// is returned.
func (in ProductInput) products(sku string) ([]Product, error) {
	p := Product{SKU: sku, Name: in.Name, PriceCents: in.PriceCents, Currency: in.Currency,
		ImageURL: in.ImageURL, Description: in.Description}
	if in.Stock != nil {
		p.Stock = *in.Stock
	}
	if in.LimitPerBuyer != nil {
		if *in.LimitPerBuyer < 1 || *in.LimitPerBuyer > MaxLimitPerBuyer {
			return nil, api.Errorf(api.BadRequest, "limit_per_buyer must be 1 to %d (leave it out for no limit)", MaxLimitPerBuyer)
		}
		p.LimitPerBuyer = *in.LimitPerBuyer
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if in.Variants == nil {
		return []Product{p}, nil
	}
	if len(in.Variants) == 0 || len(in.Variants) > MaxVariants {
		return nil, api.Errorf(api.BadRequest, "variants must list 1 to %d variants (leave it out for none)", MaxVariants)
	}
	if p.Stock != 0 {
		return nil, api.New(api.BadRequest, "a product with variants has no stock of its own: give each variant its stock and leave stock out")
	}
	out := []Product{p}
	seen := map[string]bool{sku: true}
	labels := map[string]bool{}
	for i, v := range in.Variants {
		if err := ValidSKU(v.SKU); err != nil {
			return nil, err
		}
		if seen[v.SKU] {
			return nil, api.Errorf(api.BadRequest, "variant %d: sku %s is used twice (or is the product's own)", i+1, v.SKU)
		}
		seen[v.SKU] = true
		if v.Label == "" {
			return nil, api.Errorf(api.BadRequest, "variant %d: label is required", i+1)
		}
		if err := api.Name("variant label", v.Label, MaxLabelLen); err != nil {
			return nil, err
		}
		if labels[v.Label] {
			return nil, api.Errorf(api.BadRequest, "variant %d: label %q is used twice", i+1, v.Label)
		}
		labels[v.Label] = true
		if v.Stock < 0 || v.Stock > MaxStock {
			return nil, api.Errorf(api.BadRequest, "variant %d: stock must be 0 to %d", i+1, MaxStock)
		}
		price := p.PriceCents
		if v.PriceCents != nil {
			if *v.PriceCents < 0 || *v.PriceCents > MaxPriceCents {
				return nil, api.Errorf(api.BadRequest, "variant %d: price_cents must be 0 to %d", i+1, MaxPriceCents)
			}
			price = *v.PriceCents
		}
		out[0].Variants = append(out[0].Variants, Variant{SKU: v.SKU, Label: v.Label, PriceCents: price})
		out = append(out, Product{SKU: v.SKU, Name: p.Name, PriceCents: price, Currency: p.Currency, Stock: v.Stock,
			ImageURL: p.ImageURL, Description: p.Description, Parent: sku, Label: v.Label})
	}
	return out, nil
}

// hasVariant reports whether sku is one of p's variants.
func (p Product) hasVariant(sku string) bool {
	return slices.ContainsFunc(p.Variants, func(v Variant) bool { return v.SKU == sku })
}

// variantSKUs lists p's variants' skus.
func (p Product) variantSKUs() []string {
	out := make([]string, len(p.Variants))
	for i, v := range p.Variants {
		out[i] = v.SKU
	}
	return out
}

// sellable is what a stream sells for each lineup product: the product,
// and its variants after it.
func sellable(lineup []Product) []string {
	var out []string
	for _, p := range lineup {
		out = append(out, p.SKU)
		out = append(out, p.variantSKUs()...)
	}
	return out
}

// present returns the products of prods that are not variants, in order,
// each with its variants' live stock and price (pin's live price at now
// for the pinned product's variants) and, when it has variants, their
// total stock as its own. prods holds the variants it needs.
func present(prods []Product, pin *Pin, now time.Time) []Product {
	bySKU := make(map[string]Product, len(prods))
	for _, p := range prods {
		bySKU[p.SKU] = p
	}
	out := make([]Product, 0, len(prods))
	for _, p := range prods {
		if p.Parent != "" {
			continue
		}
		if len(p.Variants) > 0 {
			p.Variants = slices.Clone(p.Variants)
			p.Stock = 0
			for i, v := range p.Variants {
				if vp, ok := bySKU[v.SKU]; ok {
					p.Variants[i].Stock = vp.Stock
					p.Variants[i].PriceCents = PriceAt(vp, pin, now)
					p.Stock += vp.Stock
				}
			}
		}
		out = append(out, p)
	}
	return out
}

// withVariants reads p's variants and returns p presented (see present).
func (s *Shop) withVariants(ctx context.Context, p Product, pin *Pin) (Product, error) {
	if len(p.Variants) == 0 {
		return p, nil
	}
	vs, err := s.store.Products(ctx, p.variantSKUs())
	if err != nil {
		return Product{}, storeErr(err)
	}
	return present(append([]Product{p}, vs...), pin, s.now())[0], nil
}
