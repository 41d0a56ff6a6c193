package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// t0 is the origin of the synthetic timelines; no test reads the clock.
var t0 = time.Unix(1_700_000_000, 0)

func at(d time.Duration) time.Time { return t0.Add(d) }

func TestTokenBucket(t *testing.T) {
	// 1 Mbit/s is 125,000 bytes/s: 100 ms deep is 12,500 bytes, ten
	// packets of 1,250.
	b := newTokenBucket(1_000_000, 100*time.Millisecond)
	if b.depth != 12500 {
		t.Fatalf("depth %v, want 12500", b.depth)
	}
	for i := range 10 {
		if !b.take(at(0), 1250) {
			t.Fatalf("packet %d of the first burst dropped: the bucket starts full", i)
		}
	}
	if b.take(at(0), 1250) {
		t.Fatal("the 11th packet of a burst passed an empty bucket")
	}
	if b.take(at(9*time.Millisecond), 1250) {
		t.Fatal("9 ms refilled 1,125 bytes, not enough for 1,250")
	}
	if !b.take(at(10*time.Millisecond), 1250) {
		t.Fatal("10 ms refilled 1,250 bytes, but the packet was dropped")
	}
	// Going back in time refills nothing.
	if b.take(at(5*time.Millisecond), 1) {
		t.Fatal("a packet stamped earlier passed an empty bucket")
	}
	// A long pause refills to the depth, not beyond.
	b.take(at(10*time.Second), 0)
	if b.tokens != b.depth {
		t.Fatalf("after a pause: %v tokens, want the depth %v", b.tokens, b.depth)
	}

	// 2 Mbit/s offered for 10 s in 1,000-byte packets every 4 ms: what
	// passes is the rate times the time, plus the depth at most.
	b = newTokenBucket(1_000_000, 100*time.Millisecond)
	passed := 0
	for d := time.Duration(0); d < 10*time.Second; d += 4 * time.Millisecond {
		if b.take(at(d), 1000) {
			passed += 1000
		}
	}
	if want := 125000*10 + 12500; passed > want || passed < want-2000 {
		t.Errorf("passed %d bytes of 2.5 MB in 10 s, want about %d", passed, want)
	}

	// A cap below a packet per 100 ms still passes full-size packets.
	b = newTokenBucket(8000, 100*time.Millisecond)
	if !b.take(at(0), 1200) || b.take(at(0), 1200) {
		t.Error("a tiny cap: want the first 1,200-byte packet through and the second dropped")
	}
}

func TestGapTracker(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, tc := range []struct {
		name     string
		packets  []int // ms
		from, to int
		want     int
	}{
		{"steady", []int{900, 950, 1000, 1050, 1100, 1150, 1200, 2000, 2050}, 1000, 2000, 800},
		{"a freeze inside", []int{990, 1010, 1030, 1450, 1470, 1800, 2010}, 1000, 2000, 420},
		{"from the start to the first packet", []int{500, 1300, 1310, 1320}, 1000, 1400, 300},
		{"from the last packet to the end", []int{1000, 1100, 1200}, 1000, 2000, 800},
		{"a gap across the end counts up to the end", []int{1000, 1800, 2600}, 1000, 2000, 800},
		{"no packet at all", nil, 1000, 3000, 2000},
		{"only packets before the window", []int{100, 200}, 1000, 1500, 500},
		{"only packets after the window", []int{3000}, 1000, 1500, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := gapTracker{from: ms(tc.from), to: ms(tc.to)}
			for _, p := range tc.packets {
				g.add(ms(p))
			}
			if got, _ := g.result(); got != ms(tc.want) {
				t.Errorf("longest gap %s, want %s", got, ms(tc.want))
			}
		})
	}
}

// kbpsSeries is a timeline of 250 ms buckets at these rates (kbit/s).
func kbpsSeries(kbps ...int) []int64 {
	out := make([]int64, len(kbps))
	for i, k := range kbps {
		out[i] = int64(k) * 1000 / 8 / 4
	}
	return out
}

// repeat is n buckets at kbps.
func repeat(kbps, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = kbps
	}
	return out
}

