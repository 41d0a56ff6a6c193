package cart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
)

// testStore is the conformance suite of the Store interface itself, run by
// every implementation on a fresh store per case: what Apply checks, what
// it writes, and that it does all or nothing.
func testStore(t *testing.T, newStore func(t *testing.T) Store) {
	cases := []struct {
		name string
		run  func(t *testing.T, st Store)
	}{
		{"ProductWrite", storeProductWrite},
		{"ShowcaseWrite", storeShowcaseWrite},
		{"StockBound", storeStockBound},
		{"CounterBound", storeCounterBound},
		{"Preconditions", storePreconditions},
		{"Idempotency", storeIdempotency},
		{"CartsAndHolds", storeCartsAndHolds},
		{"Orders", storeOrders},
		{"ConcurrentStock", storeConcurrentStock},
		{"ConcurrentCounter", storeConcurrentCounter},
		{"Variants", storeVariants},
		{"Records", storeRecords},
		{"Lists", storeLists},
		{"UniquesAndPeaks", storeUniquesAndPeaks},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newStore(t)) })
	}
}

func mustApply(t *testing.T, st Store, p Plan) Applied {
	t.Helper()
	a, err := st.Apply(t.Context(), p)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return a
}

func putTestProduct(t *testing.T, st Store, sku string, stock int) Product {
	t.Helper()
	cur, _ := st.Product(t.Context(), sku)
	p := Product{SKU: sku, Name: "P " + sku, PriceCents: 500, Currency: "EUR", Stock: stock, Owner: auth.Owner{Sub: "h1", Org: "acme"}}
	mustApply(t, st, Plan{Expect: []Expect{{Kind: ExpectProduct, ID: sku, Rev: cur.Rev}}, Products: []Product{p}})
	got, err := st.Product(t.Context(), sku)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func storeProductWrite(t *testing.T, st Store) {
	ctx := t.Context()
	if _, err := st.Product(ctx, "a"); !errors.Is(err, ErrProductNotFound) {
		t.Fatalf("Product of nothing: %v, want ErrProductNotFound", err)
	}
	p := putTestProduct(t, st, "a", 7)
	want := Product{SKU: "a", Name: "P a", PriceCents: 500, Currency: "EUR", Stock: 7, Owner: auth.Owner{Sub: "h1", Org: "acme"}, Rev: 1}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("product = %+v, want %+v", p, want)
	}
	mustApply(t, st, Plan{Showcase: &ShowcaseWrite{Stream: "s1", Lineup: []string{"a"}}})
	// A rewrite sets the stock and the fields, bumps the revision and
	// reports the stock change with the streams selling it.
	w := p
	w.Name, w.Stock, w.ImageURL, w.Description = "Renamed", 3, "/x.png", "two\nlines"
	a := mustApply(t, st, Plan{Expect: []Expect{{Kind: ExpectProduct, ID: "a", Rev: 1}}, Products: []Product{w}})
	got, _ := st.Product(ctx, "a")
	if got.Name != "Renamed" || got.Stock != 3 || got.Rev != 2 || got.ImageURL != "/x.png" || got.Description != "two\nlines" {
		t.Fatalf("after rewrite: %+v", got)
	}
	if len(a.Changes) != 1 || a.Changes[0].SKU != "a" || a.Changes[0].Stock != 3 || !slices.Equal(a.Changes[0].Streams, []string{"s1"}) {
		t.Fatalf("changes = %+v, want a at 3 in s1", a.Changes)
	}
	ps, err := st.Products(ctx, []string{"zz", "a"})
	if err != nil || len(ps) != 1 || ps[0].SKU != "a" {
		t.Fatalf("Products = %+v, %v; want only a", ps, err)
	}
}

