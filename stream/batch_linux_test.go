package stream

import (
	"net"
	"syscall"
	"testing"
)

// On the real socket a lone packet is in the receiver's buffer by the time
// WriteTo returns: a non-blocking read finds it, with no waiting at all.
func TestBatchConnLonePacketOnTheWire(t *testing.T) {
	c := mustBatchConn(t, "udp4", "127.0.0.1:0", nil)
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	rc, err := rx.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := c.WriteTo([]byte{'x', byte(i)}, rx.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		var n int
		var rerr error
		buf := make([]byte, 16)
		if err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
			return true // never wait
		}); err != nil {
			t.Fatal(err)
		}
		if rerr != nil || n != 2 || buf[1] != byte(i) {
			t.Fatalf("packet %d: non-blocking read right after WriteTo = %q, %v; want it there", i, buf[:max(n, 0)], rerr)
		}
	}
}
