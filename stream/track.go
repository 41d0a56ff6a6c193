package stream

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"
)

// maxPayload bounds an RTP payload the relay caches; larger packets (which
// no WebRTC sender produces at a 1500-byte MTU) are dropped.
const maxPayload = 1500

// Packet cache and arrival ring sizes (powers of two). At 2.5 Mbit/s and
// ~1200-byte packets a video track carries ~260 packets/s, so 2048 slots
// hold about 8 s of video; Opus at 50 packets/s fits 512 slots 10 times.
const (
	videoSlots = 2048
	audioSlots = 512
)

// slot is one cached packet, already rewritten to the outbound sequence
// number and timestamp. Its lock is held only to copy in or out, never
// across a network write.
type slot struct {
	mu      sync.RWMutex
	ext     uint64 // outbound extended sequence number; 0 when empty
	ts      uint32
	marker  bool
	key     bool  // first packet of a keyframe
	at      int64 // arrival (Unix ns)
	n       int
	payload [maxPayload]byte
}

// source is where keyframe requests go: the publisher's RTCP writer and
// the SSRC it sends this track on.
type source struct {
	write func([]rtcp.Packet) error
	ssrc  uint32
}

// relayTrack is one media track of a live stream on this node: audio or
// video. One publisher goroutine writes into it (ingest); every viewer's
// downTrack reads from it at its own pace. It holds the one packet cache
// shared by all viewers of the track, which answers their NACKs and serves
// the latest keyframe to viewers who join.
//
// Ingest never blocks on a viewer: it copies the packet into the cache,
// appends its sequence number to the arrival ring and wakes each viewer's
// writer with a non-blocking channel send.
type relayTrack struct {
	kind  webrtc.RTPCodecType
	codec webrtc.RTPCodecParameters
	ck    codecKind
	m     *metrics
	now   func() time.Time

	slots []slot
	order []atomic.Uint64 // arrival ring: outbound ext in arrival order
	mask  uint64

	head     atomic.Uint64 // number of arrivals so far
	highest  atomic.Uint64 // highest ext cached
	keyIndex atomic.Uint64 // arrival index + 1 of the latest keyframe start
	keyAt    atomic.Int64  // when it arrived (Unix ns)
	lastAt   atomic.Int64  // when the latest packet arrived (Unix ns)

	// pixels is the picture size (width × height) the latest keyframe
	// announced, 0 while unknown; rate is the bitrate over the last
	// rateWindow (bits/s). They rank a simulcast feed's layers; a change
	// of pixels bumps *ranks.
	pixels atomic.Int64
	rate   atomic.Int64
	ranks  *atomic.Uint64
	// idle is set while the layer has sent nothing for layerIdle (a
	// publisher may pause a layer); an idle layer is not ranked. feed is
	// the feed the track is a layer of, nil for a bare track.
	idle atomic.Bool
	feed *feed

	downs   atomic.Pointer[[]*downTrack] // copy on write, under downsMu
	downsMu sync.Mutex

	ingestMu  sync.Mutex
	rw        *rewriter
	session   uint64
	lastKeyTS uint32
	haveKey   bool
	gotKey    bool // a keyframe arrived in this session
	winStart  int64
	winBytes  int64

	src         atomic.Pointer[source]
	lastPLI     atomic.Int64
	pliInterval time.Duration
}

// rateWindow is the window over which a track's bitrate is measured.
const rateWindow = time.Second

func newRelayTrack(codec webrtc.RTPCodecParameters, m *metrics, now func() time.Time, pliInterval time.Duration, ranks *atomic.Uint64) *relayTrack {
	kind := kindOf(codec.MimeType)
	n := audioSlots
	if kind == webrtc.RTPCodecTypeVideo {
		n = videoSlots
	}
	t := &relayTrack{
		kind: kind, codec: codec, ck: codecKindOf(codec.MimeType), m: m, now: now,
		slots: make([]slot, n), order: make([]atomic.Uint64, n), mask: uint64(n - 1),
		rw: newRewriter(codec.ClockRate, kind == webrtc.RTPCodecTypeVideo), pliInterval: pliInterval, ranks: ranks,
	}
	t.downs.Store(&[]*downTrack{})
	// Allow a request at once.
	t.lastPLI.Store(now().UnixNano() - int64(pliInterval))
	return t
}

// setSession starts a new publisher session: only ingest tagged with it is
// accepted from now on, and its first packet continues the outbound stream.
func (t *relayTrack) setSession(session uint64) {
	t.ingestMu.Lock()
	t.session = session
	t.rw.newSession()
	t.haveKey = false
	t.gotKey = false
	t.winStart, t.winBytes = 0, 0
	t.ingestMu.Unlock()
	t.src.Store(nil)
	t.rate.Store(0)
	if t.pixels.Swap(0) != 0 {
		t.ranks.Add(1)
	}
}

// setSource records where keyframe requests for session go.
func (t *relayTrack) setSource(session uint64, src *source) bool {
	t.ingestMu.Lock()
	defer t.ingestMu.Unlock()
	if t.session != session {
		return false
	}
	t.src.Store(src)
	return true
}

