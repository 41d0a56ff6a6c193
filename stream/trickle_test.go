package stream

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/auth"
)

const (
	fragUfrag = "EsAw"
	fragPwd   = "P2uYro0UCOQ4zxjKXaWCBui1"
	fragCand  = "candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1"
)

func TestParseSDPFrag(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		ok         bool
		ufrag, pwd string
		cands      int
		end        bool
		mid        string
	}{
		{"RFC 8840 example", "a=ice-options:trickle ice2\r\na=group:BUNDLE 0 1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=ice-ufrag:" + fragUfrag + "\r\na=ice-pwd:" + fragPwd + "\r\na=" + fragCand + "\r\na=end-of-candidates\r\n",
			true, fragUfrag, fragPwd, 1, true, "0"},
		{"bare newlines", "a=ice-ufrag:" + fragUfrag + "\na=ice-pwd:" + fragPwd + "\nm=video 9 UDP/TLS/RTP/SAVPF 96\na=mid:v\na=" + fragCand + "\n",
			true, fragUfrag, fragPwd, 1, false, "v"},
		{"end of candidates alone", "a=end-of-candidates\r\n", true, "", "", 0, true, ""},
		{"mDNS candidate", "a=candidate:1 1 udp 2122260223 4b1e5a36-0b8a-4a2e-9f2b-0f4c1b5d5c1a.local 50000 typ host\r\n", true, "", "", 1, false, ""},
		{"unknown candidate type skipped", "a=candidate:1 1 udp 1 192.0.2.1 1 typ martian\r\na=end-of-candidates\r\n", true, "", "", 0, true, ""},
		{"empty", "", false, "", "", 0, false, ""},
		{"only blank lines", "\r\n\r\n", false, "", "", 0, false, ""},
		{"not SDP", "hello", false, "", "", 0, false, ""},
		{"JSON", `{"candidate":"candidate:1 1 udp 1 192.0.2.1 1 typ host"}`, false, "", "", 0, false, ""},
		{"bad candidate", "a=candidate:what is this\r\n", false, "", "", 0, false, ""},
		{"bad port", "a=candidate:1 1 udp 1 192.0.2.1 99999 typ host\r\n", false, "", "", 0, false, ""},
		{"short ufrag", "a=ice-ufrag:ab\r\na=ice-pwd:" + fragPwd + "\r\n", false, "", "", 0, false, ""},
		{"ufrag with a space", "a=ice-ufrag:ab cd\r\n", false, "", "", 0, false, ""},
		{"two ufrags", "a=ice-ufrag:abcd\r\na=ice-ufrag:efgh\r\n", false, "", "", 0, false, ""},
		{"short pwd", "a=ice-ufrag:" + fragUfrag + "\r\na=ice-pwd:short\r\n", false, "", "", 0, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseSDPFrag(tc.body)
			if (err == nil) != tc.ok {
				t.Fatalf("parseSDPFrag: got error %v, want ok %v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			if f.ufrag != tc.ufrag || f.pwd != tc.pwd || len(f.cands) != tc.cands || f.end != tc.end {
				t.Errorf("got ufrag %q pwd %q %d candidates end %v, want %q %q %d %v", f.ufrag, f.pwd, len(f.cands), f.end, tc.ufrag, tc.pwd, tc.cands, tc.end)
			}
			if tc.cands > 0 && (f.cands[0].mid != tc.mid || !strings.HasPrefix(f.cands[0].value, "candidate:")) {
				t.Errorf("candidate: got %+v, want mid %q", f.cands[0], tc.mid)
			}
		})
	}
}

func TestIfMatch(t *testing.T) {
	const etag = `"abc"`
	for _, tc := range []struct {
		header []string
		want   bool
	}{
		{nil, true},
		{[]string{"*"}, true},
		{[]string{`"abc"`}, true},
		{[]string{`"x", "abc"`}, true},
		{[]string{`"x"`, `"abc"`}, true},
		{[]string{`"x"`}, false},
		{[]string{`W/"abc"`}, false},
		{[]string{`abc`}, false},
	} {
		if got := matches(tc.header, etag); got != tc.want {
			t.Errorf("If-Match %q against %s: got %v, want %v", tc.header, etag, got, tc.want)
		}
	}
}

// patch sends a PATCH with a trickle-ice-sdpfrag body.
func patch(tb testing.TB, url, token, ctype, ifMatch, body string) *http.Response {
	tb.Helper()
	return doRequest(tb, "PATCH", url, token, body, "Content-Type", ctype, "If-Match", ifMatch)
}

// trickleViewer is a WHEP client that trickles: its offer carries no
// candidate, and each candidate is sent by PATCH as it is gathered.
type trickleViewer struct {
	*testViewer
	etag string
}

