package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/redistest"
)

// A show on every node: the host publishes to one node (the origin), and
// any other node (an edge) answers WHEP by relaying the stream from the
// origin over one upstream. Real processes of the binary on one
// redis-server, pion peers as the host and the viewers.

// edgeNodeArgs put the nodes' ICE candidates on loopback, where the test
// peers and the other nodes are.
var edgeNodeArgs = []string{"--public-ip", "127.0.0.1"}

// edgeViewer plays a stream over WHEP and records what a player would see
// of its video: whether it started on a keyframe, its SSRCs, the largest
// jump of its sequence numbers and when the last packet came.
type edgeViewer struct {
	pc    *webrtc.PeerConnection
	state e2eStates
	wg    sync.WaitGroup
	once  sync.Once

	mu        sync.Mutex
	video     int
	audio     int
	firstKey  bool // the first video packet starts a keyframe
	ssrcs     map[uint32]bool
	lastSeq   uint16
	maxJump   int // largest distance of a video sequence number from the next expected
	lastVideo time.Time
	resumedAt time.Time // the first video packet after a silence of over half a second
}

// edgeWatch starts a viewer of stream on base.
func edgeWatch(tb testing.TB, base, stream string) *edgeViewer {
	tb.Helper()
	pc, err := e2ePeerAPI(tb).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	v := &edgeViewer{pc: pc, ssrcs: map[uint32]bool{}}
	v.state.watch(pc)
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			tb.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.wg.Add(1)
		defer v.wg.Done()
		for {
			pk, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			v.mu.Lock()
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				if v.video == 0 {
					// VP8 descriptor S=1 PID=0, then the frame tag's P bit 0.
					v.firstKey = len(pk.Payload) > 1 && pk.Payload[0]&0x10 != 0 && pk.Payload[1]&0x01 == 0
				} else if d := int(int16(pk.SequenceNumber - v.lastSeq - 1)); max(d, -d) > v.maxJump {
					v.maxJump = max(d, -d)
				}
				now := time.Now()
				if v.video > 0 && now.Sub(v.lastVideo) > 500*time.Millisecond {
					v.resumedAt = now
				}
				v.ssrcs[pk.SSRC] = true
				v.lastSeq = pk.SequenceNumber
				v.lastVideo = now
				v.video++
			} else {
				v.audio++
			}
			v.mu.Unlock()
		}
	})
	tb.Cleanup(v.close)
	e2eNegotiate(tb, pc, base, base+"/api/streams/"+stream+"/whep", "")
	return v
}

func (v *edgeViewer) close() {
	v.once.Do(func() {
		_ = v.pc.Close()
		v.wg.Wait()
	})
}

func (v *edgeViewer) counts() (video, audio int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.video, v.audio
}

// waitMedia waits until the viewer has received n more video and n more
// audio packets.
func (v *edgeViewer) waitMedia(tb testing.TB, what string, n int) {
	tb.Helper()
	video, audio := v.counts()
	e2eUntil(tb, what, func() bool {
		nv, na := v.counts()
		return nv >= video+n && na >= audio+n
	})
}

