package stream

import (
	"encoding/binary"
	"errors"
	"strings"
)

// rtpHeader is the part of an RTP header the relay needs, parsed without
// allocating.
type rtpHeader struct {
	marker bool
	pt     uint8
	seq    uint16
	ts     uint32
	ssrc   uint32
	// payload is where the payload starts and ends in the packet (header
	// extensions, CSRCs and padding excluded).
	payloadStart, payloadEnd int
}

var errShortPacket = errors.New("stream: malformed RTP packet")

// parseRTP parses the fixed header of an RTP packet and locates its payload.
func parseRTP(b []byte) (rtpHeader, error) {
	var h rtpHeader
	if len(b) < 12 || b[0]>>6 != 2 {
		return h, errShortPacket
	}
	padding := b[0]&0x20 != 0
	ext := b[0]&0x10 != 0
	cc := int(b[0] & 0x0f)
	h.marker = b[1]&0x80 != 0
	h.pt = b[1] & 0x7f
	h.seq = binary.BigEndian.Uint16(b[2:4])
	h.ts = binary.BigEndian.Uint32(b[4:8])
	h.ssrc = binary.BigEndian.Uint32(b[8:12])
	off := 12 + 4*cc
	if ext {
		if len(b) < off+4 {
			return h, errShortPacket
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:off+4]))
	}
	end := len(b)
	if padding {
		if end == 0 || int(b[end-1]) > end-off {
			return h, errShortPacket
		}
		end -= int(b[end-1])
	}
	if off > end {
		return h, errShortPacket
	}
	h.payloadStart, h.payloadEnd = off, end
	return h, nil
}

// codecKind is how the relay looks into a payload to find keyframes.
type codecKind uint8

const (
	codecOther codecKind = iota // audio: every packet starts a decodable unit
	codecH264
	codecVP8
	codecVP9
	codecAV1
)

func codecKindOf(mime string) codecKind {
	switch strings.ToLower(mime) {
	case "video/h264":
		return codecH264
	case "video/vp8":
		return codecVP8
	case "video/vp9":
		return codecVP9
	case "video/av1":
		return codecAV1
	}
	return codecOther
}

// isKeyframe reports whether an RTP payload carries the start of a
// keyframe (or, for H264, the parameter sets that precede one).
func isKeyframe(k codecKind, p []byte) bool {
	if len(p) == 0 {
		return false
	}
	switch k {
	case codecH264:
		return h264Key(p)
	case codecVP8:
		return vp8Key(p)
	case codecVP9:
		// Descriptor byte 0: I P L F B E V Z. A keyframe is not
		// inter-predicted (P=0) and this packet begins the frame (B=1).
		return p[0]&0x40 == 0 && p[0]&0x08 != 0
	case codecAV1:
		// Aggregation header: Z Y W W N - - -; N starts a new coded video
		// sequence, which begins with a keyframe.
		return p[0]&0x08 != 0
	}
	return true
}

// h264Key: IDR (5), SPS (7) or PPS (8) as a single NAL unit, inside a
// STAP-A (24), or at the start of an FU-A (28).
func h264Key(p []byte) bool {
	switch t := p[0] & 0x1f; t {
	case 5, 7, 8:
		return true
	case 24:
		for i := 1; i+2 < len(p); {
			size := int(binary.BigEndian.Uint16(p[i : i+2]))
			i += 2
			if size == 0 || i+size > len(p) {
				return false
			}
			switch p[i] & 0x1f {
			case 5, 7, 8:
				return true
			}
			i += size
		}
	case 28:
		if len(p) < 2 {
			return false
		}
		start := p[1]&0x80 != 0
		nt := p[1] & 0x1f
		return start && (nt == 5 || nt == 7)
	}
	return false
}

// vp8Key parses the VP8 payload descriptor (RFC 7741) and checks the P bit
// of the first payload byte, on the first packet of partition 0.
func vp8Key(p []byte) bool {
	x := p[0]&0x80 != 0
	s := p[0]&0x10 != 0
	pid := p[0] & 0x07
	if !s || pid != 0 {
		return false
	}
	i := 1
	if x {
		if len(p) < 2 {
			return false
		}
		ext := p[1]
		i = 2
		if ext&0x80 != 0 { // I: picture id
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if ext&0x40 != 0 { // L: tl0picidx
			i++
		}
		if ext&0x30 != 0 { // T or K
			i++
		}
	}
	return len(p) > i && p[i]&0x01 == 0
}