func storeShowcaseWrite(t *testing.T, st Store) {
	ctx := t.Context()
	sc, err := st.Showcase(ctx, "s1")
	if err != nil || sc.Rev != 0 || len(sc.Lineup) != 0 || sc.Pin != nil {
		t.Fatalf("showcase never set = %+v, %v", sc, err)
	}
	putTestProduct(t, st, "a", 5)
	putTestProduct(t, st, "b", 5)
	price := int64(199)
	ends := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	mustApply(t, st, Plan{Showcase: &ShowcaseWrite{Stream: "s1", Lineup: []string{"b", "a"}, Pin: &Pin{SKU: "a", PriceCents: &price, EndsAt: &ends}}})
	mustApply(t, st, Plan{Showcase: &ShowcaseWrite{Stream: "s2", Lineup: []string{"a"}}})
	sc, _ = st.Showcase(ctx, "s1")
	if sc.Rev != 1 || !slices.Equal(sc.Lineup, []string{"b", "a"}) || sc.Pin == nil || sc.Pin.SKU != "a" ||
		sc.Pin.PriceCents == nil || *sc.Pin.PriceCents != 199 || sc.Pin.EndsAt == nil || !sc.Pin.EndsAt.Equal(ends) {
		t.Fatalf("showcase = %+v (pin %+v)", sc, sc.Pin)
	}
	a := mustApply(t, st, Plan{Stock: []StockDelta{{SKU: "a", Delta: -1}}})
	if !slices.Equal(a.Changes[0].Streams, []string{"s1", "s2"}) {
		t.Fatalf("a sells in %v, want s1 and s2", a.Changes[0].Streams)
	}
	// a leaves s1: it no longer sells there; the pin goes as written.
	mustApply(t, st, Plan{Expect: []Expect{{Kind: ExpectShowcase, ID: "s1", Rev: 1}}, Showcase: &ShowcaseWrite{Stream: "s1", Lineup: []string{"b"}}})
	sc, _ = st.Showcase(ctx, "s1")
	if sc.Rev != 2 || !slices.Equal(sc.Lineup, []string{"b"}) || sc.Pin != nil {
		t.Fatalf("showcase after = %+v", sc)
	}
	a = mustApply(t, st, Plan{Stock: []StockDelta{{SKU: "a", Delta: -1}}})
	if !slices.Equal(a.Changes[0].Streams, []string{"s2"}) {
		t.Fatalf("a sells in %v, want s2", a.Changes[0].Streams)
	}
}

func storeStockBound(t *testing.T, st Store) {
	ctx := t.Context()
	putTestProduct(t, st, "a", 2)
	putTestProduct(t, st, "b", 1)
	_, err := st.Apply(ctx, Plan{Stock: []StockDelta{{SKU: "a", Delta: -1}, {SKU: "b", Delta: -2}}})
	var oos *OutOfStockError
	if !errors.As(err, &oos) || oos.SKU != "b" || oos.Stock != 1 || oos.Version == 0 {
		t.Fatalf("Apply over the stock: %v, want out of stock of b seen at 1", err)
	}
	if p, _ := st.Product(ctx, "a"); p.Stock != 2 {
		t.Fatalf("a refused plan took stock: a = %d", p.Stock)
	}
	a := mustApply(t, st, Plan{Stock: []StockDelta{{SKU: "a", Delta: -2}, {SKU: "b", Delta: 3}}})
	stocks := map[string]int{}
	for _, ch := range a.Changes {
		stocks[ch.SKU] = ch.Stock
	}
	if stocks["a"] != 0 || stocks["b"] != 4 {
		t.Fatalf("changes = %+v, want a 0 and b 4", a.Changes)
	}
	var stale *StaleError
	if _, err := st.Apply(ctx, Plan{Stock: []StockDelta{{SKU: "nope", Delta: 1}}}); !errors.As(err, &stale) || stale.Kind != ExpectProduct || stale.ID != "nope" {
		t.Fatalf("stock of a missing product: %v, want stale product nope", err)
	}
}