func TestSettleTime(t *testing.T) {
	const capBps = 1_000_000
	capLen := 4 * time.Second // 8 windows of 500 ms, 16 buckets
	for _, tc := range []struct {
		name    string
		kbps    []int
		want    time.Duration
		settled bool
	}{
		{"below from the start", repeat(600, 16), 0, true},
		{"down after a second", slices.Concat(repeat(2500, 4), repeat(600, 12)), time.Second, true},
		// A failed climb: over again for a window, then below.
		{"a failed climb", slices.Concat(repeat(2500, 4), repeat(600, 4), repeat(2500, 3), repeat(600, 5)),
			3 * time.Second, true},
		// A window is judged by its mean: one bucket over in a window
		// whose mean is under does not count.
		{"one bucket over, the window under", slices.Concat(repeat(2500, 2), []int{1500, 300}, repeat(600, 12)), 500 * time.Millisecond, true},
		{"over at the end", slices.Concat(repeat(600, 14), repeat(2500, 2)), 0, false},
		{"exactly the cap is not below it", slices.Concat(repeat(2500, 2), repeat(1000, 14)), 0, false},
		{"never", repeat(2500, 16), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Buckets after the capped window do not count.
			series := append(kbpsSeries(tc.kbps...), kbpsSeries(repeat(5000, 8)...)...)
			got, ok := settleTime(series, capWidth, settleWindow, capBps, capLen)
			if got != tc.want || ok != tc.settled {
				t.Errorf("settle %s, %v; want %s, %v", got, ok, tc.want, tc.settled)
			}
		})
	}
	if _, ok := settleTime(kbpsSeries(100), capWidth, settleWindow, capBps, 400*time.Millisecond); ok {
		t.Error("a capped window shorter than one settle window settled")
	}
}

func TestClimbTime(t *testing.T) {
	const threshold = 0.8 * 2_500_000
	for _, tc := range []struct {
		name    string
		kbps    []int
		want    time.Duration
		climbed bool
	}{
		{"at the top at once", repeat(2600, 8), 0, true},
		{"up after the medium layer", slices.Concat(repeat(650, 10), repeat(2600, 6)), 2500 * time.Millisecond, true},
		// Above for 750 ms, a dip, then for good: the climb is the second.
		{"a dip resets the second", slices.Concat(repeat(650, 2), repeat(2600, 3), []int{1500}, repeat(2600, 4)), 1500 * time.Millisecond, true},
		{"exactly 80 % is not above", repeat(2000, 8), 0, false},
		{"not for a whole second", slices.Concat(repeat(650, 4), repeat(2600, 3)), 0, false},
		{"never", repeat(650, 20), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := climbTime(kbpsSeries(tc.kbps...), capWidth, climbHold, threshold)
			if got != tc.want || ok != tc.climbed {
				t.Errorf("climb %s, %v; want %s, %v", got, ok, tc.want, tc.climbed)
			}
		})
	}
}

