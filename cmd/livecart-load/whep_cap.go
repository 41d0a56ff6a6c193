package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/transport/v2"
)

// A capped link (--cap): some viewers receive their video through a token
// bucket at the cap's rate for a while, as if their downlink could carry
// no more. A packet the bucket has no tokens for is dropped before the
// viewer counts it (a light viewer) or before pion reads it (a full one),
// so it is lost to the viewer's receiver reports and, for a full viewer,
// to its NACKs, exactly as on a congested link with a short queue. Audio
// passes untouched.
//
// Those viewers, and one uncapped viewer to compare with, record the
// video bytes that reach their link (sent by the relay) and that the link
// accepted (passed the bucket), per capWidth, from capBefore before the
// cap to capAfter after its lift; and the longest gap between accepted
// video packets while the cap holds.

const (
	capWidth  = 250 * time.Millisecond // the timeline's bucket
	capBefore = 2 * time.Second        // recorded before the cap
	capAfter  = 15 * time.Second       // recorded after the lift
	capDepth  = 100 * time.Millisecond // the bucket's depth, at the cap's rate
	// settleWindow is the window the settle time's rates are computed
	// over; climbHold how long the rate must stay up for a climb; and
	// climbShare of the top layer's rate is up.
	settleWindow = 500 * time.Millisecond
	climbHold    = time.Second
	climbShare   = 0.8
)

// tokenBucket passes bytes at rate bytes/s, in bursts up to depth bytes;
// it starts full. It is not safe for concurrent use.
type tokenBucket struct {
	rate, depth float64 // bytes/s, bytes
	tokens      float64
	last        time.Time
	primed      bool
}

// newTokenBucket returns a bucket for bps bits/s, depth deep at that rate
// (but at least one full-size packet, so that anything passes).
func newTokenBucket(bps float64, depth time.Duration) tokenBucket {
	r := bps / 8
	return tokenBucket{rate: r, depth: max(r*depth.Seconds(), 1500)}
}

// take reports whether a packet of size bytes arriving at now passes, and
// takes its tokens if so. Times that go backwards add nothing.
func (b *tokenBucket) take(now time.Time, size int) bool {
	if !b.primed {
		b.tokens, b.last, b.primed = b.depth, now, true
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.depth, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < float64(size) {
		return false
	}
	b.tokens -= float64(size)
	return true
}

// gapTracker finds the longest stretch of [from, to] without a packet
// (times are offsets from any origin): between two packets, from the start
// to the first packet (or from the last packet before the start), and from
// the last packet to the end. Packets come in time order.
type gapTracker struct {
	from, to time.Duration
	last     time.Duration
	seen     bool
	longest  time.Duration
	at       time.Duration // when the longest gap ended
}

func (g *gapTracker) add(t time.Duration) {
	g.close(min(t, g.to))
	if !g.seen || t > g.last {
		g.last, g.seen = t, true
	}
}

// close ends a gap at end.
func (g *gapTracker) close(end time.Duration) {
	start := g.from
	if g.seen && g.last > start {
		start = g.last
	}
	if end > start && end-start > g.longest {
		g.longest, g.at = end-start, end
	}
}

// result is the longest gap once the window is over: the gap that runs to
// its end included.
func (g *gapTracker) result() (longest, at time.Duration) {
	h := *g
	h.close(h.to)
	return h.longest, h.at
}

// capLink is one recorded viewer's link: capped or not, it records; a
// capped one drops above the cap while it holds. Its methods may be called
// concurrently.
type capLink struct {
	index  int // the viewer's
	capped bool
	bps    float64

	mu        sync.Mutex
	scheduled bool
	origin    time.Time     // the timeline's start: capBefore (or less) before the cap
	capFrom   time.Duration // the cap's window, from origin
	capTo     time.Duration
	bucket    tokenBucket
	sent      []int64 // video bytes reaching the link per capWidth
	accepted  []int64 // of those, what passed the bucket
	inCap     int64   // video packets reaching the link in the cap's window
	dropped   int64   // of those, dropped
	gap       gapTracker
}

func newCapLink(index int, capped bool, bps float64) *capLink {
	return &capLink{index: index, capped: capped, bps: bps, bucket: newTokenBucket(bps, capDepth)}
}

// schedule sets the cap's window, [from, from+length), and starts the
// timeline before bucket before it. Until then the link only passes.
func (l *capLink) schedule(from time.Time, before, length, after time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.origin = from.Add(-before)
	l.capFrom, l.capTo = before, before+length
	n := int((before + length + after + capWidth - 1) / capWidth)
	l.sent, l.accepted = make([]int64, n), make([]int64, n)
	l.gap = gapTracker{from: l.capFrom, to: l.capTo}
	l.scheduled = true
}

// admit takes one video datagram of size bytes arriving at now and reports
// whether the link passes it.
func (l *capLink) admit(now time.Time, size int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.scheduled {
		return true
	}
	t := now.Sub(l.origin)
	in := t >= l.capFrom && t < l.capTo
	ok := !in || !l.capped || l.bucket.take(now, size)
	if i := int(t / capWidth); t >= 0 && i < len(l.sent) {
		l.sent[i] += int64(size)
		if ok {
			l.accepted[i] += int64(size)
		}
	}
	if in {
		l.inCap++
		if !ok {
			l.dropped++
		}
	}
	if ok {
		l.gap.add(t)
	}
	return ok
}

// capRecord is a copy of a link's recording, for the report.
type capRecord struct {
	index           int
	capped          bool
	sent, accepted  []int64
	capIdx, liftIdx int // the buckets the cap starts and is lifted in
	capLen          time.Duration
	inCap, dropped  int64
	gap             time.Duration
}

func (l *capLink) record() capRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	gap, _ := l.gap.result()
	return capRecord{index: l.index, capped: l.capped, sent: slices.Clone(l.sent), accepted: slices.Clone(l.accepted),
		capIdx: int(l.capFrom / capWidth), liftIdx: int(l.capTo / capWidth), capLen: l.capTo - l.capFrom,
		inCap: l.inCap, dropped: l.dropped, gap: gap}
}

