package stream

import (
	"github.com/livecart/livecart/auth"
	"github.com/pion/webrtc/v3"
	"math"
	"sync/atomic"
	"testing"
	"time"
)

var testRates = []int64{150_000, 600_000, 2_500_000}

// TestControlClimbsCautiously: clean reports move a viewer up one layer
// per hold, never faster.
func TestControlClimbsCautiously(t *testing.T) {
	c := newControl()
	at := time.Unix(1000, 0)
	var ranks []int
	for i := 0; i <= 8; i++ {
		ranks = append(ranks, c.report(at.Add(time.Duration(i)*time.Second), 0, testRates))
	}
	want := []int{0, 0, 1, 1, 2, 2, 2, 2, 2}
	for i := range want {
		if ranks[i] != want[i] {
			t.Fatalf("ranks over 8 s of clean reports: %v, want %v", ranks, want)
		}
	}
}

// TestControlDownFastUpSlowly: heavy loss moves down at once; reports
// right after it (they describe the layer left) do not move it again; a
// climb that fails doubles the hold, up to its bound; one that holds
// brings it back to the least.
func TestControlDownFastUpSlowly(t *testing.T) {
	c := &control{rank: 2, hold: holdMin}
	at := time.Unix(1000, 0)
	if r := c.report(at, 128, testRates); r != 1 {
		t.Fatalf("50 %% loss on the top layer: rank %d, want 1", r)
	}
	if r := c.report(at.Add(time.Second), 128, testRates); r != 1 {
		t.Fatalf("a lossy report within the settle time: rank %d, want still 1", r)
	}
	if r := c.report(at.Add(2*time.Second), 128, testRates); r != 0 {
		t.Fatalf("loss after the settle time: rank %d, want 0", r)
	}
	if c.hold != holdLoss {
		t.Errorf("hold after loss on layers that had held: %v, want %v", c.hold, holdLoss)
	}
	// Clean from here: it climbs after the hold.
	now := at.Add(2 * time.Second)
	climbAt := func() time.Duration {
		start := now
		for i := 0; i < 100; i++ {
			now = now.Add(250 * time.Millisecond)
			if c.report(now, 0, testRates) > 0 {
				return now.Sub(start)
			}
		}
		t.Fatal("never climbed")
		return 0
	}
	climbAt()
	// The climb fails at once: down, and the hold doubles.
	now = now.Add(time.Second)
	if r := c.report(now, 200, testRates); r != 0 {
		t.Fatalf("loss after a climb: rank %d, want 0", r)
	}
	if c.hold != 2*holdLoss {
		t.Errorf("hold after a failed climb: %v, want %v", c.hold, 2*holdLoss)
	}
	now = now.Add(settle)
	if took := climbAt(); took < 2*holdLoss {
		t.Errorf("climb after a failed one took %v, want at least the doubled hold %v", took, 2*holdLoss)
	}
	for i := 0; i < 10; i++ { // fail again and again
		now = now.Add(time.Second)
		c.report(now, 200, testRates)
		now = now.Add(settle)
		climbAt()
	}
	if c.hold != holdMax {
		t.Errorf("hold after many failed climbs: %v, want the bound %v", c.hold, holdMax)
	}
	// A climb that holds resets the hold.
	for i := 0; i < 60; i++ {
		now = now.Add(time.Second)
		c.report(now, 0, testRates)
	}
	if c.hold != holdMin || c.rank != 2 {
		t.Errorf("after a climb that held: hold %v rank %d, want %v and 2", c.hold, c.rank, holdMin)
	}
}

// TestControlEstimate: an estimate under half the rate of the layer played
// moves down at once to the highest layer it does not rule out; estimates
// do not stop clean reports from climbing (a receiver's estimate follows
// what it receives), and a climb the next estimate undoes doubles the hold.
func TestControlEstimate(t *testing.T) {
	c := &control{rank: 2, hold: holdMin}
	at := time.Unix(1000, 0)
	if r := c.estimate(at, 2_000_000, testRates); r != 2 {
		t.Fatalf("2 Mbit/s estimate on the 2.5 Mbit/s layer: rank %d, want it kept", r)
	}
	if r := c.estimate(at, 1_000_000, testRates); r != 1 {
		t.Fatalf("1 Mbit/s estimate on the 2.5 Mbit/s layer: rank %d, want 1", r)
	}
	if c.estimate(at.Add(100*time.Millisecond), 1_000_000, testRates) != 1 {
		t.Fatalf("the same estimate again moved the viewer")
	}
	now, r := at, 1
	for r == 1 && now.Sub(at) < time.Minute {
		now = now.Add(500 * time.Millisecond)
		c.estimate(now, 1_000_000, testRates)
		r = c.report(now, 0, testRates)
	}
	if r != 2 || now.Sub(at) < holdLoss {
		t.Fatalf("clean reports under an estimate: rank %d after %v, want 2 after at least %v", r, now.Sub(at), holdLoss)
	}
	if r := c.estimate(now.Add(time.Second), 1_000_000, testRates); r != 1 || c.hold != 2*holdLoss {
		t.Errorf("the estimate after the climb: rank %d hold %v, want 1 and %v", r, c.hold, 2*holdLoss)
	}
	if r := c.estimate(now.Add(2*time.Second), 0, testRates); r != 0 {
		t.Errorf("a zero estimate: rank %d, want the lowest", r)
	}
	// A stale estimate counts for nothing.
	c = &control{rank: 1, hold: holdMin}
	c.estimate(at, 0, testRates[:1])
	if !c.carries(at.Add(rembFresh+time.Second), 1<<40) {
		t.Errorf("a stale estimate still limits")
	}
}

