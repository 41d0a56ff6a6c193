package stream

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// Keyframe service for joining viewers: a viewer is started on the cached
// keyframe when it is at most maxKeyAge old and at most maxKeyBurst packets
// back; otherwise it waits for the next keyframe, which it asks for.
const (
	maxKeyAge   = time.Second
	maxKeyBurst = 512
	// rekeyAfter is how long a viewer waits for a keyframe before asking
	// again (still subject to the track's rate limit).
	rekeyAfter = time.Second
	// stallAfter is how long a layer may send nothing before a viewer
	// waiting to leave it switches without waiting for its frame to end.
	stallAfter = 100 * time.Millisecond
)

// Retransmissions are bounded per viewer, so that a viewer on a link too
// thin for its layer is not sent more than the layer (its NACKs would
// otherwise multiply the load, and hide from its receiver reports the
// loss its layer choice reads): a packet is resent at most resendTimes
// times, only while it is at most resendAge old, and resends may use at
// most a quarter of the bytes sent new (resendShare), with a burst of
// resendBurst.
const (
	resendTimes = 2
	resendAge   = time.Second
	resendShare = 4
	resendBurst = 32 << 10
)

var errNoCodec = errors.New("stream: the viewer's offer has no codec the stream uses")

// downTrack forwards one feed to one viewer: one layer of it at a time,
// on one continuous track. It is the viewer's webrtc.TrackLocal; pion
// binds it once per PeerConnection. One writer goroutine (run) owns the
// cursor, the layer and the scratch buffer; NACKs from the viewer's RTCP
// goroutine are queued to it, so there is one writer per viewer and track,
// and a slow viewer only ever delays itself.
//
// A viewer switches layers only at a keyframe of the layer it goes to,
// which it asks for, and only between two frames of the layer it leaves.
// Each stretch of one layer is a segment: the viewer's sequence numbers
// and timestamps are the layer's plus the segment's offsets, chosen so the
// track goes on where the previous segment stopped.
type downTrack struct {
	f        *feed
	kind     webrtc.RTPCodecType
	want     webrtc.RTPCodecParameters // the viewer's codec negotiated for f
	streamID string
	m        *metrics

	mu   sync.Mutex // guards the binding
	w    webrtc.TrackLocalWriter
	ssrc uint32
	pt   uint8
	// abs is the id of the abs-send-time header extension when the
	// viewer negotiated it (0: not), which its REMB is computed from.
	abs uint8

	// cork batches what one drain sends to the viewer's peer (cork.go).
	cork atomic.Pointer[cork]

	wake    chan struct{}
	done    chan struct{}
	stop    sync.Once
	started atomic.Bool

	nackMu sync.Mutex
	nacks  [64]uint16
	nn     int
	// Owned by the writer: how often recent outbound sequence numbers
	// were resent, and the bytes resends may still use.
	resent      [512]resendCount
	resendBytes int

	// mode is the viewer's layerMode; auto the rank its controller chose.
	mode atomic.Int32
	auto atomic.Int32
	// layer is the layer the viewer receives, for other goroutines.
	layer atomic.Pointer[relayTrack]

	// The layers whose arrivals wake the writer: the one it plays and,
	// while it waits to switch, the one it goes to.
	regMu     sync.Mutex
	listening []*relayTrack
	closed    bool

	// Owned by the writer goroutine.
	t         *relayTrack // the layer played
	seg, prev segment     // t's segment and the one before
	target    *relayTrack // the layer to switch to, nil when none
	since     uint64      // the target's arrivals before this are too old
	askedAt   int64       // when the target was last asked for a keyframe
	steered   bool
	seenRanks uint64
	seenMode  int32
	seenAuto  int32
	sentAny   bool
	lastOut   uint64 // highest outbound ext sent
	lastOutTS uint32 // its timestamp
	lastAt    int64  // its arrival at the relay (Unix ns)
	boundary  bool   // the last packet sent ended a frame
	inited    bool
	cursor    uint64
	waitKey   bool
	waitFrom  int64
	hdr       rtp.Header
	absBuf    [3]byte // the abs-send-time extension's value
	buf       [maxPayload]byte
	nackBuf   [64]uint16

	// Counters for tests and the load report.
	sentPackets atomic.Uint64
	skipped     atomic.Uint64
	switches    atomic.Uint64
}

