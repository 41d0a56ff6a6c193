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
}

// Action is something done on a stream that not everyone may do.
type Action int

// The stream-scoped actions.
const (
	// Watch is reading or joining a stream: anyone, within a token's scope.
	Watch Action = iota
	// Buy is putting a stream's products in a cart or ordering them: any
	// signed-in principal within its token's scope.
	Buy
	// Moderate is pinning, answering, deleting, muting, banning, slow mode
	// and seeing a stream's orders: its host (owner), a host or moderator
	// whose token names the stream, or an admin.
	Moderate
	// Own is what only the stream's host does: publishing, ending the show,
	// the lineup. The owning host, or an admin.
	Own
)

var (
	// ErrForbidden is the sentinel for a principal that may not act.
	ErrForbidden = api.New(api.Forbidden, "not allowed")
)

// InScope reports whether p's token may be used on stream at all.
func (p *Principal) InScope(stream string) bool {
	return p != nil && (p.Stream == "" || p.Stream == stream)
}

// Can reports whether p may do a on stream, whose host is owner.
// A nil p is anonymous and may only Watch.
func (p *Principal) Can(a Action, stream, owner string) bool {
	if p == nil {
		return a == Watch
	}
	if !p.InScope(stream) {
		return false
	}
	switch a {
	case Watch, Buy:
		return true
	case Moderate:
		if p.Role == Admin {
			return true
		}
		if p.Role != Host && p.Role != Moderator {
			return false
		}
		return (p.Role == Host && owner != "" && p.Sub == owner) || p.Stream == stream
	case Own:
		return p.Role == Admin || (p.Role == Host && owner != "" && p.Sub == owner)
	}
	return false
}

// Check is Can as an error: nil when allowed, unauthorized for an anonymous
// principal, forbidden otherwise.
func Check(p *Principal, a Action, stream, owner string) error {
	if p.Can(a, stream, owner) {
		return nil
	}
	if p == nil {
		return ErrUnauthorized
	}
	if !p.InScope(stream) {
		return api.Errorf(api.Forbidden, "this token is for stream %q only: %w", p.Stream, ErrForbidden)
	}
	switch a {
	case Moderate:
		return api.Errorf(api.Forbidden, "only this stream's host, its moderators or an admin may do this: %w", ErrForbidden)
	case Own:
		return api.Errorf(api.Forbidden, "only this stream's host or an admin may do this: %w", ErrForbidden)
	}
	return ErrForbidden
}

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
