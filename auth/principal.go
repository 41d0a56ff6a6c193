package auth

import (
	"context"
	"net/http"
	"strings"

	"github.com/livecart/livecart/api"
)

// Principal is who makes a request: the verified claims of its token.
type Principal struct {
	Sub  string `json:"sub"`
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Stream, when set, limits the token to that one stream.
	Stream string `json:"-"`
	// Org, when set, is the brand the principal acts for: what a host
	// creates belongs to the org.
	Org string `json:"-"`
}

var (
	// ErrForbidden is the sentinel for a principal that may not act.
	ErrForbidden = api.New(api.Forbidden, "not allowed")
)

// HasRole reports whether p has one of roles.
func (p *Principal) HasRole(roles ...Role) bool {
	if p == nil {
		return false
	}
	for _, r := range roles {
		if p.Role == r {
			return true
		}
	}
	return false
}

// Token returns the token a request carries: the Authorization bearer token,
// or else the token query parameter (websockets cannot set headers).
func Token(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return "\x00invalid"
	}
	return r.URL.Query().Get("token")
}

// Identify returns the principal of r: nil without a token, an error
// (unauthorized) for a token that does not verify.
func (s *Signer) Identify(r *http.Request) (*Principal, error) {
	tok := Token(r)
	if tok == "" {
		return nil, nil
	}
	return s.Verify(tok)
}

// Require is Identify for requests that need a principal: no token is
// unauthorized.
func (s *Signer) Require(r *http.Request) (*Principal, error) {
	p, err := s.Identify(r)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, api.New(api.Unauthorized, "this needs a token: Authorization: Bearer <token>")
	}
	return p, nil
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal stored by WithPrincipal, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}
