package main

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// mustLightSocket starts a poller that only polls when the test says, with
// one socket on 127.0.0.1 counting for a viewer that takes payload type
// 102 for video, 111 for audio and 103 for retransmissions.
func mustLightSocket(tb testing.TB) (*lightPoller, *lightSocket, *whepViewer) {
	tb.Helper()
	p, err := newLightPoller(time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.close)
	v := newWhepViewer()
	v.kinds = &rtpKinds{}
	v.kinds[102], v.kinds[111], v.kinds[103] = kindVideo, kindAudio, kindRepair
	c, err := p.listen("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, v)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return p, c.(*lightSocket), v
}

func mustPeer(tb testing.TB, to net.Addr) *net.UDPConn {
	tb.Helper()
	peer, err := net.DialUDP("udp4", nil, to.(*net.UDPAddr))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { peer.Close() })
	return peer
}

// TestLightSocket sends a light viewer's socket what a WebRTC transport
// carries and checks that pion reads only the STUN, DTLS, TURN and RTCP
// datagrams, in order, while the RTP ones are counted per SSRC, by kind.
func TestLightSocket(t *testing.T) {
	p, s, v := mustLightSocket(t)
	peer := mustPeer(t, s.LocalAddr())
	const video, audio, rtx = 0x1111, 0x2222, 0x3333
	send := [][]byte{
		stunDatagram,
		dtlsDatagram,
		rtpDatagram(102, false, 65534, video),
		rtpDatagram(102, true, 65535, video),
		rtpDatagram(111, true, 500, audio),
		srDatagram,
		rtpDatagram(102, false, 1, video), // 0 is late
		rtpDatagram(102, false, 0, video),
		rtpDatagram(103, false, 9, rtx),
		turnDatagram,
		rtpDatagram(111, true, 502, audio), // 501 lost, but audio is not in the video loss
		rtpDatagram(102, false, 3, video),  // 2 lost
		rrDatagram,
	}
	for _, b := range send {
		if _, err := peer.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	wantRead := [][]byte{stunDatagram, dtlsDatagram, srDatagram, turnDatagram, rrDatagram}
	for deadline := time.Now().Add(5 * time.Second); len(s.in) < len(wantRead) && time.Now().Before(deadline); {
		p.poll()
		time.Sleep(time.Millisecond)
	}
	buf := make([]byte, 1500)
	for i, w := range wantRead {
		s.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := s.ReadFrom(buf)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if string(buf[:n]) != string(w) {
			t.Errorf("read %d: got % x, want % x", i, buf[:min(n, 4)], w[:4])
		}
		if from.String() != peer.LocalAddr().String() {
			t.Errorf("read %d: from %s, want %s", i, from, peer.LocalAddr())
		}
	}

	for _, tc := range []struct {
		ssrc                    uint32
		kind                    rtpKind
		packets, expected, lost int64
	}{
		{video, kindVideo, 5, 6, 1},
		{audio, kindAudio, 2, 3, 1},
		{rtx, kindRepair, 1, 1, 0},
	} {
		v.mu.Lock()
		c := v.streams[tc.ssrc]
		v.mu.Unlock()
		if c == nil {
			t.Errorf("SSRC %#x: not counted", tc.ssrc)
			continue
		}
		if c.kind != tc.kind || c.packets != tc.packets || c.expected() != tc.expected || c.lost() != tc.lost || c.bytes != 112*tc.packets {
			t.Errorf("SSRC %#x: kind %d, packets %d, expected %d, lost %d, bytes %d; want %d, %d, %d, %d, %d",
				tc.ssrc, c.kind, c.packets, c.expected(), c.lost(), c.bytes, tc.kind, tc.packets, tc.expected, tc.lost, 112*tc.packets)
		}
	}
	got := v.totals()
	want := whepTotals{videoPackets: 5, videoBytes: 5 * 112, videoExpected: 6, videoLost: 1, audioPackets: 2, audioBytes: 2 * 112, ssrcs: 3}
	if got != want {
		t.Errorf("totals %+v, want %+v", got, want)
	}
	if v.lastVideo.IsZero() {
		t.Error("the video packets' arrival was not recorded")
	}
}

// TestLightSocketManyDatagrams sends more datagrams than one recvmmsg
// reads, so draining takes several calls.
func TestLightSocketManyDatagrams(t *testing.T) {
	p, s, v := mustLightSocket(t)
	peer := mustPeer(t, s.LocalAddr())
	const n = 3*lightBatch + 5
	for i := range n {
		if _, err := peer.Write(rtpDatagram(102, false, uint16(i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); v.totals().videoPackets < n && time.Now().Before(deadline); {
		p.poll()
		time.Sleep(time.Millisecond)
	}
	if got := v.totals(); got.videoPackets != n || got.videoLost != 0 {
		t.Errorf("video packets %d, lost %d; want %d, 0", got.videoPackets, got.videoLost, n)
	}
}

// TestLightSocketWriteAndClose checks the rest of what pion's ICE agent
// uses: writing, a deadline that unblocks a read, and closing.
func TestLightSocketWriteAndClose(t *testing.T) {
	_, s, _ := mustLightSocket(t)
	peer := mustPeer(t, s.LocalAddr())
	if _, err := s.WriteTo(stunDatagram, peer.LocalAddr()); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, 1500)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := peer.ReadFromUDP(buf)
	if err != nil || string(buf[:n]) != string(stunDatagram) || from.String() != s.LocalAddr().String() {
		t.Errorf("peer read %d bytes from %v, %v; want the STUN datagram from %s", n, from, err, s.LocalAddr())
	}

	if err := s.SetDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read after the deadline: %v, want %v", err, os.ErrDeadlineExceeded)
	}
	s.SetDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, _, err := s.ReadFrom(buf)
		done <- err
	}()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Errorf("read on close: %v, want %v", err, net.ErrClosed)
	}
	if _, err := s.WriteTo(stunDatagram, peer.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after close: %v, want %v", err, net.ErrClosed)
	}
}
