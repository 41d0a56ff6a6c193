package stream

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// offerFrom returns a complete offer of a fresh client PeerConnection,
// closed afterwards.
func offerFrom(tb testing.TB, codecs []webrtc.RTPCodecParameters, dir webrtc.RTPTransceiverDirection, kinds ...webrtc.RTPCodecType) string {
	tb.Helper()
	pc, err := clientAPI(tb, codecs).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	defer pc.Close()
	for _, k := range kinds {
		if dir == webrtc.RTPTransceiverDirectionSendonly {
			c := opusCodec
			if k == webrtc.RTPCodecTypeVideo {
				c = codecs[0]
			}
			tr, _ := webrtc.NewTrackLocalStaticRTP(c.RTPCodecCapability, k.String(), "x")
			if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
				tb.Fatal(err)
			}
			continue
		}
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
			tb.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		tb.Fatal(err)
	}
	<-g
	return pc.LocalDescription().SDP
}

func viewerOffer(tb testing.TB) string {
	return offerFrom(tb, nil, webrtc.RTPTransceiverDirectionRecvonly, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
}

func publisherOffer(tb testing.TB, video webrtc.RTPCodecParameters) string {
	return offerFrom(tb, []webrtc.RTPCodecParameters{video, opusCodec}, webrtc.RTPTransceiverDirectionSendonly,
		webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
}

// wantProblem checks a problem+json answer's status and code.
func wantProblem(tb testing.TB, res *http.Response, status int, code string) {
	tb.Helper()
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		tb.Fatalf("status: got %d (%s), want %d", res.StatusCode, body, status)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		tb.Fatalf("Content-Type: got %q, want application/problem+json", ct)
	}
	var p struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Code != code || p.Detail == "" {
		tb.Fatalf("problem: got %s, want code %q with a detail", body, code)
	}
}

func TestWHIPErrors(t *testing.T) {
	r := mustRelay(t, nil)
	r.stream(t, "shop", "host1")
	host := r.token(t, "host1", auth.Host)
	good := publisherOffer(t, vp8Codec)
	h265 := webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "video/H265", ClockRate: 90000}}
	pcmu := webrtc.RTPCodecParameters{PayloadType: 0, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}}
	unusable := offerFrom(t, []webrtc.RTPCodecParameters{h265, pcmu}, webrtc.RTPTransceiverDirectionSendonly, webrtc.RTPCodecTypeVideo)

	for _, tc := range []struct {
		name, stream, token, ctype, body string
		status                           int
		code                             string
	}{
		{"no token", "shop", "", "application/sdp", good, 401, "unauthorized"},
		{"bad token", "shop", "not-a-token", "application/sdp", good, 401, "unauthorized"},
		{"another host", "shop", r.token(t, "host2", auth.Host), "application/sdp", good, 403, "forbidden"},
		{"a viewer", "shop", r.token(t, "host1", auth.Viewer), "application/sdp", good, 403, "forbidden"},
		{"no such stream", "nope", host, "application/sdp", good, 404, "not_found"},
		{"content type", "shop", host, "application/json", good, 415, "bad_request"},
		{"no content type", "shop", host, "", good, 415, "bad_request"},
		{"empty", "shop", host, "application/sdp", "", 400, "bad_request"},
		{"malformed", "shop", host, "application/sdp", "v=0\r\nthis is not sdp\r\n", 400, "bad_request"},
		{"too large", "shop", host, "application/sdp", good + strings.Repeat("a=x\r\n", MaxSDP/5), 413, "bad_request"},
		{"no usable codec", "shop", host, "application/sdp", unusable, 400, "bad_request"},
		{"receive-only offer", "shop", host, "application/sdp", viewerOffer(t), 400, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", r.srv.URL+"/api/streams/"+tc.stream+"/whip", strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			res, err := testHTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			wantProblem(t, res, tc.status, tc.code)
		})
	}
	// Nothing was left allocated: no room, no publisher, stream offline.
	if rm := r.svc.room("shop"); rm != nil {
		t.Errorf("a room exists after failed WHIPs")
	}
	if got := counterValue(t, r.reg, "livecart_stream_publishers"); got != 0 {
		t.Errorf("publishers gauge: got %v, want 0", got)
	}
	if v, _ := r.svc.View(t.Context(), "shop"); v.Status != "offline" {
		t.Errorf("status: got %q, want offline", v.Status)
	}
}

