package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/pion/transport/v2"
	"github.com/pion/transport/v2/deadline"
	"golang.org/x/sys/unix"
)

// Light viewers' sockets are read by one goroutine, the poller, not by a
// goroutine per socket. A Go socket wakes its reader for every burst of
// datagrams, and at a few hundred viewers the load tool spent most of its
// time parking and waking goroutines and threads (perf: scheduler, futex,
// epoll), not reading. The poller's sockets are plain file descriptors,
// outside Go's network poller; every tick it asks its own epoll which of
// them hold datagrams and drains those with recvmmsg, many datagrams per
// system call. RTP is counted there and dropped; anything else is queued
// for pion's ICE agent, whose ReadFrom waits on that queue.

// lightBatch is how many datagrams one recvmmsg call reads.
const lightBatch = 64

// lightRcvBuf is the receive buffer a light socket asks for (Linux gives
// twice that, up to net.core.rmem_max). A viewer that joins is sent the
// relay's cached keyframe and all video since, up to 512 packets at once;
// the default buffer (net.core.rmem_default, 208 KiB here) dropped part of
// that burst at most joins before the next tick drained it.
const lightRcvBuf = 1 << 20

// lightPoller owns the light viewers' sockets and the goroutine that reads
// them. listen and the sockets' methods may be called concurrently; close
// stops the goroutine and waits for it.
type lightPoller struct {
	epfd int
	tick time.Duration
	done chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex // held while draining, so a socket is never closed under the poller
	socks map[int32]*lightSocket

	// The poller goroutine's buffers.
	bufs   [lightBatch][1500]byte
	names  [lightBatch]unix.RawSockaddrAny
	iovs   [lightBatch]unix.Iovec
	msgs   [lightBatch]mmsghdr
	events [256]unix.EpollEvent
}

// mmsghdr is struct mmsghdr of recvmmsg(2); Go lays it out as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// newLightPoller starts a poller that drains its sockets every tick; the
// kernel holds what arrives in between (see lightRcvBuf).
func newLightPoller(tick time.Duration) (*lightPoller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("light viewers: epoll: %w", err)
	}
	p := &lightPoller{epfd: epfd, tick: tick, done: make(chan struct{}), socks: map[int32]*lightSocket{}}
	for i := range p.msgs {
		p.iovs[i].Base = &p.bufs[i][0]
		p.iovs[i].SetLen(len(p.bufs[i]))
		p.msgs[i].hdr.Iov = &p.iovs[i]
		p.msgs[i].hdr.SetIovlen(1)
		p.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&p.names[i]))
	}
	p.wg.Add(1)
	go p.run()
	return p, nil
}

func (p *lightPoller) close() {
	close(p.done)
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.socks {
		s.closeLocked()
	}
	unix.Close(p.epfd)
}

func (p *lightPoller) run() {
	defer p.wg.Done()
	t := time.NewTicker(p.tick)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		p.poll()
	}
}

// poll drains every socket that holds datagrams.
func (p *lightPoller) poll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for {
		n, err := unix.EpollWait(p.epfd, p.events[:], 0)
		if err != nil {
			return // EINTR at worst; the next tick polls again
		}
		for _, ev := range p.events[:n] {
			if s := p.socks[ev.Fd]; s != nil {
				p.drain(s, now)
			}
		}
		if n < len(p.events) {
			return
		}
	}
}

// drain reads s until it is empty.
func (p *lightPoller) drain(s *lightSocket, now time.Time) {
	for {
		for i := range p.msgs {
			p.msgs[i].hdr.Namelen = unix.SizeofSockaddrAny
		}
		r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&p.msgs[0])), lightBatch, unix.MSG_DONTWAIT, 0, 0)
		if errno != 0 {
			return // EAGAIN: empty
		}
		for i := range int(r) {
			b := p.bufs[i][:p.msgs[i].n]
			if h, ok := rtpHeadOf(b); ok {
				if s.v.pass(h, len(b), now) { // a capped link may drop it (whep_cap.go)
					s.v.count(h, len(b), now)
				}
				continue
			}
			d := lightDatagram{b: append([]byte(nil), b...), from: udpAddrOf(&p.names[i])}
			select {
			case s.in <- d:
			default: // a full queue drops, as a full socket would
			}
		}
		if int(r) < lightBatch {
			return
		}
	}
}

// udpAddrOf converts a datagram's source address.
func udpAddrOf(sa *unix.RawSockaddrAny) *net.UDPAddr {
	switch sa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := (*[2]byte)(unsafe.Pointer(&a.Port))
		return &net.UDPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: int(port[0])<<8 | int(port[1])}
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		port := (*[2]byte)(unsafe.Pointer(&a.Port))
		return &net.UDPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: int(port[0])<<8 | int(port[1])}
	}
	return &net.UDPAddr{}
}