// resendCount is how often one outbound sequence number was resent.
type resendCount struct {
	seq uint16
	n   uint8
}

// segment maps a stretch of one layer onto the viewer's track: outbound
// ext = layer ext + off, outbound timestamp = layer timestamp + tsOff,
// from the outbound ext from on.
type segment struct {
	t     *relayTrack
	off   uint64
	tsOff uint32
	from  uint64
}

// newDownTrack returns the viewer's track of f, starting on layer first.
func newDownTrack(f *feed, first *relayTrack, mode layerMode, want webrtc.RTPCodecParameters, streamID string, m *metrics) *downTrack {
	d := &downTrack{f: f, kind: f.kind, want: want, streamID: streamID, m: m,
		wake: make(chan struct{}, 1), done: make(chan struct{}), t: first}
	d.seg = segment{t: first}
	d.layer.Store(first)
	d.mode.Store(int32(mode))
	return d
}

// Bind implements webrtc.TrackLocal: it picks the viewer's payload type for
// the publisher's codec.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	cs := ctx.CodecParameters()
	c, ok := webrtc.RTPCodecParameters{}, false
	for _, x := range cs {
		if x.PayloadType == d.want.PayloadType && strings.EqualFold(x.MimeType, d.want.MimeType) {
			c, ok = x, true
			break
		}
	}
	if !ok {
		if c, ok = matchViewerCodec(d.f.codec, cs); !ok {
			return webrtc.RTPCodecParameters{}, errNoCodec
		}
	}
	abs := uint8(0)
	for _, e := range ctx.HeaderExtensions() {
		if e.URI == absSendTimeURI && d.kind == webrtc.RTPCodecTypeVideo {
			abs = uint8(e.ID)
		}
	}
	d.mu.Lock()
	d.w, d.ssrc, d.pt, d.abs = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(c.PayloadType), abs
	d.mu.Unlock()
	return c, nil
}

// Unbind implements webrtc.TrackLocal.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.mu.Lock()
	d.w = nil
	d.mu.Unlock()
	return nil
}

// ID implements webrtc.TrackLocal.
func (d *downTrack) ID() string { return d.kind.String() }

// RID implements webrtc.TrackLocal.
func (d *downTrack) RID() string { return "" }

// StreamID implements webrtc.TrackLocal: audio and video share it, so the
// browser keeps them in sync.
func (d *downTrack) StreamID() string { return d.streamID }

// Kind implements webrtc.TrackLocal.
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.kind }

// notify wakes the writer without ever blocking.
func (d *downTrack) notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// start lets the writer send: the viewer's connection is up.
func (d *downTrack) start() {
	d.started.Store(true)
	d.notify()
}

// listen makes t's arrivals wake the writer.
func (d *downTrack) listen(t *relayTrack) {
	d.regMu.Lock()
	defer d.regMu.Unlock()
	if d.closed || slices.Contains(d.listening, t) {
		return
	}
	d.listening = append(d.listening, t)
	t.addDown(d)
}

// unlisten undoes listen.
func (d *downTrack) unlisten(t *relayTrack) {
	d.regMu.Lock()
	defer d.regMu.Unlock()
	if i := slices.Index(d.listening, t); i >= 0 {
		d.listening = slices.Delete(d.listening, i, i+1)
		t.removeDown(d)
	}
}

// close stops listening and stops the writer goroutine (run returns).
func (d *downTrack) close() {
	d.regMu.Lock()
	d.closed = true
	for _, t := range d.listening {
		t.removeDown(d)
	}
	d.listening = nil
	d.regMu.Unlock()
	d.stop.Do(func() { close(d.done) })
}

