package stream

import (
	"encoding/binary"
	"net"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// parallelConn is the media socket as pion's UDP mux sees it. Its writes
// call sendto(2) on the socket directly, from every viewer's goroutine at
// once: Go's own UDPConn.WriteTo holds one lock per socket across the
// system call, so that every packet to every viewer would leave through
// one thread, whatever the number of cores. A datagram send is atomic in
// the kernel, so concurrent sends need no lock of ours; only Close waits
// for those in flight, so that no send ever reaches a closed (or reused)
// descriptor. A send the kernel would block (a full send buffer) is
// handed to UDPConn.WriteTo, which waits for room through Go's poller.
type parallelConn struct {
	*net.UDPConn
	fd   int
	inet bool // an AF_INET socket; else AF_INET6 (IPv4 peers mapped)

	mu     sync.RWMutex // held shared by sends, exclusively by Close
	closed bool
}

// parallelSends wraps the media socket c when it can: a *net.UDPConn
// whose descriptor and family it can read. Otherwise it returns c.
func parallelSends(c net.PacketConn) net.PacketConn {
	uc, ok := c.(*net.UDPConn)
	if !ok {
		return c
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return c
	}
	fd := -1
	if raw.Control(func(f uintptr) { fd = int(f) }) != nil || fd < 0 {
		return c
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return c
	}
	_, inet := sa.(*unix.SockaddrInet4)
	return &parallelConn{UDPConn: uc, fd: fd, inet: inet}
}

// WriteTo sends b to addr.
func (c *parallelConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return c.UDPConn.WriteTo(b, addr)
	}
	var rsa [unix.SizeofSockaddrInet6]byte
	n := c.sockaddr(&rsa, ua)
	if n == 0 {
		return c.UDPConn.WriteTo(b, addr)
	}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return 0, net.ErrClosed
	}
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(c.fd), uintptr(p), uintptr(len(b)), 0,
		uintptr(unsafe.Pointer(&rsa[0])), uintptr(n))
	c.mu.RUnlock()
	switch {
	case errno == 0:
		return len(b), nil
	case errno == unix.EAGAIN || errno == unix.EINTR:
		return c.UDPConn.WriteTo(b, addr)
	}
	return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: errno}
}

// sockaddr writes addr as the socket's family's sockaddr into rsa and
// returns its length; 0 for an address the socket cannot send to.
func (c *parallelConn) sockaddr(rsa *[unix.SizeofSockaddrInet6]byte, a *net.UDPAddr) int {
	ip4 := a.IP.To4()
	if c.inet {
		if ip4 == nil {
			return 0
		}
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		sa.Family = unix.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], uint16(a.Port))
		copy(sa.Addr[:], ip4)
		return unix.SizeofSockaddrInet4
	}
	ip := a.IP.To16()
	if ip == nil || (a.Zone != "" && ip4 == nil) {
		return 0 // a scoped IPv6 address: Go's path resolves its zone
	}
	sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
	sa.Family = unix.AF_INET6
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], uint16(a.Port))
	copy(sa.Addr[:], ip) // an IPv4 peer as ::ffff:a.b.c.d
	return unix.SizeofSockaddrInet6
}

// Close waits for the sends in flight and closes the socket.
func (c *parallelConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.UDPConn.Close()
}