func storeCounterBound(t *testing.T, st Store) {
	ctx := t.Context()
	putTestProduct(t, st, "a", 10)
	inc := func(d, max int64) error {
		_, err := st.Apply(ctx, Plan{Counters: []CounterDelta{{Key: "lim:s1:u1:a", Delta: d, Max: max}}, Stock: []StockDelta{{SKU: "a", Delta: -1}}})
		return err
	}
	for i := range 3 {
		if err := inc(1, 3); err != nil {
			t.Fatalf("increment %d: %v", i, err)
		}
	}
	var ce *CounterError
	if err := inc(1, 3); !errors.As(err, &ce) || ce.Key != "lim:s1:u1:a" {
		t.Fatalf("fourth increment: %v, want the counter at its bound", err)
	}
	if p, _ := st.Product(ctx, "a"); p.Stock != 7 {
		t.Fatalf("a refused plan took stock: %d, want 7", p.Stock)
	}
	// Lowering is never refused, not even below the bound's floor; a
	// counter never stays below zero.
	if err := inc(-5, 3); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := inc(1, 3); err != nil {
			t.Fatalf("increment %d after the floor: %v", i, err)
		}
	}
	if err := inc(1, 3); !errors.As(err, &ce) {
		t.Fatalf("over the bound again: %v", err)
	}
	if err := inc(2, 0); err != nil {
		t.Fatalf("an unbounded increment: %v", err)
	}
}

func storePreconditions(t *testing.T, st Store) {
	ctx := t.Context()
	putTestProduct(t, st, "a", 5)
	mustApply(t, st, Plan{Showcase: &ShowcaseWrite{Stream: "s1", Lineup: []string{"a"}}})
	mustApply(t, st, Plan{Cart: &CartWrite{User: "u1", Cart: &StoredCart{Stream: "s1", Currency: "EUR", Lines: []StoredLine{{SKU: "a", Qty: 1}}}}})
	js := []byte(`{"id":"o1","status":"placed"}`)
	mustApply(t, st, Plan{Order: &OrderWrite{ID: "o1", User: "u1", Stream: "s1", JSON: js, New: true}})
	for _, tc := range []struct {
		e    Expect
		good bool
	}{
		{Expect{Kind: ExpectProduct, ID: "a", Rev: 1}, true},
		{Expect{Kind: ExpectProduct, ID: "a", Rev: 2}, false},
		{Expect{Kind: ExpectProduct, ID: "a", Rev: 0}, false},
		{Expect{Kind: ExpectProduct, ID: "new", Rev: 0}, true},
		{Expect{Kind: ExpectProduct, ID: "new", Rev: 1}, false},
		{Expect{Kind: ExpectShowcase, ID: "s1", Rev: 1}, true},
		{Expect{Kind: ExpectShowcase, ID: "s1", Rev: 0}, false},
		{Expect{Kind: ExpectShowcase, ID: "s9", Rev: 0}, true},
		{Expect{Kind: ExpectCart, ID: "u1", Rev: 1}, true},
		{Expect{Kind: ExpectCart, ID: "u1", Rev: 0}, false},
		{Expect{Kind: ExpectCart, ID: "u9", Rev: 0}, true},
		{Expect{Kind: ExpectOrder, ID: "o1", Value: js}, true},
		{Expect{Kind: ExpectOrder, ID: "o1", Value: []byte(`{"id":"o1","status":"cancelled"}`)}, false},
		{Expect{Kind: ExpectOrder, ID: "o9", Value: js}, false},
	} {
		// Each plan also takes a unit: a stale plan must take none.
		before, _ := st.Product(ctx, "a")
		_, err := st.Apply(ctx, Plan{Expect: []Expect{tc.e}, Stock: []StockDelta{{SKU: "a", Delta: -1}}})
		after, _ := st.Product(ctx, "a")
		var stale *StaleError
		switch {
		case tc.good && err != nil:
			t.Errorf("%+v: %v, want it to hold", tc.e, err)
		case !tc.good && (!errors.As(err, &stale) || stale.Kind != tc.e.Kind || stale.ID != tc.e.ID):
			t.Errorf("%+v: %v, want stale %s %s", tc.e, err, tc.e.Kind, tc.e.ID)
		case !tc.good && after.Stock != before.Stock:
			t.Errorf("%+v: a stale plan took stock", tc.e)
		}
		if tc.good {
			mustApply(t, st, Plan{Stock: []StockDelta{{SKU: "a", Delta: 1}}})
		}
	}
}

