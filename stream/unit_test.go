package stream

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

func TestIsKeyframe(t *testing.T) {
	for _, tc := range []struct {
		name string
		k    codecKind
		p    []byte
		want bool
	}{
		{"h264 IDR", codecH264, []byte{0x65, 1}, true},
		{"h264 SPS", codecH264, []byte{0x67, 1}, true},
		{"h264 slice", codecH264, []byte{0x41, 1}, false},
		{"h264 STAP-A SPS PPS", codecH264, []byte{0x78, 0, 2, 0x67, 1, 0, 2, 0x68, 1}, true},
		{"h264 STAP-A slices", codecH264, []byte{0x78, 0, 2, 0x41, 1, 0, 2, 0x41, 1}, false},
		{"h264 STAP-A truncated", codecH264, []byte{0x78, 0, 9, 0x67}, false},
		{"h264 FU-A IDR start", codecH264, []byte{0x7c, 0x85, 1}, true},
		{"h264 FU-A IDR middle", codecH264, []byte{0x7c, 0x05, 1}, false},
		{"h264 FU-A slice start", codecH264, []byte{0x5c, 0x81, 1}, false},
		{"vp8 key", codecVP8, []byte{0x10, 0x00}, true},
		{"vp8 delta", codecVP8, []byte{0x10, 0x01}, false},
		{"vp8 key not first", codecVP8, []byte{0x00, 0x00}, false},
		{"vp8 key with picture id", codecVP8, []byte{0x90, 0x80, 0x81, 0x23, 0x00}, true},
		{"vp8 delta with picture id", codecVP8, []byte{0x90, 0x80, 0x05, 0x01}, false},
		{"vp9 key", codecVP9, []byte{0x88}, true},
		{"vp9 inter", codecVP9, []byte{0xc8}, false},
		{"av1 new sequence", codecAV1, []byte{0x18}, true},
		{"av1 other", codecAV1, []byte{0x10}, false},
		{"empty", codecVP8, nil, false},
	} {
		if got := isKeyframe(tc.k, tc.p); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseRTP(t *testing.T) {
	b := []byte{0xb1, 0xe0, 0x12, 0x34, 0, 0, 0, 9, 0, 0, 0, 7, // V=2 P X CC=1, M, PT 96
		1, 2, 3, 4, // CSRC
		0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0, // one-byte extension, 1 word
		0xaa, 0xbb, 0, 2} // payload, 2 bytes of padding
	h, err := parseRTP(b)
	if err != nil {
		t.Fatal(err)
	}
	if !h.marker || h.pt != 96 || h.seq != 0x1234 || h.ts != 9 || h.ssrc != 7 {
		t.Errorf("header: got %+v", h)
	}
	if got := b[h.payloadStart:h.payloadEnd]; string(got) != "\xaa\xbb" {
		t.Errorf("payload: got %x, want aabb", got)
	}
	for _, bad := range [][]byte{nil, b[:11], {0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe}} {
		if _, err := parseRTP(bad); err == nil {
			t.Errorf("parseRTP(%x): no error", bad)
		}
	}
}

func TestRewriterContinuity(t *testing.T) {
	r := newRewriter(90000, true)
	now := int64(0)
	var lastExt uint64
	var lastTS uint32
	// First session near the top of the sequence space, so it wraps.
	seq, ts := uint16(65530), uint32(4294960000)
	for i := 0; i < 20; i++ {
		ext, out, _, ok := r.rewrite(seq, ts, now)
		if !ok || (i > 0 && ext != lastExt+1) {
			t.Fatalf("packet %d: ext %d after %d", i, ext, lastExt)
		}
		lastExt, lastTS = ext, out
		seq++
		ts += 3000
		now += int64(33 * time.Millisecond)
	}
	// Publisher reconnects 2 s later with unrelated numbers.
	now += int64(2 * time.Second)
	r.newSession()
	ext, out, _, ok := r.rewrite(100, 12345, now)
	if !ok || ext != lastExt+1 {
		t.Fatalf("first packet of the new session: ext %d, want %d", ext, lastExt+1)
	}
	if d := out - lastTS; d < 180000 || d > 190000 {
		t.Errorf("timestamp advance at the switch: got %d, want about 2 s (180000)", d)
	}
	// A packet from before the new session's first one is dropped.
	if _, _, _, ok := r.rewrite(99, 12345, now); ok {
		t.Errorf("a packet older than the session's first was accepted")
	}
	// A gap counts as lost; a late packet fills in without moving ahead.
	_, _, lost, _ := r.rewrite(104, 12345, now)
	if lost != 3 {
		t.Errorf("lost: got %d, want 3", lost)
	}
	ext2, _, lost, ok := r.rewrite(102, 12345, now)
	if !ok || lost != 0 || ext2 != ext+2 {
		t.Errorf("late packet: ext %d lost %d ok %v; want ext %d", ext2, lost, ok, ext+2)
	}
}

func TestKeyframeRateLimit(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	m, _ := newMetrics(nil)
	tr := newRelayTrack(vp8Codec, m, clock, 500*time.Millisecond, new(atomic.Uint64))
	sent := 0
	tr.src.Store(&source{ssrc: 1, write: func(p []rtcp.Packet) error {
		if pli, ok := p[0].(*rtcp.PictureLossIndication); !ok || pli.MediaSSRC != 1 {
			t.Errorf("sent %v, want a PLI for SSRC 1", p)
		}
		sent++
		return nil
	}})
	for i := 0; i < 100; i++ { // a crowd joins at once
		tr.requestKeyframe("join")
	}
	if sent != 1 {
		t.Fatalf("PLIs for 100 joins: got %d, want 1", sent)
	}
	now = now.Add(499 * time.Millisecond)
	tr.requestKeyframe("join")
	now = now.Add(time.Millisecond)
	tr.requestKeyframe("join")
	if sent != 2 {
		t.Fatalf("PLIs after the interval: got %d, want 2", sent)
	}
	tr.forceKeyframe("publish")
	if sent != 3 {
		t.Fatalf("forced PLI: got %d sent, want 3", sent)
	}
	audio := newRelayTrack(opusCodec, m, clock, 0, new(atomic.Uint64))
	audio.src.Store(tr.src.Load())
	if audio.requestKeyframe("join") {
		t.Errorf("a keyframe request on an audio track")
	}
}

// TestSharedCacheNack: a viewer's NACK is answered from the track's one
// cache, with the viewer's SSRC and payload type.
func TestSharedCacheNack(t *testing.T) {
	m, _ := newMetrics(nil)
	f, tr := testFeed(vp8Codec, m, time.Now, time.Second)
	d, w := capturedDown(f, tr, layerAuto, m, 77, 100)
	for i := 0; i < 10; i++ {
		tr.ingest(1, testPacket(uint16(500+i), i == 0), time.Now().UnixNano())
	}
	d.drain()
	if len(w.seqs) != 10 {
		t.Fatalf("forwarded: got %d, want 10", len(w.seqs))
	}
	d.queueNack(w.seqs[3])
	d.queueNack(w.seqs[9] + 100) // never sent: ignored
	d.drain()
	if len(w.seqs) != 11 || w.seqs[10] != w.seqs[3] || w.ssrc != 77 || w.pt != 100 {
		t.Fatalf("after NACK: seqs %v ssrc %d pt %d", w.seqs, w.ssrc, w.pt)
	}
}

func TestMatchViewerCodec(t *testing.T) {
	h := func(pt int, fmtp string) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{PayloadType: webrtc.PayloadType(pt), RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "video/H264", ClockRate: 90000, SDPFmtpLine: fmtp}}
	}
	have := []webrtc.RTPCodecParameters{h(102, "packetization-mode=0;profile-level-id=42e01f"), h(104, "packetization-mode=1;profile-level-id=42001f"), h(106, "packetization-mode=1;profile-level-id=42e01f")}
	if got, ok := matchViewerCodec(h(96, "packetization-mode=1;profile-level-id=42e01f"), have); !ok || got.PayloadType != 106 {
		t.Errorf("exact: got %d %v, want 106", got.PayloadType, ok)
	}
	if got, ok := matchViewerCodec(h(96, "packetization-mode=1;profile-level-id=640c1f"), have); !ok || got.PayloadType != 104 {
		t.Errorf("other profile, same mode: got %d %v, want 104", got.PayloadType, ok)
	}
	if _, ok := matchViewerCodec(vp8Codec, have); ok {
		t.Errorf("VP8 matched an H264-only viewer")
	}
}

