package cart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livecart/livecart/auth"
)

var _ Store = (*RedisStore)(nil)

// OrdersStream is the Redis stream every placed and cancelled order is
// appended to, for fulfilment systems (contract section 5).
const OrdersStream = "livecart:orders"

// KeyPrefix starts every other key of the store. Its hash tag is the name
// of OrdersStream, so that every key lives in the slot of livecart:orders
// and the store's script touches one slot on a Redis Cluster
// (docs/DATA.md).
const KeyPrefix = "{" + OrdersStream + "}:"

// DefaultStockChannel is the pub/sub channel of stock changes.
const DefaultStockChannel = "livecart:stock"

// RedisOptions tune a RedisStore; the zero value is the default.
type RedisOptions struct {
	// Timeout bounds each call to Redis (default 1s), so that requests
	// fail fast with unavailable when Redis does not answer.
	Timeout time.Duration
	// StockChannel is the pub/sub channel of stock changes (default
	// livecart:stock).
	StockChannel string
}

// RedisStore is the Store shared by every livecart node using one Redis.
// Every write is one call of one generic Lua script, apply.lua, which
// checks a plan's preconditions and applies it atomically on the server;
// reads are plain commands, one round trip each. It is safe for concurrent
// use and starts no goroutine (WatchStock runs in its caller's).
type RedisStore struct {
	c       redis.UniversalClient
	prefix  string
	channel string
	timeout time.Duration
}

// NewRedisStore returns a store over c (a *redis.Client, or any universal
// client). The caller owns c and closes it.
func NewRedisStore(c redis.UniversalClient, opts RedisOptions) (*RedisStore, error) {
	if c == nil {
		return nil, errors.New("cart: NewRedisStore: no client")
	}
	r := &RedisStore{c: c, prefix: KeyPrefix, channel: opts.StockChannel, timeout: opts.Timeout}
	if r.channel == "" {
		r.channel = DefaultStockChannel
	}
	if r.timeout <= 0 {
		r.timeout = time.Second
	}
	return r, nil
}

func (r *RedisStore) key(parts ...string) string { return r.prefix + strings.Join(parts, ":") }

func (r *RedisStore) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.timeout)
}

// Apply implements Store with one call of apply.lua: one round trip,
// bounded by RedisOptions.Timeout. When the call fails or times out the
// error has code api.Unavailable and the plan was applied entirely or not
// at all (a lost answer cannot tell which; an idempotent plan's retry
// finds its record).
func (r *RedisStore) Apply(ctx context.Context, p Plan) (Applied, error) {
	return r.apply(ctx, p)
}

// Product implements Store.
func (r *RedisStore) Product(ctx context.Context, sku string) (Product, error) {
	ps, err := r.Products(ctx, []string{sku})
	if err != nil {
		return Product{}, err
	}
	if len(ps) == 0 {
		return Product{}, productNotFound(sku)
	}
	return ps[0], nil
}

