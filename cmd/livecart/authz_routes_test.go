package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/livecart/livecart/auth"
)

// The kinds of caller the route table is walked with. The kinds scoped to
// another stream come first: some routes change state for the callers
// allowed (a checkout empties the cart), and the refusals must not depend
// on that.
var tokenKinds = []string{
	"buyer@s2", // the order's buyer, with a token for stream s2
	"mod@s2",   // a moderator of s2
	"admin@s2", // an admin whose token names s2
	"none",     // no token
	"expired",  // an expired token
	"wrongkey", // a token signed with another key
	"viewer",   // a viewer who bought nothing
	"mod",      // a moderator of s1
	"host",     // a host who owns nothing here
	"owner",    // the host of s1, owner of p1
	"admin",    // an admin
	"buyer",    // the buyer of the fixture order, for every stream
}

// access is one row of the table: who may call a route. Everyone not in
// allow is refused: 401 without a valid token, 403 with one.
type access struct {
	// allow lists the kinds allowed ("none" for anonymous callers).
	allow string
	// ignoresToken: the route never reads a token, so invalid ones are
	// no different from none.
	ignoresToken bool
}

var (
	everyone      = access{allow: "none viewer buyer buyer@s2 mod mod@s2 host owner admin admin@s2", ignoresToken: true}
	inScope       = access{allow: "none viewer buyer mod host owner admin"}
	signedInScope = access{allow: "viewer buyer mod host owner admin"}
	signedIn      = access{allow: "viewer buyer buyer@s2 mod mod@s2 host owner admin admin@s2"}
	moderators    = access{allow: "mod owner admin"}
	owners        = access{allow: "owner admin"}
	creators      = access{allow: "host owner admin"}
	orderManagers = access{allow: "buyer owner admin"}
	cartCheckout  = access{allow: "viewer buyer mod mod@s2 host owner admin admin@s2"}
	// nodesOnly: only another node, with a node token for the stream.
	nodesOnly = access{allow: ""}
)

// routeTable is who may call every route the server registers. A route
// the server registers without a row here fails TestRouteAuthorization,
// so that a new endpoint cannot ship without its authorization decided.
var routeTable = map[string]access{
	"GET /healthz":    everyone,
	"GET /readyz":     everyone,
	"GET /metrics":    everyone,
	"POST /api/guest": everyone,

	"POST /api/streams":          creators,
	"GET /api/streams":           everyone,
	"GET /api/streams/{id}":      everyone,
	"POST /api/streams/{id}/end": owners,

	"POST /api/streams/{id}/whip":              owners,
	"OPTIONS /api/streams/{id}/whip":           everyone,
	"DELETE /api/streams/{id}/whip/{session}":  owners,
	"PATCH /api/streams/{id}/whip/{session}":   owners,
	"OPTIONS /api/streams/{id}/whip/{session}": everyone,

	"POST /api/streams/{id}/whep":    inScope,
	"OPTIONS /api/streams/{id}/whep": everyone,
	// A WHEP session's URL is its capability: holding it allows DELETE.
	"DELETE /api/streams/{id}/whep/{session}":  everyone,
	"PATCH /api/streams/{id}/whep/{session}":   everyone,
	"OPTIONS /api/streams/{id}/whep/{session}": everyone,
	// So does its layer resource: the viewer picks its layer.
	"POST /api/streams/{id}/whep/{session}/layer":    everyone,
	"OPTIONS /api/streams/{id}/whep/{session}/layer": everyone,

	// An edge node relays a stream from its origin.
	"POST /api/streams/{id}/relay":             nodesOnly,
	"DELETE /api/streams/{id}/relay/{session}": nodesOnly,

	"PUT /api/products/{sku}":           owners,
	"GET /api/products/{sku}":           everyone,
	"PUT /api/streams/{id}/lineup":      owners,
	"POST /api/streams/{id}/pin":        moderators,
	"DELETE /api/streams/{id}/pin":      moderators,
	"POST /api/streams/{id}/buy":        signedInScope,
	"GET /api/streams/{id}/orders":      moderators,
	"GET /api/cart":                     signedIn,
	"PUT /api/cart/items/{sku}":         signedInScope,
	"POST /api/cart/checkout":           cartCheckout,
	"GET /api/orders":                   signedIn,
	"GET /api/orders/{id}":              orderManagers,
	"POST /api/orders/{id}/cancel":      orderManagers,
	"POST /api/streams/{id}/waitlist":   signedInScope,
	"DELETE /api/streams/{id}/waitlist": signedInScope,
	"GET /api/streams/{id}/waitlist":    signedInScope,
	"POST /api/streams/{id}/coupons":    owners,
	"GET /api/streams/{id}/coupons":     everyone,
	"GET /api/streams/{id}/stats":       moderators,
	"GET /api/streams/{id}/ws":          inScope,

	"GET /{$}":                everyone,
	"GET /watch/{id}":         everyone,
	"GET /orders":             everyone,
	"GET /studio/{id}":        everyone,
	"GET /moderate/{id}":      everyone,
	"GET /assets/":            everyone,
	"GET /assets/config.json": everyone,
	"GET /embed.js":           everyone,
}

