package stream

import (
	"errors"
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
)

var errNoCodec = errors.New("stream: the viewer's offer has no codec the stream uses")

// downTrack forwards one relayTrack to one viewer. It is the viewer's
// webrtc.TrackLocal; pion binds it once per PeerConnection. One writer
// goroutine (run) owns the cursor and the scratch buffer; NACKs from the
// viewer's RTCP goroutine are queued to it, so there is one writer per
// viewer and track, and a slow viewer only ever delays itself.
type downTrack struct {
	t        *relayTrack
	want     webrtc.RTPCodecParameters // the viewer's codec negotiated for t
	streamID string
	m        *metrics

	mu   sync.Mutex // guards the binding
	w    webrtc.TrackLocalWriter
	ssrc uint32
	pt   uint8

	wake    chan struct{}
	done    chan struct{}
	stop    sync.Once
	started atomic.Bool

	nackMu sync.Mutex
	nacks  [64]uint16
	nn     int

	// Owned by the writer goroutine.
	inited   bool
	cursor   uint64
	waitKey  bool
	waitFrom int64
	hdr      rtp.Header
	buf      [maxPayload]byte
	nackBuf  [64]uint16

	// Counters for tests and the load report.
	sentPackets atomic.Uint64
	skipped     atomic.Uint64
}

func newDownTrack(t *relayTrack, want webrtc.RTPCodecParameters, streamID string, m *metrics) *downTrack {
	return &downTrack{t: t, want: want, streamID: streamID, m: m, wake: make(chan struct{}, 1), done: make(chan struct{})}
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
		if c, ok = matchViewerCodec(d.t.codec, cs); !ok {
			return webrtc.RTPCodecParameters{}, errNoCodec
		}
	}
	d.mu.Lock()
	d.w, d.ssrc, d.pt = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(c.PayloadType)
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
func (d *downTrack) ID() string { return d.t.kind.String() }

// RID implements webrtc.TrackLocal.
func (d *downTrack) RID() string { return "" }

// StreamID implements webrtc.TrackLocal: audio and video share it, so the
// browser keeps them in sync.
func (d *downTrack) StreamID() string { return d.streamID }

// Kind implements webrtc.TrackLocal.
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.t.kind }

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

// close stops the writer goroutine (run returns).
func (d *downTrack) close() { d.stop.Do(func() { close(d.done) }) }

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
// packet that arrived since the last call. It is the per-viewer forward
// path and does not allocate.
func (d *downTrack) drain() {
	d.mu.Lock()
	w, ssrc, pt := d.w, d.ssrc, d.pt
	d.mu.Unlock()
	if w == nil {
		return
	}
	var sent, bytes, lost uint64

	d.nackMu.Lock()
	n := copy(d.nackBuf[:], d.nacks[:d.nn])
	d.nn = 0
	d.nackMu.Unlock()
	for _, seq := range d.nackBuf[:n] {
		if b, ok := d.send(w, ssrc, pt, d.t.extOf(seq), false); ok {
			sent++
			bytes += uint64(b)
			d.m.retransmits.Inc()
		}
	}

	t := d.t
	head := t.head.Load()
	if !d.inited {
		d.initCursor(head)
	}
	if head-d.cursor > uint64(len(t.order))/2 {
		// Too far behind: the ring is about to overwrite what this
		// viewer has not sent. Skip to now and restart on a keyframe.
		lost += head - d.cursor
		d.cursor = head
		d.beginWait("lag")
	}
	for ; d.cursor < head; d.cursor++ {
		ext := t.order[d.cursor&t.mask].Load()
		if b, ok := d.send(w, ssrc, pt, ext, d.waitKey); ok {
			d.waitKey = false
			sent++
			bytes += uint64(b)
		} else if !d.waitKey {
			lost++
		}
	}
	if d.waitKey && t.now().UnixNano()-d.waitFrom > int64(rekeyAfter) {
		d.beginWait("wait")
	}
	if sent > 0 {
		d.sentPackets.Add(sent)
		d.m.forwarded.Add(float64(sent))
		d.m.bytes.Add(float64(bytes))
	}
	if lost > 0 {
		d.skipped.Add(lost)
		d.m.lostViewer.Add(float64(lost))
	}
}

// initCursor places a new viewer: on the latest cached keyframe if it is
// fresh, else at the head, waiting for the next keyframe it asks for.
func (d *downTrack) initCursor(head uint64) {
	d.inited = true
	d.cursor = head
	if d.t.kind != webrtc.RTPCodecTypeVideo {
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
	if d.t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	d.waitKey = true
	d.waitFrom = d.t.now().UnixNano()
	d.t.requestKeyframe(reason)
}

// send copies the cached packet ext out of its slot and writes it to the
// viewer with the viewer's SSRC and payload type. With keyOnly it sends
// only the first packet of a keyframe. It reports the payload size.
func (d *downTrack) send(w webrtc.TrackLocalWriter, ssrc uint32, pt uint8, ext uint64, keyOnly bool) (int, bool) {
	s := &d.t.slots[ext&d.t.mask]
	s.mu.RLock()
	if s.ext != ext || (keyOnly && !s.key) {
		s.mu.RUnlock()
		return 0, false
	}
	n := copy(d.buf[:], s.payload[:s.n])
	h := &d.hdr
	h.Version = 2
	h.Marker = s.marker
	h.Timestamp = s.ts
	h.SequenceNumber = uint16(ext)
	s.mu.RUnlock()
	h.PayloadType = pt
	h.SSRC = ssrc
	if _, err := w.WriteRTP(h, d.buf[:n]); err != nil {
		return 0, false
	}
	return n, true
}