// startTrickleViewer plays stream, sending its offer before any candidate
// and then its candidates one PATCH each, and end-of-candidates.
func startTrickleViewer(tb testing.TB, base, stream string) *trickleViewer {
	tb.Helper()
	pc := recvOnlyPeer(tb, clientAPI(tb, nil))
	v := &testViewer{pc: pc, gotKey: make(chan struct{}), gotAudio: make(chan struct{})}
	tb.Cleanup(v.close)
	var keyOnce sync.Once
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.wg.Add(1)
		defer v.wg.Done()
		for {
			pk, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				v.mu.Lock()
				v.video = append(v.video, rxPacket{ssrc: pk.SSRC, seq: pk.SequenceNumber})
				v.mu.Unlock()
				keyOnce.Do(func() { close(v.gotKey) })
			}
		}
	})
	cands := make(chan *webrtc.ICECandidate, 64)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) { cands <- c })
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		tb.Fatal(err)
	}
	if strings.Contains(offer.SDP, "a=candidate") {
		tb.Fatal("the offer carries candidates; a trickling client sends it before it has any")
	}
	res := doSDP(tb, "POST", base+"/api/streams/"+stream+"/whep", "", offer.SDP)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		tb.Fatalf("POST: got %d %s, want 201", res.StatusCode, body)
	}
	tv := &trickleViewer{testViewer: v, etag: res.Header.Get("ETag")}
	v.location = res.Header.Get("Location")
	if tv.etag == "" || res.Header.Get("Accept-Patch") != SDPFragType {
		tb.Fatalf("201: ETag %q, Accept-Patch %q; want an ETag and %s", tv.etag, res.Header.Get("Accept-Patch"), SDPFragType)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		tb.Fatal(err)
	}
	ufrag, pwd := localCreds(tb, pc)
	for c := range cands {
		frag := "a=ice-ufrag:" + ufrag + "\r\na=ice-pwd:" + pwd + "\r\n"
		if c == nil {
			frag += "a=end-of-candidates\r\n"
		} else {
			init := c.ToJSON()
			frag += fmt.Sprintf("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:%s\r\na=%s\r\n", *init.SDPMid, init.Candidate)
		}
		res := patch(tb, base+v.location, "", SDPFragType, tv.etag, frag)
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			tb.Fatalf("trickle PATCH: got %d, want 204", res.StatusCode)
		}
		if c == nil {
			break
		}
	}
	return tv
}

// localCreds returns the ICE credentials of pc's local description.
func localCreds(tb testing.TB, pc *webrtc.PeerConnection) (ufrag, pwd string) {
	tb.Helper()
	d, err := parseSDP(pc.LocalDescription().SDP)
	if err != nil {
		tb.Fatal(err)
	}
	return iceCreds(d)
}

// remoteCandidates returns the remote candidates pc's ICE agent knows, as
// "type ip:port".
func remoteCandidates(pc *webrtc.PeerConnection) []string {
	var out []string
	for _, st := range pc.GetStats() {
		if c, ok := st.(webrtc.ICECandidateStats); ok && c.Type == webrtc.StatsTypeRemoteCandidate {
			out = append(out, fmt.Sprintf("%s %s:%d", c.CandidateType, c.IP, c.Port))
		}
	}
	return out
}

// TestTricklePATCH: a viewer that sends its offer without candidates and
// trickles them by PATCH plays, and the server's ICE agent has its
// candidates (host candidates, which it cannot have learned otherwise).
func TestTricklePATCH(t *testing.T) {
	r := mustRelay(t, nil)
	r.stream(t, "shop", "host1")
	startPublisher(t, r.srv.URL, "shop", r.token(t, "host1", auth.Host), h264Codec, 'A', 30)
	v := startTrickleViewer(t, r.srv.URL, "shop")
	waitFor(t, v.gotKey, "video on the trickling viewer")

	sv := r.svc.whepSession("shop", v.location[strings.LastIndex(v.location, "/")+1:])
	if sv == nil {
		t.Fatal("the WHEP session is not in the room")
	}
	var host []string
	for _, c := range v.pc.GetStats() {
		if c, ok := c.(webrtc.ICECandidateStats); ok && c.Type == webrtc.StatsTypeLocalCandidate && c.CandidateType == webrtc.ICECandidateTypeHost {
			host = append(host, fmt.Sprintf("host %s:%d", c.IP, c.Port))
		}
	}
	if len(host) == 0 {
		t.Fatal("the viewer has no host candidate")
	}
	// The agent adds a remote candidate on its own goroutine.
	found := func() bool {
		for _, g := range remoteCandidates(sv.pc) {
			for _, h := range host {
				if g == h {
					return true
				}
			}
		}
		return false
	}
	deadline := time.Now().Add(5 * time.Second)
	for !found() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !found() {
		t.Errorf("the server's remote candidates %q hold none of the viewer's trickled host candidates %q", remoteCandidates(sv.pc), host)
	}
}

