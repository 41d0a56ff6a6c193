package stream

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// clientHeader names, in tests, the client address a request comes from.
const clientHeader = "X-Test-Client"

// mustClientServer serves r's routes behind an edge that takes each
// request's client address from clientHeader, as the real edge resolves it
// from the peer and X-Forwarded-For.
func mustClientServer(tb testing.TB, r *relay) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if c := req.Header.Get(clientHeader); c != "" {
			req = req.WithContext(api.WithClient(req.Context(), c))
		}
		r.srv.Config.Handler.ServeHTTP(w, req)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// postFrom POSTs an SDP offer as client and returns the response, its body
// read.
func postFrom(tb testing.TB, url, client, token, offer string) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(offer))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set(clientHeader, client)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := testHTTP.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(body)
}

// wantRefused checks a refusal at admission: status, problem+json code and
// Retry-After.
func wantRefused(tb testing.TB, res *http.Response, body string, status int, code string) {
	tb.Helper()
	if res.StatusCode != status {
		tb.Fatalf("status: got %d %s, want %d", res.StatusCode, body, status)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		tb.Errorf("Content-Type: got %q, want application/problem+json", ct)
	}
	if !strings.Contains(body, `"code":"`+code+`"`) {
		tb.Errorf("body: got %s, want code %q", body, code)
	}
	if res.Header.Get("Retry-After") == "" {
		tb.Errorf("no Retry-After on %d", status)
	}
}