func storeIdempotency(t *testing.T, st Store) {
	ctx := t.Context()
	putTestProduct(t, st, "a", 5)
	plan := func(rec string) Plan {
		p := Plan{Idem: &IdemWrite{User: "u1", Key: "k1", TTL: time.Hour}, Stock: []StockDelta{{SKU: "a", Delta: -1}}}
		if rec != "" {
			p.Idem.Record = []byte(rec)
		}
		return p
	}
	// A check alone finds nothing and lets the plan apply.
	if a := mustApply(t, st, plan("")); a.Replay != nil {
		t.Fatalf("check-only replayed %q", a.Replay)
	}
	if a := mustApply(t, st, plan(`{"first":1}`)); a.Replay != nil {
		t.Fatalf("first apply replayed %q", a.Replay)
	}
	// The same key again: the record, and nothing applied.
	a := mustApply(t, st, plan(`{"second":2}`))
	if string(a.Replay) != `{"first":1}` || len(a.Changes) != 0 {
		t.Fatalf("second apply = %+v, want the first record and no change", a)
	}
	if p, _ := st.Product(ctx, "a"); p.Stock != 3 {
		t.Fatalf("stock = %d, want 3 (two applied, the replay none)", p.Stock)
	}
	// Keys are per user, and a replay wins over a plan that would fail.
	if a := mustApply(t, st, Plan{Idem: &IdemWrite{User: "u2", Key: "k1", Record: []byte("x"), TTL: time.Hour}}); a.Replay != nil {
		t.Fatalf("another user's key replayed")
	}
	a, err := st.Apply(ctx, Plan{Idem: &IdemWrite{User: "u1", Key: "k1"}, Expect: []Expect{{Kind: ExpectProduct, ID: "a", Rev: 99}}, Stock: []StockDelta{{SKU: "a", Delta: -100}}})
	if err != nil || string(a.Replay) != `{"first":1}` {
		t.Fatalf("replay of a stale, oversized plan: %+v, %v; want the record", a, err)
	}
}

func storeCartsAndHolds(t *testing.T, st Store) {
	ctx := t.Context()
	base := time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC)
	if c, err := st.Cart(ctx, "u1"); err != nil || c.Rev != 0 || len(c.Lines) != 0 {
		t.Fatalf("no cart = %+v, %v", c, err)
	}
	write := func(user string, held bool, until time.Time, lines ...StoredLine) {
		t.Helper()
		mustApply(t, st, Plan{Cart: &CartWrite{User: user, Cart: &StoredCart{Stream: "s1", Currency: "EUR", Held: held, HeldUntil: until, Lines: lines}}})
	}
	write("u1", true, base.Add(3*time.Minute), StoredLine{SKU: "a", Qty: 2}, StoredLine{SKU: "b", Qty: 1})
	write("u2", true, base.Add(1*time.Minute), StoredLine{SKU: "a", Qty: 1})
	write("u3", true, base.Add(9*time.Minute), StoredLine{SKU: "a", Qty: 1})
	write("u4", false, base, StoredLine{SKU: "a", Qty: 1})
	c, err := st.Cart(ctx, "u1")
	if err != nil || c.Rev != 1 || c.Stream != "s1" || c.Currency != "EUR" || !c.Held || !c.HeldUntil.Equal(base.Add(3*time.Minute)) ||
		!slices.Equal(c.Lines, []StoredLine{{SKU: "a", Qty: 2}, {SKU: "b", Qty: 1}}) {
		t.Fatalf("cart = %+v, %v", c, err)
	}
	users, err := st.HeldCarts(ctx, base.Add(5*time.Minute), 10)
	if err != nil || !slices.Equal(users, []string{"u2", "u1"}) {
		t.Fatalf("HeldCarts = %v, %v; want u2 then u1", users, err)
	}
	if users, _ := st.HeldCarts(ctx, base.Add(time.Hour), 2); !slices.Equal(users, []string{"u2", "u1"}) {
		t.Fatalf("HeldCarts with a limit = %v", users)
	}
	write("u1", false, base.Add(3*time.Minute), StoredLine{SKU: "a", Qty: 2})
	if c, _ := st.Cart(ctx, "u1"); c.Rev != 2 || c.Held {
		t.Fatalf("unheld cart = %+v", c)
	}
	// A deleted cart has no lines but keeps a revision it never had: a
	// plan read before the delete does not apply to a cart made after it.
	mustApply(t, st, Plan{Cart: &CartWrite{User: "u2"}})
	c, _ = st.Cart(ctx, "u2")
	if c.Rev != 2 || len(c.Lines) != 0 || c.Held {
		t.Fatalf("deleted cart = %+v, want no lines at rev 2", c)
	}
	write("u2", true, base.Add(time.Hour), StoredLine{SKU: "z", Qty: 1})
	var stale *StaleError
	if _, err := st.Apply(ctx, Plan{Expect: []Expect{{Kind: ExpectCart, ID: "u2", Rev: 1}}, Cart: &CartWrite{User: "u2"}}); !errors.As(err, &stale) {
		t.Fatalf("a plan from before the delete applied: %v", err)
	}
	if users, _ := st.HeldCarts(ctx, base.Add(time.Hour), 10); !slices.Equal(users, []string{"u3", "u2"}) {
		t.Fatalf("HeldCarts after = %v, want u3 then u2 (held anew)", users)
	}
}

