package cart

import (
	"fmt"

	"github.com/livecart/livecart/api"
)

// OutOfStockError says that sku had fewer units than asked for. It wraps
// ErrOutOfStock; Stock and Version are what the store saw, so that the
// shop can remember a sold-out product.
type OutOfStockError struct {
	SKU     string
	Stock   int
	Version int64
}

func (e *OutOfStockError) Error() string { return e.Unwrap().Error() }

// Unwrap returns the client-facing error, which wraps ErrOutOfStock.
func (e *OutOfStockError) Unwrap() error {
	if e.Stock <= 0 {
		return api.Errorf(api.OutOfStock, "%s is sold out: %w", e.SKU, ErrOutOfStock)
	}
	return api.Errorf(api.OutOfStock, "only %d of %s left: %w", e.Stock, e.SKU, ErrOutOfStock)
}

// notInLineup, productNotFound and cartConflict wrap the sentinels with
// the detail a client needs.
func notInLineup(stream, sku string) error {
	return api.Errorf(api.NotInLineup, "%s is not in the lineup of stream %q: %w", sku, stream, ErrNotInLineup)
}

func productNotFound(sku string) error {
	return api.Errorf(api.NotFound, "no product has sku %s: %w", sku, ErrProductNotFound)
}

func cartConflict(format string, args ...any) error {
	return api.Errorf(api.Conflict, "%s: %w", fmt.Sprintf(format, args...), ErrCartConflict)
}
