package api

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/cors"
)

// Origins is the server's one policy on browser origins, applied both to
// CORS and to websocket upgrades. An origin is allowed when it is the
// server's own (the request's Host), when it is listed, or when the list
// holds "*". Origins are compared after normalisation: scheme and host in
// lower case, the scheme's default port dropped. An Origins is immutable
// and safe for concurrent use.
type Origins struct {
	any     bool
	allowed map[string]bool
}

// NewOrigins returns the policy allowing list, entries such as
// "https://shop.example" or "*". Entries that are not origins (ParseOrigin)
// allow nothing; configuration is expected to have refused them.
func NewOrigins(list []string) *Origins {
	o := &Origins{allowed: make(map[string]bool, len(list))}
	for _, s := range list {
		if strings.TrimSpace(s) == "*" {
			o.any = true
			continue
		}
		if n, err := ParseOrigin(s); err == nil {
			o.allowed[n] = true
		}
	}
	return o
}

// ParseOrigin returns origin normalised ("HTTPS://Shop.Example:443/"
// becomes "https://shop.example"), or an error when it is not an origin:
// a scheme and a host, with no user, path, query or fragment.
func ParseOrigin(origin string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(origin))
	if err != nil {
		return "", err
	}
	if u.Scheme == "" || u.Host == "" || u.Opaque != "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("not an origin such as https://shop.example")
	}
	scheme := strings.ToLower(u.Scheme)
	return scheme + "://" + hostPort(scheme, u.Host), nil
}

// hostPort lowers host and drops the scheme's default port from it.
func hostPort(scheme, host string) string {
	host = strings.ToLower(host)
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		return host // no port
	}
	if port == "" || port == defaultPort(scheme) {
		if strings.Contains(h, ":") {
			return "[" + h + "]"
		}
		return h
	}
	return net.JoinHostPort(h, port)
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return ""
}

// Allowed reports whether r may be served as far as its origin goes. A
// request without an Origin header does not come from a browser's page and
// is allowed (the websocket rule of the contract: such clients go on to
// the token check).
func (o *Origins) Allowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	return origin == "" || o.AllowedOrigin(r, origin)
}

// AllowedOrigin reports whether origin, sent with r, is allowed: the
// request's own origin, a listed one, or any when the list holds "*".
func (o *Origins) AllowedOrigin(r *http.Request, origin string) bool {
	if o != nil && o.any {
		return true
	}
	n, err := ParseOrigin(origin)
	if err != nil {
		return false
	}
	scheme, host, _ := strings.Cut(n, "://")
	if r.Host != "" && host == hostPort(scheme, r.Host) {
		return true
	}
	return o != nil && o.allowed[n]
}

// CORS returns next behind the CORS rules of the policy: responses to an
// allowed origin carry Access-Control-Allow-Origin and expose the headers a
// script needs (Location, Link, Retry-After, ETag, Accept-Patch,
// Accept-Post); a preflight from an allowed origin learns the methods and
// headers the API takes and may be cached 10 minutes; a preflight from
// another origin is refused with 403 problem+json. Requests for which open
// reports true (WHEP, which the contract opens to every origin) are allowed
// from any origin. Preflights still reach next, so that a route's own
// OPTIONS handler (WHIP and WHEP) answers them.
func (o *Origins) CORS(next http.Handler, open func(*http.Request) bool) http.Handler {
	allowed := func(r *http.Request, origin string) bool {
		return (open != nil && open(r)) || o.AllowedOrigin(r, origin)
	}
	c := cors.New(cors.Options{
		AllowOriginVaryRequestFunc: func(r *http.Request, origin string) (bool, []string) {
			return allowed(r, origin), nil
		},
		AllowedMethods:     []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions},
		AllowedHeaders:     []string{"Authorization", "Content-Type", "Idempotency-Key", "If-Match"},
		ExposedHeaders:     []string{"Location", "Link", "Retry-After", "ETag", "Accept-Patch", "Accept-Post"},
		MaxAge:             600,
		OptionsPassthrough: true,
	})
	h := c.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsPreflight(r) && !allowed(r, r.Header.Get("Origin")) {
			w.Header().Add("Vary", "Origin")
			WriteError(w, r, nil, Errorf(Forbidden, "origin %q is not among the origins this server allows", r.Header.Get("Origin")))
			return
		}
		h.ServeHTTP(w, r)
	})
}