func storeOrders(t *testing.T, st Store) {
	ctx := t.Context()
	ids := make([]string, 5)
	for i := range ids {
		id, _ := newOrderID()
		ids[i] = id
		stream := "s1"
		if i%2 == 1 {
			stream = "s2"
		}
		o := Order{ID: id, User: "u1", Stream: stream, Items: []OrderItem{{SKU: "a", Name: "A", Qty: 1, UnitPriceCents: 5}},
			TotalCents: 5, Currency: "EUR", Status: StatusPlaced, CreatedAt: time.Date(2026, 3, 1, 18, 0, i, 0, time.UTC)}
		js, _ := json.Marshal(o)
		mustApply(t, st, Plan{Order: &OrderWrite{ID: id, User: "u1", Stream: stream, JSON: js, New: true, Event: StatusPlaced}})
	}
	o, raw, err := st.Order(ctx, ids[2])
	if err != nil || o.ID != ids[2] || o.Stream != "s1" || o.Items[0].SKU != "a" {
		t.Fatalf("Order = %+v, %v", o, err)
	}
	var back Order
	if json.Unmarshal(raw, &back) != nil || back.ID != ids[2] {
		t.Fatalf("raw order %s", raw)
	}
	if _, _, err := st.Order(ctx, "01890a5d-ac96-774b-bcce-b302099a8057"); !errors.Is(err, ErrOrderNotFound) {
		t.Fatalf("missing order: %v", err)
	}
	// Rewriting an order keeps it once in each list.
	o.Status = StatusCancelled
	js, _ := json.Marshal(o)
	mustApply(t, st, Plan{Expect: []Expect{{Kind: ExpectOrder, ID: o.ID, Value: raw}}, Order: &OrderWrite{ID: o.ID, User: "u1", Stream: "s1", JSON: js, Event: StatusCancelled}})
	page, next, err := st.Orders(ctx, OrderIndex{User: "u1"}, "", 2)
	if err != nil || len(page) != 2 || page[0].ID != ids[4] || page[1].ID != ids[3] || next != ids[3] {
		t.Fatalf("first page = %v next %q, %v", orderIDs(page), next, err)
	}
	page, next, _ = st.Orders(ctx, OrderIndex{User: "u1"}, next, 5)
	if len(page) != 3 || page[0].ID != ids[2] || page[0].Status != StatusCancelled || next != "" {
		t.Fatalf("second page = %v next %q", orderIDs(page), next)
	}
	page, _, _ = st.Orders(ctx, OrderIndex{Stream: "s1"}, "", 10)
	if got := orderIDs(page); !slices.Equal(got, []string{ids[4], ids[2], ids[0]}) {
		t.Fatalf("stream s1 orders = %v", got)
	}
}

func orderIDs(os []Order) []string {
	out := make([]string, len(os))
	for i, o := range os {
		out[i] = o.ID
	}
	return out
}