// TestCapLink runs a capped link through a synthetic timeline: the relay
// sends 2 Mbit/s of video in 1,000-byte packets every 4 ms; the cap of
// 1 Mbit/s holds from 3 s to 5 s; the timeline runs from 1 s to 7 s.
func TestCapLink(t *testing.T) {
	l := newCapLink(0, true, 1_000_000)
	if !l.admit(at(0), 1000) {
		t.Fatal("a link not scheduled yet dropped")
	}
	l.schedule(at(3*time.Second), 2*time.Second, 2*time.Second, 2*time.Second)
	for d := time.Duration(0); d < 8*time.Second; d += 4 * time.Millisecond {
		if d >= 4*time.Second && d < 4400*time.Millisecond {
			continue // a freeze at the relay: 400 ms without a packet
		}
		ok := l.admit(at(d), 1000)
		if (d < 3*time.Second || d >= 5*time.Second) && !ok {
			t.Fatalf("dropped at %s, outside the cap", d)
		}
	}
	r := l.record()
	if len(r.sent) != 24 || r.capIdx != 8 || r.liftIdx != 16 || r.capLen != 2*time.Second {
		t.Fatalf("timeline: %d buckets, cap at %d, lift at %d, %s capped; want 24, 8, 16, 2s", len(r.sent), r.capIdx, r.liftIdx, r.capLen)
	}
	// Uncapped buckets: 62 or 63 packets of 1,000 bytes in 250 ms.
	for _, i := range []int{0, 7, 16, 23} {
		if r.sent[i] != r.accepted[i] || r.sent[i] < 62000 || r.sent[i] > 63000 {
			t.Errorf("bucket %d (uncapped): sent %d, accepted %d; want about 62,500 both", i, r.sent[i], r.accepted[i])
		}
	}
	// Capped: what passes is 1 Mbit/s, 31,250 bytes per bucket, plus the
	// bucket's depth in the first one.
	if a := r.accepted[8]; a < 31000+12500-1000 || a > 31250+12500+1000 {
		t.Errorf("first capped bucket accepted %d, want about 43,750 (the rate and the depth)", a)
	}
	for _, i := range []int{9, 10, 11, 14, 15} {
		if a := r.accepted[i]; a < 30000 || a > 32000 {
			t.Errorf("capped bucket %d accepted %d, want about 31,250", i, a)
		}
	}
	// The freeze: nothing sent from 4.0 to 4.4 s; after it the bucket is
	// full again, and the 100 ms to 4.5 s pass the depth and the rate.
	if r.sent[12] != 0 || r.sent[13] != 25000 || r.accepted[13] < 23000 {
		t.Errorf("around the freeze: sent %d in bucket 12, want 0; sent %d and accepted %d in bucket 13, want 25,000 and about 25,000",
			r.sent[12], r.sent[13], r.accepted[13])
	}
	if r.gap < 400*time.Millisecond || r.gap > 420*time.Millisecond {
		t.Errorf("longest gap %s, want about 400ms", r.gap)
	}
	if r.inCap != 400 || r.dropped < 150 || r.dropped > 200 {
		t.Errorf("while capped: %d packets, %d dropped; want 400 (500 less the freeze's 100), about 180 dropped", r.inCap, r.dropped)
	}
	// The rate the relay sent never went below the cap: not settled.
	if _, ok := settleTime(r.sent[r.capIdx:], capWidth, settleWindow, 1_000_000, r.capLen); ok {
		t.Error("settled, but the relay kept sending twice the cap")
	}
	if c, ok := climbTime(r.accepted[r.liftIdx:], capWidth, climbHold, 0.8*2_000_000); !ok || c != 0 {
		t.Errorf("climb %s, %v; want 0 (at the full rate from the lift)", c, ok)
	}
}

func TestCapLinkUncapped(t *testing.T) {
	l := newCapLink(3, false, 1_000_000)
	l.schedule(at(time.Second), time.Second, time.Second, time.Second)
	for d := time.Duration(0); d < 3*time.Second; d += time.Millisecond {
		if !l.admit(at(d), 1200) {
			t.Fatalf("an uncapped link dropped at %s", d)
		}
	}
	if r := l.record(); r.dropped != 0 || r.inCap != 1000 || r.sent[5] != 250*1200 || r.accepted[5] != r.sent[5] {
		t.Errorf("uncapped: %d of %d dropped, bucket 5 sent %d, accepted %d", r.dropped, r.inCap, r.sent[5], r.accepted[5])
	}
}

// TestViewerPass: only video and retransmissions go through the link.
func TestViewerPass(t *testing.T) {
	v := newWhepViewer()
	v.kinds = &rtpKinds{}
	v.kinds[102], v.kinds[111], v.kinds[103] = kindVideo, kindAudio, kindRepair
	if !v.pass(rtpHead{pt: 102}, 1200, at(0)) {
		t.Fatal("a viewer without a link dropped")
	}
	v.link = newCapLink(0, true, 8000) // 1,500 bytes deep
	v.link.schedule(at(0), 0, time.Second, 0)
	if !v.pass(rtpHead{pt: 102}, 1200, at(0)) || v.pass(rtpHead{pt: 102}, 1200, at(0)) || v.pass(rtpHead{pt: 103}, 1200, at(0)) {
		t.Error("video: want the first packet through, then video and retransmissions dropped")
	}
	for range 10 {
		if !v.pass(rtpHead{pt: 111}, 1200, at(0)) {
			t.Fatal("audio dropped: it is not capped")
		}
	}
}