// routeBodies are the request bodies that pass validation, so that an
// allowed caller is not refused for its input.
var routeBodies = map[string]string{
	"POST /api/streams":                 `{"title":"Made in the table test"}`,
	"POST /api/streams/{id}/whip":       "v=0\r\n",
	"POST /api/streams/{id}/whep":       "v=0\r\n",
	"PUT /api/products/{sku}":           `{"name":"Mug","price_cents":1500,"currency":"EUR","stock":1000}`,
	"PUT /api/streams/{id}/lineup":      `{"skus":["p1"]}`,
	"POST /api/streams/{id}/pin":        `{"sku":"p1"}`,
	"POST /api/streams/{id}/buy":        `{"sku":"p1","qty":1}`,
	"PUT /api/cart/items/{sku}":         `{"stream":"s1","qty":1}`,
	"POST /api/guest":                   `{"name":"Ana"}`,
	"POST /api/cart/checkout":           `{}`,
	"POST /api/streams/{id}/waitlist":   `{"sku":"p1"}`,
	"DELETE /api/streams/{id}/waitlist": `{"sku":"p1"}`,
	"POST /api/streams/{id}/coupons":    `{"code":"TABLE","percent_off":10,"max_redemptions":5}`,
}

// TestRouteAuthorization walks every route the server registers with every
// kind of token and compares what it answers with routeTable.
func TestRouteAuthorization(t *testing.T) {
	ts := MustServe(t, nil, "--guests")
	if len(ts.Routes) == 0 {
		t.Fatal("the server reported no routes")
	}
	owner := auth.Principal{Sub: "h1", Name: "Owner", Role: auth.Host}
	tokens := map[string]string{
		"none":     "",
		"viewer":   ts.Token(t, auth.Principal{Sub: "v2", Role: auth.Viewer}),
		"buyer":    ts.Token(t, auth.Principal{Sub: "buyer", Role: auth.Viewer}),
		"buyer@s2": ts.Token(t, auth.Principal{Sub: "buyer", Role: auth.Viewer, Stream: "s2"}),
		"mod":      ts.Token(t, auth.Principal{Sub: "m1", Role: auth.Moderator, Stream: "s1"}),
		"mod@s2":   ts.Token(t, auth.Principal{Sub: "m2", Role: auth.Moderator, Stream: "s2"}),
		"host":     ts.Token(t, auth.Principal{Sub: "h2", Role: auth.Host}),
		"owner":    ts.Token(t, owner),
		"admin":    ts.Token(t, auth.Principal{Sub: "a1", Role: auth.Admin}),
		"admin@s2": ts.Token(t, auth.Principal{Sub: "a2", Role: auth.Admin, Stream: "s2"}),
	}
	tokens["expired"] = expiredToken(t)
	other, _ := auth.NewSigner([]byte("not the server's key, not at all"), nil)
	tokens["wrongkey"], _ = other.Issue(auth.Principal{Sub: "a1", Role: auth.Admin}, time.Hour)

	// Fixtures: s1 and s-end hosted by h1 with p1 in the lineup, s2 by
	// h2, and an order of p1 by buyer in s1 with its cart holding p1.
	h1, h2 := tokens["owner"], tokens["host"]
	e2eMust(t, 201, "POST", ts.URL+"/api/streams", h1, map[string]any{"id": "s1", "title": "One"}, nil)
	e2eMust(t, 201, "POST", ts.URL+"/api/streams", h1, map[string]any{"id": "s-end", "title": "To end"}, nil)
	e2eMust(t, 201, "POST", ts.URL+"/api/streams", h2, map[string]any{"id": "s2", "title": "Two"}, nil)
	e2eMust(t, 201, "PUT", ts.URL+"/api/products/p1", h1, map[string]any{"name": "Mug", "price_cents": 1500, "currency": "EUR", "stock": 1000}, nil)
	e2eMust(t, 200, "PUT", ts.URL+"/api/streams/s1/lineup", h1, map[string]any{"skus": []string{"p1"}}, nil)
	var order struct{ ID string }
	e2eMust(t, 201, "POST", ts.URL+"/api/streams/s1/buy", tokens["buyer"], map[string]any{"sku": "p1", "qty": 1}, &order, "Idempotency-Key", uuid.NewString())
	e2eMust(t, 200, "PUT", ts.URL+"/api/cart/items/p1", tokens["buyer"], map[string]any{"stream": "s1", "qty": 1}, nil)

	seen := map[string]bool{}
	for _, pattern := range ts.Routes {
		seen[pattern] = true
		row, ok := routeTable[pattern]
		if !ok {
			t.Errorf("route %q has no row in routeTable: decide who may call it", pattern)
			continue
		}
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			method, path = "GET", pattern
		}
		stream := "s1"
		if strings.HasSuffix(path, "/end") {
			stream = "s-end"
		}
		path = strings.NewReplacer("{$}", "", "{sku}", "p1", "{session}", "nosuchsession").Replace(path)
		if strings.HasPrefix(path, "/api/orders/{id}") {
			path = strings.Replace(path, "{id}", order.ID, 1)
		}
		path = strings.Replace(path, "{id}", stream, 1)
		allowed := strings.Fields(row.allow)
		for _, kind := range tokenKinds {
			got := callRoute(t, ts.URL, method, path, tokens[kind], routeBodies[pattern])
			var want string
			switch {
			case slices.Contains(allowed, kind) || (row.ignoresToken && (kind == "expired" || kind == "wrongkey") && slices.Contains(allowed, "none")):
				if got == http.StatusUnauthorized || got == http.StatusForbidden {
					t.Errorf("%s as %s: %d, want it allowed", pattern, kind, got)
				}
				continue
			case kind == "none" || kind == "expired" || kind == "wrongkey":
				want = "401"
			default:
				want = "403"
			}
			if fmt.Sprint(got) != want {
				t.Errorf("%s as %s: %d, want %s", pattern, kind, got, want)
			}
		}
	}
	for pattern := range routeTable {
		if !seen[pattern] {
			t.Errorf("routeTable has a row for %q, which the server does not register", pattern)
		}
	}
}

// expiredToken returns an admin token of the server's key that expired
// long past the leeway: it was minted by a signer whose clock is an hour
// behind.
func expiredToken(tb testing.TB) string {
	tb.Helper()
	s, err := auth.NewSigner([]byte(testSecret), func() time.Time { return time.Now().Add(-time.Hour) })
	if err != nil {
		tb.Fatal(err)
	}
	old, err := s.Issue(auth.Principal{Sub: "a1", Role: auth.Admin}, time.Minute)
	if err != nil {
		tb.Fatal(err)
	}
	return old
}

// callRoute sends one request as the route table test does and returns its
// status.
func callRoute(tb testing.TB, base, method, path, token, body string) int {
	tb.Helper()
	hdr := []string{"Idempotency-Key", uuid.NewString()}
	var b any
	if body != "" {
		b = body
		if strings.HasPrefix(body, "v=0") {
			hdr = append(hdr, "Content-Type", "application/sdp")
		}
	}
	return e2eCall(tb, method, base+path, token, b, hdr...).Status
}