// listen opens a UDP socket on laddr ("udp4", "udp6", or "udp" for
// laddr's family) whose RTP counts for v.
func (p *lightPoller) listen(network string, laddr *net.UDPAddr, v *whepViewer) (transport.UDPConn, error) {
	var family int
	var sa unix.Sockaddr
	ip4 := laddr.IP.To4()
	switch {
	case network == "udp4" || network == "udp" && ip4 != nil:
		a := &unix.SockaddrInet4{Port: laddr.Port}
		copy(a.Addr[:], ip4) // all zero (any) without an address
		family, sa = unix.AF_INET, a
	case network == "udp6" || network == "udp":
		a := &unix.SockaddrInet6{Port: laddr.Port}
		copy(a.Addr[:], laddr.IP.To16())
		family, sa = unix.AF_INET6, a
	default:
		return nil, fmt.Errorf("light viewers: cannot listen on %q", network)
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if family == unix.AF_INET6 {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, lightRcvBuf)
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("getsockname", err)
	}
	s := &lightSocket{fd: fd, p: p, v: v, in: make(chan lightDatagram, 64), closed: make(chan struct{}), deadline: deadline.New()}
	switch a := bound.(type) {
	case *unix.SockaddrInet4:
		s.local = &net.UDPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	case *unix.SockaddrInet6:
		s.local = &net.UDPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	p.socks[int32(fd)] = s
	return s, nil
}

// lightDatagram is a datagram queued for pion.
type lightDatagram struct {
	b    []byte
	from *net.UDPAddr
}

// lightSocket is one light viewer's UDP socket as pion's ICE agent sees
// it: it reads the datagrams the poller left for it and writes directly.
// Its methods may be called concurrently.
type lightSocket struct {
	fd       int
	p        *lightPoller
	v        *whepViewer
	local    *net.UDPAddr
	in       chan lightDatagram
	closed   chan struct{} // closed by closeLocked
	deadline *deadline.Deadline
	fdMu     sync.RWMutex // read-held while fd is used outside the poller, so it is not closed (and reused) meanwhile
}

var _ transport.UDPConn = (*lightSocket)(nil)

// ReadFrom returns the next datagram that is not RTP.
func (s *lightSocket) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case d := <-s.in:
		return copy(b, d.b), d.from, nil
	case <-s.closed:
		return 0, nil, net.ErrClosed
	case <-s.deadline.Done():
		return 0, nil, os.ErrDeadlineExceeded
	}
}

func (s *lightSocket) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, from, err := s.ReadFrom(b)
	a, _ := from.(*net.UDPAddr)
	return n, a, err
}

func (s *lightSocket) Read(b []byte) (int, error) {
	n, _, err := s.ReadFrom(b)
	return n, err
}

func (s *lightSocket) ReadMsgUDP(b, _ []byte) (int, int, int, *net.UDPAddr, error) {
	n, from, err := s.ReadFromUDP(b)
	return n, 0, 0, from, err
}

// WriteTo sends one datagram. The socket blocks: a send waits only while
// the kernel's send buffer is full.
func (s *lightSocket) WriteTo(b []byte, addr net.Addr) (int, error) {
	a, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("light viewers: cannot send to %T", addr)
	}
	var sa unix.Sockaddr
	if ip4 := a.IP.To4(); ip4 != nil && s.local.IP.To4() != nil {
		sa = &unix.SockaddrInet4{Port: a.Port, Addr: [4]byte(ip4)}
	} else {
		s6 := &unix.SockaddrInet6{Port: a.Port}
		copy(s6.Addr[:], a.IP.To16())
		sa = s6
	}
	if !s.useFD() {
		return 0, net.ErrClosed
	}
	defer s.fdMu.RUnlock()
	if err := unix.Sendto(s.fd, b, 0, sa); err != nil {
		return 0, os.NewSyscallError("sendto", err)
	}
	return len(b), nil
}

func (s *lightSocket) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	return s.WriteTo(b, addr)
}

func (s *lightSocket) WriteMsgUDP(b, _ []byte, addr *net.UDPAddr) (int, int, error) {
	n, err := s.WriteTo(b, addr)
	return n, 0, err
}

func (s *lightSocket) Write([]byte) (int, error) {
	return 0, errors.New("light viewers: the socket is not connected")
}

func (s *lightSocket) Close() error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.closeLocked()
	return nil
}

// closeLocked closes the socket; the poller's mu is held.
func (s *lightSocket) closeLocked() {
	if s.p.socks[int32(s.fd)] != s {
		return
	}
	delete(s.p.socks, int32(s.fd))
	s.fdMu.Lock()
	defer s.fdMu.Unlock()
	_ = unix.EpollCtl(s.p.epfd, unix.EPOLL_CTL_DEL, s.fd, nil)
	unix.Close(s.fd)
	close(s.closed)
}

// useFD read-locks fdMu and reports true while the socket is open; the
// caller unlocks after its use of the fd.
func (s *lightSocket) useFD() bool {
	s.fdMu.RLock()
	select {
	case <-s.closed:
		s.fdMu.RUnlock()
		return false
	default:
		return true
	}
}

func (s *lightSocket) LocalAddr() net.Addr  { return s.local }
func (s *lightSocket) RemoteAddr() net.Addr { return nil }

func (s *lightSocket) SetDeadline(t time.Time) error     { return s.SetReadDeadline(t) }
func (s *lightSocket) SetWriteDeadline(time.Time) error  { return nil }
func (s *lightSocket) SetReadDeadline(t time.Time) error { s.deadline.Set(t); return nil }

func (s *lightSocket) SetReadBuffer(n int) error  { return s.setBuffer(unix.SO_RCVBUF, n) }
func (s *lightSocket) SetWriteBuffer(n int) error { return s.setBuffer(unix.SO_SNDBUF, n) }

func (s *lightSocket) setBuffer(opt, n int) error {
	if !s.useFD() {
		return net.ErrClosed
	}
	defer s.fdMu.RUnlock()
	return os.NewSyscallError("setsockopt", unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, opt, n))
}
