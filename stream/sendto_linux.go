package stream

import (
	"encoding/binary"
	"maps"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
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

	// gso: the kernel segments UDP (UDP_SEGMENT), so a cork can send a
	// run of datagrams in one call. corks maps a peer to its cork; it is
	// replaced whole on a change (rare: a viewer connects or leaves) so
	// that sends read it without a lock.
	gso     atomic.Bool
	corksMu sync.Mutex
	corks   atomic.Pointer[map[netip.AddrPort]*cork]
	// What the corks sent: system calls that carried several datagrams,
	// and those datagrams.
	batches, batched atomic.Uint64
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
	pc := &parallelConn{UDPConn: uc, fd: fd, inet: inet}
	if _, err := unix.GetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT); err == nil {
		pc.gso.Store(true)
	}
	return pc
}

// WriteTo sends b to addr.
func (c *parallelConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return c.UDPConn.WriteTo(b, addr)
	}
	if m := c.corks.Load(); m != nil && len(*m) > 0 {
		if k := (*m)[peerKey(ua)]; k != nil && k.add(b) {
			return len(b), nil
		}
	}
	var rsa [unix.SizeofSockaddrInet6]byte
	n := c.sockaddr(&rsa, ua)
	if n == 0 || len(b) == 0 {
		return c.UDPConn.WriteTo(b, addr)
	}
	_, _, errno := c.sendOne(b, &rsa, n)
	if errno == unix.EBADF {
		return 0, net.ErrClosed
	}
	return c.sent(b, addr, errno)
}

// sent completes a send of b that ended with errno: a send the kernel
// would have blocked goes through Go's poller instead.
func (c *parallelConn) sent(b []byte, addr net.Addr, errno unix.Errno) (int, error) {
	switch {
	case errno == 0:
		return len(b), nil
	case errno == unix.EAGAIN || errno == unix.EINTR:
		return c.UDPConn.WriteTo(b, addr)
	}
	return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: errno}
}

// peerKey is addr as corks are found by: an IPv4 peer unmapped.
func peerKey(a *net.UDPAddr) netip.AddrPort {
	ap := a.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Corks. A viewer's writer sends what it owes in bursts (a video frame is
// several packets, all to the one peer). While a writer holds its peer's
// cork, the datagrams written to that peer are gathered, by whatever
// goroutine writes them; when the burst ends they leave, each run of
// equal-sized datagrams (the last of a run may be shorter) in one
// sendmsg(2) that the kernel segments (UDP_SEGMENT, "GSO"), so the UDP and
// IP stack is crossed once per run rather than once per datagram. Nothing
// waits for a timer: a burst of one datagram leaves when the writer
// releases the cork, right after writing it. A cork holds at most
// corkSegments datagrams or corkBytes bytes and sends what it has when a
// write would exceed that; its buffer is pooled and held only while
// datagrams wait.
const (
	corkSegments = 64 // the kernel's UDP_MAX_SEGMENTS on every version with GSO
	corkBytes    = 60 << 10
)

var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, corkBytes); return &b }}

// cork batches the datagrams to one peer; see above. Its methods are safe
// on a nil cork, which batches nothing.
type cork struct {
	c     *parallelConn
	to    netip.AddrPort
	addr  *net.UDPAddr
	rsa   [unix.SizeofSockaddrInet6]byte
	rlen  int
	users int // registrations, under c.corksMu

	mu   sync.Mutex
	held int
	buf  *[]byte
	lens [corkSegments]uint16
	n    int
}

// corkFor returns the cork of the peer at to, registering it, or nil when
// datagrams to it cannot be batched. Each corkFor is undone by one
// uncork.
func (c *parallelConn) corkFor(to netip.AddrPort) *cork {
	if !c.gso.Load() || to.Addr().Zone() != "" {
		return nil
	}
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	c.corksMu.Lock()
	defer c.corksMu.Unlock()
	old := c.corks.Load()
	if old != nil {
		if k := (*old)[to]; k != nil {
			k.users++
			return k
		}
	}
	k := &cork{c: c, to: to, addr: net.UDPAddrFromAddrPort(to), users: 1}
	if k.rlen = c.sockaddr(&k.rsa, k.addr); k.rlen == 0 {
		return nil
	}
	m := map[netip.AddrPort]*cork{}
	if old != nil {
		m = maps.Clone(*old)
	}
	m[to] = k
	c.corks.Store(&m)
	return k
}

// batchStats reports the system calls that sent several datagrams, and
// those datagrams.
func (c *parallelConn) batchStats() (batches, datagrams uint64) {
	return c.batches.Load(), c.batched.Load()
}

