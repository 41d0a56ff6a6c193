package cart

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livecart/livecart/api"
)

// applyLua is the one script that writes the store: it checks a plan's
// preconditions and applies it (docs/DATA.md).
//
//go:embed lua/apply.lua
var applyLua string

// applyScript is apply.lua, run with Run: EVALSHA, falling back to EVAL
// when the server answers NOSCRIPT (after a restart or a failover).
var applyScript = redis.NewScript(applyLua)

// maxExact bounds the numbers apply.lua does arithmetic on: Lua numbers
// are doubles, exact up to 2^53.
const maxExact = 1<<53 - 1

// apply runs apply.lua for p: one round trip, bounded by the store's
// timeout.
func (r *RedisStore) apply(ctx context.Context, p Plan) (Applied, error) {
	args, err := r.planArgs(p)
	if err != nil {
		return Applied{}, err
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	v, err := applyScript.Run(ctx, r.c, []string{OrdersStream}, args...).Result()
	if err != nil {
		return Applied{}, r.fail(err)
	}
	return parseApplied(v)
}

// planArgs encodes p as apply.lua's ARGV: the prefix, the stock channel,
// then one tagged part per precondition and write, numbers in decimal and
// opaque bytes (records, order JSON) as they are. It refuses, before
// anything is sent, what would make the script fail half-way. A part the
// plan does not use adds nothing.
func (r *RedisStore) planArgs(p Plan) ([]any, error) {
	a := make([]any, 0, 2+6+4*len(p.Expect)+3*len(p.Stock)+4*len(p.Counters)+11*len(p.Products)+7+
		6*len(p.Records)+4*len(p.Lists)+3*len(p.Uniques)+3*len(p.Peaks))
	a = append(a, r.prefix, r.channel)
	if w := p.Idem; w != nil {
		if w.Record == nil {
			a = append(a, "I", w.User, w.Key, "0", "", "")
		} else {
			if w.TTL <= 0 {
				return nil, errors.New("cart: apply: an idempotency record needs a TTL")
			}
			ms := max(w.TTL.Milliseconds(), 1)
			a = append(a, "I", w.User, w.Key, "1", w.Record, strconv.FormatInt(ms, 10))
		}
	}
	for _, e := range p.Expect {
		switch e.Kind {
		case ExpectProduct, ExpectShowcase, ExpectCart:
			a = append(a, "E", string(e.Kind), e.ID, strconv.FormatInt(e.Rev, 10))
		case ExpectOrder:
			a = append(a, "E", string(e.Kind), e.ID, e.Value)
		case ExpectRecord:
			// A nil Value expects no record; an empty one, a record of no
			// bytes.
			if e.Value == nil {
				a = append(a, "E", string(e.Kind), e.ID, "0", "")
			} else {
				a = append(a, "E", string(e.Kind), e.ID, "1", e.Value)
			}
		default:
			return nil, fmt.Errorf("cart: apply: unknown precondition %q", e.Kind)
		}
	}
	for i, d := range p.Stock {
		for _, o := range p.Stock[:i] {
			if o.SKU == d.SKU {
				return nil, fmt.Errorf("cart: apply: two stock deltas for %s", d.SKU)
			}
		}
		a = append(a, "S", d.SKU, strconv.Itoa(d.Delta))
	}
	for i, c := range p.Counters {
		for _, o := range p.Counters[:i] {
			if o.Key == c.Key {
				return nil, fmt.Errorf("cart: apply: two deltas for counter %s", c.Key)
			}
		}
		if c.Delta > maxExact || c.Delta < -maxExact || c.Max > maxExact {
			return nil, fmt.Errorf("cart: apply: counter %s: delta or bound beyond 2^53", c.Key)
		}
		a = append(a, "N", c.Key, strconv.FormatInt(c.Delta, 10), strconv.FormatInt(max(c.Max, 0), 10))
	}
	for i, pr := range p.Products {
		for _, o := range p.Products[:i] {
			if o.SKU == pr.SKU {
				return nil, fmt.Errorf("cart: apply: two writes of product %s", pr.SKU)
			}
		}
		x, err := encodeProductExtra(pr)
		if err != nil {
			return nil, fmt.Errorf("cart: apply: product %s: %w", pr.SKU, err)
		}
		a = append(a, "P", pr.SKU, pr.Name, strconv.FormatInt(pr.PriceCents, 10), pr.Currency,
			strconv.Itoa(pr.Stock), pr.ImageURL, pr.Description, pr.Owner.Sub, pr.Owner.Org, x)
	}
	if sc := p.Showcase; sc != nil {
		a = append(a, "W", sc.Stream, strconv.Itoa(len(sc.Lineup)))
		for _, sku := range sc.Lineup {
			a = append(a, sku)
		}
		sku, price, ends := "", "", ""
		if pin := sc.Pin; pin != nil {
			sku = pin.SKU
			if pin.PriceCents != nil {
				price = strconv.FormatInt(*pin.PriceCents, 10)
			}
			if pin.EndsAt != nil {
				ends = strconv.FormatInt(timeMS(*pin.EndsAt), 10)
			}
		}
		a = append(a, sku, price, ends)
	}
	if cw := p.Cart; cw != nil {
		if c := cw.Cart; c == nil {
			a = append(a, "C", cw.User, "0")
		} else {
			if c.Held && c.HeldUntil.IsZero() {
				return nil, fmt.Errorf("cart: apply: cart of %s held without an end", cw.User)
			}
			until, held := "", "0"
			if !c.HeldUntil.IsZero() {
				until = strconv.FormatInt(timeMS(c.HeldUntil), 10)
			}
			if c.Held {
				held = "1"
			}
			a = append(a, "C", cw.User, "1", c.Stream, c.Currency, until, held,
				strconv.FormatInt(cartTTL(c.HeldUntil).Milliseconds(), 10), strconv.Itoa(len(c.Lines)))
			for _, l := range c.Lines {
				a = append(a, l.SKU, strconv.Itoa(l.Qty))
			}
		}
	}
	if o := p.Order; o != nil {
		isNew := "0"
		if o.New {
			isNew = "1"
		}
		a = append(a, "O", o.ID, o.User, o.Stream, o.JSON, isNew, o.Event)
	}
	for i, w := range p.Records {
		if w.Key == "" {
			return nil, errors.New("cart: apply: a record write without a key")
		}
		for _, o := range p.Records[:i] {
			if o.Key == w.Key {
				return nil, fmt.Errorf("cart: apply: two writes of record %s", w.Key)
			}
		}
		if w.Value == nil {
			a = append(a, "R", w.Key, "0", "", "", "0")
			continue
		}
		due, ttl := "", "0"
		if !w.Due.IsZero() {
			due = strconv.FormatInt(timeMS(w.Due), 10)
		}
		if w.TTL > 0 {
			// PX takes whole milliseconds above zero.
			ttl = strconv.FormatInt(max(w.TTL.Milliseconds(), 1), 10)
		}
		a = append(a, "R", w.Key, "1", w.Value, due, ttl)
	}
	for _, op := range p.Lists {
		if op.Key == "" {
			return nil, errors.New("cart: apply: a list change without a key")
		}
		if op.Push == "" && op.Remove == "" {
			continue
		}
		a = append(a, "L", op.Key, op.Push, op.Remove)
	}
	for _, u := range p.Uniques {
		if u.Key == "" {
			return nil, errors.New("cart: apply: a distinct count without a key")
		}
		a = append(a, "U", u.Key, u.Member)
	}
	for _, pk := range p.Peaks {
		if pk.Key == "" {
			return nil, errors.New("cart: apply: a peak without a key")
		}
		if pk.Value > maxExact || pk.Value < -maxExact {
			return nil, fmt.Errorf("cart: apply: peak %s beyond 2^53", pk.Key)
		}
		a = append(a, "K", pk.Key, strconv.FormatInt(pk.Value, 10))
	}
	return a, nil
}

// pruneDue runs apply.lua to drop keys from the due index whose record is
// gone (expired by its TTL). The script checks each again, so that a
// record written since it was read keeps its due time.
func (r *RedisStore) pruneDue(ctx context.Context, keys []string) error {
	a := make([]any, 0, 2+2*len(keys))
	a = append(a, r.prefix, r.channel)
	for _, k := range keys {
		a = append(a, "D", k)
	}
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	if err := applyScript.Run(ctx, r.c, []string{OrdersStream}, a...).Err(); err != nil {
		return r.fail(err)
	}
	return nil
}

// cartRetention is how long a cart is kept after its hold ends (or after
// its last change, for a cart whose hold had already ended).
const cartRetention = 7 * 24 * time.Hour

// cartTTL is the expiry of a cart written now that is held until until.
// It is storage housekeeping, not a rule of the shop: whether a cart holds
// stock is decided by its fields, never by its expiry.
func cartTTL(until time.Time) time.Duration {
	return cartRetention + max(time.Until(until), 0)
}

// parseApplied reads apply.lua's answer.
func parseApplied(v any) (Applied, error) {
	a, ok := v.([]any)
	if !ok || len(a) == 0 {
		return Applied{}, fmt.Errorf("cart: unexpected apply.lua answer %T", v)
	}
	switch code := str(a[0]); {
	case code == "ok" && len(a) == 2:
		chs, _ := a[1].([]any)
		var changes []StockChange
		if len(chs) > 0 {
			changes = make([]StockChange, 0, len(chs))
		}
		for _, c := range chs {
			f, _ := c.([]any)
			if len(f) != 4 {
				return Applied{}, errors.New("cart: malformed stock change in apply.lua's answer")
			}
			ch := StockChange{SKU: str(f[0]), Stock: int(num(f[1])), Version: num(f[2])}
			ss, _ := f[3].([]any)
			if len(ss) > 0 {
				ch.Streams = make([]string, len(ss))
				for i, s := range ss {
					ch.Streams[i] = str(s)
				}
				slices.Sort(ch.Streams) // a set's order is Redis's
			}
			changes = append(changes, ch)
		}
		return Applied{Changes: changes}, nil
	case code == "replay" && len(a) == 2:
		s := str(a[1])
		rec := make([]byte, len(s))
		copy(rec, s)
		return Applied{Replay: rec}, nil
	case code == "stale" && len(a) == 3:
		return Applied{}, &StaleError{Kind: ExpectKind(str(a[1])), ID: str(a[2])}
	case code == "out_of_stock" && len(a) == 4:
		return Applied{}, &OutOfStockError{SKU: str(a[1]), Stock: int(num(a[2])), Version: num(a[3])}
	case code == "counter" && len(a) == 2:
		return Applied{}, &CounterError{Key: str(a[1])}
	default:
		return Applied{}, fmt.Errorf("cart: unexpected apply.lua answer %q (%d parts)", code, len(a))
	}
}

func str(v any) string { s, _ := v.(string); return s }

func num(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case string:
		i, _ := strconv.ParseInt(n, 10, 64)
		return i
	}
	return 0
}

// msTime and timeMS convert between times and the milliseconds the store
// keeps.
func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func timeMS(t time.Time) int64 { return t.UnixMilli() }

// fail classifies a Redis error: the server unreachable, loading, read-only
// or failing over is unavailable (503, retry); a script bug is internal.
func (r *RedisStore) fail(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY", "NOREPLICAS", "MISCONF"} {
			if redis.HasErrorPrefix(err, p) {
				return api.Unavailablef(err, "the store is unavailable (%s); try again shortly", p)
			}
		}
		return fmt.Errorf("cart: redis: %w", err)
	}
	return api.Unavailablef(err, "the store is unavailable; try again shortly")
}
