package cart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/redistest"
)

// mustRedisStore returns a RedisStore over srv, emptied first.
func mustRedisStore(tb testing.TB, srv *redistest.Server) *RedisStore {
	tb.Helper()
	if err := srv.Flush(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	s, err := NewRedisStore(srv.Client(), RedisOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestRedisStore(t *testing.T) {
	srv := redistest.Start(t)
	testShop(t, func(t *testing.T, now func() time.Time) Store { return mustRedisStore(t, srv) })
}

func TestRedisStoreConformance(t *testing.T) {
	srv := redistest.Start(t)
	testStore(t, func(t *testing.T) Store { return mustRedisStore(t, srv) })
}

// rkey is the full key of parts, as RedisStore names it.
func rkey(parts ...string) string {
	out := KeyPrefix
	for i, p := range parts {
		if i > 0 {
			out += ":"
		}
		out += p
	}
	return out
}

// TestRedisExistingData: data written before revisions existed (the
// layout of earlier releases) keeps working: an existing product or cart
// reads as revision 1, a lineup without a revision key as 0, an old
// idempotency record is replayed byte for byte, and the first write moves
// each revision on.
func TestRedisExistingData(t *testing.T) {
	srv := redistest.Start(t)
	st := mustRedisStore(t, srv)
	c := srv.Client()
	ctx := t.Context()
	until := time.Date(2026, 3, 1, 18, 10, 0, 0, time.UTC)
	oldRecord := []byte("fp\n{\"id\":\"o1\"}")
	pipe := c.Pipeline()
	pipe.HSet(ctx, rkey("p", "old"), "name", "Old", "price", 700, "cur", "EUR", "stock", 4, "img", "", "desc", "", "ver", 3, "owner", "h1", "org", "")
	pipe.RPush(ctx, rkey("lu", "live1"), "old")
	pipe.SAdd(ctx, rkey("lm", "live1"), "old")
	pipe.SAdd(ctx, rkey("ls", "old"), "live1")
	pipe.HSet(ctx, rkey("pin", "live1"), "sku", "old", "price", "", "ends", "")
	pipe.HSet(ctx, rkey("cart", "u1"), "stream", "live1", "cur", "EUR", "until", until.UnixMilli(), "held", "1", "i:old", 1)
	pipe.ZAdd(ctx, rkey("holds"), redis.Z{Score: float64(until.UnixMilli()), Member: "u1"})
	pipe.Set(ctx, rkey("i", "2", "u1", "k1"), oldRecord, time.Hour)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	p, err := st.Product(ctx, "old")
	want := Product{SKU: "old", Name: "Old", PriceCents: 700, Currency: "EUR", Stock: 4, Owner: auth.Owner{Sub: "h1"}, Rev: 1}
	if err != nil || !reflect.DeepEqual(p, want) {
		t.Fatalf("old product = %+v, %v; want %+v", p, err, want)
	}
	sc, err := st.Showcase(ctx, "live1")
	if err != nil || sc.Rev != 0 || !slices.Equal(sc.Lineup, []string{"old"}) || sc.Pin == nil || sc.Pin.SKU != "old" || sc.Pin.PriceCents != nil || sc.Pin.EndsAt != nil {
		t.Fatalf("old showcase = %+v, %v", sc, err)
	}
	cart, err := st.Cart(ctx, "u1")
	if err != nil || cart.Rev != 1 || !cart.Held || !cart.HeldUntil.Equal(until) || !slices.Equal(cart.Lines, []StoredLine{{SKU: "old", Qty: 1}}) {
		t.Fatalf("old cart = %+v, %v", cart, err)
	}
	if users, err := st.HeldCarts(ctx, until, 10); err != nil || !slices.Equal(users, []string{"u1"}) {
		t.Fatalf("HeldCarts = %v, %v", users, err)
	}

	var stale *StaleError
	if _, err := st.Apply(ctx, Plan{Expect: []Expect{{Kind: ExpectProduct, ID: "old", Rev: 0}}}); !errors.As(err, &stale) {
		t.Fatalf("an existing product expected absent: %v, want stale", err)
	}
	a := mustApply(t, st, Plan{
		Expect: []Expect{{Kind: ExpectProduct, ID: "old", Rev: 1}, {Kind: ExpectShowcase, ID: "live1", Rev: 0}, {Kind: ExpectCart, ID: "u1", Rev: 1}},
		Stock:  []StockDelta{{SKU: "old", Delta: -1}},
	})
	if len(a.Changes) != 1 || a.Changes[0].Stock != 3 || a.Changes[0].Version != 4 || !slices.Equal(a.Changes[0].Streams, []string{"live1"}) {
		t.Fatalf("changes = %+v, want old at 3, version 4, in live1", a.Changes)
	}
	if a, err := st.Apply(ctx, Plan{Idem: &IdemWrite{User: "u1", Key: "k1"}}); err != nil || !bytes.Equal(a.Replay, oldRecord) {
		t.Fatalf("old record = %q, %v; want %q", a.Replay, err, oldRecord)
	}

	p.Name = "Renamed"
	mustApply(t, st, Plan{Expect: []Expect{{Kind: ExpectProduct, ID: "old", Rev: 1}}, Products: []Product{p}})
	cart.Held = false
	mustApply(t, st, Plan{Expect: []Expect{{Kind: ExpectCart, ID: "u1", Rev: 1}}, Cart: &CartWrite{User: "u1", Cart: &cart}})
	mustApply(t, st, Plan{Expect: []Expect{{Kind: ExpectShowcase, ID: "live1", Rev: 0}}, Showcase: &ShowcaseWrite{Stream: "live1", Lineup: []string{"old"}}})
	if p, _ := st.Product(ctx, "old"); p.Rev != 2 || p.Name != "Renamed" {
		t.Fatalf("product after its first write = %+v, want rev 2", p)
	}
	if c, _ := st.Cart(ctx, "u1"); c.Rev != 2 || c.Held {
		t.Fatalf("cart after its first write = %+v, want rev 2", c)
	}
	if sc, _ := st.Showcase(ctx, "live1"); sc.Rev != 1 || sc.Pin != nil {
		t.Fatalf("showcase after its first write = %+v, want rev 1", sc)
	}
	if users, _ := st.HeldCarts(ctx, until, 10); len(users) != 0 {
		t.Fatalf("HeldCarts after release = %v", users)
	}
}

// TestRedisKeyLayout: a plan with every part writes the keys docs/DATA.md
// lists, with their types and values, and opaque bytes exactly as given.
func TestRedisKeyLayout(t *testing.T) {
	srv := redistest.Start(t)
	st := mustRedisStore(t, srv)
	c := srv.Client()
	ctx := t.Context()
	price := int64(199)
	ends := time.Date(2026, 3, 1, 19, 0, 0, 0, time.UTC)
	until := time.Now().Add(10 * time.Minute).Truncate(time.Millisecond)
	record := []byte{0xff, 0x00, '\n', 0xfe, '"'} // not UTF-8, not JSON
	orderJSON := []byte(`{"id":"o1","user":"u\"1","note":"é"}`)
	mustApply(t, st, Plan{Products: []Product{{SKU: "a", Name: "A", PriceCents: 500, Currency: "EUR", Stock: 10,
		ImageURL: "/a.png", Description: "d", Owner: auth.Owner{Sub: "h1", Org: "acme"}}}})
	a := mustApply(t, st, Plan{
		Idem:     &IdemWrite{User: "u\"1", Key: "k:1", Record: record, TTL: time.Hour},
		Stock:    []StockDelta{{SKU: "a", Delta: -2}},
		Counters: []CounterDelta{{Key: "lim:live1:u1:a", Delta: 2, Max: 5}, {Key: "gone", Delta: 0}},
		Showcase: &ShowcaseWrite{Stream: "live1", Lineup: []string{"a"}, Pin: &Pin{SKU: "a", PriceCents: &price, EndsAt: &ends}},
		Cart:     &CartWrite{User: "u\"1", Cart: &StoredCart{Stream: "live1", Currency: "EUR", Held: true, HeldUntil: until, Lines: []StoredLine{{SKU: "a", Qty: 2}}}},
		Order:    &OrderWrite{ID: "o1", User: "u\"1", Stream: "live1", JSON: orderJSON, New: true, Event: "placed"},
	})
	if len(a.Changes) != 1 || a.Changes[0].Stock != 8 || a.Changes[0].Version != 2 || !slices.Equal(a.Changes[0].Streams, []string{"live1"}) {
		t.Fatalf("changes = %+v", a.Changes)
	}
	hash := func(key string) map[string]string {
		t.Helper()
		h, err := c.HGetAll(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	wantHash := func(key string, want map[string]string) {
		t.Helper()
		if got := hash(key); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	wantString := func(key string, want []byte) {
		t.Helper()
		got, err := c.Get(ctx, key).Bytes()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s = %q, %v; want %q", key, got, err, want)
		}
	}
	wantHash(rkey("p", "a"), map[string]string{"name": "A", "price": "500", "cur": "EUR", "stock": "8", "img": "/a.png",
		"desc": "d", "owner": "h1", "org": "acme", "ver": "2", "rev": "1"})
	wantHash(rkey("pin", "live1"), map[string]string{"sku": "a", "price": "199", "ends": strconv.FormatInt(ends.UnixMilli(), 10)})
	wantHash(rkey("cart", "u\"1"), map[string]string{"stream": "live1", "cur": "EUR", "held": "1",
		"until": strconv.FormatInt(until.UnixMilli(), 10), "i:a": "2", "rev": "1"})
	wantString(rkey("sr", "live1"), []byte("1"))
	wantString(rkey("n", "lim:live1:u1:a"), []byte("2"))
	wantString(rkey("o", "o1"), orderJSON)
	wantString(rkey("i", "3", "u\"1", "k:1"), record)
	if n, _ := c.Exists(ctx, rkey("n", "gone")).Result(); n != 0 {
		t.Errorf("a counter at 0 is stored")
	}
	if got, _ := c.LRange(ctx, rkey("lu", "live1"), 0, -1).Result(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("lu = %v", got)
	}
	for key, member := range map[string]string{rkey("lm", "live1"): "a", rkey("ls", "a"): "live1"} {
		if ok, _ := c.SIsMember(ctx, key, member).Result(); !ok {
			t.Errorf("%s lacks %s", key, member)
		}
	}
	for _, key := range []string{rkey("uo", "u\"1"), rkey("so", "live1")} {
		if ids, _ := c.ZRange(ctx, key, 0, -1).Result(); !slices.Equal(ids, []string{"o1"}) {
			t.Errorf("%s = %v", key, ids)
		}
	}
	if s, err := c.ZScore(ctx, rkey("holds"), "u\"1").Result(); err != nil || int64(s) != until.UnixMilli() {
		t.Errorf("holds score %v, %v; want %d", s, err, until.UnixMilli())
	}
	if ttl, _ := c.PTTL(ctx, rkey("i", "3", "u\"1", "k:1")).Result(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("idempotency record TTL %v", ttl)
	}
	if ttl, _ := c.PTTL(ctx, rkey("cart", "u\"1")).Result(); ttl < cartRetention || ttl > cartRetention+11*time.Minute {
		t.Errorf("cart TTL %v, want 7 days after its hold", ttl)
	}
	msgs, err := c.XRange(ctx, OrdersStream, "-", "+").Result()
	if err != nil || len(msgs) != 1 || fmt.Sprint(msgs[0].Values) != fmt.Sprint(map[string]any{"event": "placed", "order_id": "o1", "stream": "live1", "order": string(orderJSON)}) {
		t.Errorf("%s = %v, %v", OrdersStream, msgs, err)
	}
	if a, err := st.Apply(ctx, Plan{Idem: &IdemWrite{User: "u\"1", Key: "k:1"}}); err != nil || !bytes.Equal(a.Replay, record) {
		t.Errorf("replay = %q, %v; want %q", a.Replay, err, record)
	}
	if o, raw, err := st.Order(ctx, "o1"); err != nil || o.ID != "o1" || !bytes.Equal(raw, orderJSON) {
		t.Errorf("Order = %+v, %q, %v; want the JSON as written", o, raw, err)
	}

	// An empty lineup and no pin: the keys go, the revision stays.
	mustApply(t, st, Plan{Showcase: &ShowcaseWrite{Stream: "live1"}})
	if n, _ := c.Exists(ctx, rkey("lu", "live1"), rkey("lm", "live1"), rkey("pin", "live1")).Result(); n != 0 {
		t.Errorf("%d lineup/pin keys left after an empty showcase", n)
	}
	if n, _ := c.Exists(ctx, rkey("ls", "a")).Result(); n != 0 {
		t.Errorf("a still indexed as in a lineup")
	}
	wantString(rkey("sr", "live1"), []byte("2"))
	mustApply(t, st, Plan{Counters: []CounterDelta{{Key: "lim:live1:u1:a", Delta: -3}}, Cart: &CartWrite{User: "u\"1"}})
	if n, _ := c.Exists(ctx, rkey("n", "lim:live1:u1:a")).Result(); n != 0 {
		t.Errorf("a counter below 0 is stored")
	}
	// A deleted cart leaves only its revision, for a week.
	if h, _ := c.HGetAll(ctx, rkey("cart", "u\"1")).Result(); len(h) != 1 || h["rev"] == "" {
		t.Errorf("deleted cart hash = %v, want only its rev", h)
	}
	if ttl, _ := c.PTTL(ctx, rkey("cart", "u\"1")).Result(); ttl <= 0 || ttl > 7*24*time.Hour {
		t.Errorf("deleted cart marker TTL = %v, want up to a week", ttl)
	}
	if n, _ := c.ZCard(ctx, rkey("holds")).Result(); n != 0 {
		t.Errorf("a deleted cart is still in holds")
	}
}

// TestRedisPartsLayout: products with their rarely used fields, records,
// lists, distinct counts and peaks are stored in the keys docs/DATA.md
// lists, opaque bytes exactly as given.
func TestRedisPartsLayout(t *testing.T) {
	srv := redistest.Start(t)
	st := mustRedisStore(t, srv)
	c := srv.Client()
	ctx := t.Context()
	due := time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC)
	record := []byte{0xff, 0x00, '\n', '"'}
	tee := Product{SKU: "tee", Name: "Tee", PriceCents: 2000, Currency: "EUR", LimitPerBuyer: 2,
		Variants: []Variant{{SKU: "tee-s", Label: "S", Stock: 1, PriceCents: 1900}, {SKU: "tee-m", Label: "M"}}}
	mustApply(t, st, Plan{
		Products: []Product{tee, {SKU: "tee-s", Name: "Tee", PriceCents: 1900, Currency: "EUR", Stock: 1, Parent: "tee", Label: "S"}},
		Records:  []RecordWrite{{Key: "offer:1", Value: record, Due: due, TTL: time.Hour}, {Key: "book", Value: []byte{}}},
		Lists:    []ListOp{{Key: "wait:tee-m", Push: "u1"}, {Key: "wait:tee-m", Push: "u2"}, {Key: "wait:tee-m", Push: "u1"}},
		Uniques:  []UniqueAdd{{Key: "viewers", Member: "u1"}, {Key: "viewers", Member: "u1"}},
		Peaks:    []CounterPeak{{Key: "peak", Value: 1 << 52}},
	})
	for sku, want := range map[string]string{
		"tee":   `{"limit":2,"variants":[{"sku":"tee-s","label":"S","stock":1,"price":1900},{"sku":"tee-m","label":"M"}]}`,
		"tee-s": `{"parent":"tee","label":"S"}`,
	} {
		if got, err := c.HGet(ctx, rkey("p", sku), "x").Result(); err != nil || got != want {
			t.Errorf("x of %s = %s, %v; want %s", sku, got, err, want)
		}
	}
	if got, err := c.Get(ctx, rkey("r", "offer:1")).Bytes(); err != nil || !bytes.Equal(got, record) {
		t.Errorf("record = %q, %v; want %q", got, err, record)
	}
	if ttl, _ := c.PTTL(ctx, rkey("r", "offer:1")).Result(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("record TTL %v, want up to an hour", ttl)
	}
	if ttl, _ := c.PTTL(ctx, rkey("r", "book")).Result(); ttl != -1 {
		t.Errorf("record without a TTL expires in %v", ttl)
	}
	if v, err := st.Record(ctx, "book"); err != nil || v == nil || len(v) != 0 {
		t.Errorf("record of no bytes = %#v, %v; want empty, not nil", v, err)
	}
	if z, err := c.ZRangeWithScores(ctx, rkey("rdue"), 0, -1).Result(); err != nil || len(z) != 1 || z[0].Member != "offer:1" || int64(z[0].Score) != due.UnixMilli() {
		t.Errorf("rdue = %v, %v; want offer:1 at %d", z, err, due.UnixMilli())
	}
	if l, _ := c.LRange(ctx, rkey("l", "wait:tee-m"), 0, -1).Result(); !slices.Equal(l, []string{"u1", "u2"}) {
		t.Errorf("list = %v", l)
	}
	if n, _ := c.PFCount(ctx, rkey("u", "viewers")).Result(); n != 1 {
		t.Errorf("distinct count = %d", n)
	}
	if v, _ := c.Get(ctx, rkey("n", "peak")).Result(); v != "4503599627370496" {
		t.Errorf("peak = %s, want 2^52 in decimal", v)
	}

	// A product rewritten without those fields loses them; a record
	// rewritten without a TTL is kept.
	tee.LimitPerBuyer, tee.Variants = 0, nil
	mustApply(t, st, Plan{Products: []Product{tee}, Records: []RecordWrite{{Key: "offer:1", Value: []byte("x")}}})
	if ok, _ := c.HExists(ctx, rkey("p", "tee"), "x").Result(); ok {
		t.Errorf("a plain product kept its x field")
	}
	if p, _ := st.Product(ctx, "tee"); p.Variants != nil || p.LimitPerBuyer != 0 || p.Rev != 2 {
		t.Errorf("product after = %+v", p)
	}
	if ttl, _ := c.PTTL(ctx, rkey("r", "offer:1")).Result(); ttl != -1 {
		t.Errorf("record rewritten without a TTL expires in %v", ttl)
	}
	if n, _ := c.ZCard(ctx, rkey("rdue")).Result(); n != 0 {
		t.Errorf("a record rewritten without a due time is still due")
	}
}

// TestRedisRecordExpect: a nil Value expects no record, an empty one a
// record of no bytes.
func TestRedisRecordExpect(t *testing.T) {
	srv := redistest.Start(t)
	st := mustRedisStore(t, srv)
	ctx := t.Context()
	var stale *StaleError
	if _, err := st.Apply(ctx, Plan{Expect: []Expect{{Kind: ExpectRecord, ID: "r", Value: []byte{}}}}); !errors.As(err, &stale) {
		t.Fatalf("an empty record expected where there is none: %v, want stale", err)
	}
	mustApply(t, st, Plan{Expect: []Expect{{Kind: ExpectRecord, ID: "r"}}, Records: []RecordWrite{{Key: "r", Value: []byte{}}}})
	if _, err := st.Apply(ctx, Plan{Expect: []Expect{{Kind: ExpectRecord, ID: "r"}}}); !errors.As(err, &stale) {
		t.Fatalf("no record expected where there is an empty one: %v, want stale", err)
	}
	mustApply(t, st, Plan{Expect: []Expect{{Kind: ExpectRecord, ID: "r", Value: []byte{}}}})
}

// TestRedisDueRecordsForgotten: a record gone by its TTL is not listed as
// due, and its key leaves the due index, while a record written again in
// the meantime keeps its place.
func TestRedisDueRecordsForgotten(t *testing.T) {
	srv := redistest.Start(t)
	st := mustRedisStore(t, srv)
	c := srv.Client()
	ctx := t.Context()
	base := time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC)
	var ws []RecordWrite
	for i := range 4 {
		ws = append(ws, RecordWrite{Key: fmt.Sprint("k", i), Value: []byte("v"), Due: base.Add(time.Duration(i) * time.Second), TTL: time.Hour})
	}
	mustApply(t, st, Plan{Records: ws})
	// What an expiry does, without waiting for one.
	if err := c.Del(ctx, rkey("r", "k0"), rkey("r", "k2")).Err(); err != nil {
		t.Fatal(err)
	}
	if due, err := st.DueRecords(ctx, base.Add(time.Minute), 1); err != nil || !slices.Equal(due, []string{"k1"}) {
		t.Fatalf("DueRecords limit 1 = %v, %v; want k1 (k0 is gone)", due, err)
	}
	if due, err := st.DueRecords(ctx, base.Add(time.Minute), 10); err != nil || !slices.Equal(due, []string{"k1", "k3"}) {
		t.Fatalf("DueRecords = %v, %v; want k1 k3", due, err)
	}
	if keys, _ := c.ZRange(ctx, rkey("rdue"), 0, -1).Result(); !slices.Equal(keys, []string{"k1", "k3"}) {
		t.Fatalf("rdue = %v, want the gone keys dropped", keys)
	}
	// The cleanup checks again: a key whose record exists stays.
	if err := st.pruneDue(ctx, []string{"k1"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.ZCard(ctx, rkey("rdue")).Result(); n != 2 {
		t.Fatalf("the cleanup dropped a live record's due time")
	}
}

// snapshot is every key of the database with its type and DUMP.
func snapshot(t *testing.T, c *redis.Client) map[string]string {
	t.Helper()
	keys, err := c.Keys(t.Context(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(keys))
	for _, key := range keys {
		d, err := c.Dump(t.Context(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		out[key] = d
	}
	return out
}

// TestRedisRefusalWritesNothing: whatever check refuses a plan, not one
// key of the database changes, however many writes the plan carries.
func TestRedisRefusalWritesNothing(t *testing.T) {
	srv := redistest.Start(t)
	st := mustRedisStore(t, srv)
	c := srv.Client()
	ctx := t.Context()
	putTestProduct(t, st, "a", 1)
	mustApply(t, st, Plan{Showcase: &ShowcaseWrite{Stream: "live1", Lineup: []string{"a"}}})
	mustApply(t, st, Plan{Counters: []CounterDelta{{Key: "c", Delta: 3}}, Records: []RecordWrite{{Key: "kept", Value: []byte("k"), Due: time.Now()}},
		Lists: []ListOp{{Key: "w0", Push: "u0"}}})
	full := func(expect []Expect, stock int, counter int64) Plan {
		return Plan{
			Idem:     &IdemWrite{User: "u1", Key: "k1", Record: []byte("r"), TTL: time.Hour},
			Expect:   expect,
			Stock:    []StockDelta{{SKU: "a", Delta: stock}},
			Counters: []CounterDelta{{Key: "c", Delta: counter, Max: 3}, {Key: "d", Delta: 1}},
			Products: []Product{{SKU: "b", Name: "B", Currency: "EUR", Stock: 5, LimitPerBuyer: 1}, {SKU: "a", Name: "A", Stock: 9}},
			Showcase: &ShowcaseWrite{Stream: "live1", Lineup: []string{"b"}},
			Cart:     &CartWrite{User: "u1", Cart: &StoredCart{Stream: "live1", Currency: "EUR", Lines: []StoredLine{{SKU: "b", Qty: 1}}}},
			Order:    &OrderWrite{ID: "o1", User: "u1", Stream: "live1", JSON: []byte("{}"), New: true, Event: "placed"},
			Records:  []RecordWrite{{Key: "r1", Value: []byte("v"), Due: time.Now(), TTL: time.Hour}, {Key: "kept"}},
			Lists:    []ListOp{{Key: "w", Push: "u1"}, {Key: "w0", Remove: "u0"}},
			Uniques:  []UniqueAdd{{Key: "v", Member: "u1"}},
			Peaks:    []CounterPeak{{Key: "peak", Value: 9}},
		}
	}
	var stale *StaleError
	var oos *OutOfStockError
	var ce *CounterError
	for _, tc := range []struct {
		name string
		plan Plan
		want func(error) bool
	}{
		{"stale product", full([]Expect{{Kind: ExpectProduct, ID: "a", Rev: 7}}, -1, 0), func(err error) bool { return errors.As(err, &stale) }},
		{"stale showcase", full([]Expect{{Kind: ExpectShowcase, ID: "live1", Rev: 0}}, -1, 0), func(err error) bool { return errors.As(err, &stale) }},
		{"stale cart", full([]Expect{{Kind: ExpectCart, ID: "u1", Rev: 1}}, -1, 0), func(err error) bool { return errors.As(err, &stale) }},
		{"stale order", full([]Expect{{Kind: ExpectOrder, ID: "o1", Value: []byte("{}")}}, -1, 0), func(err error) bool { return errors.As(err, &stale) }},
		{"stale record", full([]Expect{{Kind: ExpectRecord, ID: "kept"}}, -1, 0), func(err error) bool {
			return errors.As(err, &stale) && stale.Kind == ExpectRecord && stale.ID == "kept"
		}},
		{"later precondition stale", full([]Expect{{Kind: ExpectProduct, ID: "a", Rev: 1}, {Kind: ExpectCart, ID: "u1", Rev: 3}}, -1, 0), func(err error) bool {
			return errors.As(err, &stale) && stale.Kind == ExpectCart
		}},
		{"out of stock", full(nil, -2, 0), func(err error) bool { return errors.As(err, &oos) && oos.SKU == "a" && oos.Stock == 1 }},
		{"counter", full(nil, -1, 1), func(err error) bool { return errors.As(err, &ce) && ce.Key == "c" }},
	} {
		before := snapshot(t, c)
		_, err := st.Apply(ctx, tc.plan)
		if !tc.want(err) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if after := snapshot(t, c); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("%s: the refused plan changed the database", tc.name)
		}
	}
}

// TestRedisBadPlan: a plan the script could not apply whole is refused
// before anything is sent.
func TestRedisBadPlan(t *testing.T) {
	srv := redistest.Start(t)
	st := mustRedisStore(t, srv)
	c := srv.Client()
	putTestProduct(t, st, "a", 5)
	for name, p := range map[string]Plan{
		"record without TTL":  {Idem: &IdemWrite{User: "u", Key: "k", Record: []byte("r")}, Stock: []StockDelta{{SKU: "a", Delta: -1}}},
		"two stock deltas":    {Stock: []StockDelta{{SKU: "a", Delta: -1}, {SKU: "a", Delta: -1}}},
		"two counter deltas":  {Counters: []CounterDelta{{Key: "c", Delta: 1}, {Key: "c", Delta: 1}}},
		"counter beyond 2^53": {Counters: []CounterDelta{{Key: "c", Delta: 1 << 60}}},
		"held without end":    {Cart: &CartWrite{User: "u", Cart: &StoredCart{Held: true, Lines: []StoredLine{{SKU: "a", Qty: 1}}}}},
		"unknown expect":      {Expect: []Expect{{Kind: "coupon", ID: "x"}}},
		"two product writes":  {Products: []Product{{SKU: "b", Stock: 1}, {SKU: "b", Stock: 2}}},
		"record without key":  {Records: []RecordWrite{{Value: []byte("v")}}},
		"two record writes":   {Records: []RecordWrite{{Key: "r", Value: []byte("v")}, {Key: "r"}}},
		"list without key":    {Lists: []ListOp{{Push: "u"}}},
		"unique without key":  {Uniques: []UniqueAdd{{Member: "u"}}},
		"peak without key":    {Peaks: []CounterPeak{{Value: 1}}},
		"peak beyond 2^53":    {Peaks: []CounterPeak{{Key: "p", Value: 1 << 60}}},
	} {
		before := snapshot(t, c)
		if _, err := st.Apply(t.Context(), p); err == nil {
			t.Errorf("%s: applied", name)
		}
		if after := snapshot(t, c); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("%s: the database changed", name)
		}
	}
}

// TestRedisWatchStock: every stock change apply.lua makes reaches
// WatchStock, with its version.
func TestRedisWatchStock(t *testing.T) {
	srv := redistest.Start(t)
	st := mustRedisStore(t, srv)
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan StockChange, 16)
	subscribed := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- st.WatchStock(ctx, func(ch StockChange) { got <- ch }, func() {
			select {
			case subscribed <- struct{}{}:
			default:
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	<-subscribed
	putTestProduct(t, st, "a", 5)
	mustApply(t, st, Plan{Stock: []StockDelta{{SKU: "a", Delta: -2}}})
	for _, want := range []StockChange{{SKU: "a", Stock: 5, Version: 1}, {SKU: "a", Stock: 3, Version: 2}} {
		select {
		case ch := <-got:
			if ch.SKU != want.SKU || ch.Stock != want.Stock || ch.Version != want.Version {
				t.Fatalf("change %+v, want %+v", ch, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no change %+v", want)
		}
	}
}

// TestRedisApplyNoScript: Apply loads apply.lua again after the server
// forgot it.
func TestRedisApplyNoScript(t *testing.T) {
	srv := redistest.Start(t)
	st := mustRedisStore(t, srv)
	putTestProduct(t, st, "a", 5)
	if err := srv.Client().ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if a := mustApply(t, st, Plan{Stock: []StockDelta{{SKU: "a", Delta: -1}}}); len(a.Changes) != 1 || a.Changes[0].Stock != 4 {
		t.Fatalf("changes = %+v", a.Changes)
	}
}

// BenchmarkRedisApplyBuy applies buy-shaped plans (an idempotency record,
// the product's and the showcase's revisions, one unit of stock, a
// per-buyer counter with a bound, the order with its event) from parallel
// buyers: the store's share of a tap, one EVALSHA each.
func BenchmarkRedisApplyBuy(b *testing.B) {
	srv := redistest.Start(b)
	st := mustRedisStore(b, srv)
	ctx := b.Context()
	if _, err := st.Apply(ctx, Plan{Products: []Product{{SKU: "hot", Name: "Hot", PriceCents: 100, Currency: "EUR", Stock: MaxStock}}}); err != nil {
		b.Fatal(err)
	}
	if _, err := st.Apply(ctx, Plan{Showcase: &ShowcaseWrite{Stream: "live1", Lineup: []string{"hot"}}}); err != nil {
		b.Fatal(err)
	}
	var buyer atomic.Int64
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		user := fmt.Sprint("b", buyer.Add(1))
		for n := 0; pb.Next(); n++ {
			id := user + "-" + strconv.Itoa(n)
			js := []byte(`{"id":"` + id + `","user":"` + user + `","stream":"live1","items":[{"sku":"hot","name":"Hot","qty":1,"unit_price_cents":100}],"total_cents":100,"currency":"EUR","status":"placed","created_at":"2026-03-01T18:00:00.000Z"}`)
			_, err := st.Apply(ctx, Plan{
				Idem:     &IdemWrite{User: user, Key: "k" + strconv.Itoa(n), Record: append([]byte(`{"fp":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","order":`), append(js, '}')...), TTL: IdempotencyTTL},
				Expect:   []Expect{{Kind: ExpectProduct, ID: "hot", Rev: 1}, {Kind: ExpectShowcase, ID: "live1", Rev: 1}},
				Stock:    []StockDelta{{SKU: "hot", Delta: -1}},
				Counters: []CounterDelta{{Key: "lim:live1:" + user + ":hot", Delta: 1, Max: 1 << 40}},
				Order:    &OrderWrite{ID: id, User: user, Stream: "live1", JSON: js, New: true, Event: StatusPlaced},
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "applies/s")
}
