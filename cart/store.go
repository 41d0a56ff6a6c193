package cart

import (
	"context"
	"time"
)

// Store keeps the shop's data and applies the shop's plans. It decides no
// business rule: the Shop reads what it needs, decides (prices, limits,
// holds, the order itself) and hands the Store a Plan, which the Store
// applies atomically under the Plan's preconditions, whatever the
// concurrency and however many livecart nodes share it. When a
// precondition moved since the Shop read, nothing is applied and the Shop
// reads again and decides anew.
//
// MemoryStore applies under its lock; RedisStore with one generic script.
// Both pass the same conformance suite, at this interface and through the
// shop's HTTP API. Implementations are safe for concurrent use. A store that
// cannot be reached answers errors with code api.Unavailable.
type Store interface {
	// Product returns the product with sku and its live stock, or
	// ErrProductNotFound.
	Product(ctx context.Context, sku string) (Product, error)
	// Products returns the products with skus that exist, in that order.
	Products(ctx context.Context, skus []string) ([]Product, error)
	// Showcase returns what stream sells: its lineup and pin, with their
	// revision (0 and an empty lineup when never set).
	Showcase(ctx context.Context, stream string) (Showcase, error)
	// Cart returns user's cart as stored (Rev 0 and no lines when there is
	// none).
	Cart(ctx context.Context, user string) (StoredCart, error)
	// Order returns the order with id and its stored JSON, or
	// ErrOrderNotFound.
	Order(ctx context.Context, id string) (Order, []byte, error)
	// Orders lists the orders of a user or a stream, newest first, starting
	// after the order id cursor ("" for the first page). next is "" on the
	// last page.
	Orders(ctx context.Context, by OrderIndex, cursor string, limit int) (orders []Order, next string, err error)
	// HeldCarts returns up to limit users whose cart holds stock until a
	// time at or before until, earliest first.
	HeldCarts(ctx context.Context, until time.Time, limit int) ([]string, error)
	// Record returns the record stored under key, nil when there is none.
	Record(ctx context.Context, key string) ([]byte, error)
	// DueRecords returns up to limit keys of records due at or before
	// until, earliest first.
	DueRecords(ctx context.Context, until time.Time, limit int) ([]string, error)
	// List returns the members of the list key, in the order they joined.
	List(ctx context.Context, key string) ([]string, error)
	// Counters returns the counters named keys (0 for those never set).
	Counters(ctx context.Context, keys []string) ([]int64, error)
	// Unique returns about how many distinct members were added to key.
	Unique(ctx context.Context, key string) (int64, error)

	// Apply applies p atomically: first, when p.Idem names a stored record,
	// nothing is done and the record is returned (Applied.Replay); then
	// every precondition of p.Expect must hold (else *StaleError), every
	// stock delta must leave the stock at zero or more (else
	// *OutOfStockError, with the stock seen) and every counter delta must
	// stay within its bound (else *CounterError); only then is every write
	// of p made. Errors apply nothing.
	Apply(ctx context.Context, p Plan) (Applied, error)

	// WatchStock calls changed for every stock change made by any node
	// sharing the store, and reset when changes may have been missed (a
	// lost subscription), until ctx ends. It is called by one goroutine.
	WatchStock(ctx context.Context, changed func(StockChange), reset func()) error
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}

// Showcase is what a stream sells: its lineup, in order, and its pinned
// card. Rev changes with every write of either.
type Showcase struct {
	Lineup []string
	Pin    *Pin
	Rev    int64
}

