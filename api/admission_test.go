package api

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientsResolve(t *testing.T) {
	trusted := NewClients([]netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8:1::/48"),
	})
	tests := []struct {
		name   string
		c      *Clients
		remote string
		xff    []string
		want   string
	}{
		{"no proxies: the peer", NewClients(nil), "203.0.113.9:5555", nil, "203.0.113.9"},
		{"untrusted peer: XFF ignored", trusted, "203.0.113.9:5555", []string{"198.51.100.1"}, "203.0.113.9"},
		{"no proxies configured: XFF ignored", NewClients(nil), "10.1.2.3:5555", []string{"198.51.100.1"}, "10.1.2.3"},
		{"nil resolver: XFF ignored", nil, "10.1.2.3:5555", []string{"198.51.100.1"}, "10.1.2.3"},
		{"trusted peer: the hop it appended", trusted, "10.1.2.3:5555", []string{"198.51.100.1"}, "198.51.100.1"},
		{"trusted peer: right-most untrusted, spoofed left part ignored", trusted, "10.1.2.3:5555", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", trusted, "10.1.2.3:5555", []string{"198.51.100.1, 10.9.9.9, 192.0.2.7"}, "198.51.100.1"},
		{"several header lines", trusted, "10.1.2.3:5555", []string{"1.1.1.1, 198.51.100.1", "10.9.9.9"}, "198.51.100.1"},
		{"hop with a port", trusted, "10.1.2.3:5555", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"IPv6 hop with a port", trusted, "10.1.2.3:5555", []string{"[2001:db8:2::5]:4711"}, "2001:db8:2::5"},
		{"IPv4-mapped peer", trusted, "[::ffff:10.1.2.3]:5555", []string{"198.51.100.1"}, "198.51.100.1"},
		{"IPv6 trusted peer", trusted, "[2001:db8:1::1]:443", []string{"2001:db8:2::5"}, "2001:db8:2::5"},
		{"bad right-most entry: the proxy itself", trusted, "10.1.2.3:5555", []string{"198.51.100.1, not-an-ip"}, "10.1.2.3"},
		{"bad entry left of the client: ignored", trusted, "10.1.2.3:5555", []string{"junk, 198.51.100.1"}, "198.51.100.1"},
		{"bad entry behind a trusted hop: that hop", trusted, "10.1.2.3:5555", []string{"junk, 10.9.9.9"}, "10.9.9.9"},
		{"empty XFF: the proxy", trusted, "10.1.2.3:5555", []string{""}, "10.1.2.3"},
		{"no XFF: the proxy", trusted, "10.1.2.3:5555", nil, "10.1.2.3"},
		{"all hops trusted: the left-most", trusted, "10.1.2.3:5555", []string{"10.4.4.4, 10.5.5.5"}, "10.4.4.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tt.c.Resolve(r); got != tt.want {
				t.Errorf("Resolve(peer %s, XFF %q) = %q, want %q", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
}

func TestClientsHandler(t *testing.T) {
	c := NewClients([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	var got string
	h := c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = ClientOf(r) }))
	r := httptest.NewRequest("GET", "/x", nil)
	r.RemoteAddr = "127.0.0.1:4000"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got != "198.51.100.1" {
		t.Errorf("ClientOf behind Handler = %q, want 198.51.100.1", got)
	}
	if got := ClientOf(r); got != "127.0.0.1" {
		t.Errorf("ClientOf without Handler = %q, want the peer 127.0.0.1", got)
	}
}

func TestGate(t *testing.T) {
	g := NewGate("requests", 2, 3)
	mustEnter := func(client string) func() {
		t.Helper()
		release, err := g.Enter(client)
		if err != nil {
			t.Fatalf("Enter(%s): %v", client, err)
		}
		return release
	}
	refused := func(client string, status int, code Code) {
		t.Helper()
		_, err := g.Enter(client)
		w := httptest.NewRecorder()
		WriteError(w, httptest.NewRequest("GET", "/", nil), nil, err)
		if w.Code != status || CodeOf(err) != code || w.Header().Get("Retry-After") == "" {
			t.Fatalf("Enter(%s) = %v: %d Retry-After %q, want %d %s with Retry-After", client, err, w.Code, w.Header().Get("Retry-After"), status, code)
		}
	}
	a1 := mustEnter("192.0.2.1")
	a2 := mustEnter("192.0.2.1")
	refused("192.0.2.1", 429, RateLimited)
	b1 := mustEnter("192.0.2.2")
	refused("192.0.2.3", 503, Unavailable)
	refused("192.0.2.1", 429, RateLimited) // its own bound first
	if g.Held() != 3 {
		t.Fatalf("Held = %d, want 3", g.Held())
	}
	a1()
	a1() // a second release does nothing
	if g.Held() != 2 {
		t.Fatalf("Held after a release = %d, want 2", g.Held())
	}
	c1 := mustEnter("192.0.2.3")
	refused("192.0.2.4", 503, Unavailable)
	a2()
	b1()
	c1()
	if g.Held() != 0 {
		t.Fatalf("Held after every release = %d, want 0", g.Held())
	}
	// An IPv6 client counts with its /64.
	v1 := mustEnter("2001:db8:1:2::1")
	v2 := mustEnter("2001:db8:1:2:ffff::9")
	refused("2001:db8:1:2::77", 429, RateLimited)
	v3 := mustEnter("2001:db8:1:3::1")
	v1()
	v2()
	v3()
}

func TestClientGroup(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":            "192.0.2.1",
		"::ffff:192.0.2.1":     "::ffff:192.0.2.1",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"not-an-address":       "not-an-address",
	} {
		if got := ClientGroup(in); got != want {
			t.Errorf("ClientGroup(%q) = %q, want %q", in, got, want)
		}
	}
}