// N plans racing for M units: exactly M apply, whatever the interleaving.
func storeConcurrentStock(t *testing.T, st Store) {
	const units, buyers = 20, 200
	putTestProduct(t, st, "hot", units)
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Go(func() {
			_, err := st.Apply(context.Background(), Plan{
				Idem:  &IdemWrite{User: fmt.Sprint("u", i), Key: "k", Record: []byte("r"), TTL: time.Hour},
				Stock: []StockDelta{{SKU: "hot", Delta: -1}},
			})
			var oos *OutOfStockError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &oos):
				refused.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	p, _ := st.Product(t.Context(), "hot")
	if ok.Load() != units || refused.Load() != buyers-units || p.Stock != 0 {
		t.Fatalf("%d applied, %d refused, stock %d; want %d, %d, 0", ok.Load(), refused.Load(), p.Stock, units, buyers-units)
	}
}

// N plans racing for a counter bounded at M: exactly M apply.
func storeConcurrentCounter(t *testing.T, st Store) {
	const max, tries = 15, 100
	putTestProduct(t, st, "a", 1000)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range tries {
		wg.Go(func() {
			_, err := st.Apply(context.Background(), Plan{
				Counters: []CounterDelta{{Key: "coupon:s1:FLASH", Delta: 1, Max: max}},
				Stock:    []StockDelta{{SKU: "a", Delta: -1}},
			})
			var ce *CounterError
			if err == nil {
				ok.Add(1)
			} else if !errors.As(err, &ce) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	p, _ := st.Product(t.Context(), "a")
	if ok.Load() != max || p.Stock != 1000-max {
		t.Fatalf("%d applied, stock %d; want %d and %d", ok.Load(), p.Stock, max, 1000-max)
	}
}

// A product and its variants are written in one plan; every field comes
// back as written.
func storeVariants(t *testing.T, st Store) {
	ctx := t.Context()
	owner := auth.Owner{Sub: "h1"}
	tee := Product{SKU: "tee", Name: "Tee", PriceCents: 2000, Currency: "EUR", LimitPerBuyer: 2, Owner: owner,
		Variants: []Variant{{SKU: "tee-s", Label: "S"}, {SKU: "tee-m", Label: "M", PriceCents: 2200}}}
	s := Product{SKU: "tee-s", Name: "Tee", PriceCents: 2000, Currency: "EUR", Stock: 3, Parent: "tee", Label: "S", Owner: owner}
	m := Product{SKU: "tee-m", Name: "Tee", PriceCents: 2200, Currency: "EUR", Stock: 0, Parent: "tee", Label: "M", Owner: owner}
	a := mustApply(t, st, Plan{Products: []Product{tee, s, m}})
	if len(a.Changes) != 3 {
		t.Fatalf("changes = %+v, want one per product", a.Changes)
	}
	got, err := st.Products(ctx, []string{"tee", "tee-s", "tee-m"})
	if err != nil || len(got) != 3 {
		t.Fatalf("Products = %+v, %v", got, err)
	}
	if g := got[0]; g.LimitPerBuyer != 2 || len(g.Variants) != 2 || g.Variants[1] != (Variant{SKU: "tee-m", Label: "M", PriceCents: 2200}) || g.Rev != 1 {
		t.Fatalf("parent = %+v", g)
	}
	if g := got[1]; g.Parent != "tee" || g.Label != "S" || g.Stock != 3 || g.PriceCents != 2000 {
		t.Fatalf("variant S = %+v", g)
	}
	if g := got[2]; g.Parent != "tee" || g.Label != "M" || g.Stock != 0 || g.PriceCents != 2200 {
		t.Fatalf("variant M = %+v", g)
	}
}

func storeRecords(t *testing.T, st Store) {
	ctx := t.Context()
	base := time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC)
	if v, err := st.Record(ctx, "offer:s1:a:u1"); err != nil || v != nil {
		t.Fatalf("no record = %q, %v", v, err)
	}
	absent := Expect{Kind: ExpectRecord, ID: "offer:s1:a:u1"}
	mustApply(t, st, Plan{Expect: []Expect{absent}, Records: []RecordWrite{
		{Key: "offer:s1:a:u1", Value: []byte(`{"u":1}`), Due: base.Add(time.Minute)},
		{Key: "offer:s1:a:u2", Value: []byte(`{"u":2}`), Due: base.Add(30 * time.Second)},
		{Key: "coupons:s1", Value: []byte(`[]`)},
	}})
	var stale *StaleError
	if _, err := st.Apply(ctx, Plan{Expect: []Expect{absent}}); !errors.As(err, &stale) || stale.Kind != ExpectRecord {
		t.Fatalf("expect absent of a stored record: %v, want stale record", err)
	}
	if _, err := st.Apply(ctx, Plan{Expect: []Expect{{Kind: ExpectRecord, ID: "offer:s1:a:u1", Value: []byte(`{"u":9}`)}}}); !errors.As(err, &stale) {
		t.Fatalf("expect of another value: %v, want stale", err)
	}
	mustApply(t, st, Plan{Expect: []Expect{{Kind: ExpectRecord, ID: "offer:s1:a:u1", Value: []byte(`{"u":1}`)}}})
	if v, _ := st.Record(ctx, "offer:s1:a:u1"); string(v) != `{"u":1}` {
		t.Fatalf("record = %q", v)
	}
	due, err := st.DueRecords(ctx, base.Add(time.Minute), 10)
	if err != nil || !slices.Equal(due, []string{"offer:s1:a:u2", "offer:s1:a:u1"}) {
		t.Fatalf("DueRecords = %v, %v; want u2 then u1 (coupons:s1 is never due)", due, err)
	}
	if due, _ := st.DueRecords(ctx, base.Add(45*time.Second), 10); !slices.Equal(due, []string{"offer:s1:a:u2"}) {
		t.Fatalf("DueRecords at 45s = %v", due)
	}
	// Rewriting without a due time takes the record out of the due list;
	// deleting it forgets it.
	mustApply(t, st, Plan{Records: []RecordWrite{{Key: "offer:s1:a:u2", Value: []byte("kept")}, {Key: "offer:s1:a:u1"}}})
	if due, _ := st.DueRecords(ctx, base.Add(time.Hour), 10); len(due) != 0 {
		t.Fatalf("DueRecords after = %v, want none", due)
	}
	if v, _ := st.Record(ctx, "offer:s1:a:u1"); v != nil {
		t.Fatalf("deleted record = %q", v)
	}
	mustApply(t, st, Plan{Expect: []Expect{absent}})
}

func storeLists(t *testing.T, st Store) {
	ctx := t.Context()
	key := "wait:s1:tee-m"
	for _, u := range []string{"u1", "u2", "u3", "u2"} {
		mustApply(t, st, Plan{Lists: []ListOp{{Key: key, Push: u}}})
	}
	if l, err := st.List(ctx, key); err != nil || !slices.Equal(l, []string{"u1", "u2", "u3"}) {
		t.Fatalf("list = %v, %v; want u1 u2 u3 (a member once)", l, err)
	}
	mustApply(t, st, Plan{Lists: []ListOp{{Key: key, Remove: "u1"}, {Key: key, Push: "u4"}}})
	if l, _ := st.List(ctx, key); !slices.Equal(l, []string{"u2", "u3", "u4"}) {
		t.Fatalf("list = %v; want u2 u3 u4", l)
	}
	for _, u := range []string{"u2", "u3", "u4", "nobody"} {
		mustApply(t, st, Plan{Lists: []ListOp{{Key: key, Remove: u}}})
	}
	if l, _ := st.List(ctx, key); len(l) != 0 {
		t.Fatalf("emptied list = %v", l)
	}
}

func storeUniquesAndPeaks(t *testing.T, st Store) {
	ctx := t.Context()
	for i := range 50 {
		mustApply(t, st, Plan{Uniques: []UniqueAdd{{Key: "st:s1:viewers", Member: fmt.Sprint("v", i%20)}}})
	}
	// Redis counts with HyperLogLog: within its error, which is far below
	// one in twenty at this size.
	if n, err := st.Unique(ctx, "st:s1:viewers"); err != nil || n != 20 {
		t.Fatalf("Unique = %d, %v; want 20", n, err)
	}
	if n, _ := st.Unique(ctx, "st:s9:viewers"); n != 0 {
		t.Fatalf("Unique of nothing = %d", n)
	}
	for _, v := range []int64{3, 9, 4} {
		mustApply(t, st, Plan{Peaks: []CounterPeak{{Key: "st:s1:peak", Value: v}}, Counters: []CounterDelta{{Key: "st:s1:orders", Delta: 1}}})
	}
	got, err := st.Counters(ctx, []string{"st:s1:peak", "st:s1:orders", "st:s1:never"})
	if err != nil || !slices.Equal(got, []int64{9, 3, 0}) {
		t.Fatalf("Counters = %v, %v; want 9 3 0", got, err)
	}
}
