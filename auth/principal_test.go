package auth

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/livecart/livecart/api"
)

func TestCan(t *testing.T) {
	const stream = "s1"
	owner := Owner{Sub: "host-1"}
	orgOwner := Owner{Sub: "host-1", Org: "acme"}
	var anon *Principal
	viewer := &Principal{Sub: "v", Role: Viewer}
	scopedViewer := &Principal{Sub: "v", Role: Viewer, Stream: "other"}
	ownerHost := &Principal{Sub: owner.Sub, Role: Host}
	otherHost := &Principal{Sub: "host-2", Role: Host}
	orgHost := &Principal{Sub: "host-3", Role: Host, Org: "acme"}
	otherOrgHost := &Principal{Sub: "host-1", Role: Host, Org: "globex"}
	guestHost := &Principal{Sub: "host-2", Role: Host, Stream: stream}
	mod := &Principal{Sub: "m", Role: Moderator}
	modHere := &Principal{Sub: "m", Role: Moderator, Stream: stream}
	modThere := &Principal{Sub: "m", Role: Moderator, Stream: "other"}
	admin := &Principal{Sub: "a", Role: Admin}
	adminThere := &Principal{Sub: "a", Role: Admin, Stream: "other"}
	ownerScopedElsewhere := &Principal{Sub: owner.Sub, Role: Host, Stream: "other"}

	type want map[Action]bool
	tests := []struct {
		name  string
		p     *Principal
		owner Owner
		want  want
	}{
		{"anonymous", anon, owner, want{Watch: true, Buy: false, Moderate: false, Own: false, Create: false, EditProduct: false, Account: false}},
		{"viewer", viewer, owner, want{Watch: true, Buy: true, Moderate: false, Own: false, Create: false, EditProduct: false, Account: true}},
		{"viewer scoped to another stream", scopedViewer, owner, want{Watch: false, Buy: false, Moderate: false, Own: false, Create: false, Account: true}},
		{"owning host", ownerHost, owner, want{Watch: true, Buy: true, Moderate: true, Own: true, Create: true, EditProduct: true}},
		{"another host", otherHost, owner, want{Watch: true, Buy: true, Moderate: false, Own: false, Create: true, EditProduct: false}},
		{"host of the owning org", orgHost, orgOwner, want{Moderate: true, Own: true, Create: true, EditProduct: true}},
		{"the creating host outside its org", ownerHost, orgOwner, want{Moderate: false, Own: false, EditProduct: false}},
		{"same sub, another org", otherOrgHost, owner, want{Moderate: false, Own: false, EditProduct: false}},
		{"host whose token names the stream", guestHost, owner, want{Watch: true, Buy: true, Moderate: true, Own: false, Create: false, EditProduct: false}},
		{"moderator without stream", mod, owner, want{Watch: true, Buy: true, Moderate: false, Own: false, Create: false}},
		{"moderator of this stream", modHere, owner, want{Watch: true, Buy: true, Moderate: true, Own: false, Create: false}},
		{"moderator of another stream", modThere, owner, want{Watch: false, Buy: false, Moderate: false, Own: false}},
		{"admin", admin, owner, want{Watch: true, Buy: true, Moderate: true, Own: true, Create: true, EditProduct: true}},
		{"admin scoped elsewhere", adminThere, owner, want{Watch: false, Buy: false, Moderate: false, Own: false, Create: false, EditProduct: false}},
		{"owner with token for another stream", ownerScopedElsewhere, owner, want{Watch: false, Buy: false, Moderate: false, Own: false, Create: false, EditProduct: false}},
		{"a stream without a known owner", ownerHost, Owner{}, want{Own: false, Moderate: false, EditProduct: false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Resource{Stream: stream, Owner: tt.owner}
			for a, want := range tt.want {
				if got := tt.p.Can(a, res); got != want {
					t.Errorf("Can(%s) = %v, want %v", a, got, want)
				}
				err := Check(tt.p, a, res)
				switch {
				case want && err != nil:
					t.Errorf("Check(%s) = %v, want nil", a, err)
				case !want && tt.p == nil && api.CodeOf(err) != api.Unauthorized:
					t.Errorf("Check(%s) code = %q, want unauthorized", a, api.CodeOf(err))
				case !want && tt.p != nil && api.CodeOf(err) != api.Forbidden:
					t.Errorf("Check(%s) code = %q, want forbidden", a, api.CodeOf(err))
				}
			}
		})
	}
}

