package cart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
// and each script's keys share one slot on a Redis Cluster (docs/DATA.md).
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
// Every operation that changes stock is one Lua script, atomic on the
// server. It is safe for concurrent use.
type RedisStore struct {
	c       redis.UniversalClient
	s       *scripts
	prefix  string
	channel string
	timeout time.Duration
}

// NewRedisStore returns a store over c (a *redis.Client, or any universal
// client). The caller owns c and closes it.
func NewRedisStore(c redis.UniversalClient, opts RedisOptions) (*RedisStore, error) {
	s, err := loadScripts()
	if err != nil {
		return nil, err
	}
	r := &RedisStore{c: c, s: s, prefix: KeyPrefix, channel: opts.StockChannel, timeout: opts.Timeout}
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

// PutProduct implements Store.
func (r *RedisStore) PutProduct(ctx context.Context, p Product, create bool) (bool, StockChange, error) {
	mode := "replace"
	if create {
		mode = "create"
	}
	rep, err := r.run(ctx, r.s.product, p.SKU, p.Name, p.PriceCents, p.Currency, p.Stock, p.ImageURL, p.Description,
		p.Owner.Sub, p.Owner.Org, mode)
	if err != nil {
		return false, StockChange{}, err
	}
	if err := rep.err(""); err != nil {
		return false, StockChange{}, err
	}
	if len(rep.changes) != 1 {
		return false, StockChange{}, errors.Join(err, errors.New("cart: product script answered no change"))
	}
	return rep.detail == "created", rep.changes[0], nil
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

// Products implements Store.
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
		out = append(out, Product{SKU: skus[i], Name: h["name"], PriceCents: price, Currency: h["cur"],
			Stock: stock, ImageURL: h["img"], Description: h["desc"], Owner: auth.Owner{Sub: h["owner"], Org: h["org"]}})
	}
	return out, nil
}

// SetLineup implements Store.
func (r *RedisStore) SetLineup(ctx context.Context, stream string, skus []string) (bool, error) {
	args := []any{stream}
	for _, s := range skus {
		args = append(args, s)
	}
	rep, err := r.run(ctx, r.s.lineup, args...)
	if err != nil {
		return false, err
	}
	return rep.detail == "unpinned", rep.err(stream)
}

// Lineup implements Store.
func (r *RedisStore) Lineup(ctx context.Context, stream string) ([]string, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	skus, err := r.c.LRange(ctx, r.key("lu", stream), 0, -1).Result()
	return skus, r.fail(err)
}

// SetPin implements Store.
func (r *RedisStore) SetPin(ctx context.Context, stream string, pin *Pin) error {
	sku, price, ends := "", "", ""
	if pin != nil {
		sku = pin.SKU
		if pin.PriceCents != nil {
			price = strconv.FormatInt(*pin.PriceCents, 10)
		}
		if pin.EndsAt != nil {
			ends = strconv.FormatInt(timeMS(*pin.EndsAt), 10)
		}
	}
	rep, err := r.run(ctx, r.s.pin, stream, sku, price, ends)
	if err != nil {
		return err
	}
	return rep.err(stream)
}

// Pin implements Store.
func (r *RedisStore) Pin(ctx context.Context, stream string) (*Pin, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	h, err := r.c.HGetAll(ctx, r.key("pin", stream)).Result()
	if err != nil {
		return nil, r.fail(err)
	}
	if h["sku"] == "" {
		return nil, nil
	}
	pin := &Pin{SKU: h["sku"]}
	if v, err := strconv.ParseInt(h["price"], 10, 64); err == nil {
		pin.PriceCents = &v
	}
	if v, err := strconv.ParseInt(h["ends"], 10, 64); err == nil {
		t := msTime(v)
		pin.EndsAt = &t
	}
	return pin, nil
}

// Buy implements Store: one script, one round trip.
func (r *RedisStore) Buy(ctx context.Context, req BuyRequest) (Placed, error) {
	rep, err := r.run(ctx, r.s.buy, req.Idem.User, req.Idem.Key, req.Idem.Fingerprint, req.Stream,
		req.SKU, req.Qty, timeMS(req.Now), req.OrderID, req.Now.UTC().Format(timeFormat))
	if err != nil {
		return Placed{}, err
	}
	return placedFrom(rep, req.Stream)
}

func placedFrom(rep scriptReply, stream string) (Placed, error) {
	if err := rep.err(stream); err != nil {
		return Placed{Changes: rep.changes}, err
	}
	var o Order
	if err := json.Unmarshal([]byte(rep.order), &o); err != nil {
		return Placed{}, fmt.Errorf("cart: stored order: %w", err)
	}
	return Placed{Order: o, Replayed: rep.code == "replay", Changes: rep.changes}, nil
}

