// Package auth is livecart's identity: HS256 tokens (JWT) as the brand's own
// site mints them, the principal they name, and the one place that answers
// "may this principal do that on stream S" for every capability.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/livecart/livecart/api"
)

// Role is what a principal is to livecart.
type Role string

// The roles of the contract, section 2.
const (
	Viewer    Role = "viewer"
	Moderator Role = "moderator"
	Host      Role = "host"
	Admin     Role = "admin"
)

// Valid reports whether r is one of the contract's roles.
func (r Role) Valid() bool {
	switch r {
	case Viewer, Moderator, Host, Admin:
		return true
	}
	return false
}

// Leeway is the clock skew tolerated on exp, since the brand's site and
// livecart run on different machines.
const Leeway = 30 * time.Second

// MaxTokenLen bounds the size of a token accepted for verification.
const MaxTokenLen = 4096

// ErrUnauthorized is the sentinel for a missing, malformed, expired or
// forged token.
var ErrUnauthorized = api.New(api.Unauthorized, "a valid token is required")

// Claims are the claims of a livecart token.
type Claims struct {
	Name   string `json:"name,omitempty"`
	Role   Role   `json:"role"`
	Stream string `json:"stream,omitempty"`
	Org    string `json:"org,omitempty"`
	jwt.RegisteredClaims
}

// Signer mints and verifies tokens with one HS256 key. It is immutable and
// safe for concurrent use.
type Signer struct {
	key    []byte
	parser *jwt.Parser
	now    func() time.Time
}

// NewSigner returns a Signer for key. now may be nil (time.Now).
func NewSigner(key []byte, now func() time.Time) (*Signer, error) {
	if len(key) == 0 {
		return nil, errors.New("auth: empty signing key")
	}
	if now == nil {
		now = time.Now
	}
	return &Signer{
		key: append([]byte(nil), key...),
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(Leeway),
			jwt.WithTimeFunc(now),
		),
		now: now,
	}, nil
}

// Issue signs a token for p valid for ttl.
func (s *Signer) Issue(p Principal, ttl time.Duration) (string, error) {
	if p.Sub == "" {
		return "", errors.New("auth: issue: empty sub")
	}
	if !p.Role.Valid() {
		return "", fmt.Errorf("auth: issue: unknown role %q", p.Role)
	}
	if ttl <= 0 {
		return "", errors.New("auth: issue: ttl must be positive")
	}
	now := s.now()
	c := Claims{
		Name:   p.Name,
		Role:   p.Role,
		Stream: p.Stream,
		Org:    p.Org,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   p.Sub,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.key)
}

// Verify checks a token's signature (HS256 only), exp (required), sub
// (required) and role (one of the contract's), and returns its principal.
// Every failure wraps ErrUnauthorized.
func (s *Signer) Verify(token string) (*Principal, error) {
	if token == "" {
		return nil, ErrUnauthorized
	}
	if len(token) > MaxTokenLen {
		return nil, api.Errorf(api.Unauthorized, "token is longer than %d bytes: %w", MaxTokenLen, ErrUnauthorized)
	}
	var c Claims
	_, err := s.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.key, nil })
	if err != nil {
		return nil, api.Errorf(api.Unauthorized, "invalid token: %s: %w", reason(token, err), ErrUnauthorized)
	}
	if c.Subject == "" {
		return nil, api.Errorf(api.Unauthorized, "invalid token: sub is required: %w", ErrUnauthorized)
	}
	if !c.Role.Valid() {
		return nil, api.Errorf(api.Unauthorized, "invalid token: unknown role %q: %w", c.Role, ErrUnauthorized)
	}
	p := &Principal{Sub: c.Subject, Name: c.Name, Role: c.Role, Stream: c.Stream, Org: c.Org}
	if p.Name == "" {
		p.Name = p.Sub
	}
	return p, nil
}

func reason(token string, err error) string {
	if t, _, perr := jwt.NewParser().ParseUnverified(token, &jwt.RegisteredClaims{}); perr == nil {
		if alg, _ := t.Header["alg"].(string); alg != jwt.SigningMethodHS256.Alg() {
			return fmt.Sprintf("signing method %q is not accepted; tokens must be HS256", alg)
		}
	}
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "exp is required"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "not valid yet"
	}
	return "rejected"
}