// An order is its buyer's, its stream's host's and an admin's, each within
// the token's scope: an admin or buyer scoped to another stream may not
// read or cancel it.
func TestManageOrder(t *testing.T) {
	order := Resource{Stream: "s1", Owner: Owner{Sub: "h1"}, Buyer: "buyer"}
	tests := []struct {
		name string
		p    *Principal
		want bool
	}{
		{"buyer", &Principal{Sub: "buyer", Role: Viewer}, true},
		{"buyer with this stream's token", &Principal{Sub: "buyer", Role: Viewer, Stream: "s1"}, true},
		{"buyer with another stream's token", &Principal{Sub: "buyer", Role: Viewer, Stream: "s2"}, false},
		{"another viewer", &Principal{Sub: "x", Role: Viewer}, false},
		{"stream's host", &Principal{Sub: "h1", Role: Host}, true},
		{"another host", &Principal{Sub: "h2", Role: Host}, false},
		{"moderator of the stream", &Principal{Sub: "m", Role: Moderator, Stream: "s1"}, false},
		{"admin", &Principal{Sub: "a", Role: Admin}, true},
		{"admin scoped to another stream", &Principal{Sub: "a", Role: Admin, Stream: "s2"}, false},
		{"anonymous", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Can(ManageOrder, order); got != tt.want {
				t.Errorf("Can(ManageOrder) = %v, want %v", got, tt.want)
			}
		})
	}
}

// The room's hierarchy: moderators act on viewers, hosts on viewers and
// moderators, admins on anyone.
func TestRanks(t *testing.T) {
	owner := Owner{Sub: "h1"}
	rank := func(p *Principal) Rank { return p.RankIn("s1", owner) }
	viewer := rank(&Principal{Sub: "v", Role: Viewer})
	mod := rank(&Principal{Sub: "m", Role: Moderator, Stream: "s1"})
	modElsewhere := rank(&Principal{Sub: "m", Role: Moderator})
	host := rank(&Principal{Sub: "h1", Role: Host})
	guestHost := rank(&Principal{Sub: "h2", Role: Host, Stream: "s1"})
	otherHost := rank(&Principal{Sub: "h2", Role: Host})
	admin := rank(&Principal{Sub: "a", Role: Admin})
	adminElsewhere := rank(&Principal{Sub: "a", Role: Admin, Stream: "s2"})
	if viewer != RankViewer || mod != RankModerator || modElsewhere != RankViewer || host != RankHost ||
		guestHost != RankHost || otherHost != RankViewer || admin != RankAdmin || adminElsewhere != RankViewer {
		t.Fatalf("ranks = viewer %d, mod %d, mod elsewhere %d, host %d, guest host %d, other host %d, admin %d, admin elsewhere %d",
			viewer, mod, modElsewhere, host, guestHost, otherHost, admin, adminElsewhere)
	}
	tests := []struct {
		actor, target Rank
		want          bool
	}{
		{RankViewer, RankViewer, false},
		{RankModerator, RankViewer, true},
		{RankModerator, RankModerator, false},
		{RankModerator, RankHost, false},
		{RankModerator, RankAdmin, false},
		{RankHost, RankModerator, true},
		{RankHost, RankHost, false},
		{RankHost, RankAdmin, false},
		{RankAdmin, RankHost, true},
		{RankAdmin, RankAdmin, true},
	}
	for _, tt := range tests {
		if got := tt.actor.Outranks(tt.target); got != tt.want {
			t.Errorf("Rank(%d).Outranks(%d) = %v, want %v", tt.actor, tt.target, got, tt.want)
		}
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

// Display names are names others read beside their own text: no control
// characters, no invalid UTF-8, no bidirectional overrides.
func TestCleanName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"  Ana ", "Ana", true},
		{"Zoë 🛍", "Zoë 🛍", true},
		{"", "", false},
		{"   ", "", false},
		{"a\u0007b", "", false},
		{"a\nb", "", false},
		{"abc\u202Eevil", "", false},
		{"\xff", "", false},
		{string(make([]rune, MaxNameLen+1)), "", false},
	} {
		got, err := CleanName(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("CleanName(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && api.CodeOf(err) != api.BadRequest {
			t.Errorf("CleanName(%q) code = %q, want bad_request", tc.in, api.CodeOf(err))
		}
	}
}
