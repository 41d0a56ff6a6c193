package stream

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/livecart/livecart/auth"
)

// offerSeeds returns offers derived from a valid one: truncated, with
// huge attribute values, wrong or too many m-lines, broken ICE and DTLS
// attributes, odd line endings and bytes that are not UTF-8.
func offerSeeds(valid string) []string {
	lines := strings.Split(strings.TrimRight(valid, "\r\n"), "\r\n")
	without := func(prefix string) string {
		var out []string
		for _, l := range lines {
			if !strings.HasPrefix(l, prefix) {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\r\n") + "\r\n"
	}
	var media strings.Builder
	for range 300 {
		media.WriteString("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:x\r\na=rtpmap:96 VP8/90000\r\na=recvonly\r\n")
	}
	return []string{
		valid,
		valid[:len(valid)/2],
		valid[:len(valid)/3],
		valid[:20],
		"v=0\r\n",
		"\r\n \r\n",
		valid + "a=fmtp:96 " + strings.Repeat("x", 60000) + "\r\n",
		strings.Replace(valid, "a=ice-ufrag:", "a=ice-ufrag:"+strings.Repeat("u", 20000), 1),
		valid + "a=" + strings.Repeat("k", 30000) + ":" + strings.Repeat("v", 30000) + "\r\n",
		strings.ReplaceAll(valid, "m=video", "m=text"),
		strings.ReplaceAll(valid, "m=audio", "m=application"),
		strings.Replace(valid, "m=video 9 UDP/TLS/RTP/SAVPF", "m=video 0 RTP/AVP", 1),
		strings.Replace(valid, "m=video 9 UDP/TLS/RTP/SAVPF", "m=video", 1),
		valid + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:9\r\n",
		valid + media.String(),
		without("a=ice-"),
		without("a=fingerprint"),
		without("a=mid"),
		without("a=rtpmap"),
		strings.ReplaceAll(valid, "a=rtpmap:", "a=rtpmap:999"),
		valid + "a=simulcast:send ~;;,\r\na=rid:\r\na=rid:h send pt=a\r\n",
		valid + "a=ssrc-group:FID 1\r\na=ssrc:x cname:\r\na=extmap:99999 x\r\n",
		strings.ReplaceAll(valid, "\r\n", "\n"),
		strings.ReplaceAll(valid, "\r\n", "\r"),
		strings.Replace(valid, "s=-", "s=\xff\xfe\xc0\x80", 1),
		strings.ReplaceAll(valid, "a=mid:", "a=mid:\xed\xa0\x80"),
		"\x00\x01\x02\xff\xfe\xfd",
	}
}

// FuzzOffer feeds arbitrary bytes as a WHIP or WHEP offer through the
// service's HTTP handlers. Whatever the bytes, the answer is a 201 or a
// problem+json 4xx, nothing panics, and the service keeps answering: the
// stream can be read, and a valid WHEP offer still gets its 201.
func FuzzOffer(f *testing.F) {
	r := mustRelay(f, nil)
	r.stream(f, "shop", "host1") // a live stream, for WHEP
	r.stream(f, "fz", "host1")   // the target of fuzzed WHIP offers
	host := r.token(f, "host1", auth.Host)
	startPublisher(f, r.srv.URL, "shop", host, vp8Codec, 'A', 30)
	whep, whip := viewerOffer(f), publisherOffer(f, h264Codec)
	for _, seed := range offerSeeds(whep) {
		f.Add([]byte(seed), false)
	}
	for _, seed := range offerSeeds(whip) {
		f.Add([]byte(seed), true)
	}
	// A simulcast offer, and the same with one layer too many.
	sim := simulcastOffer(f, threeLayers)
	f.Add([]byte(sim), true)
	f.Add([]byte(strings.Replace(sim, "a=simulcast:send mid;full;quarter", "a=simulcast:send mid;full;quarter;x\r\na=rid:x send", 1)), true)

	h := r.srv.Config.Handler
	serve := func(method, path, token string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		if body != nil {
			req.Header.Set("Content-Type", "application/sdp")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	// created checks a 201 and deletes its session, so sessions that will
	// never connect do not pile up against the admission bound.
	created := func(t *testing.T, w *httptest.ResponseRecorder, token string) {
		t.Helper()
		loc := w.Header().Get("Location")
		if w.Header().Get("Content-Type") != "application/sdp" || loc == "" || w.Body.Len() == 0 {
			t.Fatalf("201 without an SDP answer and a Location: %v %q", w.Header(), w.Body.String())
		}
		if d := serve("DELETE", loc, token, nil); d.Code != http.StatusOK {
			t.Fatalf("DELETE %s: got %d %s", loc, d.Code, d.Body.String())
		}
	}
	n := 0
	f.Fuzz(func(t *testing.T, offer []byte, asWHIP bool) {
		path, token := "/api/streams/shop/whep", ""
		if asWHIP {
			path, token = "/api/streams/fz/whip", host
		}
		w := serve("POST", path, token, offer)
		switch {
		case w.Code == http.StatusCreated:
			created(t, w, token)
		case w.Code >= 400 && w.Code < 500:
			var p struct {
				Status int    `json:"status"`
				Code   string `json:"code"`
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("%d with Content-Type %q, want application/problem+json", w.Code, ct)
			}
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != w.Code || p.Code == "" {
				t.Fatalf("%d with body %q, want a problem", w.Code, w.Body.String())
			}
		default:
			t.Fatalf("POST %s: got %d %s, want 201 or a 4xx", path, w.Code, w.Body.String())
		}

		if g := serve("GET", "/api/streams/shop", "", nil); g.Code != http.StatusOK {
			t.Fatalf("GET /api/streams/shop after the offer: got %d %s", g.Code, g.Body.String())
		}
		// Now and then, a valid offer must still be answered.
		if n++; n%16 == 1 {
			sentinel := serve("POST", "/api/streams/shop/whep", "", []byte(whep))
			if sentinel.Code != http.StatusCreated {
				t.Fatalf("a valid WHEP offer after the fuzzed one: got %d %s", sentinel.Code, sentinel.Body.String())
			}
			created(t, sentinel, "")
		}
	})
}