// pass is the viewer's link: it reports whether an RTP datagram of size
// bytes arriving at now goes on to be counted (or to pion). Only video is
// capped and recorded.
func (v *whepViewer) pass(h rtpHead, size int, now time.Time) bool {
	l := v.link
	if l == nil {
		return true
	}
	if k := v.kinds[h.pt]; k != kindVideo && k != kindRepair {
		return true
	}
	return l.admit(now, size)
}

// capNet is the host's network for one recorded full viewer: its UDP
// sockets pass what arrives through the viewer's link before pion reads
// it.
type capNet struct {
	transport.Net
	v *whepViewer
}

func (n *capNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return &capConn{UDPConn: c, v: n.v}, nil
}

// capConn drops the video RTP datagrams its viewer's link does not pass.
// Pion's ICE agent reads a socket with ReadFrom only.
type capConn struct {
	transport.UDPConn
	v *whepViewer
}

func (c *capConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.UDPConn.ReadFrom(b)
		if err != nil {
			return n, from, err
		}
		if h, ok := rtpHeadOf(b[:n]); ok && !c.v.pass(h, n, time.Now()) {
			continue
		}
		return n, from, nil
	}
}

// settleTime is how long after the cap's start the rate of series (bytes
// per width, from the cap's start) stays below capBps for the rest of the
// capped window of length capLen, computed over windows of win. It is
// false when the last window is not below the cap (or there is none).
func settleTime(series []int64, width, win time.Duration, capBps float64, capLen time.Duration) (time.Duration, bool) {
	per := int(win / width)
	nw := int(capLen / win)
	if per < 1 || nw < 1 {
		return 0, false
	}
	k := nw
	for j := nw - 1; j >= 0; j-- {
		var sum int64
		for i := j * per; i < (j+1)*per && i < len(series); i++ {
			sum += series[i]
		}
		if float64(sum)*8/win.Seconds() >= capBps {
			break
		}
		k = j
	}
	if k == nw {
		return 0, false
	}
	return time.Duration(k) * win, true
}

// climbTime is how long after the lift (series: bytes per width from the
// lift on) the rate first exceeds thresholdBps in every bucket for hold.
func climbTime(series []int64, width, hold time.Duration, thresholdBps float64) (time.Duration, bool) {
	per := max(int(hold/width), 1)
	run := 0
	for i, b := range series {
		if float64(b)*8/width.Seconds() > thresholdBps {
			run++
		} else {
			run = 0
		}
		if run == per {
			return time.Duration(i+1-per) * width, true
		}
	}
	return 0, false
}

