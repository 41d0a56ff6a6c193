package api

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
)

// Clients resolves the address of the client behind a request: the TCP
// peer, or, when the peer is one of the trusted proxies, the last address
// in X-Forwarded-For that is not itself a trusted proxy. It is immutable
// and safe for concurrent use.
type Clients struct {
	trusted []netip.Prefix
}

// NewClients returns a resolver that trusts X-Forwarded-For from peers in
// trusted (addresses or CIDR prefixes).
func NewClients(trusted []netip.Prefix) *Clients {
	return &Clients{trusted: append([]netip.Prefix(nil), trusted...)}
}

func (c *Clients) isTrusted(a netip.Addr) bool {
	if c == nil {
		return false
	}
	a = a.Unmap()
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve returns r's client address as text (an IP address, or the raw
// RemoteAddr when it is not one).
func (c *Clients) Resolve(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !c.isTrusted(peer) {
		return peer.String()
	}
	// Walk X-Forwarded-For from the right: each hop was appended by the
	// proxy in front of it; the first untrusted one is the client.
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = a
		if !c.isTrusted(client) {
			break
		}
	}
	return client.String()
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port ("192.0.2.1:4711", "[2001:db8::1]:4711"), as some proxies write it.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// Handler returns next with each request's client address, as Resolve
// finds it, in the request's context (WithClient), so that ClientOf sees it
// everywhere behind it.
func (c *Clients) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(WithClient(r.Context(), c.Resolve(r))))
	})
}

type clientKey struct{}

// WithClient returns ctx carrying the resolved client address.
func WithClient(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientKey{}, addr)
}

// ClientOf returns r's client address as resolved by the server's edge
// (WithClient), or the host of r.RemoteAddr when nothing resolved it.
func ClientOf(r *http.Request) string {
	if a, ok := r.Context().Value(clientKey{}).(string); ok && a != "" {
		return a
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Gate bounds how many of something (unconnected WebRTC sessions, room
// connections, requests in flight) are held at once, per client and in
// total on this node. It is safe for concurrent use.
type Gate struct {
	what      string
	perClient int
	total     int

	mu sync.Mutex
	n  int
	by map[string]int
}

// NewGate returns a gate that admits at most perClient holders per client
// address and total in all. what names them in errors ("WebRTC sessions").
func NewGate(what string, perClient, total int) *Gate {
	return &Gate{what: what, perClient: perClient, total: total, by: make(map[string]int)}
}

// Enter admits one holder for client, or refuses: 429 rate_limited when the
// client holds its bound, else 503 unavailable when the node holds its
// total; both with Retry-After. Clients are counted by ClientGroup: an IPv6
// client shares its bound with its /64. A successful Enter must be paired
// with one call of the release it returns (further calls do nothing).
func (g *Gate) Enter(client string) (release func(), err error) {
	client = ClientGroup(client)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.by[client] >= g.perClient {
		return nil, &Error{Code: RateLimited, Message: "too many " + g.what + " from this address; close some or retry later", RetryAfter: 2}
	}
	if g.n >= g.total {
		return nil, &Error{Code: Unavailable, Message: "this node is at its bound of " + g.what + "; try another node or later", RetryAfter: 2}
	}
	g.n++
	g.by[client]++
	var once sync.Once
	return func() { once.Do(func() { g.leave(client) }) }, nil
}

func (g *Gate) leave(client string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.by[client]--; g.by[client] <= 0 {
		delete(g.by, client)
	}
}

// ClientGroup is what a per-client bound counts a client address as: an
// IPv4 address as itself, an IPv6 address as its /64 (one subscriber's
// network, whose addresses cost nothing to vary), anything else as itself.
func ClientGroup(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Unmap().Is6() {
		return addr
	}
	p, err := a.Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

// Held reports how many holders the gate admits now, in all.
func (g *Gate) Held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}