// ingest caches one packet of session and wakes the viewers. It reports
// whether a keyframe has arrived in this session yet. It does not allocate.
func (t *relayTrack) ingest(session uint64, b []byte, now int64) (gotKey bool) {
	h, err := parseRTP(b)
	if err != nil || h.payloadEnd-h.payloadStart > maxPayload {
		return true
	}
	payload := b[h.payloadStart:h.payloadEnd]

	t.ingestMu.Lock()
	if session != t.session {
		t.ingestMu.Unlock()
		return true
	}
	ext, ts, lost, ok := t.rw.rewrite(h.seq, h.ts, now)
	if !ok {
		t.ingestMu.Unlock()
		return t.gotKey
	}
	key := false
	if t.ck == codecOther {
		t.gotKey = true
	} else if isKeyframe(t.ck, payload) {
		t.sized(payload)
		if !t.haveKey || ts != t.lastKeyTS {
			key, t.haveKey, t.lastKeyTS, t.gotKey = true, true, ts, true
		}
	}
	s := &t.slots[ext&t.mask]
	s.mu.Lock()
	if s.ext == ext { // a duplicate (a retransmission we already have)
		s.mu.Unlock()
		t.ingestMu.Unlock()
		return t.gotKey
	}
	s.ext, s.ts, s.marker, s.key, s.at = ext, ts, h.marker, key, now
	s.n = copy(s.payload[:], payload)
	s.mu.Unlock()
	t.measure(now, len(b))
	idx := t.head.Load()
	t.order[idx&t.mask].Store(ext)
	if ext > t.highest.Load() {
		t.highest.Store(ext)
	}
	if key {
		t.keyIndex.Store(idx + 1)
		t.keyAt.Store(now)
	}
	t.lastAt.Store(now)
	if t.idle.Load() && t.idle.CompareAndSwap(true, false) {
		t.ranks.Add(1)
	}
	t.head.Store(idx + 1)
	gotKey = t.gotKey
	t.ingestMu.Unlock()

	if lost > 0 {
		t.m.lostIngest.Add(float64(lost))
	}
	for _, d := range *t.downs.Load() {
		d.notify()
	}
	return gotKey
}

// sized records the picture size a keyframe announces; a new size may
// change the order of the feed's layers. t.ingestMu is held.
func (t *relayTrack) sized(payload []byte) {
	w, h, ok := frameSize(t.ck, payload)
	if !ok {
		return
	}
	if px := int64(w) * int64(h); t.pixels.Swap(px) != px {
		t.ranks.Add(1)
	}
}

// measure adds a packet of n bytes to the bitrate window. t.ingestMu is
// held.
func (t *relayTrack) measure(now int64, n int) {
	if t.winStart == 0 {
		t.winStart = now
	}
	t.winBytes += int64(n)
	// The first measure comes sooner: until it does, layers rank by slot.
	window := int64(rateWindow)
	first := t.rate.Load() == 0
	if first {
		window /= 4
	}
	if d := now - t.winStart; d >= window {
		t.rate.Store(t.winBytes * 8 * int64(time.Second) / d)
		t.winStart, t.winBytes = now, 0
		if first {
			t.ranks.Add(1)
		}
		if t.feed != nil {
			t.feed.checkIdle(now)
		}
	}
}

// extOf turns a 16-bit sequence number a viewer NACKs into the cache's
// extended number, taking the one nearest the highest cached.
func (t *relayTrack) extOf(seq uint16) uint64 {
	hi := t.highest.Load()
	return hi + uint64(int64(int16(seq-uint16(hi))))
}

// requestKeyframe asks the publisher for a keyframe (PLI), at most once
// per pliInterval however many viewers ask. It reports whether it sent one.
func (t *relayTrack) requestKeyframe(reason string) bool {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return false
	}
	src := t.src.Load()
	if src == nil {
		return false
	}
	now := t.now().UnixNano()
	last := t.lastPLI.Load()
	if now-last < int64(t.pliInterval) || !t.lastPLI.CompareAndSwap(last, now) {
		return false
	}
	if err := src.write([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: src.ssrc}}); err != nil {
		return false
	}
	t.m.keyframeRequests.WithLabelValues(reason).Inc()
	return true
}

// forceKeyframe requests a keyframe now, ignoring the rate limit (a
// publisher just started).
func (t *relayTrack) forceKeyframe(reason string) {
	t.lastPLI.Store(t.now().UnixNano() - int64(t.pliInterval))
	t.requestKeyframe(reason)
}

func (t *relayTrack) addDown(d *downTrack) {
	t.downsMu.Lock()
	defer t.downsMu.Unlock()
	old := *t.downs.Load()
	next := make([]*downTrack, len(old), len(old)+1)
	copy(next, old)
	next = append(next, d)
	t.downs.Store(&next)
}

func (t *relayTrack) removeDown(d *downTrack) {
	t.downsMu.Lock()
	defer t.downsMu.Unlock()
	old := *t.downs.Load()
	next := make([]*downTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			next = append(next, x)
		}
	}
	t.downs.Store(&next)
}