func TestWHEPErrors(t *testing.T) {
	r := mustRelay(t, nil)
	r.stream(t, "shop", "host1")
	startPublisher(t, r.srv.URL, "shop", r.token(t, "host1", auth.Host), h264Codec, 'A', 30)
	vp8Only := offerFrom(t, []webrtc.RTPCodecParameters{vp8Codec, opusCodec}, webrtc.RTPTransceiverDirectionRecvonly, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
	for _, tc := range []struct {
		name, stream, token, ctype, body string
		status                           int
		code                             string
	}{
		{"no such stream", "nope", "", "application/sdp", viewerOffer(t), 404, "not_found"},
		{"bad token", "shop", "garbage", "application/sdp", viewerOffer(t), 401, "unauthorized"},
		{"content type", "shop", "", "text/plain", viewerOffer(t), 415, "bad_request"},
		{"malformed", "shop", "", "application/sdp", "hello", 400, "bad_request"},
		{"too large", "shop", "", "application/sdp", strings.Repeat("x", MaxSDP+1), 413, "bad_request"},
		{"codec the stream does not use", "shop", "", "application/sdp", vp8Only, 400, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", r.srv.URL+"/api/streams/"+tc.stream+"/whep", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ctype)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			res, err := testHTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			wantProblem(t, res, tc.status, tc.code)
		})
	}
	if n := r.svc.viewerCount("shop"); n != 0 {
		t.Errorf("viewers after failed WHEPs: got %d, want 0", n)
	}
	if got := counterValue(t, r.reg, "livecart_stream_viewers"); got != 0 {
		t.Errorf("viewers gauge: got %v, want 0", got)
	}
}

func TestWHIPResource(t *testing.T) {
	r := mustRelay(t, func(c *Config) {
		c.ICEServers = []string{"stun:stun.example.net:3478", "turn:ana:s3cret@turn.example.net:3478?transport=udp"}
	})
	r.stream(t, "shop", "host1")
	host := r.token(t, "host1", auth.Host)

	// OPTIONS advertises SDP and the ICE servers.
	res := doSDP(t, "OPTIONS", r.srv.URL+"/api/streams/shop/whip", "", "")
	res.Body.Close()
	if res.StatusCode != 204 || res.Header.Get("Accept-Post") != "application/sdp" {
		t.Fatalf("OPTIONS: got %d Accept-Post %q", res.StatusCode, res.Header.Get("Accept-Post"))
	}

	pc, err := clientAPI(t, []webrtc.RTPCodecParameters{vp8Codec, opusCodec}).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tr, _ := webrtc.NewTrackLocalStaticRTP(vp8Codec.RTPCodecCapability, "v", "s")
	pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	offer, _ := pc.CreateOffer(nil)
	g := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(offer)
	<-g
	res = doSDP(t, "POST", r.srv.URL+"/api/streams/shop/whip", host, pc.LocalDescription().SDP)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("WHIP: got %d %s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/sdp" {
		t.Errorf("Content-Type: got %q", ct)
	}
	loc := res.Header.Get("Location")
	if res.Header.Get("ETag") == "" || res.Header.Get("Accept-Patch") != SDPFragType {
		t.Errorf("201: ETag %q, Accept-Patch %q; want an ETag and %s", res.Header.Get("ETag"), res.Header.Get("Accept-Patch"), SDPFragType)
	}
	if !strings.HasPrefix(loc, "/api/streams/shop/whip/") || len(loc) < len("/api/streams/shop/whip/")+32 {
		t.Errorf("Location: got %q", loc)
	}
	wantLinks := []string{
		`<stun:stun.example.net:3478>; rel="ice-server"`,
		`<turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="ana"; credential="s3cret"; credential-type="password"`,
	}
	if got := res.Header.Values("Link"); strings.Join(got, "\n") != strings.Join(wantLinks, "\n") {
		t.Errorf("Link: got %q, want %q", got, wantLinks)
	}
	if !strings.Contains(string(body), "VP8") || strings.Contains(string(body), "H264") {
		t.Errorf("answer should offer exactly the publisher's codec:\n%s", body)
	}
	if !r.events.has("shop:live") {
		t.Errorf("events: got %v, want shop:live", r.events.events())
	}

	// A different publisher (an admin) on a live stream: 409.
	res = doSDP(t, "POST", r.srv.URL+"/api/streams/shop/whip", r.token(t, "boss", auth.Admin), publisherOffer(t, vp8Codec))
	wantProblem(t, res, 409, "conflict")

	// PATCH (trickle ICE, ICE restart: trickle_test.go) needs the host's
	// token and a trickle-ice-sdpfrag.
	res = doSDP(t, "PATCH", r.srv.URL+loc, "", "")
	wantProblem(t, res, 401, "unauthorized")
	res = doSDP(t, "PATCH", r.srv.URL+loc, host, "")
	wantProblem(t, res, 415, "bad_request")
	res = doSDP(t, "PATCH", r.srv.URL+loc, host, "v=0\r\n")
	wantProblem(t, res, 415, "bad_request")
	// DELETE needs the host's token.
	res = doSDP(t, "DELETE", r.srv.URL+loc, "", "")
	wantProblem(t, res, 401, "unauthorized")
	res = doSDP(t, "DELETE", r.srv.URL+loc, r.token(t, "host2", auth.Host), "")
	wantProblem(t, res, 403, "forbidden")
	res = doSDP(t, "DELETE", r.srv.URL+"/api/streams/shop/whip/0123", host, "")
	wantProblem(t, res, 404, "not_found")
	res = doSDP(t, "DELETE", r.srv.URL+loc, host, "")
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("DELETE: got %d, want 200", res.StatusCode)
	}
	eventually(t, "the publisher is released", func() bool {
		return counterValue(t, r.reg, "livecart_stream_publishers") == 0
	})
}