// TestControlGarbage: no layers, absurd estimates and nonsense loss never
// move a viewer off a valid rank, and without reports it stays on the
// lowest.
func TestControlGarbage(t *testing.T) {
	c := newControl()
	at := time.Unix(1000, 0)
	if r := c.report(at, 0, nil); r != 0 {
		t.Errorf("no layers: rank %d", r)
	}
	if r := c.estimate(at, math.Inf(1), nil); r != 0 {
		t.Errorf("no layers, infinite estimate: rank %d", r)
	}
	if r := c.estimate(at, math.NaN(), testRates); r != 0 {
		t.Errorf("NaN estimate: rank %d, want 0", r)
	}
	for i := 0; i < 100; i++ {
		r := c.report(at.Add(time.Duration(i)*time.Millisecond), uint8(i*37), testRates[:1])
		if r != 0 {
			t.Fatalf("one layer: rank %d", r)
		}
	}
	if newControl().rank != 0 {
		t.Errorf("a viewer without reports does not start on the lowest layer")
	}
}

func TestLayerModes(t *testing.T) {
	for _, c := range []struct {
		mode    layerMode
		n, auto int
		want    int
	}{
		{layerHigh, 3, 0, 2}, {layerMedium, 3, 0, 1}, {layerLow, 3, 2, 0},
		{layerHigh, 2, 0, 1}, {layerMedium, 2, 0, 0}, {layerLow, 1, 0, 0},
		{layerAuto, 3, 1, 1}, {layerAuto, 2, 5, 1}, {layerAuto, 3, -1, 0},
	} {
		if got := c.mode.rankOf(c.n, c.auto); got != c.want {
			t.Errorf("%v of %d (auto %d): rank %d, want %d", c.mode, c.n, c.auto, got, c.want)
		}
	}
	for _, s := range []string{"", "auto", "high", "medium", "low"} {
		if _, err := parseLayer(s); err != nil {
			t.Errorf("parseLayer(%q): %v", s, err)
		}
	}
	for _, s := range []string{"HIGH", "hd", "1"} {
		if _, err := parseLayer(s); err == nil {
			t.Errorf("parseLayer(%q) accepted", s)
		}
	}
}

func TestStampSendTime(t *testing.T) {
	var b [3]byte
	stampSendTime(&b, time.Unix(1000, 500_000_000))
	// 1000.5 s in 6.18 fixed point: 1000 mod 64 = 40, then .5.
	if got, want := uint32(b[0])<<16|uint32(b[1])<<8|uint32(b[2]), uint32(40<<18|1<<17); got != want {
		t.Errorf("abs-send-time of 1000.5 s: %06x, want %06x", got, want)
	}
}

// layeredFeed is a feed in session 1 with one track per packet size,
// which ranks them (no keyframe sizes: by bitrate).
func layeredFeed(t *testing.T, m *metrics, n int) (*feed, []*relayTrack) {
	t.Helper()
	f := newFeed(vp8Codec)
	ts := f.begin(1, n, func(ranks *atomic.Uint64) *relayTrack {
		return newRelayTrack(vp8Codec, m, time.Now, 0, ranks)
	})
	return f, ts
}