// setMode sets the viewer's layer mode; auto is the rank its controller
// chose, used in automatic mode.
func (d *downTrack) setMode(mode layerMode) {
	if d.mode.Swap(int32(mode)) != int32(mode) {
		d.notify()
	}
}

// setAuto records the rank the controller chose.
func (d *downTrack) setAuto(rank int) {
	if d.auto.Swap(int32(rank)) != int32(rank) && layerMode(d.mode.Load()) == layerAuto {
		d.notify()
	}
}

// requestKeyframe asks the publisher of the layer the viewer plays for a
// keyframe (rate-limited per layer).
func (d *downTrack) requestKeyframe(reason string) { d.layer.Load().requestKeyframe(reason) }

// run is the writer goroutine. It returns after close.
func (d *downTrack) run() {
	for {
		select {
		case <-d.done:
			return
		case <-d.wake:
		}
		if d.started.Load() {
			d.drain()
		}
	}
}

// queueNack records sequence numbers the viewer asks to have again.
func (d *downTrack) queueNack(seq uint16) {
	d.nackMu.Lock()
	if d.nn < len(d.nacks) {
		d.nacks[d.nn] = seq
		d.nn++
	}
	d.nackMu.Unlock()
}

// drain sends what the viewer is owed: retransmissions first, then every
// packet that arrived since the last call, switching layers on the way
// when one is due. It is the per-viewer forward path and does not
// allocate unless the viewer's layer choice changed.
func (d *downTrack) drain() {
	d.mu.Lock()
	w, ssrc, pt, abs := d.w, d.ssrc, d.pt, d.abs
	d.mu.Unlock()
	if w == nil {
		return
	}
	k := d.cork.Load()
	k.hold()
	defer k.release()
	if abs != 0 && !d.hdr.Extension {
		// Once: later packets update d.absBuf in place.
		_ = d.hdr.SetExtension(abs, d.absBuf[:])
	}
	var c tally

	d.nackMu.Lock()
	n := copy(d.nackBuf[:], d.nacks[:d.nn])
	d.nn = 0
	d.nackMu.Unlock()
	for _, seq := range d.nackBuf[:n] {
		if !d.mayResend(seq) {
			continue
		}
		if seg, ext, ok := d.resolve(seq); ok {
			if b, ok := d.send(w, ssrc, pt, seg, ext, false, true); ok {
				c.sent++
				c.bytes += uint64(b)
				d.resendBytes -= b
				d.m.retransmits.Inc()
			}
		}
	}

	d.steer()
	// One switch at most per call.
	if d.forward(w, ssrc, pt, &c) {
		d.forward(w, ssrc, pt, &c)
	}
	if d.waitKey && d.t.now().UnixNano()-d.waitFrom > int64(rekeyAfter) {
		d.beginWait("wait")
	}
	if c.sent > 0 {
		d.sentPackets.Add(c.sent)
		d.m.forwarded.Add(float64(c.sent))
		d.m.bytes.Add(float64(c.bytes))
	}
	if c.lost > 0 {
		d.skipped.Add(c.lost)
		d.m.lostViewer.Add(float64(c.lost))
	}
}

// tally counts what one drain sent and skipped.
type tally struct{ sent, bytes, lost uint64 }