// medianSeries is the median per bucket of several series of one length.
func medianSeries(series [][]int64) []int64 {
	if len(series) == 0 {
		return nil
	}
	out := make([]int64, len(series[0]))
	col := make([]int64, len(series))
	for i := range out {
		for j, s := range series {
			col[j] = s[i]
		}
		slices.Sort(col)
		if n := len(col); n%2 == 1 {
			out[i] = col[n/2]
		} else {
			out[i] = (col[n/2-1] + col[n/2]) / 2
		}
	}
	return out
}

// kbpsLine formats a timeline of bytes per capWidth in kbit/s, with a bar
// before the buckets at marks.
func kbpsLine(series []int64, marks ...int) string {
	var b strings.Builder
	for i, v := range series {
		if slices.Contains(marks, i) {
			b.WriteString(" |")
		}
		fmt.Fprintf(&b, " %d", int64(float64(v)*8/capWidth.Seconds()/1000+0.5))
	}
	return strings.TrimSpace(b.String())
}

// meanKbps is the mean rate of series[from:to] in kbit/s.
func meanKbps(series []int64, from, to int) float64 {
	from, to = max(from, 0), min(to, len(series))
	if to <= from {
		return 0
	}
	var sum int64
	for _, v := range series[from:to] {
		sum += v
	}
	return float64(sum) * 8 / (time.Duration(to-from) * capWidth).Seconds() / 1000
}

// capReport writes the capped viewers' timelines and figures. topBps is
// the top layer's rate, for the climb.
func capReport(w io.Writer, f whepFlags, links []*capLink, topBps float64) {
	var capped []capRecord
	var other *capRecord
	for _, l := range links {
		if l == nil {
			continue
		}
		r := l.record()
		if r.sent == nil {
			continue // never scheduled: the viewer did not join
		}
		if r.capped {
			capped = append(capped, r)
		} else if other == nil {
			other = &r
		}
	}
	fmt.Fprintf(w, "cap: %d kbit/s (bucket %s deep) on %d %s viewers, from %s after all joined, for %s\n",
		f.capBps/1000, capDepth, len(capped), whepMode(f), f.capAt, f.capFor)
	if len(capped) == 0 {
		fmt.Fprintln(w, "cap: no capped viewer joined")
		return
	}
	c0 := capped[0]
	fmt.Fprintf(w, "video kbit/s per %s, from %s before the cap to %s after its lift (| at the cap and at the lift):\n",
		capWidth, time.Duration(c0.capIdx)*capWidth, capAfter)
	var sent, acc [][]int64
	for _, r := range capped {
		sent, acc = append(sent, r.sent), append(acc, r.accepted)
	}
	fmt.Fprintf(w, "  capped, sent by the relay (median of %d): %s\n", len(capped), kbpsLine(medianSeries(sent), c0.capIdx, c0.liftIdx))
	fmt.Fprintf(w, "  capped, accepted by the link (median of %d): %s\n", len(capped), kbpsLine(medianSeries(acc), c0.capIdx, c0.liftIdx))
	if other != nil {
		fmt.Fprintf(w, "  uncapped viewer %d: %s\n", other.index, kbpsLine(other.accepted, other.capIdx, other.liftIdx))
	}
	threshold := climbShare * topBps
	fmt.Fprintf(w, "per capped viewer (settle: from the cap until the rate the relay sends stays below the cap, over %s windows; "+
		"gap: the longest without an accepted video packet while capped; climb: from the lift until above %.0f kbit/s (%.0f%% of the top layer) for %s in every %s):\n",
		settleWindow, threshold/1000, 100*climbShare, climbHold, capWidth)
	var settles, gaps, climbs []time.Duration
	for _, r := range capped {
		settle, settled := settleTime(r.sent[r.capIdx:], capWidth, settleWindow, float64(f.capBps), r.capLen)
		climb, climbed := climbTime(r.accepted[r.liftIdx:], capWidth, climbHold, threshold)
		gaps = append(gaps, r.gap)
		s, c := "never", "never"
		if settled {
			settles = append(settles, settle)
			s = settle.String()
		}
		if climbed {
			climbs = append(climbs, climb)
			c = climb.String()
		}
		drop := 0.0
		if r.inCap > 0 {
			drop = 100 * float64(r.dropped) / float64(r.inCap)
		}
		fmt.Fprintf(w, "  viewer %d: settle %s, gap %s, climb %s; while capped: sent %.0f kbit/s, accepted %.0f kbit/s, %.1f%% of %d video packets dropped; last %s of the cap: sent %.0f kbit/s; after the lift: %.0f kbit/s\n",
			r.index, s, r.gap.Round(time.Millisecond), c,
			meanKbps(r.sent, r.capIdx, r.liftIdx), meanKbps(r.accepted, r.capIdx, r.liftIdx), drop, r.inCap,
			2*time.Second, meanKbps(r.sent, r.liftIdx-int(2*time.Second/capWidth), r.liftIdx), meanKbps(r.accepted, r.liftIdx, len(r.accepted)))
	}
	if other != nil {
		fmt.Fprintf(w, "  viewer %d (uncapped): in the cap's window %.0f kbit/s, after it %.0f kbit/s\n",
			other.index, meanKbps(other.accepted, other.capIdx, other.liftIdx), meanKbps(other.accepted, other.liftIdx, len(other.accepted)))
	}
	n := len(capped)
	fmt.Fprintf(w, "capped viewers: settle p50 %s, max %s (%d of %d settled); longest gap p50 %s, max %s; climb p50 %s, max %s (%d of %d climbed)\n",
		whepPct(settles, 50), whepPct(settles, 100), len(settles), n, whepPct(gaps, 50), whepPct(gaps, 100),
		whepPct(climbs, 50), whepPct(climbs, 100), len(climbs), n)
}

