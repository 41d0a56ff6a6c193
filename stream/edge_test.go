package stream

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livecart/livecart/auth"
)

// node is one relay of a cluster: its own id and URL, the cluster's store
// and secret, its Run loop going until stop.
type node struct {
	*relay
	id   string
	stop func() // ends Run (the node drops its lease) and shuts the relay down
}

// mustCluster starts n nodes sharing one MemoryStore, as nodes share one
// Redis: node-0, node-1, …
func mustCluster(tb testing.TB, n int, mod func(*Config)) []*node {
	tb.Helper()
	signer, err := auth.NewSigner([]byte("test-secret"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	store := NewMemoryStore()
	logs := &lockedBuffer{}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("the nodes' logs:\n%s", logs)
		}
	})
	nodes := make([]*node, n)
	for i := range nodes {
		mux := http.NewServeMux()
		srv := httptest.NewUnstartedServer(mux)
		r := &relay{signer: signer, events: &recorder{}, reg: prometheus.NewRegistry()}
		id := fmt.Sprint("node-", i)
		cfg := Config{
			Log:        slog.New(slog.NewTextHandler(logs, nil)).With("node", fmt.Sprint("node-", i)),
			Signer:     signer,
			Store:      store,
			Events:     r.events,
			Metrics:    r.reg,
			UDPHost:    "127.0.0.1",
			NodeID:     id,
			NodeURL:    "http://" + srv.Listener.Addr().String(),
			LeaseEvery: 100 * time.Millisecond,
			EdgeLinger: 300 * time.Millisecond,
			// A dropped peer is noticed by ICE; keep that short.
			ICEDisconnectedTimeout: 500 * time.Millisecond,
			ICEFailedTimeout:       time.Second,
		}
		if mod != nil {
			mod(&cfg)
		}
		if r.svc, err = New(cfg); err != nil {
			tb.Fatal(err)
		}
		r.svc.Routes(mux)
		srv.Start()
		r.srv = srv
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan struct{})
		go func() {
			defer close(ran)
			_ = r.svc.Run(ctx)
		}()
		stopped := false
		stop := func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			<-ran
			srv.Close()
			sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer scancel()
			if err := r.svc.Shutdown(sctx); err != nil {
				tb.Errorf("Shutdown of %s: %v", id, err)
			}
		}
		tb.Cleanup(stop)
		nodes[i] = &node{relay: r, id: id, stop: stop}
	}
	// Every node holds its lease before the test starts.
	eventually(tb, "every node holds a lease", func() bool {
		ids := make([]string, n)
		for i, nd := range nodes {
			ids[i] = nd.id
		}
		alive, err := store.Alive(context.Background(), ids)
		if err != nil {
			return false
		}
		for _, id := range ids {
			if !alive[id] {
				return false
			}
		}
		return true
	})
	return nodes
}

// lockedBuffer is a log sink shared by goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// gauge is the value of a metric on n.
func (n *node) gauge(tb testing.TB, name string) float64 {
	tb.Helper()
	return counterValue(tb, n.reg, name)
}

