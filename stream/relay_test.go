package stream

import (
	"net/http"
	"testing"

	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/auth"
)

// TestRelayFanOut: video and audio from one publisher reach every viewer,
// each starting on a keyframe, for VP8 and for H264 as OBS sends it.
func TestRelayFanOut(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec webrtc.RTPCodecParameters
	}{{"VP8", vp8Codec}, {"H264", h264Codec}} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRelay(t, nil)
			r.stream(t, "shop", "host1")
			pub := startPublisher(t, r.srv.URL, "shop", r.token(t, "host1", auth.Host), tc.codec, 'A', 30)

			v, err := r.svc.View(t.Context(), "shop")
			if err != nil || v.Status != "live" {
				t.Fatalf("View after WHIP: got %+v, %v; want live", v, err)
			}
			const n = 8
			viewers := make([]*testViewer, n)
			for i := range viewers {
				viewers[i] = startViewer(t, r.srv.URL, "shop")
			}
			for i, tv := range viewers {
				waitFor(t, tv.gotKey, "a keyframe at viewer "+string(rune('0'+i)))
				waitFor(t, tv.gotAudio, "audio at viewer "+string(rune('0'+i)))
			}
			eachHasVideo(t, viewers, 30)
			for i, tv := range viewers {
				video, _ := tv.snapshot()
				if !video[0].key {
					t.Errorf("viewer %d: first video packet is not a keyframe start", i)
				}
			}
			if v, _ := r.svc.View(t.Context(), "shop"); v.Viewers != n {
				t.Errorf("View.Viewers: got %d, want %d", v.Viewers, n)
			}
			_ = pub
		})
	}
}

// TestKeyframeOnJoin: a viewer joining long after the last keyframe makes
// the relay ask the publisher for one (the publisher sends keyframes only
// on request), and gets it.
func TestKeyframeOnJoin(t *testing.T) {
	r := mustRelay(t, nil)
	r.stream(t, "shop", "host1")
	pub := startPublisher(t, r.srv.URL, "shop", r.token(t, "host1", auth.Host), vp8Codec, 'A', 0)
	// The publisher start asks for a keyframe (OBS drops its first packets).
	eventually(t, "the publisher is asked for a keyframe on start", func() bool { return pub.plis.Load() >= 1 })
	// Wait until the cached keyframe is too old to serve.
	before := pub.plis.Load()
	eventually(t, "the cached keyframe ages", func() bool {
		rm := r.svc.room("shop")
		t := (*rm.feeds[webrtc.RTPCodecTypeVideo].layers.Load())[0]
		return t.keyIndex.Load() != 0 && r.svc.now().UnixNano()-t.keyAt.Load() > int64(maxKeyAge)
	})
	tv := startViewer(t, r.srv.URL, "shop")
	waitFor(t, tv.gotKey, "the joining viewer's keyframe")
	if got := pub.plis.Load(); got <= before {
		t.Errorf("PLIs at the publisher: got %d, want more than %d after a join", got, before)
	}
}

// TestKeyframeServedFromCache: a viewer joining right after a keyframe is
// started on the cached one, without asking the publisher.
func TestKeyframeServedFromCache(t *testing.T) {
	r := mustRelay(t, nil)
	r.stream(t, "shop", "host1")
	startPublisher(t, r.srv.URL, "shop", r.token(t, "host1", auth.Host), vp8Codec, 'A', 10)
	first := startViewer(t, r.srv.URL, "shop")
	waitFor(t, first.gotKey, "first viewer's keyframe")
	tv := startViewer(t, r.srv.URL, "shop")
	waitFor(t, tv.gotKey, "second viewer's keyframe")
	eventually(t, "a keyframe served from the cache", func() bool {
		return counterValue(t, r.reg, "livecart_stream_keyframes_served_total") >= 1
	})
}

func TestWHEPOffline(t *testing.T) {
	r := mustRelay(t, nil)
	r.stream(t, "shop", "host1")
	res := doSDP(t, "POST", r.srv.URL+"/api/streams/shop/whep", "", viewerOffer(t))
	wantProblem(t, res, http.StatusNotFound, "stream_offline")
}