// SetCartItem implements Store.
func (r *RedisStore) SetCartItem(ctx context.Context, req CartChange) ([]StockChange, error) {
	rep, err := r.run(ctx, r.s.reserve, req.User, req.Stream, req.SKU, req.Qty, timeMS(req.Now), req.Hold.Milliseconds(), MaxCartLines)
	if err != nil {
		return nil, err
	}
	return rep.changes, rep.err(req.Stream)
}

// Cart implements Store.
func (r *RedisStore) Cart(ctx context.Context, user string) (StoredCart, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	h, err := r.c.HGetAll(ctx, r.key("cart", user)).Result()
	if err != nil {
		return StoredCart{}, r.fail(err)
	}
	c := StoredCart{Stream: h["stream"], Currency: h["cur"], Held: h["held"] == "1"}
	if ms, err := strconv.ParseInt(h["until"], 10, 64); err == nil {
		c.HeldUntil = msTime(ms)
	}
	for f, v := range h {
		if sku, ok := strings.CutPrefix(f, "i:"); ok {
			q, _ := strconv.Atoi(v)
			c.Lines = append(c.Lines, StoredLine{SKU: sku, Qty: q})
		}
	}
	sortLines(c.Lines)
	return c, nil
}

// Checkout implements Store: one script.
func (r *RedisStore) Checkout(ctx context.Context, req CheckoutRequest) (Placed, error) {
	rep, err := r.run(ctx, r.s.checkout, req.Idem.User, req.Idem.Key, req.Idem.Fingerprint,
		timeMS(req.Now), req.OrderID, req.Now.UTC().Format(timeFormat))
	if err != nil {
		return Placed{}, err
	}
	return placedFrom(rep, "")
}

// ReleaseExpired implements Store: it reads the holds that ended and
// releases each with release.lua, all in one pipeline. Each release checks
// the hold again inside its script, so nodes sweeping at the same time
// never release one twice.
func (r *RedisStore) ReleaseExpired(ctx context.Context, now time.Time, limit int) (int, []StockChange, error) {
	cctx, cancel := r.ctx(ctx)
	users, err := r.c.ZRangeByScore(cctx, r.key("holds"), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(timeMS(now), 10), Count: int64(limit),
	}).Result()
	cancel()
	if err != nil || len(users) == 0 {
		return 0, nil, r.fail(err)
	}
	calls := make([][]any, len(users))
	for i, u := range users {
		calls[i] = []any{u, timeMS(now)}
	}
	reps, err := r.runAll(ctx, r.s.release, calls)
	if err != nil {
		return 0, nil, err
	}
	n := 0
	var changes []StockChange
	for _, rep := range reps {
		if rep.code == "ok" {
			n++
		}
		changes = append(changes, rep.changes...)
	}
	return n, changes, nil
}

// Order implements Store.
func (r *RedisStore) Order(ctx context.Context, id string) (Order, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	s, err := r.c.Get(ctx, r.key("o", id)).Result()
	if errors.Is(err, redis.Nil) {
		return Order{}, ErrOrderNotFound
	}
	if err != nil {
		return Order{}, r.fail(err)
	}
	var o Order
	if err := json.Unmarshal([]byte(s), &o); err != nil {
		return Order{}, fmt.Errorf("cart: stored order %s: %w", id, err)
	}
	return o, nil
}

// Orders implements Store. The indexes are sorted sets of order ids with
// score 0; UUIDv7 ids sort by time, so ZREVRANGEBYLEX lists newest first.
func (r *RedisStore) Orders(ctx context.Context, by OrderIndex, cursor string, limit int) ([]Order, string, error) {
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

// Cancel implements Store: one script.
func (r *RedisStore) Cancel(ctx context.Context, id string) (Order, []StockChange, error) {
	rep, err := r.run(ctx, r.s.cancel, id)
	if err != nil {
		return Order{}, nil, err
	}
	if err := rep.err(""); err != nil {
		return Order{}, nil, err
	}
	var o Order
	if err := json.Unmarshal([]byte(rep.order), &o); err != nil {
		return Order{}, nil, fmt.Errorf("cart: stored order: %w", err)
	}
	return o, rep.changes, nil
}

// WatchStock implements Store with the pub/sub channel the scripts publish
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

func sortLines(lines []StoredLine) {
	for i := 1; i < len(lines); i++ {
		for j := i; j > 0 && lines[j].SKU < lines[j-1].SKU; j-- {
			lines[j], lines[j-1] = lines[j-1], lines[j]
		}
	}
}
