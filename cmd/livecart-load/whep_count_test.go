package main

import (
	"encoding/binary"
	"testing"
)

// rtpDatagram is an RTP (or SRTP: the header is the same) datagram with a
// 100-byte payload.
func rtpDatagram(pt uint8, marker bool, seq uint16, ssrc uint32) []byte {
	b := make([]byte, 112)
	b[0] = 0x80
	b[1] = pt
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], 90000)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return b
}

var (
	// A STUN binding request: type 0x0001, length 0, magic cookie.
	stunDatagram = append([]byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42}, make([]byte, 12)...)
	// A DTLS 1.2 handshake record header and some of its body.
	dtlsDatagram = append([]byte{0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 12}, make([]byte, 12)...)
	// A TURN ChannelData message on channel 0x4000.
	turnDatagram = append([]byte{0x40, 0x00, 0x00, 0x10}, make([]byte, 16)...)
	// An SRTCP sender report (type 200) and receiver report (201), 28 and
	// 8 bytes in clear, then what would be encrypted.
	srDatagram = append([]byte{0x80, 200, 0x00, 0x06, 1, 2, 3, 4}, make([]byte, 30)...)
	rrDatagram = append([]byte{0x81, 201, 0x00, 0x07, 1, 2, 3, 4}, make([]byte, 30)...)
)

func TestRTPHeadOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want rtpHead
		ok   bool
	}{
		{"rtp", rtpDatagram(102, false, 4711, 0xdeadbeef), rtpHead{pt: 102, seq: 4711, ssrc: 0xdeadbeef}, true},
		{"rtp with marker", rtpDatagram(96, true, 65535, 7), rtpHead{pt: 96, seq: 65535, ssrc: 7}, true},
		{"rtp header only", rtpDatagram(111, false, 1, 2)[:12], rtpHead{pt: 111, seq: 1, ssrc: 2}, true},
		{"rtp too short", rtpDatagram(111, false, 1, 2)[:11], rtpHead{}, false},
		{"rtcp sender report", srDatagram, rtpHead{}, false},
		{"rtcp receiver report", rrDatagram, rtpHead{}, false},
		{"rtcp type 223", append([]byte{0x80, 223}, make([]byte, 30)...), rtpHead{}, false},
		{"stun", stunDatagram, rtpHead{}, false},
		{"dtls", dtlsDatagram, rtpHead{}, false},
		{"turn channel", turnDatagram, rtpHead{}, false},
		{"version 1", append([]byte{0x40, 96}, make([]byte, 30)...), rtpHead{}, false},
		{"empty", nil, rtpHead{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := rtpHeadOf(tc.b)
			if got != tc.want || ok != tc.ok {
				t.Errorf("rtpHeadOf = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestRTPCount(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		seqs                    []uint16
		packets, expected, lost int64
		highest                 uint32 // extended, as a receiver report gives it
	}{
		{"in order", []uint16{10, 11, 12, 13}, 4, 4, 0, 13},
		{"gap", []uint16{10, 11, 14, 15}, 4, 6, 2, 15},
		{"wrap", []uint16{65534, 65535, 0, 1}, 4, 4, 0, 1<<16 + 1},
		{"wrap with a gap", []uint16{65533, 65535, 1}, 3, 5, 2, 1<<16 + 1},
		{"reordered", []uint16{10, 12, 11, 13}, 4, 4, 0, 13},
		{"reordered across the wrap", []uint16{65534, 0, 65535, 1}, 4, 4, 0, 1<<16 + 1},
		{"late first packet", []uint16{5, 3, 4, 6}, 4, 4, 0, 6},
		{"late packet after loss", []uint16{1, 2, 5, 3}, 4, 5, 1, 5},
		{"duplicate", []uint16{7, 8, 8, 9}, 4, 3, 0, 9},
		{"long run", longRun(70000, 3), 70000 - 70000/3, 70000, 70000 / 3, 69999},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c rtpCount
			for _, s := range tc.seqs {
				c.add(s, 100)
			}
			if c.packets != tc.packets || c.expected() != tc.expected || c.lost() != tc.lost || c.bytes != 100*tc.packets {
				t.Errorf("packets %d, expected %d, lost %d, bytes %d; want %d, %d, %d, %d",
					c.packets, c.expected(), c.lost(), c.bytes, tc.packets, tc.expected, tc.lost, 100*tc.packets)
			}
			if got := receptionReport(1, rtpCount{}, c).LastSequenceNumber; got != tc.highest {
				t.Errorf("highest extended sequence number %d, want %d", got, tc.highest)
			}
		})
	}
}

// longRun is the sequence numbers 0 to n-1, wrapping, without every k-th
// (counting from 1): it starts on 0 and, when n%k != 0, ends on n-1.
func longRun(n, k int) []uint16 {
	var s []uint16
	for i := range n {
		if (i+1)%k != 0 {
			s = append(s, uint16(i))
		}
	}
	return s
}

func TestReceptionReport(t *testing.T) {
	var c rtpCount
	for s := range uint16(10) { // 0-9
		c.add(s, 100)
	}
	first := receptionReport(42, rtpCount{}, c)
	if first.SSRC != 42 || first.FractionLost != 0 || first.TotalLost != 0 || first.LastSequenceNumber != 9 {
		t.Errorf("first report %+v, want SSRC 42, nothing lost, highest 9", first)
	}
	prev := c
	for _, s := range []uint16{10, 11, 14, 15} { // 12 and 13 lost: 2 of 6
		c.add(s, 100)
	}
	second := receptionReport(42, prev, c)
	if second.FractionLost != 2*256/6 || second.TotalLost != 2 || second.LastSequenceNumber != 15 {
		t.Errorf("second report %+v, want fraction %d, total 2, highest 15", second, 2*256/6)
	}
	if r := receptionReport(42, c, c); r.FractionLost != 0 || r.TotalLost != 2 {
		t.Errorf("report with nothing new %+v, want fraction 0, total 2", r)
	}
}
