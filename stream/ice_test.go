package stream

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
)

func TestLinkHeadersStatic(t *testing.T) {
	ice, err := newICEServers([]string{"stun:s.example:3478", "turns:u%40x:p@t.example:5349?transport=tcp", " "}, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got := ice.links("ana", time.Now())
	want := []string{`<stun:s.example:3478>; rel="ice-server"`,
		`<turns:t.example:5349?transport=tcp>; rel="ice-server"; username="u@x"; credential="p"; credential-type="password"`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, tc := range []struct {
		urls   []string
		secret string
	}{
		{[]string{"http://x"}, ""},
		{[]string{"stun:"}, ""},
		{[]string{"turn::p@host"}, ""},
		{[]string{"turn:u:p@"}, ""},
		// A secret and a static password: which one the TURN server
		// checks is ambiguous, and the password would leak to every page.
		{[]string{"turn:u:p@t.example:3478"}, "s3cret"},
		// A secret with no TURN server to use it.
		{[]string{"stun:s.example:3478"}, "s3cret"},
	} {
		if _, err := newICEServers(tc.urls, tc.secret, time.Hour); err == nil {
			t.Errorf("%q with secret %q: no error", tc.urls, tc.secret)
		}
	}
}

func TestTurnUser(t *testing.T) {
	for _, tc := range []struct{ sub, want string }{
		{"mia", "mia"},
		{"user-1.x_y@shop", "user-1.x_y@shop"},
		{"a:b", "u-"},         // ':' separates the expiry in coturn
		{`x"; evil="1`, "u-"}, // never raw in a header attribute
		{strings.Repeat("a", 65), "u-"},
		{"", "anon-"},
	} {
		got := turnUser(tc.sub)
		if tc.want == "u-" || tc.want == "anon-" {
			if !strings.HasPrefix(got, tc.want) || !plainUser(got) {
				t.Errorf("turnUser(%q) = %q, want a plain %s… id", tc.sub, got, tc.want)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("turnUser(%q) = %q, want %q", tc.sub, got, tc.want)
		}
	}
	if a, b := turnUser(""), turnUser(""); a == b {
		t.Errorf("two anonymous ids are equal: %q", a)
	}
}

// turnLink is what a TURN server's Link header carries.
type turnLink struct{ url, username, credential string }

var linkAttr = regexp.MustCompile(`(\w[\w-]*)="((?:[^"\\]|\\.)*)"`)

// turnLinks returns the TURN servers among Link headers.
func turnLinks(tb testing.TB, h http.Header) []turnLink {
	tb.Helper()
	var out []turnLink
	for _, l := range h.Values("Link") {
		u, rest, ok := strings.Cut(l, ">")
		if !ok || !strings.HasPrefix(u, "<turn") {
			continue
		}
		tl := turnLink{url: strings.TrimPrefix(u, "<")}
		for _, m := range linkAttr.FindAllStringSubmatch(rest, -1) {
			switch m[1] {
			case "username":
				tl.username = m[2]
			case "credential":
				tl.credential = m[2]
			}
		}
		out = append(out, tl)
	}
	return out
}

// checkTURN checks that l carries TURN REST credentials for user (a prefix
// of the user id) that verify against secret and expire ttl after now.
func checkTURN(tb testing.TB, l turnLink, secret, user string, now time.Time, ttl time.Duration) {
	tb.Helper()
	exp, id, ok := strings.Cut(l.username, ":")
	if !ok || !strings.HasPrefix(id, user) {
		tb.Fatalf("%s: username %q, want <expiry>:%s…", l.url, l.username, user)
	}
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(l.username))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); l.credential != want {
		tb.Errorf("%s: credential %q does not verify: want %q", l.url, l.credential, want)
	}
	sec, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		tb.Fatalf("%s: expiry %q: %v", l.url, exp, err)
	}
	if d := time.Unix(sec, 0).Sub(now); d < ttl-2*time.Second || d > ttl+2*time.Second {
		tb.Errorf("%s: expires %v after now, want about %v", l.url, d, ttl)
	}
}

// TestTURNCredentials: with a TURN secret, every answer and OPTIONS hands
// out fresh credentials that verify with HMAC-SHA1 against the secret and
// expire a TTL from now; no static password is handed out.
func TestTURNCredentials(t *testing.T) {
	const secret = "turn-shared-secret"
	const ttl = 20 * time.Minute
	r := mustRelay(t, func(c *Config) {
		c.ICEServers = []string{"stun:turn.example.net:3478", "turn:turn.example.net:3478?transport=udp", "turn:turn.example.net:3478?transport=tcp"}
		c.TURNSecret = secret
		c.TURNTTL = ttl
	})
	r.stream(t, "shop", "host1")
	host := r.token(t, "host1", auth.Host)
	startPublisher(t, r.srv.URL, "shop", host, vp8Codec, 'A', 30)

	answers := map[string][]turnLink{}
	post := func(name, path, token, offer string) {
		t.Helper()
		res := doSDP(t, "POST", r.srv.URL+path, token, offer)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 201 {
			t.Fatalf("%s: got %d %s", name, res.StatusCode, body)
		}
		answers[name] = turnLinks(t, res.Header)
		// Release the session: it will not connect.
		del := doSDP(t, "DELETE", r.srv.URL+res.Header.Get("Location"), token, "")
		del.Body.Close()
	}
	post("WHEP anonymous 1", "/api/streams/shop/whep", "", viewerOffer(t))
	post("WHEP anonymous 2", "/api/streams/shop/whep", "", viewerOffer(t))
	post("WHEP viewer", "/api/streams/shop/whep", r.token(t, "ana", auth.Viewer), viewerOffer(t))
	r.stream(t, "other", "host1")
	post("WHIP", "/api/streams/other/whip", host, publisherOffer(t, vp8Codec))
	for _, path := range []string{"/api/streams/shop/whep", "/api/streams/shop/whip"} {
		res := doSDP(t, "OPTIONS", r.srv.URL+path, "", "")
		res.Body.Close()
		if res.StatusCode != 204 {
			t.Fatalf("OPTIONS %s: got %d", path, res.StatusCode)
		}
		answers["OPTIONS "+path] = turnLinks(t, res.Header)
	}

	now := time.Now()
	seen := map[string]string{}
	for name, links := range answers {
		if len(links) != 2 {
			t.Fatalf("%s: got %d TURN Links %v, want 2", name, len(links), links)
		}
		user := "anon-"
		switch name {
		case "WHEP viewer":
			user = "ana"
		case "WHIP":
			user = "host1"
		}
		for _, l := range links {
			checkTURN(t, l, secret, user, now, ttl)
		}
		if links[0].username != links[1].username || links[0].credential != links[1].credential {
			t.Errorf("%s: the TURN URLs of one answer carry different credentials: %v", name, links)
		}
		if prev, dup := seen[links[0].username]; dup {
			t.Errorf("%s and %s got the same TURN username %q", prev, name, links[0].username)
		}
		seen[links[0].username] = name
	}
}

// TestTURNCredentialsExpire: the expiry follows the service's clock.
func TestTURNCredentialsExpire(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ice, err := newICEServers([]string{"turn:t.example:3478"}, "k", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	l := ice.links("mia", at)
	want := `<turn:t.example:3478>; rel="ice-server"; username="` + strconv.FormatInt(at.Add(time.Hour).Unix(), 10) + `:mia"`
	if len(l) != 1 || !strings.HasPrefix(l[0], want) {
		t.Errorf("got %q, want a prefix %q", l, want)
	}
}