// check fails the test unless the viewer's connection never broke, it
// started on a keyframe, and its video is one track: one SSRC, sequence
// numbers never jumping more than a few losses.
func (v *edgeViewer) check(tb testing.TB, name string) {
	tb.Helper()
	if v.state.any(webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed) {
		tb.Errorf("%s: connection went %s, want it connected throughout", name, &v.state)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.firstKey {
		tb.Errorf("%s: the first video packet does not start a keyframe", name)
	}
	if len(v.ssrcs) != 1 {
		tb.Errorf("%s: video came on %d SSRCs, want 1", name, len(v.ssrcs))
	}
	if v.maxJump > 50 {
		tb.Errorf("%s: video sequence numbers jumped by %d, want them continuous", name, v.maxJump)
	}
}

// TestE2EEdges: three nodes on one Redis. The host publishes to A; viewers
// on B and C play through one upstream each; the node endpoint refuses
// everyone but a node; a SIGTERM of another edge disturbs no one; after a
// kill -9 of A, B and C show the stream offline within 10 s; the host
// publishes to B within 30 s and the viewers on C (and B) go on, on the
// same PeerConnection and the same track.
func TestE2EEdges(t *testing.T) {
	rs := redistest.Start(t)
	a := startNode(t, rs.URL(), edgeNodeArgs...)
	b := startNode(t, rs.URL(), edgeNodeArgs...)
	c := startNode(t, rs.URL(), edgeNodeArgs...)
	signer, _ := auth.NewSigner([]byte(testSecret), nil)
	host, _ := signer.Issue(auth.Principal{Sub: "host-e", Name: "Eve", Role: auth.Host}, time.Hour)
	const id = "edges"
	e2eMust(t, 201, "POST", a.URL+"/api/streams", host, map[string]any{"id": id, "title": "Everywhere"}, nil)
	pub := e2ePublish(t, a.URL, id, host, e2eVP8)

	vb := edgeWatch(t, b.URL, id)
	vc := []*edgeViewer{edgeWatch(t, c.URL, id), edgeWatch(t, c.URL, id)}
	all := append([]*edgeViewer{vb}, vc...)
	for i, v := range all {
		v.waitMedia(t, fmt.Sprint("edge viewer ", i, " plays"), 60)
	}
	e2eUntil(t, "every node counts the 3 edge viewers", func() bool {
		return e2eGetStream(t, a.URL, id).Viewers == 3 && e2eGetStream(t, b.URL, id).Viewers == 3
	})
	metric := func(n *nodeProc, name string) string { return hopMetric(t, n, name) }
	for _, m := range []struct {
		n          *nodeProc
		name, want string
	}{
		{a, "livecart_stream_edge_sessions", "2"}, // one per edge, whatever its viewers
		{a, "livecart_stream_viewers", "0"},
		{c, "livecart_stream_upstreams", "1"},
		{c, "livecart_stream_viewers", "2"},
	} {
		if got := metric(m.n, m.name); got != m.want {
			t.Errorf("%s on %s = %q, want %s", m.name, m.n.URL, got, m.want)
		}
	}

	t.Run("node endpoint refusals", func(t *testing.T) {
		old, _ := auth.NewSigner([]byte(testSecret), func() time.Time { return time.Now().Add(-time.Hour) })
		other, _ := auth.NewSigner([]byte("not the nodes' secret at all"), nil)
		nodeTok := func(s *auth.Signer, stream string) string {
			tok, err := s.IssueNode("node-test", stream, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		viewer, _ := signer.Issue(auth.Principal{Sub: "v-e", Role: auth.Viewer}, time.Hour)
		admin, _ := signer.Issue(auth.Principal{Sub: "a-e", Role: auth.Admin}, time.Hour)
		offer := e2eViewerOffer(t)
		for _, c := range []struct {
			name, token string
			status      int
			code        string
		}{
			{"no token", "", 401, "unauthorized"},
			{"expired node token", nodeTok(old, id), 401, "unauthorized"},
			{"node token of another secret", nodeTok(other, id), 401, "unauthorized"},
			{"viewer token", viewer, 403, "forbidden"},
			{"the host's token", host, 403, "forbidden"},
			{"admin token", admin, 403, "forbidden"},
			{"node token for another stream", nodeTok(signer, "other"), 403, "forbidden"},
		} {
			e2eProblem(t, "relay offer with "+c.name, e2eSDP(t, "POST", a.URL+"/api/streams/"+id+"/relay", c.token, offer), c.status, c.code)
		}
		e2eProblem(t, "WHIP with a node token", e2eSDP(t, "POST", a.URL+"/api/streams/"+id+"/whip", nodeTok(signer, id), offer), 401, "unauthorized")
	})

	t.Run("SIGTERM of an edge", func(t *testing.T) {
		d := startNode(t, rs.URL(), edgeNodeArgs...)
		vd := edgeWatch(t, d.URL, id)
		vd.waitMedia(t, "the fourth node's viewer plays", 30)
		d.stop(t)
		e2eUntil(t, "the origin lets go of the stopped edge", func() bool { return metric(a, "livecart_stream_edge_sessions") == "2" })
		for i, v := range all {
			v.waitMedia(t, fmt.Sprint("edge viewer ", i, " plays on"), 60)
		}
	})

	// The origin crashes.
	pub.close()
	killed := time.Now()
	a.kill(t)
	e2eUntil(t, "B and C show the stream offline", func() bool {
		return e2eGetStream(t, b.URL, id).Status == "offline" && e2eGetStream(t, c.URL, id).Status == "offline"
	})
	offline := time.Since(killed)
	t.Logf("offline on B and C %v after kill -9 of the origin", offline.Round(time.Millisecond))

	// The host publishes again, to B, within the grace, at a moment that
	// owes nothing to the nodes' timers.
	time.Sleep(time.Second + rand.N(2*time.Second))
	republished := time.Now()
	pub2 := e2ePublish(t, b.URL, id, host, e2eVP8)
	defer pub2.close()
	for i, v := range all {
		v.waitMedia(t, fmt.Sprint("edge viewer ", i, " resumes"), 60)
	}
	resumed := make([]time.Duration, len(vc))
	for i, v := range vc {
		v.mu.Lock()
		resumed[i] = v.resumedAt.Sub(republished).Round(time.Millisecond)
		v.mu.Unlock()
	}
	t.Logf("video resumed on C %v after the republish to B began", resumed)
	for i, v := range all {
		v.check(t, fmt.Sprint("viewer ", i))
	}
	if s := e2eGetStream(t, c.URL, id); s.Status != "live" {
		t.Errorf("status on C after the republish = %q, want live", s.Status)
	}
	for _, n := range []*nodeProc{b, c} {
		if bytes.Contains([]byte(n.log.String()), []byte("panic")) {
			t.Errorf("node %s logged a panic:\n%s", n.URL, n.log)
		}
	}
	if t.Failed() {
		t.Logf("node C's log:\n%s", c.log)
	}
}

// TestE2EEdgesRedisDown: while Redis is down, an edge goes on relaying
// what it relays, and a node with no upstream yet answers WHEP 503 with
// Retry-After; when Redis is back, after longer than a lease, the show is
// still live everywhere (no node took the missed lease renewals for a
// dead origin) and the other node relays it too.
func TestE2EEdgesRedisDown(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{AppendOnly: true})
	a := startNode(t, rs.URL(), edgeNodeArgs...)
	b := startNode(t, rs.URL(), edgeNodeArgs...)
	c := startNode(t, rs.URL(), edgeNodeArgs...)
	signer, _ := auth.NewSigner([]byte(testSecret), nil)
	host, _ := signer.Issue(auth.Principal{Sub: "host-r", Role: auth.Host}, time.Hour)
	const id = "edges-down"
	e2eMust(t, 201, "POST", a.URL+"/api/streams", host, map[string]any{"id": id, "title": "Through an outage"}, nil)
	e2ePublish(t, a.URL, id, host, e2eVP8)
	vb := edgeWatch(t, b.URL, id)
	vb.waitMedia(t, "the edge viewer plays", 60)

	rs.Stop()
	down := time.Now()
	r := e2eSDP(t, "POST", c.URL+"/api/streams/"+id+"/whep", "", e2eViewerOffer(t))
	e2eProblem(t, "WHEP on a node without an upstream while Redis is down", r, 503, "unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After: %v", r.Header)
	}
	for time.Since(down) < 8*time.Second { // longer than a lease
		vb.waitMedia(t, "the edge viewer plays on while Redis is down", 30)
	}
	rs.StartAgain()
	e2eUntil(t, "the nodes answer again", func() bool {
		return e2eCall(t, "GET", c.URL+"/api/streams/"+id, "", nil).Status == 200
	})
	back := time.Now()
	for time.Since(back) < 8*time.Second { // the nodes renew, then judge leases again
		for _, n := range []*nodeProc{a, b, c} {
			// A node's first commands after the outage may still fail
			// (503); only an answer counts.
			r := e2eCall(t, "GET", n.URL+"/api/streams/"+id, "", nil)
			var s e2eStream
			if r.Status == 200 {
				r.JSON(t, &s)
				if s.Status != "live" {
					t.Fatalf("after Redis came back: %s says %q, want live", n.URL, s.Status)
				}
			}
		}
		vb.waitMedia(t, "the edge viewer plays on after Redis is back", 30)
	}
	for _, n := range []*nodeProc{a, b, c} {
		if strings.Contains(n.log.String(), "origin node gone") {
			t.Errorf("%s took the origin for dead after the outage:\n%s", n.URL, n.log)
		}
	}
	vc := edgeWatch(t, c.URL, id)
	vc.waitMedia(t, "a new viewer on the other node plays", 60)
	for name, v := range map[string]*edgeViewer{"B": vb, "C": vc} {
		v.check(t, "viewer on "+name)
	}
}
