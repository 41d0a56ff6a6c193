package cart

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livecart/livecart/api"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// scripts are the store's Lua scripts, each prefixed with common.lua.
type scripts struct {
	buy, reserve, checkout, release, cancel, product, lineup, pin *redis.Script
}

func loadScripts() (*scripts, error) {
	common, err := luaFiles.ReadFile("lua/common.lua")
	if err != nil {
		return nil, err
	}
	mk := func(name string) (*redis.Script, error) {
		src, err := luaFiles.ReadFile("lua/" + name + ".lua")
		if err != nil {
			return nil, err
		}
		return redis.NewScript(string(common) + "\n" + string(src)), nil
	}
	var s scripts
	for name, dst := range map[string]**redis.Script{
		"buy": &s.buy, "reserve": &s.reserve, "checkout": &s.checkout, "release": &s.release,
		"cancel": &s.cancel, "product": &s.product, "lineup": &s.lineup, "pin": &s.pin,
	} {
		if *dst, err = mk(name); err != nil {
			return nil, err
		}
	}
	return &s, nil
}

// scriptReply is what every script answers.
type scriptReply struct {
	code, detail, order string
	changes             []StockChange
	observed            *StockChange
}

// run runs sc with Run, which sends EVALSHA and falls back to EVAL when
// the server answers NOSCRIPT (after a restart or a failover).
func (r *RedisStore) run(ctx context.Context, sc *redis.Script, args ...any) (scriptReply, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	v, err := sc.Run(ctx, r.c, []string{OrdersStream}, r.args(args)...).Result()
	if err != nil {
		return scriptReply{}, r.fail(err)
	}
	return parseReply(v)
}

// runAll runs several calls of sc in one pipeline. A pipeline cannot fall
// back call by call, so calls answered NOSCRIPT are run again with Run
// (which loads the script) once the pipeline is back; no script ran for
// them, so nothing is done twice.
func (r *RedisStore) runAll(ctx context.Context, sc *redis.Script, calls [][]any) ([]scriptReply, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	pipe := r.c.Pipeline()
	cmds := make([]*redis.Cmd, len(calls))
	for i, args := range calls {
		cmds[i] = sc.EvalSha(ctx, pipe, []string{OrdersStream}, r.args(args)...)
	}
	if _, err := pipe.Exec(ctx); err != nil && !isNoScript(err) {
		var rerr redis.Error
		if !errors.As(err, &rerr) {
			return nil, r.fail(err)
		}
	}
	out := make([]scriptReply, len(calls))
	for i, cmd := range cmds {
		v, err := cmd.Result()
		if isNoScript(err) {
			v, err = sc.Run(ctx, r.c, []string{OrdersStream}, r.args(calls[i])...).Result()
		}
		if err != nil {
			return nil, r.fail(err)
		}
		if out[i], err = parseReply(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func isNoScript(err error) bool { return err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") }

func (r *RedisStore) args(args []any) []any {
	return append([]any{r.prefix, r.channel}, args...)
}

func parseReply(v any) (scriptReply, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 5 {
		return scriptReply{}, fmt.Errorf("cart: unexpected script reply %T", v)
	}
	var rep scriptReply
	rep.code, _ = a[0].(string)
	rep.detail, _ = a[1].(string)
	rep.order, _ = a[2].(string)
	chs, _ := a[3].([]any)
	for _, c := range chs {
		f, _ := c.([]any)
		if len(f) != 4 {
			return scriptReply{}, errors.New("cart: malformed stock change in script reply")
		}
		ch := StockChange{SKU: str(f[0]), Stock: int(num(f[1])), Version: num(f[2])}
		ss, _ := f[3].([]any)
		for _, s := range ss {
			ch.Streams = append(ch.Streams, str(s))
		}
		rep.changes = append(rep.changes, ch)
	}
	if ob, _ := a[4].([]any); len(ob) == 3 {
		rep.observed = &StockChange{SKU: str(ob[0]), Stock: int(num(ob[1])), Version: num(ob[2])}
	}
	return rep, nil
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

// err turns a script's refusal into the package's errors.
func (rep scriptReply) err(stream string) error {
	switch rep.code {
	case "ok", "replay", "skip":
		return nil
	case "mismatch":
		return ErrIdempotencyMismatch
	case "not_in_lineup":
		return notInLineup(stream, rep.detail)
	case "not_found":
		if rep.detail == "" {
			return ErrOrderNotFound
		}
		return productNotFound(rep.detail)
	case "out_of_stock":
		if o := rep.observed; o != nil {
			return &OutOfStockError{SKU: o.SKU, Stock: o.Stock, Version: o.Version}
		}
		return ErrOutOfStock
	case "conflict_stream":
		return cartConflict("your cart holds products of stream %q; check it out or empty it first", rep.detail)
	case "conflict_currency":
		return cartConflict("your cart is in %s; this product is in another currency", rep.detail[:min(3, len(rep.detail))])
	case "full":
		return ErrCartFull
	case "empty":
		return ErrCartEmpty
	case "cancelled":
		return ErrAlreadyCancelled
	case "product_changed":
		return ErrProductChanged
	}
	return fmt.Errorf("cart: unexpected script answer %q", rep.code)
}

// msTime and timeMS convert between times and the milliseconds the
// scripts keep.
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