// uncork undoes one corkFor of k; the last sends what k still holds.
func (k *cork) uncork() {
	if k == nil {
		return
	}
	c := k.c
	c.corksMu.Lock()
	if k.users--; k.users == 0 {
		m := maps.Clone(*c.corks.Load())
		delete(m, k.to)
		c.corks.Store(&m)
	}
	c.corksMu.Unlock()
	k.mu.Lock()
	k.flush()
	k.mu.Unlock()
}

// hold starts a burst: datagrams to the peer wait until release.
func (k *cork) hold() {
	if k == nil {
		return
	}
	k.mu.Lock()
	k.held++
	k.mu.Unlock()
}

// release ends a burst and sends every datagram waiting.
func (k *cork) release() {
	if k == nil {
		return
	}
	k.mu.Lock()
	k.held--
	k.flush()
	k.mu.Unlock()
}

// add gathers a copy of b, unless no burst holds the cork.
func (k *cork) add(b []byte) bool {
	if len(b) == 0 || len(b) > corkBytes {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.held == 0 {
		return false
	}
	if k.buf != nil && (k.n == corkSegments || len(*k.buf)+len(b) > corkBytes) {
		k.flush()
	}
	if k.buf == nil {
		k.buf = corkBufs.Get().(*[]byte)
	}
	*k.buf = append(*k.buf, b...)
	k.lens[k.n] = uint16(len(b))
	k.n++
	return true
}

// flush sends what k holds, a run of equal sizes per system call, and
// returns its buffer to the pool. k.mu is held.
func (k *cork) flush() {
	if k.buf == nil {
		return
	}
	b := *k.buf
	for i, off := 0, 0; i < k.n; {
		size := int(k.lens[i])
		j, end := i+1, off+size
		for j < k.n && int(k.lens[j]) <= size {
			end += int(k.lens[j])
			j++
			if int(k.lens[j-1]) < size {
				break // a shorter datagram ends a run
			}
		}
		k.send(b[off:end], size, j-i)
		i, off = j, end
	}
	*k.buf = b[:0]
	corkBufs.Put(k.buf)
	k.buf, k.n = nil, 0
}

// send sends run: count datagrams of size bytes (the last may be
// shorter), in one system call when there are several and the kernel
// takes them.
func (k *cork) send(run []byte, size, count int) {
	c := k.c
	if count > 1 && c.gso.Load() {
		errno := c.sendGSO(run, size, &k.rsa, k.rlen)
		switch errno {
		case 0:
			c.batches.Add(1)
			c.batched.Add(uint64(count))
			return
		case unix.EIO, unix.EINVAL, unix.ENOPROTOOPT, unix.EOPNOTSUPP:
			// Not here after all (a route through a device or a
			// tunnel that cannot segment): send one by one from now on.
			c.gso.Store(false)
		case unix.EAGAIN, unix.EINTR:
		default:
			return // as a lost datagram would be
		}
	}
	for off := 0; off < len(run); off += size {
		d := run[off:min(off+size, len(run))]
		_, _, errno := c.sendOne(d, &k.rsa, k.rlen)
		_, _ = c.sent(d, k.addr, errno)
	}
}

// sendOne is one sendto(2) to the sockaddr rsa.
func (c *parallelConn) sendOne(b []byte, rsa *[unix.SizeofSockaddrInet6]byte, n int) (uintptr, uintptr, unix.Errno) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return 0, 0, unix.EBADF
	}
	return unix.Syscall6(unix.SYS_SENDTO, uintptr(c.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0,
		uintptr(unsafe.Pointer(&rsa[0])), uintptr(n))
}

// sendGSO sends run as datagrams of size bytes in one sendmsg(2).
func (c *parallelConn) sendGSO(run []byte, size int, rsa *[unix.SizeofSockaddrInet6]byte, n int) unix.Errno {
	var oob [unix.SizeofCmsghdr + 8]byte
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&oob[unix.CmsgLen(0)])) = uint16(size)
	iov := unix.Iovec{Base: &run[0]}
	iov.SetLen(len(run))
	msg := unix.Msghdr{Name: &rsa[0], Namelen: uint32(n), Iov: &iov, Control: &oob[0]}
	msg.SetIovlen(1)
	msg.SetControllen(unix.CmsgSpace(2))
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return unix.EBADF
	}
	_, _, errno := unix.Syscall(unix.SYS_SENDMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&msg)), 0)
	return errno
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
