package auth

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/livecart/livecart/api"
)

func TestCan(t *testing.T) {
	const stream, owner = "s1", "host-1"
	var anon *Principal
	viewer := &Principal{Sub: "v", Role: Viewer}
	scopedViewer := &Principal{Sub: "v", Role: Viewer, Stream: "other"}
	ownerHost := &Principal{Sub: owner, Role: Host}
	otherHost := &Principal{Sub: "host-2", Role: Host}
	guestHost := &Principal{Sub: "host-2", Role: Host, Stream: stream}
	mod := &Principal{Sub: "m", Role: Moderator}
	modHere := &Principal{Sub: "m", Role: Moderator, Stream: stream}
	modThere := &Principal{Sub: "m", Role: Moderator, Stream: "other"}
	admin := &Principal{Sub: "a", Role: Admin}
	adminThere := &Principal{Sub: "a", Role: Admin, Stream: "other"}
	ownerScopedElsewhere := &Principal{Sub: owner, Role: Host, Stream: "other"}

	tests := []struct {
		name string
		p    *Principal
		want map[Action]bool
	}{
		{"anonymous", anon, map[Action]bool{Watch: true, Buy: false, Moderate: false, Own: false}},
		{"viewer", viewer, map[Action]bool{Watch: true, Buy: true, Moderate: false, Own: false}},
		{"viewer scoped to another stream", scopedViewer, map[Action]bool{Watch: false, Buy: false, Moderate: false, Own: false}},
		{"owning host", ownerHost, map[Action]bool{Watch: true, Buy: true, Moderate: true, Own: true}},
		{"another host", otherHost, map[Action]bool{Watch: true, Buy: true, Moderate: false, Own: false}},
		{"host whose token names the stream", guestHost, map[Action]bool{Watch: true, Buy: true, Moderate: true, Own: false}},
		{"moderator without stream", mod, map[Action]bool{Watch: true, Buy: true, Moderate: false, Own: false}},
		{"moderator of this stream", modHere, map[Action]bool{Watch: true, Buy: true, Moderate: true, Own: false}},
		{"moderator of another stream", modThere, map[Action]bool{Watch: false, Buy: false, Moderate: false, Own: false}},
		{"admin", admin, map[Action]bool{Watch: true, Buy: true, Moderate: true, Own: true}},
		{"admin scoped elsewhere", adminThere, map[Action]bool{Watch: false, Buy: false, Moderate: false, Own: false}},
		{"owner with token for another stream", ownerScopedElsewhere, map[Action]bool{Watch: false, Buy: false, Moderate: false, Own: false}},
	}
	names := map[Action]string{Watch: "watch", Buy: "buy", Moderate: "moderate", Own: "own"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for a, want := range tt.want {
				if got := tt.p.Can(a, stream, owner); got != want {
					t.Errorf("Can(%s) = %v, want %v", names[a], got, want)
				}
				err := Check(tt.p, a, stream, owner)
				switch {
				case want && err != nil:
					t.Errorf("Check(%s) = %v, want nil", names[a], err)
				case !want && tt.p == nil && api.CodeOf(err) != api.Unauthorized:
					t.Errorf("Check(%s) code = %q, want unauthorized", names[a], api.CodeOf(err))
				case !want && tt.p != nil && api.CodeOf(err) != api.Forbidden:
					t.Errorf("Check(%s) code = %q, want forbidden", names[a], api.CodeOf(err))
				}
			}
		})
	}
	// A stream with no known owner: nobody owns it but admins.
	if ownerHost.Can(Own, stream, "") {
		t.Error("a host owns a stream without an owner")
	}
}

func TestIdentify(t *testing.T) {
	s := MustSigner(t, testKey, nil)
	tok, err := s.Issue(Principal{Sub: "u", Role: Viewer}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		header    string
		query     string
		wantSub   string
		wantErr   bool
		wantNoone bool
	}{
		{name: "bearer", header: "Bearer " + tok, wantSub: "u"},
		{name: "bearer lower case", header: "bearer " + tok, wantSub: "u"},
		{name: "query", query: "?token=" + tok, wantSub: "u"},
		{name: "none", wantNoone: true},
		{name: "basic auth is not a token", header: "Basic dTpw", wantErr: true},
		{name: "bad bearer", header: "Bearer nope", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x"+tt.query, nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			p, err := s.Identify(r)
			switch {
			case tt.wantErr:
				if err == nil {
					t.Fatalf("Identify = %+v, want error", p)
				}
			case tt.wantNoone:
				if err != nil || p != nil {
					t.Fatalf("Identify = %+v, %v; want nil, nil", p, err)
				}
				if _, err := s.Require(r); api.CodeOf(err) != api.Unauthorized {
					t.Errorf("Require without token: code %q, want unauthorized", api.CodeOf(err))
				}
			default:
				if err != nil || p == nil || p.Sub != tt.wantSub {
					t.Fatalf("Identify = %+v, %v; want sub %q", p, err, tt.wantSub)
				}
			}
		})
	}
}