// forward sends the layer's new packets and reports whether it switched
// to the target layer on the way (the rest is then for the next call).
func (d *downTrack) forward(w webrtc.TrackLocalWriter, ssrc uint32, pt uint8, c *tally) (switched bool) {
	t := d.t
	head := t.head.Load()
	if !d.inited {
		d.initCursor(head)
	}
	if head-d.cursor > uint64(len(t.order))/2 {
		// Too far behind: the ring is about to overwrite what this
		// viewer has not sent. Skip to now and restart on a keyframe.
		c.lost += head - d.cursor
		d.cursor = head
		d.beginWait("lag")
	}
	for ; d.cursor < head; d.cursor++ {
		if d.target != nil && (d.boundary || d.waitKey) && d.trySwitch() {
			return true
		}
		ext := t.order[d.cursor&t.mask].Load()
		if b, ok := d.send(w, ssrc, pt, &d.seg, ext, d.waitKey, false); ok {
			d.waitKey = false
			c.sent++
			c.bytes += uint64(b)
		} else if !d.waitKey {
			c.lost++
		}
	}
	if d.target == nil {
		return false
	}
	now := t.now().UnixNano()
	if d.boundary || d.waitKey || now-t.lastAt.Load() > int64(stallAfter) || !d.f.current(t) {
		if d.trySwitch() {
			return true
		}
	}
	if now-d.askedAt > int64(rekeyAfter) {
		d.askedAt = now
		d.target.requestKeyframe("layer")
	}
	return false
}

// steer re-resolves the layer the viewer should play when its mode, its
// controller's choice or the feed's layers changed.
func (d *downTrack) steer() {
	r, mode, auto := d.f.ranks.Load(), d.mode.Load(), d.auto.Load()
	if d.steered && r == d.seenRanks && mode == d.seenMode && auto == d.seenAuto {
		return
	}
	d.steered, d.seenRanks, d.seenMode, d.seenAuto = true, r, mode, auto
	ls := d.f.ranked()
	if len(ls) == 0 {
		return
	}
	d.aim(ls[layerMode(mode).rankOf(len(ls), int(auto))])
}

// aim makes to the layer to switch to (none when it is the one played).
func (d *downTrack) aim(to *relayTrack) {
	if to == d.target || (to == d.t && d.target == nil) {
		return
	}
	if d.target != nil {
		d.unlisten(d.target)
		d.target = nil
	}
	if to == d.t {
		return
	}
	d.target = to
	d.since = to.head.Load()
	d.listen(to)
	d.askedAt = d.t.now().UnixNano()
	to.requestKeyframe("layer")
}

// trySwitch moves to the target layer if a keyframe of it arrived since
// the switch was decided and is still cached. The new segment continues
// the viewer's track: the next sequence number, and a timestamp ahead by
// the time between the two packets' arrivals.
func (d *downTrack) trySwitch() bool {
	to := d.target
	k := to.keyIndex.Load()
	if k == 0 || k-1 < d.since {
		return false
	}
	ext := to.order[(k-1)&to.mask].Load()
	s := &to.slots[ext&to.mask]
	s.mu.RLock()
	ok, ts, at := s.ext == ext && s.key, s.ts, s.at
	s.mu.RUnlock()
	if !ok {
		// Overwritten already: wait for the next one.
		d.since = to.head.Load()
		return false
	}
	next := segment{t: to}
	if d.sentAny {
		step := uint64(1)
		if dt := at - d.lastAt; dt > 0 {
			step = max(step, uint64(dt)*uint64(to.codec.ClockRate)/uint64(time.Second))
		}
		next.from = d.lastOut + 1
		next.off = next.from - ext
		next.tsOff = d.lastOutTS + uint32(step) - ts
	}
	dir := "down"
	if higher(to, d.t) {
		dir = "up"
	}
	old := d.t
	d.prev, d.seg = d.seg, next
	d.t, d.target = to, nil
	d.layer.Store(to)
	d.unlisten(old)
	d.cursor = k - 1
	d.inited = true
	d.waitKey, d.waitFrom = true, to.now().UnixNano()
	d.boundary = false
	d.switches.Add(1)
	d.m.layerSwitches.WithLabelValues(dir).Inc()
	return true
}

// stampSendTime writes t as abs-send-time: seconds in 6.18 fixed point,
// the low 24 bits.
func stampSendTime(b *[3]byte, t time.Time) {
	ns := uint64(t.UnixNano())
	v := ns/uint64(time.Second)<<18 | ns%uint64(time.Second)<<18/uint64(time.Second)
	b[0], b[1], b[2] = byte(v>>16), byte(v>>8), byte(v)
}