// Has reports whether sku is in the lineup.
func (s Showcase) Has(sku string) bool {
	for _, l := range s.Lineup {
		if l == sku {
			return true
		}
	}
	return false
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

// StoredCart is a cart as the store keeps it. Held is true while its stock
// is reserved (until HeldUntil); a cart whose hold lapsed keeps its lines
// but not their stock. Rev changes with every write.
type StoredCart struct {
	Stream    string
	Currency  string
	HeldUntil time.Time
	Held      bool
	Lines     []StoredLine // sorted by sku
	Rev       int64
}

// StoredLine is one line of a StoredCart.
type StoredLine struct {
	SKU string
	Qty int
}

// Plan is one operation of the shop as the store applies it: what must
// still hold (decided from what the shop read) and what to write. Its
// parts are generic: a stock that may not go below zero, counters with an
// upper bound, records to write; the rules that produced them live in the
// Shop alone.
type Plan struct {
	// Idem, when set, makes the plan idempotent: a record stored under
	// (User, Key) is returned instead of applying anything; otherwise
	// Record (when not nil) is stored under it for TTL.
	Idem *IdemWrite
	// Expect are the preconditions.
	Expect []Expect
	// Stock changes products' stock by a delta; a product must exist and
	// keep a stock of zero or more. At most one delta per sku.
	Stock []StockDelta
	// Counters change named counters by a delta; a counter starts at 0,
	// never stays below 0 and must not exceed Max when Max > 0. At most one
	// delta per key.
	Counters []CounterDelta
	// Products are written whole (catalog fields, variants, owner, and the
	// stock set to Stock); each one's Rev becomes one more than stored. At
	// most one per sku.
	Products []Product
	// Showcase, when set, replaces Stream's lineup and pin; its Rev becomes
	// one more than stored.
	Showcase *ShowcaseWrite
	// Cart, when set, replaces or deletes a user's cart.
	Cart *CartWrite
	// Order, when set, writes an order.
	Order *OrderWrite
	// Records write or delete opaque records (offers, coupon books). At
	// most one per key.
	Records []RecordWrite
	// Lists add members to or remove them from lists (waitlists).
	Lists []ListOp
	// Uniques add members to approximate distinct counts.
	Uniques []UniqueAdd
	// Peaks raise counters to a value when it is higher.
	Peaks []CounterPeak
}

// RecordWrite writes Value under Key, or deletes the record when Value is
// nil. A record with a Due time is listed by DueRecords from then on; a
// positive TTL makes the store forget it after that long.
type RecordWrite struct {
	Key   string
	Value []byte
	Due   time.Time
	TTL   time.Duration
}

// ListOp appends Push to the list Key (when it is not in it already)
// and/or removes Remove from it.
type ListOp struct {
	Key          string
	Push, Remove string
}

// UniqueAdd adds Member to the distinct count Key.
type UniqueAdd struct {
	Key, Member string
}

// CounterPeak raises the counter Key to Value when Value is higher.
type CounterPeak struct {
	Key   string
	Value int64
}

// IdemWrite is the idempotency record of a plan.
type IdemWrite struct {
	User, Key string
	// Record is what a replay returns; nil only checks for a stored one.
	Record []byte
	TTL    time.Duration
}

// ExpectKind is what a precondition is about.
type ExpectKind string

// The kinds of precondition.
const (
	// ExpectProduct: the product's Rev is Rev (0: no such product).
	ExpectProduct ExpectKind = "product"
	// ExpectShowcase: the stream's showcase Rev is Rev (0: never set).
	ExpectShowcase ExpectKind = "showcase"
	// ExpectCart: the user's cart Rev is Rev (0: no cart).
	ExpectCart ExpectKind = "cart"
	// ExpectOrder: the order's stored JSON is Value.
	ExpectOrder ExpectKind = "order"
	// ExpectRecord: the record's value is Value (nil: no record).
	ExpectRecord ExpectKind = "record"
)

// Expect is one precondition: the thing named ID of Kind is as read.
type Expect struct {
	Kind  ExpectKind
	ID    string
	Rev   int64
	Value []byte
}

// StockDelta changes one product's stock.
type StockDelta struct {
	SKU   string
	Delta int
}

// CounterDelta changes one named counter (per-buyer allowances, coupon
// redemptions). The key is the shop's; the store keeps it as given.
type CounterDelta struct {
	Key   string
	Delta int64
	// Max bounds the counter after the change, when positive. A delta that
	// lowers a counter is never refused.
	Max int64
}

// ShowcaseWrite replaces a stream's lineup and pin.
type ShowcaseWrite struct {
	Stream string
	Lineup []string
	Pin    *Pin
}

// CartWrite replaces user's cart, or deletes it when Cart is nil. A held
// cart is indexed by HeldUntil for HeldCarts. Every write, a delete too,
// gives the cart a revision it never had, so that a plan read before a
// delete never applies to a cart made after it.
type CartWrite struct {
	User string
	Cart *StoredCart
}

// OrderWrite writes an order's JSON. A New order is also added to its
// buyer's and its stream's lists. Event, when set ("placed", "cancelled"),
// is appended to the fulfilment log (with Redis, the livecart:orders
// stream).
type OrderWrite struct {
	ID, User, Stream string
	JSON             []byte
	New              bool
	Event            string
}

// Applied is what applying a plan did.
type Applied struct {
	// Replay is the stored idempotency record when there was one; nothing
	// else was done.
	Replay []byte
	// Changes are the stock changes made.
	Changes []StockChange
}

// StaleError says a precondition no longer held: the thing changed since
// the shop read it.
type StaleError struct {
	Kind ExpectKind
	ID   string
}

func (e *StaleError) Error() string { return "cart: " + string(e.Kind) + " " + e.ID + " changed" }

// CounterError says a counter would have passed its bound.
type CounterError struct {
	Key string
}

func (e *CounterError) Error() string { return "cart: counter " + e.Key + " is at its bound" }
