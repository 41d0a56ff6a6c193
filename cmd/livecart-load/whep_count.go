package main

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/pion/webrtc/v3"
)

// RTP counting, shared by both viewer modes: the full viewer feeds it the
// packets pion decrypted, the light viewer the SRTP datagrams it never
// decrypts. SRTP encrypts the payload only, so the 12-byte header that the
// counting reads is the same in both (RFC 3711 §3.1).

// rtpKind is what a payload type carries, from the viewer's own codecs.
type rtpKind uint8

const (
	kindOther  rtpKind = iota // a payload type the viewer did not offer
	kindAudio                 //
	kindVideo                 //
	kindRepair                // video/rtx: retransmissions, kept out of the loss
)

// rtpKinds maps the payload types 0-127 to kinds. A viewer builds it from
// its transceivers before it offers and only reads it afterwards.
type rtpKinds [128]rtpKind

// whepKinds reads the payload types pc can receive from its transceivers.
// The answer reuses the offer's numbers, so this holds for what arrives.
func whepKinds(pc *webrtc.PeerConnection) *rtpKinds {
	var k rtpKinds
	for _, tr := range pc.GetTransceivers() {
		for _, c := range tr.Receiver().GetParameters().Codecs {
			kind := kindAudio
			switch {
			case strings.EqualFold(c.MimeType, "video/rtx"):
				kind = kindRepair
			case tr.Kind() == webrtc.RTPCodecTypeVideo:
				kind = kindVideo
			}
			k[c.PayloadType&0x7f] = kind
		}
	}
	return &k
}

// rtpHead is the part of an RTP header the counting needs.
type rtpHead struct {
	pt   uint8
	seq  uint16
	ssrc uint32
}

// rtpHeadOf reads the header of an RTP or SRTP datagram. It returns false
// for everything else that shares a WebRTC transport, told apart by the
// first byte (RFC 7983 §7): STUN 0-3, DTLS 20-63, TURN channels 64-79; and
// for RTCP, which has RTP's version 2 but a packet type of 192-223 where
// RTP has its marker bit and payload type (RFC 5761 §4).
func rtpHeadOf(b []byte) (rtpHead, bool) {
	if len(b) < 12 || b[0]>>6 != 2 || b[1] >= 192 && b[1] <= 223 {
		return rtpHead{}, false
	}
	return rtpHead{pt: b[1] & 0x7f, seq: binary.BigEndian.Uint16(b[2:]), ssrc: binary.BigEndian.Uint32(b[8:])}, true
}

// rtpCount counts one SSRC's packets. Each sequence number is extended to
// 64 bits from the previous one (the nearer way round), so the count goes
// through a wrap and takes packets out of order; the packets expected are
// the span between the lowest and highest extended number.
type rtpCount struct {
	kind           rtpKind
	packets, bytes int64
	ext, lo, hi    uint64 // last, lowest, highest extended sequence number
}

func (c *rtpCount) add(seq uint16, size int) {
	if c.packets == 0 {
		c.ext = 1<<32 + uint64(seq)
		c.lo, c.hi = c.ext, c.ext
	} else {
		c.ext += uint64(int64(int16(seq - uint16(c.ext))))
		c.lo, c.hi = min(c.lo, c.ext), max(c.hi, c.ext)
	}
	c.packets++
	c.bytes += int64(size)
}

// expected is the number of packets from the lowest to the highest
// sequence number seen.
func (c *rtpCount) expected() int64 {
	if c.packets == 0 {
		return 0
	}
	return int64(c.hi - c.lo + 1)
}

// lost is expected less received, never negative (duplicates count twice).
func (c *rtpCount) lost() int64 {
	return max(0, c.expected()-c.packets)
}

// count adds one RTP packet of size bytes to the viewer's per-SSRC counts
// and, for video, to its arrival gaps. The full viewer calls it from each
// track's reader, the light one from its sockets' readers.
func (v *whepViewer) count(h rtpHead, size int, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.lastCount
	if c == nil || v.lastSSRC != h.ssrc {
		if c = v.streams[h.ssrc]; c == nil {
			c = &rtpCount{kind: v.kinds[h.pt]}
			v.streams[h.ssrc] = c
		}
		v.lastSSRC, v.lastCount = h.ssrc, c
	}
	c.add(h.seq, size)
	if c.kind != kindVideo {
		return
	}
	if v.lastVideo.IsZero() {
		v.firstVideo = now.Sub(v.joined)
	} else if gap := now.Sub(v.lastVideo); gap > v.maxGap {
		v.maxGap, v.gapAt = gap, now
	}
	v.lastVideo = now
}

// whepTotals are one viewer's counts summed by kind.
type whepTotals struct {
	videoPackets, videoBytes, videoExpected, videoLost int64
	audioPackets, audioBytes                           int64
	ssrcs                                              int
}

// totals sums the viewer's counts by kind.
func (v *whepViewer) totals() whepTotals {
	v.mu.Lock()
	defer v.mu.Unlock()
	t := whepTotals{ssrcs: len(v.streams)}
	for _, c := range v.streams {
		switch c.kind {
		case kindVideo:
			t.videoPackets += c.packets
			t.videoBytes += c.bytes
			t.videoExpected += c.expected()
			t.videoLost += c.lost()
		case kindAudio:
			t.audioPackets += c.packets
			t.audioBytes += c.bytes
		}
	}
	return t
}