// higher reports whether layer a ranks above layer b.
func higher(a, b *relayTrack) bool {
	if pa, pb := a.pixels.Load(), b.pixels.Load(); pa != pb && pa != 0 && pb != 0 {
		return pa > pb
	}
	return a.rate.Load() > b.rate.Load()
}

// mayResend reports whether the budget allows resending seq once more, and
// counts it.
func (d *downTrack) mayResend(seq uint16) bool {
	if d.resendBytes <= 0 {
		return false
	}
	r := &d.resent[seq%uint16(len(d.resent))]
	if r.seq != seq {
		r.seq, r.n = seq, 0
	}
	if r.n >= resendTimes {
		return false
	}
	r.n++
	return true
}

// resolve finds the layer and layer ext of an outbound sequence number the
// viewer NACKs: in the current segment or the one before.
func (d *downTrack) resolve(seq uint16) (*segment, uint64, bool) {
	if !d.sentAny {
		return nil, 0, false
	}
	out := d.lastOut + uint64(int64(int16(seq-uint16(d.lastOut))))
	switch {
	case out >= d.seg.from:
		return &d.seg, out - d.seg.off, true
	case d.prev.t != nil && out >= d.prev.from:
		return &d.prev, out - d.prev.off, true
	}
	return nil, 0, false
}

// initCursor places a new viewer: on the latest cached keyframe if it is
// fresh, else at the head, waiting for the next keyframe it asks for.
func (d *downTrack) initCursor(head uint64) {
	d.inited = true
	d.cursor = head
	if d.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	if k := d.t.keyIndex.Load(); k != 0 && head-(k-1) <= maxKeyBurst &&
		d.t.now().UnixNano()-d.t.keyAt.Load() <= int64(maxKeyAge) {
		d.cursor = k - 1
		d.waitKey = true // the slot may have been overwritten; then wait
		d.waitFrom = d.t.now().UnixNano()
		d.m.keyframesServed.Inc()
		return
	}
	d.beginWait("join")
}

func (d *downTrack) beginWait(reason string) {
	if d.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	d.waitKey = true
	d.waitFrom = d.t.now().UnixNano()
	d.t.requestKeyframe(reason)
}

// send copies the cached packet ext of seg's layer out of its slot and
// writes it to the viewer with the viewer's SSRC and payload type, mapped
// by seg. With keyOnly it sends only the first packet of a keyframe; a
// resend (a NACK's answer) leaves the track's position alone. It reports
// the payload size.
func (d *downTrack) send(w webrtc.TrackLocalWriter, ssrc uint32, pt uint8, seg *segment, ext uint64, keyOnly, resend bool) (int, bool) {
	t := seg.t
	s := &t.slots[ext&t.mask]
	s.mu.RLock()
	if s.ext != ext || (keyOnly && !s.key) || (resend && t.now().UnixNano()-s.at > int64(resendAge)) {
		s.mu.RUnlock()
		return 0, false
	}
	n := copy(d.buf[:], s.payload[:s.n])
	h := &d.hdr
	h.Version = 2
	h.Marker = s.marker
	h.Timestamp = s.ts + seg.tsOff
	out := ext + seg.off
	h.SequenceNumber = uint16(out)
	at := s.at
	s.mu.RUnlock()
	h.PayloadType = pt
	h.SSRC = ssrc
	if h.Extension {
		stampSendTime(&d.absBuf, time.Now())
	}
	if _, err := w.WriteRTP(h, d.buf[:n]); err != nil {
		return 0, false
	}
	if !resend {
		if !d.sentAny || out > d.lastOut {
			d.lastOut, d.lastOutTS, d.lastAt, d.sentAny = out, h.Timestamp, at, true
		}
		d.boundary = h.Marker
		d.resendBytes = min(d.resendBytes+n/resendShare, resendBurst)
	}
	return n, true
}
