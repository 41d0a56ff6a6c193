package auth

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/livecart/livecart/api"
)

// TestNodeTokens: RequireNode takes a node token for its stream only, and
// Verify takes no node token where a person's token is expected.
func TestNodeTokens(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	s := MustSigner(t, testKey, func() time.Time { return now })
	past := MustSigner(t, testKey, func() time.Time { return now.Add(-time.Hour) })
	other := MustSigner(t, []byte("another key, another deployment"), func() time.Time { return now })
	node := func(s *Signer, stream string) string {
		t.Helper()
		tok, err := s.IssueNode("node-a", stream, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	person := func(role Role) string {
		t.Helper()
		tok, err := s.Issue(Principal{Sub: "u1", Role: role}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, c := range []struct {
		name, token string
		want        api.Code
	}{
		{"node token", node(s, "shop"), ""},
		{"none", "", api.Unauthorized},
		{"expired", node(past, "shop"), api.Unauthorized},
		{"another key", node(other, "shop"), api.Unauthorized},
		{"another stream", node(s, "other"), api.Forbidden},
		{"viewer", person(Viewer), api.Forbidden},
		{"moderator", person(Moderator), api.Forbidden},
		{"host", person(Host), api.Forbidden},
		{"admin", person(Admin), api.Forbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/streams/shop/relay", nil)
			if c.token != "" {
				r.Header.Set("Authorization", "Bearer "+c.token)
			}
			id, err := s.RequireNode(r, "shop")
			if got := api.CodeOf(err); got != c.want {
				t.Fatalf("RequireNode: got %q (%v), want %q", got, err, c.want)
			}
			if c.want == "" && id != "node-a" {
				t.Errorf("RequireNode: node %q, want node-a", id)
			}
		})
	}
	if _, err := s.Verify(node(s, "shop")); api.CodeOf(err) != api.Unauthorized {
		t.Errorf("Verify of a node token: %v, want unauthorized", err)
	}
}
