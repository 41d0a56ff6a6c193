package cart

import (
	"context"
	"time"
)

// Store keeps the catalog, lineups, pins, carts, orders and idempotency
// records. Every method that changes stock is atomic: it happens entirely
// or not at all, whatever the concurrency and however many livecart nodes
// share the store. Implementations are safe for concurrent use.
//
// Errors carry api codes (ErrOutOfStock, ErrNotInLineup, …); a store that
// cannot be reached answers errors with code api.Unavailable.
type Store interface {
	// PutProduct creates p (create: only when no product has its sku) or
	// replaces it (only when it exists and is owned by p.Owner); otherwise
	// it changes nothing and answers ErrProductChanged. created reports
	// which happened.
	PutProduct(ctx context.Context, p Product, create bool) (created bool, ch StockChange, err error)
	// Product returns the product with sku, or ErrProductNotFound.
	Product(ctx context.Context, sku string) (Product, error)
	// Products returns the products with skus that exist, in that order.
	Products(ctx context.Context, skus []string) ([]Product, error)

	// SetLineup replaces the lineup of stream (every sku must exist, else
	// ErrProductNotFound). A pin whose product left the lineup is removed;
	// unpinned reports that.
	SetLineup(ctx context.Context, stream string, skus []string) (unpinned bool, err error)
	// Lineup returns the skus of stream's lineup in order.
	Lineup(ctx context.Context, stream string) ([]string, error)
	// SetPin pins pin.SKU in stream (it must be in the lineup), or unpins
	// when pin is nil.
	SetPin(ctx context.Context, stream string, pin *Pin) error
	// Pin returns stream's pin, nil when nothing is pinned.
	Pin(ctx context.Context, stream string) (*Pin, error)

	// Buy places a one-item order at once.
	Buy(ctx context.Context, req BuyRequest) (Placed, error)
	// SetCartItem sets the quantity of one cart line and holds its stock.
	SetCartItem(ctx context.Context, req CartChange) ([]StockChange, error)
	// Cart returns user's cart as stored (an empty cart has no lines).
	Cart(ctx context.Context, user string) (StoredCart, error)
	// Checkout turns user's whole cart into one order, or does nothing.
	Checkout(ctx context.Context, req CheckoutRequest) (Placed, error)
	// ReleaseExpired gives back the stock of holds that ended at or before
	// now, at most limit carts, and reports how many it released. Several
	// callers (nodes) may run it at once: each hold is released once.
	ReleaseExpired(ctx context.Context, now time.Time, limit int) (released int, changes []StockChange, err error)

	// Order returns the order with id, or ErrOrderNotFound.
	Order(ctx context.Context, id string) (Order, error)
	// Orders lists the orders of a user or a stream, newest first, starting
	// after the order id cursor ("" for the first page). next is "" on the
	// last page.
	Orders(ctx context.Context, by OrderIndex, cursor string, limit int) (orders []Order, next string, err error)
	// Cancel cancels a placed order and gives its stock back
	// (ErrAlreadyCancelled when it was cancelled before).
	Cancel(ctx context.Context, id string) (Order, []StockChange, error)

	// WatchStock calls changed for every stock change made by any node
	// sharing the store, and reset when changes may have been missed (a
	// lost subscription), until ctx ends. It is called by one goroutine.
	WatchStock(ctx context.Context, changed func(StockChange), reset func()) error
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}

// StockChange is a product's stock after an operation changed it. Version
// increases with every change of that product's stock, so that a node can
// order changes it learns of by different paths.
type StockChange struct {
	SKU     string
	Stock   int
	Version int64
	// Streams are the streams whose lineup has the product.
	Streams []string
}

// OrderIndex names a list of orders: a user's or a stream's.
type OrderIndex struct {
	User   string
	Stream string
}

// Idem identifies a request for idempotency: the caller's user, its
// Idempotency-Key and the fingerprint of what it asked.
type Idem struct {
	User        string
	Key         string
	Fingerprint string
}

// BuyRequest is one tap: qty of sku in stream, ordered by Idem.User.
type BuyRequest struct {
	Idem    Idem
	Stream  string
	SKU     string
	Qty     int
	OrderID string
	Now     time.Time
}

// CheckoutRequest turns Idem.User's cart into order OrderID at Now.
type CheckoutRequest struct {
	Idem    Idem
	OrderID string
	Now     time.Time
}

// CartChange sets user's cart line for sku (from stream) to qty at Now; the
// cart's hold is renewed until Now+Hold.
type CartChange struct {
	User   string
	Stream string
	SKU    string
	Qty    int
	Now    time.Time
	Hold   time.Duration
}

// Placed is the result of a buy or a checkout.
type Placed struct {
	Order Order
	// Replayed is true when the Idempotency-Key had already placed Order;
	// nothing was done this time.
	Replayed bool
	// Changes are the stock changes the order made.
	Changes []StockChange
}

// StoredCart is a cart as the store keeps it. Held is true while its stock
// is reserved (until HeldUntil); a cart whose hold lapsed keeps its lines
// but not their stock.
type StoredCart struct {
	Stream    string
	Currency  string
	HeldUntil time.Time
	Held      bool
	Lines     []StoredLine
}

// StoredLine is one line of a StoredCart.
type StoredLine struct {
	SKU string
	Qty int
}