// testFeed returns a feed of one layer in session 1, and its track.
func testFeed(c webrtc.RTPCodecParameters, m *metrics, now func() time.Time, pli time.Duration) (*feed, *relayTrack) {
	f := newFeed(c)
	ts := f.begin(1, 1, func(ranks *atomic.Uint64) *relayTrack { return newRelayTrack(c, m, now, pli, ranks) })
	return f, ts[0]
}

// capturedDown returns a started downTrack of f on first, in mode, bound
// to a captureWriter as SSRC ssrc and payload type pt, and the writer.
func capturedDown(f *feed, first *relayTrack, mode layerMode, m *metrics, ssrc uint32, pt uint8) (*downTrack, *captureWriter) {
	w := &captureWriter{}
	d := newDownTrack(f, first, mode, vp8Codec, "s", m)
	d.w, d.ssrc, d.pt = w, ssrc, pt
	d.started.Store(true)
	return d, w
}

// captureWriter is a webrtc.TrackLocalWriter that records what it is
// given: sequence numbers and each payload's last byte (a tag).
type captureWriter struct {
	seqs []uint16
	tags []byte
	ssrc uint32
	pt   uint8
}

func (c *captureWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	c.seqs = append(c.seqs, h.SequenceNumber)
	c.tags = append(c.tags, p[len(p)-1])
	c.ssrc, c.pt = h.SSRC, h.PayloadType
	return len(p), nil
}

func (c *captureWriter) Write(b []byte) (int, error) { return len(b), nil }

func testPacket(seq uint16, key bool) []byte {
	b := make([]byte, 12+1200)
	b[0], b[1] = 0x80, 96
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], uint32(seq)*3000)
	binary.BigEndian.PutUint32(b[8:], 0x1234)
	b[12] = 0x10
	if !key {
		b[13] = 0x01
	}
	return b
}