// TestNackAcrossSwitch: after a switch, a NACK for a packet sent before it
// is answered from the layer it came from, with the viewer's numbering.
func TestNackAcrossSwitch(t *testing.T) {
	m, _ := newMetrics(nil)
	f, ts := layeredFeed(t, m, 2)
	d, w := capturedDown(f, ts[0], layerLow, m, 9, 96)
	d.listen(ts[0])
	now := time.Now().UnixNano()
	pkt := func(seq uint16, key bool, tag byte) []byte {
		b := testPacket(seq, key)
		b[len(b)-1] = tag
		b[1] |= 0x80 // every packet ends its frame
		return b
	}
	for i := 0; i < 5; i++ {
		ts[0].ingest(1, pkt(100+uint16(i), i == 0, 'A'), now)
		ts[1].ingest(1, pkt(7000+uint16(i), i == 0, 'B'), now)
	}
	d.drain()
	d.aim(ts[1]) // as steer would for another mode
	ts[1].ingest(1, pkt(7005, true, 'B'), now+int64(time.Millisecond))
	ts[1].ingest(1, pkt(7006, false, 'B'), now+int64(2*time.Millisecond))
	d.drain()
	if len(w.tags) != 7 || string(w.tags) != "AAAAABB" {
		t.Fatalf("sent %q, want AAAAABB", w.tags)
	}
	for i := 1; i < len(w.seqs); i++ {
		if w.seqs[i] != w.seqs[i-1]+1 {
			t.Fatalf("sequence numbers %v are not continuous", w.seqs)
		}
	}
	d.queueNack(w.seqs[2]) // before the switch: layer A
	d.queueNack(w.seqs[6]) // after: layer B
	d.drain()
	if string(w.tags[7:]) != "AB" || w.seqs[7] != w.seqs[2] || w.seqs[8] != w.seqs[6] {
		t.Errorf("NACK answers: tags %q seqs %v, want A then B at %d and %d", w.tags[7:], w.seqs[7:], w.seqs[2], w.seqs[6])
	}
	if d.switches.Load() != 1 {
		t.Errorf("switches: %d, want 1", d.switches.Load())
	}
}

// TestResendBudget: a viewer that NACKs without end gets each packet at
// most resendTimes times, and resends within their share of what it was
// sent.
func TestResendBudget(t *testing.T) {
	m, _ := newMetrics(nil)
	f, tr := testFeed(vp8Codec, m, time.Now, time.Second)
	d, w := capturedDown(f, tr, layerAuto, m, 1, 96)
	for i := 0; i < 200; i++ {
		tr.ingest(1, testPacket(uint16(i), i == 0), time.Now().UnixNano())
	}
	d.drain()
	sent := len(w.seqs)
	first := w.seqs[0]
	for round := 0; round < 5; round++ {
		d.queueNack(first)
		d.drain()
	}
	if got := len(w.seqs) - sent; got != resendTimes {
		t.Errorf("one packet NACKed 5 times was resent %d times, want %d", got, resendTimes)
	}
	// NACK everything, again and again: resends stay within their share.
	before := len(w.seqs)
	for round := 0; round < 10; round++ {
		for _, seq := range w.seqs[1:sent] {
			d.queueNack(seq)
			if d.nn == len(d.nacks) {
				d.drain()
			}
		}
		d.drain()
	}
	resent := len(w.seqs) - before + resendTimes
	if limit := sent/resendShare + 1; resent > limit {
		t.Errorf("resent %d packets after %d sent, want at most %d", resent, sent, limit)
	}
	if resent == 0 {
		t.Errorf("nothing resent")
	}
}

// TestAbsSendTimeStamped: a viewer that negotiates abs-send-time gets it
// on its video, set at the send, which its bandwidth estimate (REMB) needs;
// audio goes without it.
func TestAbsSendTimeStamped(t *testing.T) {
	r := mustRelay(t, nil)
	r.stream(t, "shop", "host1")
	startPublisher(t, r.srv.URL, "shop", r.token(t, "host1", auth.Host), vp8Codec, 'A', 30)
	pc := recvOnlyPeer(t, clientAPI(t, nil, absSendTimeURI))
	defer pc.Close()
	type stamp struct {
		kind webrtc.RTPCodecType
		ok   bool
		skew time.Duration
	}
	got := make(chan stamp, 16)
	pc.OnTrack(func(tr *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
		id := 0
		for _, e := range rcv.GetParameters().HeaderExtensions {
			if e.URI == absSendTimeURI {
				id = e.ID
			}
		}
		for {
			pk, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			v := pk.Header.GetExtension(uint8(id))
			s := stamp{kind: tr.Kind(), ok: id != 0 && len(v) == 3}
			if s.ok {
				var now [3]byte
				stampSendTime(&now, time.Now())
				// 6.18 fixed point, modulo 64 s.
				d := (int32(uint32(now[0])<<16|uint32(now[1])<<8|uint32(now[2])) - int32(uint32(v[0])<<16|uint32(v[1])<<8|uint32(v[2]))) & 0xffffff
				s.skew = time.Duration(int64(d) * int64(time.Second) >> 18)
			}
			select {
			case got <- s:
			default:
			}
		}
	})
	negotiate(t, pc, r.srv.URL+"/api/streams/shop/whep", "")
	seen := map[webrtc.RTPCodecType]bool{}
	deadline := time.After(20 * time.Second)
	for len(seen) < 2 {
		select {
		case s := <-got:
			seen[s.kind] = true
			if s.kind == webrtc.RTPCodecTypeVideo && (!s.ok || s.skew > 5*time.Second) {
				t.Fatalf("video packet without a fresh abs-send-time: %+v", s)
			}
			if s.kind == webrtc.RTPCodecTypeAudio && s.ok {
				t.Fatalf("audio packet with abs-send-time")
			}
		case <-deadline:
			t.Fatalf("timed out; saw %v", seen)
		}
	}
}
