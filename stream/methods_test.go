package stream

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestWrongMethods: every stream route answers a method it does not serve
// with 405 and an Allow header that lists the ones it does.
func TestWrongMethods(t *testing.T) {
	r := mustRelay(t, nil)
	r.stream(t, "shop", "host1")
	for _, tc := range []struct {
		path  string
		allow []string
	}{
		{"/api/streams", []string{"GET", "HEAD", "POST"}},
		{"/api/streams/shop", []string{"GET", "HEAD"}},
		{"/api/streams/shop/end", []string{"POST"}},
		{"/api/streams/shop/whip", []string{"OPTIONS", "POST"}},
		{"/api/streams/shop/whip/0123abcd", []string{"DELETE", "OPTIONS", "PATCH"}},
		{"/api/streams/shop/whep", []string{"OPTIONS", "POST"}},
		{"/api/streams/shop/whep/0123abcd", []string{"DELETE", "OPTIONS", "PATCH"}},
	} {
		for _, method := range []string{"GET", "POST", "PUT", "DELETE", "PATCH"} {
			if slices.Contains(tc.allow, method) {
				continue
			}
			t.Run(method+" "+tc.path, func(t *testing.T) {
				req, err := http.NewRequest(method, r.srv.URL+tc.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				res, err := testHTTP.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != http.StatusMethodNotAllowed {
					t.Fatalf("status: got %d, want 405", res.StatusCode)
				}
				var got []string
				for _, m := range strings.Split(res.Header.Get("Allow"), ",") {
					if m = strings.TrimSpace(m); m != "" {
						got = append(got, m)
					}
				}
				slices.Sort(got)
				if !slices.Equal(got, tc.allow) {
					t.Errorf("Allow: got %q, want %q", got, tc.allow)
				}
			})
		}
	}
}

// TestOptions: OPTIONS on the WHIP and WHEP endpoints and on their
// sessions says what they take: SDP offers by POST, trickle ICE and ICE
// restarts by PATCH.
func TestOptions(t *testing.T) {
	r := mustRelay(t, nil)
	r.stream(t, "shop", "host1")
	for _, tc := range []struct {
		path, allow, acceptPost string
	}{
		{"/api/streams/shop/whip", "OPTIONS, POST", "application/sdp"},
		{"/api/streams/shop/whep", "OPTIONS, POST", "application/sdp"},
		{"/api/streams/shop/whip/0123abcd", "OPTIONS, PATCH, DELETE", ""},
		{"/api/streams/shop/whep/0123abcd", "OPTIONS, PATCH, DELETE", ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res := doSDP(t, "OPTIONS", r.srv.URL+tc.path, "", "")
			res.Body.Close()
			h := res.Header
			if res.StatusCode != http.StatusNoContent {
				t.Fatalf("status: got %d, want 204", res.StatusCode)
			}
			if h.Get("Allow") != tc.allow || h.Get("Accept-Post") != tc.acceptPost || h.Get("Accept-Patch") != SDPFragType {
				t.Errorf("got Allow %q Accept-Post %q Accept-Patch %q, want %q %q %q",
					h.Get("Allow"), h.Get("Accept-Post"), h.Get("Accept-Patch"), tc.allow, tc.acceptPost, SDPFragType)
			}
		})
	}
}