// TestEdgeRelay: viewers on a node that is not the stream's origin play it
// (keyframe on join, video and audio) through one upstream to the origin,
// whatever their number; the origin counts the upstream as an edge
// session, not a viewer; the edge lets go of it shortly after its last
// viewer leaves and opens it again for the next.
func TestEdgeRelay(t *testing.T) {
	nodes := mustCluster(t, 2, nil)
	a, b := nodes[0], nodes[1]
	a.stream(t, "shop", "host1")
	startPublisher(t, a.srv.URL, "shop", a.token(t, "host1", auth.Host), vp8Codec, 'A', 30)

	viewers := make([]*testViewer, 3)
	for i := range viewers {
		viewers[i] = startViewer(t, b.srv.URL, "shop")
	}
	for i, v := range viewers {
		waitFor(t, v.gotKey, fmt.Sprint("a keyframe at edge viewer ", i))
		waitFor(t, v.gotAudio, fmt.Sprint("audio at edge viewer ", i))
		eventually(t, "30 video packets at the edge viewer", func() bool {
			video, _ := v.snapshot()
			return len(video) >= 30
		})
		if video, _ := v.snapshot(); !video[0].key {
			t.Errorf("edge viewer %d: the first video packet is not a keyframe start", i)
		}
	}
	for _, c := range []struct {
		n      *node
		metric string
		want   float64
	}{
		{a, "livecart_stream_edge_sessions", 1},
		{a, "livecart_stream_viewers", 0},
		{a, "livecart_stream_upstreams", 0},
		{b, "livecart_stream_upstreams", 1},
		{b, "livecart_stream_viewers", 3},
		{b, "livecart_stream_edge_sessions", 0},
	} {
		if got := c.n.gauge(t, c.metric); got != c.want {
			t.Errorf("%s on %s: got %v, want %v", c.metric, c.n.id, got, c.want)
		}
	}
	eventually(t, "the origin counts the edge's viewers", func() bool {
		v, err := a.svc.View(t.Context(), "shop")
		return err == nil && v.Viewers == 3
	})

	for _, v := range viewers {
		res := doSDP(t, "DELETE", b.srv.URL+v.location, "", "")
		res.Body.Close()
		v.close()
	}
	eventually(t, "the edge lets go of its upstream", func() bool {
		return a.gauge(t, "livecart_stream_edge_sessions") == 0 && b.gauge(t, "livecart_stream_upstreams") == 0
	})
	v := startViewer(t, b.srv.URL, "shop")
	waitFor(t, v.gotKey, "a keyframe through a new upstream")
	waitFor(t, v.gotAudio, "audio through a new upstream")
}

// TestEdgeFollowsOrigin: the host publishes again to another node within
// the grace, after its first node stopped or while it still runs; the
// edge's viewers (and, when it still runs, the first node's own) keep
// their PeerConnection and their one track per kind, and see one
// continuous stream (same SSRC, sequence numbers following on, timestamps
// moving on).
func TestEdgeFollowsOrigin(t *testing.T) {
	for _, mode := range []string{"origin stops", "host moves"} {
		t.Run(mode, func(t *testing.T) {
			nodes := mustCluster(t, 3, nil)
			a, b, c := nodes[0], nodes[1], nodes[2]
			a.stream(t, "shop", "host1")
			host := a.token(t, "host1", auth.Host)
			pa := startPublisher(t, a.srv.URL, "shop", host, vp8Codec, 'A', 15)
			viewers := []*testViewer{startViewer(t, c.srv.URL, "shop"), startViewer(t, c.srv.URL, "shop")}
			if mode == "host moves" {
				viewers = append(viewers, startViewer(t, a.srv.URL, "shop"))
			}
			for _, v := range viewers {
				waitFor(t, v.gotKey, "keyframe from the first origin")
				waitFor(t, v.gotAudio, "audio from the first origin")
			}
			switch mode {
			case "origin stops":
				pa.close()
				a.stop()
				eventually(t, "the stream is offline", func() bool {
					v, err := c.svc.View(t.Context(), "shop")
					return err == nil && v.Status == "offline"
				})
			case "host moves":
				res := doSDP(t, "DELETE", a.srv.URL+pa.location, host, "")
				res.Body.Close()
				pa.close()
			}
			time.Sleep(100 * time.Millisecond) // a visible gap, so timestamps must advance
			startPublisher(t, b.srv.URL, "shop", host, vp8Codec, 'B', 15)
			for i, v := range viewers {
				eventually(t, "the edge viewer gets the new origin's video and audio", func() bool {
					video, audio := v.snapshot()
					return countTag(video, 'B') >= 20 && countTag(audio, 'B') >= 20
				})
				if n := v.tracks.Load(); n != 2 {
					t.Errorf("viewer %d: OnTrack fired %d times, want 2 (no renegotiation)", i, n)
				}
				if s := v.pc.ConnectionState(); s != webrtc.PeerConnectionStateConnected {
					t.Errorf("viewer %d: connection %s, want connected", i, s)
				}
				video, audio := v.snapshot()
				checkContinuous(t, "video", video, 90000)
				checkContinuous(t, "audio", audio, 48000)
			}
			if got := c.gauge(t, "livecart_stream_upstreams"); got != 1 {
				t.Errorf("upstreams on the edge: got %v, want 1", got)
			}
			if mode == "host moves" {
				eventually(t, "the first node lets go of the edge's session", func() bool {
					return a.gauge(t, "livecart_stream_edge_sessions") == 0
				})
				if got := a.gauge(t, "livecart_stream_upstreams"); got != 1 {
					t.Errorf("upstreams on the first node: got %v, want 1 (its viewer follows the host)", got)
				}
			}
		})
	}
}

