package stream

import (
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/auth"
)

// TestGraceExpires: a publisher gone for longer than the grace makes the
// stream offline, viewers are released and told, and WHEP is refused.
func TestGraceExpires(t *testing.T) {
	r := mustRelay(t, func(c *Config) { c.ReconnectGrace = 200 * time.Millisecond })
	r.stream(t, "shop", "host1")
	host := r.token(t, "host1", auth.Host)
	pub := startPublisher(t, r.srv.URL, "shop", host, vp8Codec, 'A', 15)
	v := startViewer(t, r.srv.URL, "shop")
	waitFor(t, v.gotKey, "keyframe")
	res := doSDP(t, "DELETE", r.srv.URL+pub.location, host, "")
	res.Body.Close()
	eventually(t, "the stream is offline", func() bool {
		view, err := r.svc.View(t.Context(), "shop")
		return err == nil && view.Status == "offline"
	})
	eventually(t, "the offline event", func() bool { return r.events.has("shop:offline") })
	if got := r.svc.viewerCount("shop"); got != 0 {
		t.Errorf("viewers after offline: got %d, want 0", got)
	}
	eventually(t, "the viewers gauge is 0", func() bool { return counterValue(t, r.reg, "livecart_stream_viewers") == 0 })
	res = doSDP(t, "POST", r.srv.URL+"/api/streams/shop/whep", "", viewerOffer(t))
	wantProblem(t, res, http.StatusNotFound, "stream_offline")
	// The host can go live again.
	startPublisher(t, r.srv.URL, "shop", host, vp8Codec, 'B', 15)
	if view, _ := r.svc.View(t.Context(), "shop"); view.Status != "live" {
		t.Errorf("after a new WHIP: status %q, want live", view.Status)
	}
}

// TestEnd: the host ends the show; viewers are released, no more
// publishing or playing.
func TestEnd(t *testing.T) {
	r := mustRelay(t, nil)
	r.stream(t, "shop", "host1")
	host := r.token(t, "host1", auth.Host)
	startPublisher(t, r.srv.URL, "shop", host, vp8Codec, 'A', 15)
	v := startViewer(t, r.srv.URL, "shop")
	waitFor(t, v.gotKey, "keyframe")

	res := doSDP(t, "POST", r.srv.URL+"/api/streams/shop/end", r.token(t, "host2", auth.Host), "")
	wantProblem(t, res, http.StatusForbidden, "forbidden")
	res = doSDP(t, "POST", r.srv.URL+"/api/streams/shop/end", host, "")
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("end: got %d, want 200", res.StatusCode)
	}
	if view, _ := r.svc.View(t.Context(), "shop"); view.Status != "ended" {
		t.Errorf("status: got %q, want ended", view.Status)
	}
	if !r.events.has("shop:ended") {
		t.Errorf("events: got %v, want shop:ended", r.events.events())
	}
	if got := r.svc.viewerCount("shop"); got != 0 {
		t.Errorf("viewers after end: got %d", got)
	}
	if got := counterValue(t, r.reg, "livecart_stream_publishers"); got != 0 {
		t.Errorf("publishers after end: got %v", got)
	}
	res = doSDP(t, "POST", r.srv.URL+"/api/streams/shop/whip", host, publisherOffer(t, vp8Codec))
	wantProblem(t, res, http.StatusConflict, "conflict")
	res = doSDP(t, "POST", r.srv.URL+"/api/streams/shop/whep", "", viewerOffer(t))
	wantProblem(t, res, http.StatusNotFound, "stream_offline")
}

// TestViewerVanishes: a viewer whose network goes away without DELETE is
// released when ICE gives up on it.
func TestViewerVanishes(t *testing.T) {
	r := mustRelay(t, func(c *Config) {
		c.ICEDisconnectedTimeout, c.ICEFailedTimeout = 500*time.Millisecond, time.Second
	})
	r.stream(t, "shop", "host1")
	startPublisher(t, r.srv.URL, "shop", r.token(t, "host1", auth.Host), vp8Codec, 'A', 15)

	// A viewer on its own UDP socket, which we then close: from the
	// relay's side it simply stops answering.
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &webrtc.MediaEngine{}
	_ = m.RegisterDefaultCodecs()
	se := webrtc.SettingEngine{}
	se.SetICEUDPMux(webrtc.NewICEUDPMux(nil, conn))
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	negotiate(t, pc, r.srv.URL+"/api/streams/shop/whep", "")
	waitFor(t, connected, "the vanishing viewer to connect")
	if got := r.svc.viewerCount("shop"); got != 1 {
		t.Fatalf("viewers: got %d, want 1", got)
	}
	conn.Close()
	eventually(t, "the vanished viewer is released", func() bool { return r.svc.viewerCount("shop") == 0 })
}

// TestNoLeaks: after many viewers join and leave (by DELETE or by closing
// their connection) the goroutine count is back to where it was, and after
// Shutdown back to before the relay existed.
func TestNoLeaks(t *testing.T) {
	before := stableGoroutines()
	r := mustRelay(t, nil)
	r.stream(t, "shop", "host1")
	pub := startPublisher(t, r.srv.URL, "shop", r.token(t, "host1", auth.Host), vp8Codec, 'A', 10)
	warm := startViewer(t, r.srv.URL, "shop")
	waitFor(t, warm.gotKey, "warm-up viewer")
	warm.close()
	res := doSDP(t, "DELETE", r.srv.URL+warm.location, "", "")
	res.Body.Close()
	eventually(t, "the warm-up viewer leaves", func() bool { return r.svc.viewerCount("shop") == 0 })
	baseline := stableGoroutines()

	const waves, perWave = 4, 10
	for w := 0; w < waves; w++ {
		vs := make([]*testViewer, perWave)
		var wg sync.WaitGroup
		for i := range vs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				vs[i] = startViewer(t, r.srv.URL, "shop")
			}()
		}
		wg.Wait()
		for _, v := range vs {
			waitFor(t, v.gotKey, "keyframe")
		}
		for i, v := range vs {
			if i%2 == 0 {
				res := doSDP(t, "DELETE", r.srv.URL+v.location, "", "")
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					t.Fatalf("WHEP DELETE: got %d", res.StatusCode)
				}
			}
			v.close()
		}
	}
	eventually(t, "every viewer is released", func() bool { return r.svc.viewerCount("shop") == 0 })
	eventually(t, "goroutines back to the baseline", func() bool {
		n := runtime.NumGoroutine()
		if n > baseline+2 {
			t.Logf("goroutines: %d, baseline %d", n, baseline)
			time.Sleep(200 * time.Millisecond)
			return false
		}
		return true
	})

	pub.close()
	r.srv.Close()
	if err := r.svc.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.Shutdown(t.Context()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	eventually(t, "goroutines back to before the relay", func() bool {
		n := runtime.NumGoroutine()
		if n > before+2 {
			time.Sleep(200 * time.Millisecond)
			return false
		}
		return true
	})
}

// stableGoroutines waits a moment for exiting goroutines and counts.
func stableGoroutines() int {
	prev := -1
	for i := 0; i < 50; i++ {
		n := runtime.NumGoroutine()
		if n == prev {
			return n
		}
		prev = n
		time.Sleep(50 * time.Millisecond)
	}
	return prev
}
