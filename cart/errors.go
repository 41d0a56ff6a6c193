package cart

import "github.com/livecart/livecart/api"

// The cart package's sentinel errors. Operations wrap them with %w and the
// detail a client needs; api.WriteError decides the status from the code.
var (
	// ErrOutOfStock: fewer units can be bought than were asked for.
	ErrOutOfStock = api.New(api.OutOfStock, "out of stock")
	// ErrNotInLineup: the product is not in the stream's lineup.
	ErrNotInLineup = api.New(api.NotInLineup, "this product is not in the stream's lineup")
	// ErrProductNotFound: no product has that sku.
	ErrProductNotFound = api.New(api.NotFound, "no such product")
	// ErrOrderNotFound: no order has that id.
	ErrOrderNotFound = api.New(api.NotFound, "no such order")
	// ErrAlreadyCancelled: the order was cancelled before.
	ErrAlreadyCancelled = api.New(api.Conflict, "the order is already cancelled")
	// ErrCartConflict: the item cannot join the cart as it is (another
	// stream or another currency).
	ErrCartConflict = api.New(api.Conflict, "the item cannot join this cart")
	// ErrCartEmpty: checkout of an empty cart.
	ErrCartEmpty = api.New(api.Conflict, "the cart is empty")
	// ErrCartFull: the cart already has MaxCartLines lines.
	ErrCartFull = api.New(api.BadRequest, "the cart is full")
	// ErrProductChanged: the product was created or changed hands between
	// the read that checked who may write it and the write (the shop reads
	// again and decides anew).
	ErrProductChanged = api.New(api.Conflict, "the product changed while it was being written; try again")
	// ErrLimitReached: the buyer holds or has ordered the most units of a
	// product a buyer may have in this stream.
	ErrLimitReached = api.New(api.LimitReached, "you have reached the limit for this product")
	// ErrCouponInvalid: the coupon is unknown, over, used up or not for
	// these products.
	ErrCouponInvalid = api.New(api.CouponInvalid, "this coupon cannot be used")
	// ErrChooseVariant: a product with variants is bought by a variant's sku.
	ErrChooseVariant = api.New(api.BadRequest, "this product comes in variants: choose one (buy its sku)")
	// ErrIdempotencyMismatch: an Idempotency-Key reused with another body.
	ErrIdempotencyMismatch = api.New(api.IdempotencyMismatch, "this Idempotency-Key was used with another request body")
	// ErrIdempotencyInFlight: a request with the same Idempotency-Key is
	// still running.
	ErrIdempotencyInFlight = api.New(api.Conflict, "a request with this Idempotency-Key is still running; retry once it has answered")
	// ErrIdempotencyKeyMissing: buy and checkout need an Idempotency-Key.
	ErrIdempotencyKeyMissing = api.New(api.BadRequest, "the Idempotency-Key header is required")
)