// TestRelayEndpointAuth: the node endpoint takes a node token for the
// stream and nothing else: no token, an expired or forged one is 401; a
// person's token, whatever its role, or a node token for another stream
// is 403.
func TestRelayEndpointAuth(t *testing.T) {
	nodes := mustCluster(t, 1, nil)
	a := nodes[0]
	a.stream(t, "shop", "host1")
	startPublisher(t, a.srv.URL, "shop", a.token(t, "host1", auth.Host), vp8Codec, 'A', 15)
	forged, _ := auth.NewSigner([]byte("another secret"), nil)
	old, _ := auth.NewSigner([]byte("test-secret"), func() time.Time { return time.Now().Add(-time.Hour) })
	tok := func(s *auth.Signer, stream string) string {
		t.Helper()
		tok, err := s.IssueNode("node-x", stream, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, c := range []struct {
		name, token string
		status      int
		code        string
	}{
		{"no token", "", 401, "unauthorized"},
		{"expired node token", tok(old, "shop"), 401, "unauthorized"},
		{"node token of another key", tok(forged, "shop"), 401, "unauthorized"},
		{"viewer", a.token(t, "v1", auth.Viewer), 403, "forbidden"},
		{"the stream's host", a.token(t, "host1", auth.Host), 403, "forbidden"},
		{"admin", a.token(t, "a1", auth.Admin), 403, "forbidden"},
		{"node token for another stream", tok(a.signer, "other"), 403, "forbidden"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := doSDP(t, "POST", a.srv.URL+"/api/streams/shop/relay", c.token, viewerOffer(t))
			wantProblem(t, res, c.status, c.code)
			res = doSDP(t, "DELETE", a.srv.URL+"/api/streams/shop/relay/0123abcd", c.token, "")
			wantProblem(t, res, c.status, c.code)
		})
	}
	// A node token is no person's token either.
	res := doSDP(t, "POST", a.srv.URL+"/api/streams/shop/whip", tok(a.signer, "shop"), publisherOffer(t, vp8Codec))
	wantProblem(t, res, 401, "unauthorized")

	res = doSDP(t, "POST", a.srv.URL+"/api/streams/shop/relay", tok(a.signer, "shop"), viewerOffer(t))
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("a node token for the stream: got %d %s, want 201", res.StatusCode, body)
	}
	if got := a.gauge(t, "livecart_stream_pending_sessions"); got != 0 {
		t.Errorf("pending sessions after a node session: got %v, want 0 (nodes take no pending slot)", got)
	}
	res = doSDP(t, "DELETE", a.srv.URL+res.Header.Get("Location"), tok(a.signer, "shop"), "")
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("DELETE of the node session: got %d, want 200", res.StatusCode)
	}
	if got := a.gauge(t, "livecart_stream_edge_sessions"); got != 0 {
		t.Errorf("edge sessions after DELETE: got %v, want 0", got)
	}
}