// TestPendingSessionsBounded: sessions answered but not connected are
// bounded per client address (429) and per node (503); a slot comes back
// when its peer connects, when it is deleted, and when it times out.
func TestPendingSessionsBounded(t *testing.T) {
	r := mustRelay(t, func(c *Config) {
		c.MaxPendingPerClient = 3
		c.MaxPending = 5
	})
	srv := mustClientServer(t, r)
	r.stream(t, "shop", "host1")
	host := r.token(t, "host1", auth.Host)
	startPublisher(t, r.srv.URL, "shop", host, vp8Codec, 'A', 30)
	pending := func() float64 { return counterValue(t, r.reg, "livecart_stream_pending_sessions") }
	eventually(t, "the publisher has connected", func() bool { return pending() == 0 })

	whep := srv.URL + "/api/streams/shop/whep"
	var locA []string
	for i := range 3 {
		res, body := postFrom(t, whep, "198.51.100.1", "", viewerOffer(t))
		if res.StatusCode != 201 {
			t.Fatalf("WHEP %d from A: got %d %s, want 201", i+1, res.StatusCode, body)
		}
		locA = append(locA, res.Header.Get("Location"))
	}
	res, body := postFrom(t, whep, "198.51.100.1", "", viewerOffer(t))
	wantRefused(t, res, body, 429, "rate_limited")

	// Another address is not held back by A.
	for i := range 2 {
		if res, body := postFrom(t, whep, "198.51.100.2", "", viewerOffer(t)); res.StatusCode != 201 {
			t.Fatalf("WHEP %d from B: got %d %s, want 201", i+1, res.StatusCode, body)
		}
	}
	// The node holds 5: a third address gets in, and the oldest pending
	// session of another address (A's first) is closed to make room.
	if res, body := postFrom(t, whep, "198.51.100.3", "", viewerOffer(t)); res.StatusCode != 201 {
		t.Fatalf("WHEP from C on a full node: got %d %s, want 201", res.StatusCode, body)
	}
	if got := pending(); got != 5 {
		t.Errorf("pending gauge: got %v, want 5", got)
	}
	if got := counterValue(t, r.reg, "livecart_stream_sessions_evicted_total"); got != 1 {
		t.Errorf("evicted counter: got %v, want 1", got)
	}
	if got := counterValue(t, r.reg, "livecart_stream_sessions_refused_total"); got != 1 {
		t.Errorf("refused counter: got %v, want 1 (A's fourth)", got)
	}
	if res := doSDP(t, "DELETE", srv.URL+locA[0], "", ""); res.StatusCode != 404 {
		t.Errorf("DELETE of the session closed to make room: got %d, want 404", res.StatusCode)
	} else {
		res.Body.Close()
	}

	// DELETE on a pending session gives its slot back.
	if res := doSDP(t, "DELETE", srv.URL+locA[1], "", ""); res.StatusCode != 200 {
		t.Fatalf("DELETE: got %d", res.StatusCode)
	} else {
		res.Body.Close()
	}
	if res, body := postFrom(t, whep, "198.51.100.1", "", viewerOffer(t)); res.StatusCode != 201 {
		t.Fatalf("WHEP from A after a DELETE: got %d %s, want 201", res.StatusCode, body)
	}

	// A peer that connects leaves the bound: A frees one slot, fills it
	// with a real viewer, and once that one plays A has a slot again.
	if res := doSDP(t, "DELETE", srv.URL+locA[2], "", ""); res.StatusCode != 200 {
		t.Fatalf("DELETE: got %d", res.StatusCode)
	} else {
		res.Body.Close()
	}
	pc := recvOnlyPeer(t, clientAPI(t, nil))
	defer pc.Close()
	offer, _ := pc.CreateOffer(nil)
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	res, body = postFrom(t, whep, "198.51.100.1", "", pc.LocalDescription().SDP)
	if res.StatusCode != 201 {
		t.Fatalf("WHEP of a real viewer from A: got %d %s", res.StatusCode, body)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the viewer has connected", func() bool { return pending() == 4 })
	if res, body := postFrom(t, whep, "198.51.100.1", "", viewerOffer(t)); res.StatusCode != 201 {
		t.Fatalf("WHEP from A after its viewer connected: got %d %s, want 201", res.StatusCode, body)
	}
	if n := r.svc.viewerCount("shop"); n != 6 {
		t.Errorf("viewers: got %d, want 6 (5 pending, 1 playing)", n)
	}
}

// TestPendingWHIPBounded: WHIP sessions count against the same bound as
// WHEP ones.
func TestPendingWHIPBounded(t *testing.T) {
	r := mustRelay(t, func(c *Config) { c.MaxPendingPerClient = 2 })
	srv := mustClientServer(t, r)
	host := r.token(t, "host1", auth.Host)
	for _, id := range []string{"s1", "s2", "s3"} {
		r.stream(t, id, "host1")
	}
	for _, id := range []string{"s1", "s2"} {
		if res, body := postFrom(t, srv.URL+"/api/streams/"+id+"/whip", "198.51.100.7", host, publisherOffer(t, vp8Codec)); res.StatusCode != 201 {
			t.Fatalf("WHIP %s: got %d %s, want 201", id, res.StatusCode, body)
		}
	}
	res, body := postFrom(t, srv.URL+"/api/streams/s3/whip", "198.51.100.7", host, publisherOffer(t, vp8Codec))
	wantRefused(t, res, body, 429, "rate_limited")
	res, body = postFrom(t, srv.URL+"/api/streams/s1/whep", "198.51.100.7", "", viewerOffer(t))
	wantRefused(t, res, body, 429, "rate_limited")
	if v, _ := r.svc.View(t.Context(), "s3"); v.Status != "offline" {
		t.Errorf("s3 after a refused WHIP: got %q, want offline", v.Status)
	}
	// A same-host WHIP that replaces its own pending session on s1 takes
	// the old one's slot: it is not refused.
	if res, body := postFrom(t, srv.URL+"/api/streams/s1/whip", "198.51.100.8", host, publisherOffer(t, vp8Codec)); res.StatusCode != 201 {
		t.Fatalf("WHIP s1 again: got %d %s, want 201", res.StatusCode, body)
	}
	if res, body := postFrom(t, srv.URL+"/api/streams/s3/whip", "198.51.100.7", host, publisherOffer(t, vp8Codec)); res.StatusCode != 201 {
		t.Fatalf("WHIP s3 after s1's session was replaced: got %d %s, want 201", res.StatusCode, body)
	}
}

// TestPendingTimeout: a peer that never connects is released after
// ConnectTimeout, and with it its slot.
func TestPendingTimeout(t *testing.T) {
	r := mustRelay(t, func(c *Config) {
		c.MaxPendingPerClient = 2
		c.ConnectTimeout = 300 * time.Millisecond
	})
	srv := mustClientServer(t, r)
	r.stream(t, "shop", "host1")
	startPublisher(t, r.srv.URL, "shop", r.token(t, "host1", auth.Host), vp8Codec, 'A', 30)
	whep := srv.URL + "/api/streams/shop/whep"
	for range 2 {
		if res, body := postFrom(t, whep, "198.51.100.1", "", viewerOffer(t)); res.StatusCode != 201 {
			t.Fatalf("WHEP: got %d %s, want 201", res.StatusCode, body)
		}
	}
	eventually(t, "the unconnected viewers are released", func() bool {
		return counterValue(t, r.reg, "livecart_stream_pending_sessions") == 0 && r.svc.viewerCount("shop") == 0
	})
	if res, body := postFrom(t, whep, "198.51.100.1", "", viewerOffer(t)); res.StatusCode != 201 {
		t.Fatalf("WHEP after the timeout: got %d %s, want 201", res.StatusCode, body)
	}
}