// TestPATCHErrors: what a PATCH on a session answers when it cannot be
// applied.
func TestPATCHErrors(t *testing.T) {
	r := mustRelay(t, nil)
	r.stream(t, "shop", "host1")
	host := r.token(t, "host1", auth.Host)
	pub := startPublisher(t, r.srv.URL, "shop", host, h264Codec, 'A', 30)
	res := doSDP(t, "POST", r.srv.URL+"/api/streams/shop/whep", "", viewerOffer(t))
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("WHEP: got %d", res.StatusCode)
	}
	whep, etag := res.Header.Get("Location"), res.Header.Get("ETag")
	whip := pub.location
	trickle := "a=ice-ufrag:" + fragUfrag + "\r\na=ice-pwd:" + fragPwd + "\r\na=candidate:1 1 udp 2122260223 192.0.2.1 61764 typ host\r\n"
	noCreds := "a=candidate:1 1 udp 2122260223 192.0.2.1 61764 typ host\r\n"

	for _, tc := range []struct {
		name, path, token, ctype, ifMatch, body string
		status                                  int
		code                                    string
	}{
		{"WHEP unknown session", "/api/streams/shop/whep/0123abcd", "", SDPFragType, "", noCreds, 404, "not_found"},
		{"WHEP unknown stream", "/api/streams/nope/whep/0123abcd", "", SDPFragType, "", noCreds, 404, "not_found"},
		{"WHEP content type", whep, "", "application/sdp", "", noCreds, 415, "bad_request"},
		{"WHEP no content type", whep, "", "", "", noCreds, 415, "bad_request"},
		{"WHEP bad fragment", whep, "", SDPFragType, "", "hello", 400, "bad_request"},
		{"WHEP bad candidate", whep, "", SDPFragType, "", "a=candidate:1 1 udp x 192.0.2.1 1 typ host\r\n", 400, "bad_request"},
		{"WHEP empty", whep, "", SDPFragType, "", "", 400, "bad_request"},
		{"WHEP too large", whep, "", SDPFragType, "", strings.Repeat("a=x\r\n", MaxSDPFrag/5+1), 413, "bad_request"},
		{"WHEP stale ETag", whep, "", SDPFragType, `"stale"`, noCreds, 412, "bad_request"},
		{"WHEP restart without pwd", whep, "", SDPFragType, "", "a=ice-ufrag:" + fragUfrag + "\r\n", 400, "bad_request"},
		{"WHIP no token", whip, "", SDPFragType, "", trickle, 401, "unauthorized"},
		{"WHIP another host", whip, r.token(t, "host2", auth.Host), SDPFragType, "", noCreds, 403, "forbidden"},
		{"WHIP unknown session", "/api/streams/shop/whip/0123abcd", host, SDPFragType, "", noCreds, 404, "not_found"},
		{"WHIP content type", whip, host, "text/plain", "", noCreds, 415, "bad_request"},
		{"WHIP bad fragment", whip, host, SDPFragType, "", "v=0\r\nnot a fragment\r\n", 400, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, patch(t, r.srv.URL+tc.path, tc.token, tc.ctype, tc.ifMatch, tc.body), tc.status, tc.code)
		})
	}
	// What is allowed: a trickle with the ETag, with "*", and by the host.
	for _, tc := range []struct{ name, path, token, ifMatch string }{
		{"WHEP with its ETag", whep, "", etag},
		{"WHEP with *", whep, "", "*"},
		{"WHIP by its host", whip, host, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := patch(t, r.srv.URL+tc.path, tc.token, SDPFragType+"; charset=utf-8", tc.ifMatch, noCreds)
			res.Body.Close()
			if res.StatusCode != 204 {
				t.Errorf("PATCH: got %d, want 204", res.StatusCode)
			}
		})
	}
}

// restartICE has a connected client pc restart ICE over PATCH as RFC 9725
// section 4.3.2 describes: it sends only the ICE fragment of its new offer
// and applies the server's fragment to its remote description. It
// returns the new ETag.
func restartICE(tb testing.TB, pc *webrtc.PeerConnection, url, token, ifMatch string) string {
	tb.Helper()
	offer, err := pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		tb.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		tb.Fatal(err)
	}
	<-gathered
	frag, err := fragOf(pc.LocalDescription().SDP)
	if err != nil {
		tb.Fatal(err)
	}
	res := patch(tb, url, token, SDPFragType, ifMatch, frag)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != SDPFragType {
		tb.Fatalf("ICE restart PATCH: got %d %q %s, want 200 %s", res.StatusCode, res.Header.Get("Content-Type"), body, SDPFragType)
	}
	answer, err := parseSDPFrag(string(body))
	if err != nil {
		tb.Fatalf("the server's fragment: %v\n%s", err, body)
	}
	if answer.ufrag == "" || answer.pwd == "" || len(answer.cands) == 0 || !answer.end {
		tb.Fatalf("the server's fragment lacks credentials or candidates:\n%s", body)
	}
	remote, err := withICE(pc.RemoteDescription().SDP, answer.ufrag, answer.pwd)
	if err != nil {
		tb.Fatal(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: remote}); err != nil {
		tb.Fatal(err)
	}
	for _, c := range answer.cands {
		if err := pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c.value}); err != nil {
			tb.Fatal(err)
		}
	}
	etag := res.Header.Get("ETag")
	if etag == "" {
		tb.Fatal("the ICE restart's 200 has no ETag")
	}
	return etag
}

