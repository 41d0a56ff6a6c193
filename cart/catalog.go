package cart

import (
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// Bounds on what the catalog, carts and orders accept.
const (
	// MaxPriceCents is the highest price in minor units (10,000,000.00).
	// With MaxQty and MaxCartLines it keeps every total exact in a float64
	// (Redis Lua numbers) and far from int64 overflow.
	MaxPriceCents = 1_000_000_000
	// MaxStock is the most units a product can have for sale.
	MaxStock = 1_000_000_000
	// MaxQty is the most units of one product in one order or cart line.
	MaxQty = 99
	// MaxCartLines is the most distinct products in one cart.
	MaxCartLines = 50
	// MaxLineup is the most products in one stream's lineup.
	MaxLineup = 200
	// MaxNameLen and MaxDescriptionLen bound texts, in code points.
	MaxNameLen        = 200
	MaxDescriptionLen = 5000
	// MaxURLLen bounds image_url, in bytes.
	MaxURLLen = 2048
)

// Product is a catalog entry. Stock is the number of units that can still
// be bought: units held in carts are not in it.
type Product struct {
	SKU         string `json:"sku"`
	Name        string `json:"name"`
	PriceCents  int64  `json:"price_cents"`
	Currency    string `json:"currency"`
	Stock       int    `json:"stock"`
	ImageURL    string `json:"image_url,omitempty"`
	Description string `json:"description,omitempty"`
	// LimitPerBuyer bounds the units of the product (its variants
	// together) that one buyer holds in carts and has in placed orders in
	// one stream; 0: no limit.
	LimitPerBuyer int `json:"limit_per_buyer,omitempty"`
	// Variants are the product's sizes or colours, each bought by its own
	// sku with its own stock and price. A product with variants is not
	// bought by its own sku; its Stock is theirs together.
	Variants []Variant `json:"variants,omitempty"`
	// Parent and Label are set on a variant: the product it is a variant
	// of, and its label ("M", "Red").
	Parent string `json:"parent,omitempty"`
	Label  string `json:"label,omitempty"`
	// Owner is who owns the product: the host that created it, or its org.
	// It is not shown to clients.
	Owner auth.Owner `json:"-"`
	// Rev is the catalog revision: it changes with every write of the
	// product (not with its stock). 0: not stored.
	Rev int64 `json:"-"`
}

// Variant is one size or colour of a product, as the product shows it.
type Variant struct {
	SKU        string `json:"sku"`
	Label      string `json:"label"`
	Stock      int    `json:"stock"`
	PriceCents int64  `json:"price_cents"`
}

// Card is the pinned product as every viewer of a stream sees it: the price
// is the one in effect now (the live price until EndsAt, if one is set).
type Card struct {
	SKU        string     `json:"sku"`
	Name       string     `json:"name"`
	PriceCents int64      `json:"price_cents"`
	Currency   string     `json:"currency"`
	Stock      int        `json:"stock"`
	ImageURL   string     `json:"image_url"`
	EndsAt     *time.Time `json:"ends_at"`
	// Variants are the product's sizes or colours with their live stock
	// and price, for the card's picker.
	Variants      []Variant `json:"variants,omitempty"`
	LimitPerBuyer int       `json:"limit_per_buyer,omitempty"`
}

// Pin is what a stream has pinned: a product and, optionally, a live price
// that holds until EndsAt (or while pinned, when EndsAt is nil).
type Pin struct {
	SKU        string
	PriceCents *int64
	EndsAt     *time.Time
}

// PriceAt is the price of p in stream with pin at now: the pin's live price
// when the pin is for p (or for the product p is a variant of) and has not
// ended, else the catalog price.
func PriceAt(p Product, pin *Pin, now time.Time) int64 {
	if pin != nil && (pin.SKU == p.SKU || (p.Parent != "" && pin.SKU == p.Parent)) && pin.PriceCents != nil && (pin.EndsAt == nil || now.Before(*pin.EndsAt)) {
		return *pin.PriceCents
	}
	return p.PriceCents
}

// card builds the card of pin over its product at now; a product with
// variants is presented (see present) first.
func card(p Product, pin *Pin, now time.Time) *Card {
	c := &Card{SKU: p.SKU, Name: p.Name, PriceCents: PriceAt(p, pin, now), Currency: p.Currency, Stock: p.Stock, ImageURL: p.ImageURL,
		Variants: p.Variants, LimitPerBuyer: p.LimitPerBuyer}
	if pin.EndsAt != nil {
		t := pin.EndsAt.UTC()
		c.EndsAt = &t
	}
	return c
}

var skuRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
var currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)

// ValidSKU checks a sku: 1 to 64 of letters, digits, '.', '_' and '-',
// starting with a letter or digit.
func ValidSKU(sku string) error {
	if !skuRe.MatchString(sku) {
		return api.Errorf(api.BadRequest, "sku %q must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", clip(sku))
	}
	return nil
}

// validStream checks a stream id from a path or body. Stream ids are made
// by stream/; here they only need to be sane.
func validStream(id string) error {
	if id == "" || len(id) > 128 || !utf8.ValidString(id) || hasControl(id) {
		return api.New(api.BadRequest, "stream id must be 1 to 128 bytes of text")
	}
	return nil
}

// Validate checks a product as PUT by a host.
func (p *Product) Validate() error {
	if err := ValidSKU(p.SKU); err != nil {
		return err
	}
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" {
		return api.New(api.BadRequest, "name is required")
	}
	if err := api.Name("name", p.Name, MaxNameLen); err != nil {
		return err
	}
	if p.PriceCents < 0 || p.PriceCents > MaxPriceCents {
		return api.Errorf(api.BadRequest, "price_cents must be 0 to %d", MaxPriceCents)
	}
	if !currencyRe.MatchString(p.Currency) {
		return api.Errorf(api.BadRequest, "currency must be an ISO 4217 code of 3 capital letters, not %q", clip(p.Currency))
	}
	if p.Stock < 0 || p.Stock > MaxStock {
		return api.Errorf(api.BadRequest, "stock must be 0 to %d", MaxStock)
	}
	if p.ImageURL != "" {
		u, err := url.Parse(p.ImageURL)
		absolute := (u != nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "")
		// A path on this server ("/assets/…") is allowed too; "//host" is not.
		local := u != nil && u.Scheme == "" && u.Host == "" && strings.HasPrefix(p.ImageURL, "/") && !strings.HasPrefix(p.ImageURL, "//")
		if err != nil || len(p.ImageURL) > MaxURLLen || !(absolute || local) {
			return api.Errorf(api.BadRequest, "image_url must be an absolute http(s) URL or a path on this server, at most %d bytes", MaxURLLen)
		}
	}
	// A description may run over several lines; each is checked as text.
	if utf8.RuneCountInString(p.Description) > MaxDescriptionLen {
		return api.Errorf(api.BadRequest, "description must be at most %d characters", MaxDescriptionLen)
	}
	for line := range strings.SplitSeq(p.Description, "\n") {
		if err := api.Text("description", line, 0); err != nil {
			return err
		}
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// clip shortens user input quoted back in an error.
func clip(s string) string {
	if len(s) > 70 {
		return s[:64] + "…"
	}
	return s
}