// Products implements Store with one pipeline of HGETALLs.
func (r *RedisStore) Products(ctx context.Context, skus []string) ([]Product, error) {
	if len(skus) == 0 {
		return nil, nil
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	pipe := r.c.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(skus))
	for i, sku := range skus {
		cmds[i] = pipe.HGetAll(ctx, r.key("p", sku))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, r.fail(err)
	}
	var out []Product
	for i, cmd := range cmds {
		h := cmd.Val()
		if len(h) == 0 {
			continue
		}
		price, _ := strconv.ParseInt(h["price"], 10, 64)
		stock, _ := strconv.Atoi(h["stock"])
		p := Product{SKU: skus[i], Name: h["name"], PriceCents: price, Currency: h["cur"],
			Stock: stock, ImageURL: h["img"], Description: h["desc"],
			Owner: auth.Owner{Sub: h["owner"], Org: h["org"]}, Rev: hashRev(h)}
		if x := h["x"]; x != "" {
			if err := decodeProductExtra(x, &p); err != nil {
				return nil, fmt.Errorf("cart: stored product %s: %w", skus[i], err)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// productExtra is the JSON document a product hash keeps in its x field:
// the fields few products use (a per-buyer limit, variants, a variant's
// parent and label). The store neither reads nor checks them; its own
// field names keep the stored form apart from the API's.
type productExtra struct {
	LimitPerBuyer int             `json:"limit,omitempty"`
	Variants      []storedVariant `json:"variants,omitempty"`
	Parent        string          `json:"parent,omitempty"`
	Label         string          `json:"label,omitempty"`
}

// storedVariant is a Variant as productExtra keeps it.
type storedVariant struct {
	SKU        string `json:"sku"`
	Label      string `json:"label,omitempty"`
	Stock      int    `json:"stock,omitempty"`
	PriceCents int64  `json:"price,omitempty"`
}

// encodeProductExtra returns p's x field: "" when p has none of its
// fields, so that a plain product is stored and written as before.
func encodeProductExtra(p Product) (string, error) {
	if p.LimitPerBuyer == 0 && len(p.Variants) == 0 && p.Parent == "" && p.Label == "" {
		return "", nil
	}
	x := productExtra{LimitPerBuyer: p.LimitPerBuyer, Parent: p.Parent, Label: p.Label}
	if len(p.Variants) > 0 {
		x.Variants = make([]storedVariant, len(p.Variants))
		for i, v := range p.Variants {
			x.Variants[i] = storedVariant(v)
		}
	}
	b, err := json.Marshal(x)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// decodeProductExtra sets p's fields from an x field.
func decodeProductExtra(s string, p *Product) error {
	var x productExtra
	if err := json.Unmarshal([]byte(s), &x); err != nil {
		return err
	}
	p.LimitPerBuyer, p.Parent, p.Label = x.LimitPerBuyer, x.Parent, x.Label
	if len(x.Variants) > 0 {
		p.Variants = make([]Variant, len(x.Variants))
		for i, v := range x.Variants {
			p.Variants[i] = Variant(v)
		}
	}
	return nil
}

// hashRev is the revision of a stored hash (a product or a cart): its rev
// field, or 1 for a hash written before revisions existed.
func hashRev(h map[string]string) int64 {
	if v, err := strconv.ParseInt(h["rev"], 10, 64); err == nil {
		return v
	}
	return 1
}

// Showcase implements Store: the revision, lineup and pin read in one
// MULTI/EXEC, so that they are of one moment.
func (r *RedisStore) Showcase(ctx context.Context, stream string) (Showcase, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	var rev *redis.StringCmd
	var lineup *redis.StringSliceCmd
	var pin *redis.MapStringStringCmd
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		rev = p.Get(ctx, r.key("sr", stream))
		lineup = p.LRange(ctx, r.key("lu", stream), 0, -1)
		pin = p.HGetAll(ctx, r.key("pin", stream))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Showcase{}, r.fail(err)
	}
	sc := Showcase{Lineup: lineup.Val(), Pin: parsePin(pin.Val())}
	if v := rev.Val(); v != "" {
		if sc.Rev, err = strconv.ParseInt(v, 10, 64); err != nil {
			return Showcase{}, fmt.Errorf("cart: showcase revision of %s: %w", stream, err)
		}
	}
	if len(sc.Lineup) == 0 {
		sc.Lineup = nil
	}
	return sc, nil
}

// parsePin reads a pin hash: nil when nothing is pinned.
func parsePin(h map[string]string) *Pin {
	if h["sku"] == "" {
		return nil
	}
	pin := &Pin{SKU: h["sku"]}
	if v, err := strconv.ParseInt(h["price"], 10, 64); err == nil {
		pin.PriceCents = &v
	}
	if v, err := strconv.ParseInt(h["ends"], 10, 64); err == nil {
		t := msTime(v)
		pin.EndsAt = &t
	}
	return pin
}

// Cart implements Store with one HGETALL.
func (r *RedisStore) Cart(ctx context.Context, user string) (StoredCart, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	h, err := r.c.HGetAll(ctx, r.key("cart", user)).Result()
	if err != nil {
		return StoredCart{}, r.fail(err)
	}
	if len(h) == 0 {
		return StoredCart{}, nil
	}
	c := StoredCart{Stream: h["stream"], Currency: h["cur"], Held: h["held"] == "1", Rev: hashRev(h)}
	if ms, err := strconv.ParseInt(h["until"], 10, 64); err == nil {
		c.HeldUntil = msTime(ms)
	}
	for f, v := range h {
		if sku, ok := strings.CutPrefix(f, "i:"); ok {
			q, _ := strconv.Atoi(v)
			c.Lines = append(c.Lines, StoredLine{SKU: sku, Qty: q})
		}
	}
	slices.SortFunc(c.Lines, func(a, b StoredLine) int { return strings.Compare(a.SKU, b.SKU) })
	return c, nil
}

// HeldCarts implements Store with the holds sorted set (user by the end of
// its hold, in milliseconds).
func (r *RedisStore) HeldCarts(ctx context.Context, until time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	users, err := r.c.ZRangeByScore(ctx, r.key("holds"), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(timeMS(until), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, r.fail(err)
	}
	if len(users) == 0 {
		return nil, nil
	}
	return users, nil
}

// Record implements Store with one GET.
func (r *RedisStore) Record(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	v, err := r.c.Get(ctx, r.key("r", key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, r.fail(err)
	}
	if v == nil {
		v = []byte{} // a record of no bytes is not "no record"
	}
	return v, nil
}

// DueRecords implements Store with the due index (record key by its due
// time, in milliseconds). A record forgotten by its TTL leaves its key in
// the index; such keys are not returned, and are dropped from the index
// by apply.lua, which checks again that the record is still gone.
func (r *RedisStore) DueRecords(ctx context.Context, until time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	by := &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(timeMS(until), 10), Count: int64(limit)}
	var out []string
	// Each round drops the gone keys it met, so the next one reads further;
	// the rounds are bounded all the same.
	for range 8 {
		keys, err := r.c.ZRangeByScore(ctx, r.key("rdue"), by).Result()
		if err != nil {
			return nil, r.fail(err)
		}
		pipe := r.c.Pipeline()
		exists := make([]*redis.IntCmd, len(keys))
		for i, k := range keys {
			exists[i] = pipe.Exists(ctx, r.key("r", k))
		}
		if len(keys) > 0 {
			if _, err := pipe.Exec(ctx); err != nil {
				return nil, r.fail(err)
			}
		}
		out = out[:0]
		var gone []string
		for i, k := range keys {
			if exists[i].Val() == 1 {
				out = append(out, k)
			} else {
				gone = append(gone, k)
			}
		}
		if len(gone) == 0 {
			break
		}
		if err := r.pruneDue(ctx, gone); err != nil {
			return nil, err
		}
		if len(keys) < limit {
			break // everything due was read
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// List implements Store with one LRANGE.
func (r *RedisStore) List(ctx context.Context, key string) ([]string, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	l, err := r.c.LRange(ctx, r.key("l", key), 0, -1).Result()
	if err != nil {
		return nil, r.fail(err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// Counters implements Store with one MGET.
func (r *RedisStore) Counters(ctx context.Context, keys []string) ([]int64, error) {
	out := make([]int64, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.key("n", k)
	}
	vals, err := r.c.MGet(ctx, full...).Result()
	if err != nil {
		return nil, r.fail(err)
	}
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		if out[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			return nil, fmt.Errorf("cart: counter %s: %w", keys[i], err)
		}
	}
	return out, nil
}

// Unique implements Store with one PFCOUNT: HyperLogLog's estimate, with
// a standard error of about 1%.
func (r *RedisStore) Unique(ctx context.Context, key string) (int64, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	n, err := r.c.PFCount(ctx, r.key("u", key)).Result()
	if err != nil {
		return 0, r.fail(err)
	}
	return n, nil
}

// Order implements Store.
func (r *RedisStore) Order(ctx context.Context, id string) (Order, []byte, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	raw, err := r.c.Get(ctx, r.key("o", id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Order{}, nil, ErrOrderNotFound
	}
	if err != nil {
		return Order{}, nil, r.fail(err)
	}
	var o Order
	if err := json.Unmarshal(raw, &o); err != nil {
		return Order{}, nil, fmt.Errorf("cart: stored order %s: %w", id, err)
	}
	return o, raw, nil
}

// Orders implements Store. The indexes are sorted sets of order ids with
// score 0; UUIDv7 ids sort by time, so ZREVRANGEBYLEX lists newest first.
func (r *RedisStore) Orders(ctx context.Context, by OrderIndex, cursor string, limit int) ([]Order, string, error) {
	if limit <= 0 {
		return nil, "", nil
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	key := r.key("uo", by.User)
	if by.Stream != "" {
		key = r.key("so", by.Stream)
	}
	max := "+"
	if cursor != "" {
		max = "(" + cursor
	}
	ids, err := r.c.ZRevRangeByLex(ctx, key, &redis.ZRangeBy{Max: max, Min: "-", Count: int64(limit + 1)}).Result()
	if err != nil {
		return nil, "", r.fail(err)
	}
	next := ""
	if len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	if len(ids) == 0 {
		return nil, "", nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = r.key("o", id)
	}
	vals, err := r.c.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, "", r.fail(err)
	}
	out := make([]Order, 0, len(vals))
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		var o Order
		if err := json.Unmarshal([]byte(s), &o); err != nil {
			return nil, "", fmt.Errorf("cart: stored order: %w", err)
		}
		out = append(out, o)
	}
	return out, next, nil
}

// WatchStock implements Store with the pub/sub channel apply.lua publishes
// every stock change on. go-redis resubscribes after a lost connection;
// every (re)subscription calls reset, since changes may have been missed
// while it was down.
func (r *RedisStore) WatchStock(ctx context.Context, changed func(StockChange), reset func()) error {
	ps := r.c.Subscribe(ctx, r.channel)
	defer ps.Close()
	ch := ps.ChannelWithSubscriptions(redis.WithChannelSize(1024))
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return errors.New("cart: stock subscription closed")
			}
			switch m := m.(type) {
			case *redis.Subscription:
				reset()
			case *redis.Message:
				if sc, ok := parseStockMessage(m.Payload); ok {
					changed(sc)
				}
			}
		}
	}
}

// parseStockMessage reads "version:stock:sku".
func parseStockMessage(s string) (StockChange, bool) {
	v, rest, ok1 := strings.Cut(s, ":")
	st, sku, ok2 := strings.Cut(rest, ":")
	ver, err1 := strconv.ParseInt(v, 10, 64)
	stock, err2 := strconv.Atoi(st)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || sku == "" {
		return StockChange{}, false
	}
	return StockChange{SKU: sku, Stock: stock, Version: ver}, true
}

// Ping implements Store.
func (r *RedisStore) Ping(ctx context.Context) error {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	return r.fail(r.c.Ping(ctx).Err())
}
