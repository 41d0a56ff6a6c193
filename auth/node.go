package auth

import (
	"errors"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/livecart/livecart/api"
)

// NodeRole is the role of a node token: what one livecart node presents to
// another to receive a stream's media from it. It is not one of the
// contract's roles, so Verify refuses a node token wherever a person's
// token is expected, and RequireNode refuses every person's token.
const NodeRole Role = "node"

// nodeAudience marks node tokens, so that nothing else signed with the
// same secret passes for one.
const nodeAudience = "livecart-node"

// IssueNode signs a node token: node (the asking node's id) may receive
// stream's media for ttl. Nodes mint one per request with a short ttl.
func (s *Signer) IssueNode(node, stream string, ttl time.Duration) (string, error) {
	if node == "" || stream == "" {
		return "", errors.New("auth: issue node token: empty node or stream")
	}
	if ttl <= 0 {
		return "", errors.New("auth: issue node token: ttl must be positive")
	}
	now := s.now()
	c := Claims{
		Role:   NodeRole,
		Stream: stream,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   node,
			Audience:  jwt.ClaimStrings{nodeAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.key)
}

// RequireNode checks that r carries a node token for stream and returns
// the asking node's id. No token, or one that does not verify (forged,
// expired, malformed), is unauthorized; a person's valid token (viewer,
// moderator, host, admin) or a node token for another stream is
// forbidden.
func (s *Signer) RequireNode(r *http.Request, stream string) (string, error) {
	tok := Token(r)
	if tok == "" {
		return "", api.New(api.Unauthorized, "this endpoint is for livecart nodes: it needs a node token")
	}
	if len(tok) > MaxTokenLen {
		return "", ErrUnauthorized
	}
	var c Claims
	if _, err := s.parser.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return s.key, nil }); err != nil {
		return "", api.Errorf(api.Unauthorized, "invalid token: %s: %w", reason(tok, err), ErrUnauthorized)
	}
	if c.Role != NodeRole {
		if c.Role.Valid() && c.Subject != "" {
			return "", api.Errorf(api.Forbidden, "this endpoint is for livecart nodes, not for a %s: %w", c.Role, ErrForbidden)
		}
		return "", api.Errorf(api.Unauthorized, "invalid token: unknown role %q: %w", c.Role, ErrUnauthorized)
	}
	aud := false
	for _, a := range c.Audience {
		aud = aud || a == nodeAudience
	}
	if !aud || c.Subject == "" {
		return "", api.Errorf(api.Unauthorized, "invalid node token: %w", ErrUnauthorized)
	}
	if c.Stream != stream {
		return "", api.Errorf(api.Forbidden, "this node token is for stream %q only: %w", c.Stream, ErrForbidden)
	}
	return c.Subject, nil
}
