package stream

import (
	"net"

	"golang.org/x/sys/unix"
)

// receiveBuffer is the receive buffer the kernel gave uc, in the bytes
// asked for: Linux reports twice that (it keeps the other half for its
// bookkeeping).
func receiveBuffer(uc *net.UDPConn) (int, error) {
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		n, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	}); err != nil {
		return 0, err
	}
	return n / 2, serr
}