// TestCORSPreflight: behind the API's CORS layer as cmd/livecart wires it
// (api.Origins, WHEP open to every origin), a browser may trickle and
// restart ICE: the preflight of a PATCH is answered by the session's
// OPTIONS with the CORS headers, for WHEP from any origin and for WHIP
// from the allowed ones.
func TestCORSPreflight(t *testing.T) {
	const shop, other = "https://shop.example", "https://player.example"
	r := mustRelay(t, nil)
	mux := http.NewServeMux()
	r.svc.Routes(mux)
	isWHEP := func(req *http.Request) bool { return strings.Contains(req.URL.Path, "/whep") }
	srv := httptest.NewServer(api.NewOrigins([]string{shop}).CORS(mux, isWHEP))
	t.Cleanup(srv.Close)
	preflight := func(path, origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", srv.URL+path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "PATCH")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,if-match")
		res, err := testHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for _, tc := range []struct{ path, origin string }{
		{"/api/streams/shop/whep/0123abcd", other},
		{"/api/streams/shop/whip/0123abcd", shop},
	} {
		res := preflight(tc.path, tc.origin)
		h := res.Header
		if res.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != tc.origin ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "PATCH") ||
			!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "if-match") ||
			h.Get("Accept-Patch") != SDPFragType {
			t.Errorf("preflight PATCH %s from %s: got %d %v, want 204 allowing PATCH with If-Match, and Accept-Patch", tc.path, tc.origin, res.StatusCode, h)
		}
	}
	if res := preflight("/api/streams/shop/whip/0123abcd", other); res.StatusCode != 403 {
		t.Errorf("preflight PATCH on WHIP from %s: got %d, want 403", other, res.StatusCode)
	}
	// A WHEP PATCH from any origin may read the ETag of a restart.
	req, _ := http.NewRequest("PATCH", srv.URL+"/api/streams/shop/whep/0123abcd", strings.NewReader("a=end-of-candidates\r\n"))
	req.Header.Set("Origin", other)
	req.Header.Set("Content-Type", SDPFragType)
	res, err := testHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 || res.Header.Get("Access-Control-Allow-Origin") != other || !strings.Contains(strings.ToLower(res.Header.Get("Access-Control-Expose-Headers")), "etag") {
		t.Errorf("PATCH on WHEP from %s: got %d %v, want 404 with CORS headers exposing ETag", other, res.StatusCode, res.Header)
	}
}
