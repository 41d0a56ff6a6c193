package stream

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// iceServer is one STUN or TURN server handed to clients.
type iceServer struct {
	url        string // scheme:host[:port][?transport=…], without credentials
	turn       bool
	user, pass string // static credentials, when the URL carried them
}

// iceServers renders the configured ICE servers as RFC 9725 Link headers.
// With a TURN secret, each TURN server's Link carries credentials made for
// one session (the TURN REST API, as coturn's use-auth-secret checks
// them); without one, the static credentials of its URL, if any. It is
// immutable and safe for concurrent use.
type iceServers struct {
	list   []iceServer
	secret []byte
	ttl    time.Duration
	static []string // the Link headers when there is no secret
}

// newICEServers parses stun:, stuns:, turn: and turns: URLs. A TURN URL
// may carry static credentials as turn:user:pass@host:port?transport=udp
// (percent-encoded), but not together with a secret.
func newICEServers(urls []string, secret string, ttl time.Duration) (*iceServers, error) {
	ice := &iceServers{ttl: ttl}
	if secret != "" {
		ice.secret = []byte(secret)
	}
	turns := 0
	for _, raw := range urls {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		scheme, rest, ok := strings.Cut(raw, ":")
		scheme = strings.ToLower(scheme)
		if !ok || (scheme != "stun" && scheme != "stuns" && scheme != "turn" && scheme != "turns") || rest == "" {
			return nil, fmt.Errorf("stream: ICE server %q: want stun:, stuns:, turn: or turns:", raw)
		}
		srv := iceServer{turn: scheme == "turn" || scheme == "turns"}
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			cred := rest[:at]
			rest = rest[at+1:]
			u, p, ok := strings.Cut(cred, ":")
			if !ok || u == "" || rest == "" {
				return nil, fmt.Errorf("stream: ICE server %q: credentials must be user:pass@", raw)
			}
			if ice.secret != nil {
				return nil, fmt.Errorf("stream: ICE server %q carries a static password while a TURN secret is set; "+
					"remove it: each session gets credentials of its own", scheme+":"+rest)
			}
			srv.user, _ = url.PathUnescape(u)
			srv.pass, _ = url.PathUnescape(p)
		}
		if srv.turn {
			turns++
		}
		srv.url = scheme + ":" + rest
		ice.list = append(ice.list, srv)
	}
	if ice.secret != nil && turns == 0 {
		return nil, errors.New("stream: a TURN secret is set but no turn: or turns: URL is among the ICE servers")
	}
	if ice.secret == nil {
		ice.static = ice.render("", "")
	}
	return ice, nil
}

// links returns the Link headers for one session of the user with id user
// (a principal's sub, or "" for an anonymous client), with TURN
// credentials valid until now plus the TTL when a secret is set.
func (ice *iceServers) links(user string, now time.Time) []string {
	if ice.secret == nil {
		return ice.static
	}
	name := strconv.FormatInt(now.Add(ice.ttl).Unix(), 10) + ":" + turnUser(user)
	return ice.render(name, turnCredential(ice.secret, name))
}

// render builds the Link headers; TURN servers without static credentials
// get name and cred when name is not empty.
func (ice *iceServers) render(name, cred string) []string {
	out := make([]string, 0, len(ice.list))
	for _, srv := range ice.list {
		l := "<" + srv.url + `>; rel="ice-server"`
		u, p := srv.user, srv.pass
		if srv.turn && u == "" {
			u, p = name, cred
		}
		if u != "" {
			l += `; username="` + quote(u) + `"; credential="` + quote(p) + `"; credential-type="password"`
		}
		out = append(out, l)
	}
	return out
}

// turnCredential is the TURN REST API password of a username:
// base64(HMAC-SHA1(secret, username)).
func turnCredential(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// turnUser is the user id part of a TURN REST username: the sub when it is
// short and plain (so the TURN server's logs and quotas name the user),
// a digest of it otherwise, and a random id for an anonymous client.
func turnUser(sub string) string {
	if sub == "" {
		return "anon-" + randomID(8)
	}
	if len(sub) <= 64 && plainUser(sub) {
		return sub
	}
	sum := sha256.Sum256([]byte(sub))
	return "u-" + hex.EncodeToString(sum[:8])
}

// plainUser reports whether s is made of letters, digits and - _ . @ only.
func plainUser(s string) bool {
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '@':
		default:
			return false
		}
	}
	return true
}

func quote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}