// TestEdgeOriginFails: an origin that holds no lease, refuses the
// upstream or never answers makes the edge answer its viewers 503
// unavailable with Retry-After, within the upstream bound, and leaves
// nothing behind.
func TestEdgeOriginFails(t *testing.T) {
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer refusing.Close()
	hang := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer hanging.Close()
	defer close(hang)

	nodes := mustCluster(t, 1, func(c *Config) { c.UpstreamTimeout = time.Second })
	b := nodes[0]
	store := b.svc.store
	for _, c := range []struct{ name, origin, url string }{
		{"no lease", "ghost", ""},
		{"refuses", "refusing", refusing.URL},
		{"never answers", "hanging", hanging.URL},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := "shop-" + c.origin
			b.stream(t, id, "host1")
			if c.url != "" {
				if err := store.Lease(t.Context(), c.origin, c.url, time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := store.GoLive(t.Context(), id, c.origin); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			res := doSDP(t, "POST", b.srv.URL+"/api/streams/"+id+"/whep", "", viewerOffer(t))
			if ra := res.Header.Get("Retry-After"); ra == "" {
				t.Errorf("503 without Retry-After")
			}
			wantProblem(t, res, http.StatusServiceUnavailable, "unavailable")
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("the edge answered after %v, want within the upstream bound (1 s)", d)
			}
			if got := b.gauge(t, "livecart_stream_upstreams"); got != 0 {
				t.Errorf("upstreams after a failure: got %v, want 0", got)
			}
			if got := b.gauge(t, "livecart_stream_pending_sessions"); got != 0 {
				t.Errorf("pending sessions after a failure: got %v, want 0", got)
			}
		})
	}
}

// TestEdgeEnd: a show ended on any node is closed on every node: the
// edge's viewers and the origin's publisher lose their connection.
func TestEdgeEnd(t *testing.T) {
	nodes := mustCluster(t, 2, nil)
	a, b := nodes[0], nodes[1]
	a.stream(t, "shop", "host1")
	host := a.token(t, "host1", auth.Host)
	pub := startPublisher(t, a.srv.URL, "shop", host, vp8Codec, 'A', 15)
	v := startViewer(t, b.srv.URL, "shop")
	waitFor(t, v.gotKey, "a keyframe at the edge viewer")
	res := doSDP(t, "POST", b.srv.URL+"/api/streams/shop/end", host, "")
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("end on the edge: got %d, want 200", res.StatusCode)
	}
	closed := func(pc *webrtc.PeerConnection) func() bool {
		return func() bool {
			s := pc.ConnectionState()
			return s == webrtc.PeerConnectionStateClosed || s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateDisconnected
		}
	}
	eventually(t, "the edge viewer's connection ends", closed(v.pc))
	eventually(t, "the publisher's connection on the origin ends", closed(pub.pc))
	eventually(t, "nothing relays the show any more", func() bool {
		return a.gauge(t, "livecart_stream_publishers") == 0 && a.gauge(t, "livecart_stream_edge_sessions") == 0 &&
			b.gauge(t, "livecart_stream_upstreams") == 0
	})
}

// TestOriginReclaims: a stream set offline by another node while its
// origin's host still publishes there (the origin was cut off from the
// store for longer than a lease) is live again at the origin's next check,
// and the edge's viewers play on from it.
func TestOriginReclaims(t *testing.T) {
	nodes := mustCluster(t, 2, nil)
	a, b := nodes[0], nodes[1]
	a.stream(t, "shop", "host1")
	startPublisher(t, a.srv.URL, "shop", a.token(t, "host1", auth.Host), vp8Codec, 'A', 15)
	v := startViewer(t, b.srv.URL, "shop")
	waitFor(t, v.gotKey, "a keyframe at the edge viewer")
	if done, err := a.svc.store.Abandon(t.Context(), "shop", a.id); err != nil || !done {
		t.Fatalf("Abandon: %v, %v", done, err)
	}
	eventually(t, "the origin makes the stream live again", func() bool {
		st, err := a.svc.store.Get(t.Context(), "shop")
		return err == nil && st.Status == Live && st.Origin == a.id
	})
	lives := 0
	for _, ev := range a.events.events() {
		if ev == "shop:live" {
			lives++
		}
	}
	if lives != 2 {
		t.Errorf("live events on the origin: got %d, want 2 (going live, then live again)", lives)
	}
	before, _ := v.snapshot()
	eventually(t, "the edge viewer plays on", func() bool {
		video, _ := v.snapshot()
		return len(video) >= len(before)+30
	})
	if n := v.tracks.Load(); n != 2 {
		t.Errorf("edge viewer: OnTrack fired %d times, want 2", n)
	}
}