// metricsURL is the /metrics of the server at endpoint's origin.
func metricsURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("no origin in %q", endpoint)
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/metrics"}).String(), nil
}

// layerSwitches reads the server's livecart_stream_layer_switches_total by
// direction (absent before the first switch: none).
func layerSwitches(ctx context.Context, endpoint string) (map[string]float64, error) {
	u, err := metricsURL(endpoint)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", u, res.Status)
	}
	return parseLayerSwitches(res.Body)
}

// parseLayerSwitches reads the layer switch counters from Prometheus's
// text format.
func parseLayerSwitches(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "livecart_stream_layer_switches_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		dir := ""
		for _, kv := range strings.Split(labels, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok && k == "direction" {
				dir = strings.Trim(v, `"`)
			}
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		x, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		out[dir] += x
	}
	return out, sc.Err()
}

// switchReading is the layer switch counters at one point of the run.
type switchReading struct {
	when string // "" for the first, then e.g. "at the cap"
	n    map[string]float64
}

// switchesLine reports the counters at each reading, the first one before
// the viewers joined and the last at the end.
func switchesLine(rs []switchReading) string {
	var parts []string
	for _, d := range []string{"up", "down"} {
		var b strings.Builder
		b.WriteString(d)
		for i, r := range rs {
			if i > 0 {
				b.WriteString(" ->")
			}
			fmt.Fprintf(&b, " %.0f", r.n[d])
			if r.when != "" {
				b.WriteString(" " + r.when)
			}
		}
		if len(rs) > 1 {
			fmt.Fprintf(&b, " (+%.0f)", rs[len(rs)-1].n[d]-rs[0].n[d])
		}
		parts = append(parts, b.String())
	}
	return "server layer switches (livecart_stream_layer_switches_total): " + strings.Join(parts, "; ")
}

// readSwitchesAt reads the server's layer switch counters at each of
// times (in order) and sends the readings, labelled, on the channel it
// returns, which it closes after the last (a failed reading is left out).
func readSwitchesAt(ctx context.Context, endpoint string, times []time.Time, labels []string) <-chan switchReading {
	out := make(chan switchReading, len(times))
	go func() {
		defer close(out)
		for i, t := range times {
			select {
			case <-time.After(time.Until(t)):
			case <-ctx.Done():
				return
			}
			if n, err := layerSwitches(ctx, endpoint); err == nil {
				out <- switchReading{when: labels[i], n: n}
			}
		}
	}()
	return out
}
