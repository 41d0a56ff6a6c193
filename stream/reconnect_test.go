package stream

import (
	"net/http"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/auth"
)

// TestPublisherReconnect: when the host's connection goes (WHIP DELETE as
// OBS sends on stop, a dropped connection, or a new WHIP replacing a
// session still up) and the host publishes again, every viewer keeps its
// PeerConnection and its one track per kind, and sees one continuous
// stream: same SSRC, sequence numbers following on, timestamps moving on.
func TestPublisherReconnect(t *testing.T) {
	for _, mode := range []string{"delete", "drop", "replace"} {
		t.Run(mode, func(t *testing.T) {
			r := mustRelay(t, func(c *Config) {
				// A dropped publisher is noticed by ICE; keep that short.
				c.ICEDisconnectedTimeout, c.ICEFailedTimeout = 500*time.Millisecond, time.Second
			})
			r.stream(t, "shop", "host1")
			host := r.token(t, "host1", auth.Host)
			a := startPublisher(t, r.srv.URL, "shop", host, vp8Codec, 'A', 15)
			viewers := make([]*testViewer, 4)
			for i := range viewers {
				viewers[i] = startViewer(t, r.srv.URL, "shop")
			}
			for _, v := range viewers {
				waitFor(t, v.gotKey, "keyframe from the first publisher")
				waitFor(t, v.gotAudio, "audio from the first publisher")
			}
			switch mode {
			case "delete":
				res := doSDP(t, "DELETE", r.srv.URL+a.location, host, "")
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					t.Fatalf("WHIP DELETE: got %d", res.StatusCode)
				}
				a.close()
			case "drop":
				a.close()
				eventually(t, "the relay notices the publisher is gone", func() bool {
					rm := r.svc.room("shop")
					rm.mu.Lock()
					defer rm.mu.Unlock()
					return rm.pub == nil
				})
			}
			time.Sleep(100 * time.Millisecond) // a visible gap, so timestamps must advance
			startPublisher(t, r.srv.URL, "shop", host, vp8Codec, 'B', 15)
			if mode == "replace" {
				eventually(t, "the replaced session is released", func() bool {
					return counterValue(t, r.reg, "livecart_stream_publishers") == 1
				})
				a.close()
			}
			for i, v := range viewers {
				eventually(t, "viewer gets the second publisher's video and audio", func() bool {
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
			if ev := r.events.events(); len(ev) != 1 || ev[0] != "shop:live" {
				t.Errorf("events: got %v, want only shop:live (no offline within the grace)", ev)
			}
		})
	}
}

func countTag(ps []rxPacket, tag byte) int {
	n := 0
	for _, p := range ps {
		if p.tag == tag {
			n++
		}
	}
	return n
}

// checkContinuous checks one SSRC, sequence numbers that never jump, and
// the switch from publisher A to B: next sequence number, timestamp ahead
// by no more than the reconnect grace (a fresh publisher's timestamps are
// random, so anything else would be a jump).
func checkContinuous(t *testing.T, kind string, ps []rxPacket, clock int64) {
	t.Helper()
	switched := false
	for i := 1; i < len(ps); i++ {
		prev, p := ps[i-1], ps[i]
		if p.ssrc != ps[0].ssrc {
			t.Fatalf("%s: SSRC changed from %d to %d at packet %d", kind, ps[0].ssrc, p.ssrc, i)
		}
		d := int16(p.seq - prev.seq)
		if d < -64 || d > 64 {
			t.Fatalf("%s: sequence number jumps from %d to %d", kind, prev.seq, p.seq)
		}
		if prev.tag == 'A' && p.tag == 'B' && !switched {
			switched = true
			if d < 1 || d > 3 {
				t.Errorf("%s: at the publisher switch the sequence number goes from %d to %d, want the next one", kind, prev.seq, p.seq)
			}
			dts := int64(int32(p.ts - prev.ts))
			if dts <= 0 || dts > 30*clock {
				t.Errorf("%s: at the publisher switch the timestamp goes from %d to %d (%+d), want it to move ahead by under 30 s", kind, prev.ts, p.ts, dts)
			}
		}
	}
	if !switched {
		t.Errorf("%s: never saw the switch from publisher A to B", kind)
	}
}
