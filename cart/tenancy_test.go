package cart

import (
	"errors"
	"testing"
	"time"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// issue mints a token for p in the harness's key.
func (h *harness) issue(p auth.Principal) string {
	h.t.Helper()
	tok, err := h.signer.Issue(p, time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// testTenancy: a product belongs to the host that created it (or to its
// org); only an owner or an admin replaces it, and a lineup holds only the
// host's own products.
func testTenancy(t *testing.T, h *harness) {
	h1, h2 := h.token(auth.Host, "host1"), h.token(auth.Host, "host2")
	body := map[string]any{"name": "Blue mug", "price_cents": 1500, "currency": "EUR", "stock": 20}
	h.want(h.do("PUT", "/api/products/mug", h1, body), 201, "")

	// Another host replaces nothing: name, price and stock stay.
	hijack := map[string]any{"name": "hijacked", "price_cents": 1, "currency": "EUR", "stock": 0}
	h.want(h.do("PUT", "/api/products/mug", h2, hijack), 403, api.Forbidden)
	p, err := h.store.Product(t.Context(), "mug")
	if err != nil || p.Name != "Blue mug" || p.PriceCents != 1500 || p.Stock != 20 {
		t.Fatalf("after another host's PUT: %+v, %v; want the owner's product unchanged", p, err)
	}
	// A token limited to a stream creates and replaces nothing, even the owner's.
	h.want(h.do("PUT", "/api/products/mug", h.token(auth.Host, "host1", "live1"), body), 403, api.Forbidden)
	h.want(h.do("PUT", "/api/products/new-one", h.token(auth.Host, "host1", "live1"), body), 403, api.Forbidden)
	// The owner and an admin replace it; the owner stays the creator.
	body["stock"] = 30
	h.want(h.do("PUT", "/api/products/mug", h1, body), 200, "")
	h.want(h.do("PUT", "/api/products/mug", h.token(auth.Admin, "root"), body), 200, "")
	h.want(h.do("PUT", "/api/products/mug", h1, body), 200, "")

	// A lineup holds only the host's own products.
	h.want(h.do("PUT", "/api/products/cap", h2, body), 201, "")
	h.want(h.do("PUT", "/api/streams/live2/lineup", h2, map[string]any{"skus": []string{"cap", "mug"}}), 403, api.Forbidden)
	h.want(h.do("PUT", "/api/streams/live1/lineup", h1, map[string]any{"skus": []string{"mug", "cap"}}), 403, api.Forbidden)
	if sc, _ := h.store.Showcase(t.Context(), "live1"); len(sc.Lineup) != 0 {
		t.Fatalf("a refused lineup was set: %v", sc.Lineup)
	}
	h.want(h.do("PUT", "/api/streams/live1/lineup", h1, map[string]any{"skus": []string{"mug"}}), 200, "")

	// An org's products belong to every host of the org, and to nobody else.
	acmeA := h.issue(auth.Principal{Sub: "ana", Role: auth.Host, Org: "acme"})
	acmeB := h.issue(auth.Principal{Sub: "ben", Role: auth.Host, Org: "acme"})
	globexAna := h.issue(auth.Principal{Sub: "ana", Role: auth.Host, Org: "globex"})
	h.want(h.do("PUT", "/api/products/acme-tee", acmeA, body), 201, "")
	h.want(h.do("PUT", "/api/products/acme-tee", acmeB, body), 200, "")
	h.want(h.do("PUT", "/api/products/acme-tee", globexAna, body), 403, api.Forbidden)
	h.want(h.do("PUT", "/api/products/acme-tee", h.token(auth.Host, "ana"), body), 403, api.Forbidden)
}

// testProductPrecondition: the store writes a product only when what the
// shop decided from is still so: a create when no product has the sku, a
// replace when the revision is the one read.
func testProductPrecondition(t *testing.T, h *harness) {
	ctx := t.Context()
	p := Product{SKU: "x", Name: "X", PriceCents: 100, Currency: "EUR", Stock: 1, Owner: auth.Owner{Sub: "host1"}}
	create := Plan{Expect: []Expect{{Kind: ExpectProduct, ID: "x", Rev: 0}}, Products: []Product{p}}
	if _, err := h.store.Apply(ctx, create); err != nil {
		t.Fatalf("create: %v", err)
	}
	var stale *StaleError
	if _, err := h.store.Apply(ctx, create); !errors.As(err, &stale) {
		t.Fatalf("second create: %v, want stale", err)
	}
	other := p
	other.Owner = auth.Owner{Sub: "host2"}
	other.Name = "taken"
	if _, err := h.store.Apply(ctx, Plan{Expect: []Expect{{Kind: ExpectProduct, ID: "x", Rev: 7}}, Products: []Product{other}}); !errors.As(err, &stale) {
		t.Fatalf("replace of another revision: %v, want stale", err)
	}
	got, err := h.store.Product(ctx, "x")
	if err != nil || got.Name != "X" || got.Owner != p.Owner {
		t.Fatalf("product = %+v, %v; want the first create's", got, err)
	}
}

// testScopes: a token limited to a stream reaches nothing of another
// stream, whatever its role: an admin scoped to live2 neither reads nor
// cancels a live1 order, and a buyer with a live2 token cannot cancel its
// own live1 order.
func testScopes(t *testing.T, h *harness) {
	h.mustProduct("a", 100, "EUR", 10)
	h.mustLineup("live1", "a")
	h.mustLineup("live2", "a")
	v := h.token(auth.Viewer, "v1")
	o := h.order(h.buy(v, "live1", "a", 1, "k1"))
	mine := h.order(h.buy(v, "live2", "a", 1, "k2"))
	path := "/api/orders/" + o.ID
	adminThere := h.token(auth.Admin, "root", "live2")
	buyerThere := h.token(auth.Viewer, "v1", "live2")
	h.want(h.do("GET", path, adminThere, nil), 403, api.Forbidden)
	h.want(h.do("POST", path+"/cancel", adminThere, nil), 403, api.Forbidden)
	h.want(h.do("GET", path, buyerThere, nil), 403, api.Forbidden)
	h.want(h.do("POST", path+"/cancel", buyerThere, nil), 403, api.Forbidden)
	h.want(h.do("GET", path, h.token(auth.Host, "host1", "live2"), nil), 403, api.Forbidden)
	h.wantStock("a", 8)
	got, _, err := h.store.Order(t.Context(), o.ID)
	if err != nil || got.Status != StatusPlaced {
		t.Fatalf("order after refused cancels: %+v, %v; want placed", got, err)
	}
	// Within its scope the same token works.
	h.want(h.do("GET", "/api/orders/"+mine.ID, buyerThere, nil), 200, "")
	// My orders with a scoped token: only that stream's.
	var page struct{ Items []Order }
	h.do("GET", "/api/orders", buyerThere, nil).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != mine.ID {
		t.Fatalf("my orders with a live2 token = %+v, want only %s", page.Items, mine.ID)
	}
	h.do("GET", "/api/orders", v, nil).decode(t, &page)
	if len(page.Items) != 2 {
		t.Fatalf("my orders = %d, want 2", len(page.Items))
	}
	// A cart of live1 is not shown to, nor checked out by, a live2 token.
	h.want(h.do("PUT", "/api/cart/items/a", v, map[string]any{"stream": "live1", "qty": 1}), 200, "")
	var c Cart
	h.do("GET", "/api/cart", buyerThere, nil).decode(t, &c)
	if len(c.Items) != 0 {
		t.Fatalf("cart seen with a live2 token: %+v", c)
	}
	h.want(h.do("POST", "/api/cart/checkout", buyerThere, "{}", "Idempotency-Key", "c1"), 403, api.Forbidden)
	// The host of live1 and an unscoped admin still may.
	h.want(h.do("GET", path, h.token(auth.Host, "host1"), nil), 200, "")
	h.want(h.do("POST", path+"/cancel", h.token(auth.Admin, "root"), nil), 200, "")
}