func TestMedianSeries(t *testing.T) {
	got := medianSeries([][]int64{{1, 10, 5}, {3, 20, 5}, {2, 30, 7}})
	if !slices.Equal(got, []int64{2, 20, 5}) {
		t.Errorf("odd: %v", got)
	}
	got = medianSeries([][]int64{{1, 10}, {3, 20}})
	if !slices.Equal(got, []int64{2, 15}) {
		t.Errorf("even: %v", got)
	}
	if line := kbpsLine(kbpsSeries(1000, 2000, 500, 100), 1, 3); line != "1000 | 2000 500 | 100" {
		t.Errorf("kbpsLine: %q", line)
	}
}

func TestParseLayerSwitches(t *testing.T) {
	text := `# HELP livecart_stream_layer_switches_total Simulcast layer switches made for viewers, by direction (up, down).
# TYPE livecart_stream_layer_switches_total counter
livecart_stream_layer_switches_total{direction="down"} 7
livecart_stream_layer_switches_total{direction="up"} 12
livecart_stream_layer_switches_totally{direction="up"} 99
livecart_stream_viewers 3
`
	got, err := parseLayerSwitches(strings.NewReader(text))
	if err != nil || got["up"] != 12 || got["down"] != 7 || len(got) != 2 {
		t.Errorf("got %v, %v", got, err)
	}
	line := switchesLine([]switchReading{{n: map[string]float64{"up": 2}}, {when: "at the cap", n: map[string]float64{"up": 5, "down": 1}}, {when: "at the end", n: got}})
	if want := "server layer switches (livecart_stream_layer_switches_total): up 2 -> 5 at the cap -> 12 at the end (+10); down 0 -> 1 at the cap -> 7 at the end (+7)"; line != want {
		t.Errorf("line:\n%s\nwant\n%s", line, want)
	}
	if u, err := metricsURL("http://127.0.0.1:18080/api/streams/bench/whep?x=1"); err != nil || u != "http://127.0.0.1:18080/metrics" {
		t.Errorf("metricsURL: %q, %v", u, err)
	}
}

func TestWhepLayerURL(t *testing.T) {
	for _, tc := range []struct{ endpoint, layer, want string }{
		{"http://h/api/streams/s/whep", "", "http://h/api/streams/s/whep"},
		{"http://h/api/streams/s/whep", "low", "http://h/api/streams/s/whep?layer=low"},
		{"http://h/api/streams/s/whep?a=b", "auto", "http://h/api/streams/s/whep?a=b&layer=auto"},
	} {
		if got, err := whepLayerURL(tc.endpoint, tc.layer); err != nil || got != tc.want {
			t.Errorf("whepLayerURL(%q, %q) = %q, %v; want %q", tc.endpoint, tc.layer, got, err, tc.want)
		}
	}
	if _, err := whepLayerURL("http://h/whep", "ultra"); err == nil {
		t.Error("--layer ultra accepted")
	}
}

func TestCheckCap(t *testing.T) {
	f := whepFlags{viewers: 6, capBps: 1_000_000, capAt: 5 * time.Second, capFor: 10 * time.Second}
	if err := f.checkCap(); err != nil || f.capped != 6 {
		t.Fatalf("default --capped: %d, %v; want all 6", f.capped, err)
	}
	if links := f.capLinks(); len(links) != 6 || !links[5].capped {
		t.Errorf("all capped: want 6 capped links, no comparison")
	}
	f.capped = 3
	links := f.capLinks()
	if links[2] == nil || !links[2].capped || links[3] == nil || links[3].capped || links[4] != nil {
		t.Errorf("3 capped: want links 0-2 capped, 3 uncapped, none after")
	}
	f.capFor = 0
	if err := f.checkCap(); err == nil {
		t.Error("--cap-for 0 accepted")
	}
	if (&whepFlags{viewers: 2}).capLinks() != nil {
		t.Error("links without --cap")
	}
}