// iceWatch records a client's ICE connection states.
type iceWatch struct {
	mu     sync.Mutex
	states []webrtc.ICEConnectionState
}

func watchICE(pc *webrtc.PeerConnection) *iceWatch {
	w := &iceWatch{}
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.states = append(w.states, s)
	})
	return w
}

// reconnected reports whether ICE went checking, then connected, after
// the first n states.
func (w *iceWatch) reconnected(n int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	checking := false
	for _, s := range w.states[min(n, len(w.states)):] {
		checking = checking || s == webrtc.ICEConnectionStateChecking
		if checking && s == webrtc.ICEConnectionStateConnected {
			return true
		}
	}
	return false
}

func (w *iceWatch) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.states)
}

// TestICERestart: a WHEP viewer and then the WHIP publisher restart ICE by
// PATCH; each keeps its session (the same resource, PeerConnection and
// tracks), media flows on, and the ETag changes.
func TestICERestart(t *testing.T) {
	r := mustRelay(t, nil)
	r.stream(t, "shop", "host1")
	host := r.token(t, "host1", auth.Host)
	pub := startPublisher(t, r.srv.URL, "shop", host, h264Codec, 'A', 30)
	pubWatch := watchICE(pub.pc)
	v := startTrickleViewer(t, r.srv.URL, "shop")
	viewWatch := watchICE(v.pc)
	waitFor(t, v.gotKey, "video")
	eventually(t, "the viewer's ICE reports connected", func() bool { return v.pc.ICEConnectionState() == webrtc.ICEConnectionStateConnected })
	vid := v.location[strings.LastIndex(v.location, "/")+1:]
	session := r.svc.whepSession("shop", vid)
	received := func() int {
		got, _ := v.snapshot()
		return len(got)
	}
	flows := func(what string) {
		t.Helper()
		n := received()
		eventually(t, what, func() bool { return received() > n+30 })
	}

	t.Run("WHEP", func(t *testing.T) {
		before, _ := localCreds(t, session.pc)
		n := viewWatch.len()
		etag := restartICE(t, v.pc, r.srv.URL+v.location, "", v.etag)
		if etag == v.etag {
			t.Errorf("ETag after the restart: got the old %s, want a new one", etag)
		}
		eventually(t, "the viewer's ICE connects again", func() bool { return viewWatch.reconnected(n) })
		flows("video flows after the viewer's ICE restart")
		if got := r.svc.whepSession("shop", vid); got != session {
			t.Fatalf("the WHEP session changed with the restart")
		}
		if after, _ := localCreds(t, session.pc); after == before {
			t.Errorf("the server's ICE ufrag is still %q after the restart", after)
		}
		if n := r.svc.viewerCount("shop"); n != 1 {
			t.Errorf("viewers: got %d, want 1", n)
		}
		// The old ETag is stale now; a trickle with the new one applies.
		wantProblem(t, patch(t, r.srv.URL+v.location, "", SDPFragType, v.etag, "a=end-of-candidates\r\n"), 412, "bad_request")
		res := patch(t, r.srv.URL+v.location, "", SDPFragType, etag, "a=end-of-candidates\r\n")
		res.Body.Close()
		if res.StatusCode != 204 {
			t.Errorf("trickle with the new ETag: got %d, want 204", res.StatusCode)
		}
	})

	t.Run("WHIP", func(t *testing.T) {
		pid := pub.location[strings.LastIndex(pub.location, "/")+1:]
		before := r.svc.whipSession("shop", pid)
		if before == nil {
			t.Fatal("the WHIP session is not the room's publisher")
		}
		n := pubWatch.len()
		restartICE(t, pub.pc, r.srv.URL+pub.location, host, "*")
		eventually(t, "the publisher's ICE connects again", func() bool { return pubWatch.reconnected(n) })
		flows("video flows to the viewer after the publisher's ICE restart")
		if got := r.svc.whipSession("shop", pid); got != before {
			t.Fatalf("the WHIP session changed with the restart")
		}
		if !r.events.has("shop:live") || r.events.has("shop:offline") {
			t.Errorf("events: got %v, want live and never offline", r.events.events())
		}
	})
}
