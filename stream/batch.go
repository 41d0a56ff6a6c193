package stream

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// Batched sends on the media socket. Every packet to every viewer leaves
// through the one UDP socket under pion's ICE UDP mux, one WriteTo per
// packet per viewer. batchConn sits under the mux and turns the WriteTos
// of many viewers' writers into few sendmmsg calls by flush combining:
// there is no sender goroutine and no timer. A writer copies its packet
// into the queue; if nobody is sending, it becomes the sender and sends
// everything queued, including what other writers add meanwhile, before
// its WriteTo returns. A lone packet therefore leaves on its own call.
//
// Before sending, the writer that became the sender yields the processor
// once (runtime.Gosched): the goroutines already runnable — on a fan-out,
// the other viewers' writers woken by the same ingest — run first and
// queue their packets, which then leave in the same system call. On one
// processor this is what makes batches form at all (a goroutine inside a
// short sendmmsg keeps the processor, so nobody else could queue). The
// yield waits for nothing but runnable goroutines, which would have run
// anyway; a full batch (maxBatch packets) is sent at once by the writer
// that fills it.
const (
	// maxBatch is the most messages handed to one sendmmsg (the kernel
	// takes up to 1024).
	maxBatch = 128
	// maxQueued bounds the packets waiting to be sent. A writer that
	// finds the queue full waits for room, as it waits on the plain
	// socket when its send buffer is full: the queue only fills when the
	// socket is slower than the writers, and then the relay's own lag
	// policy (a viewer too far behind skips to the next keyframe) decides
	// what to leave out, rather than random drops across every viewer
	// that each cost a NACK and a retransmission. The sender always makes
	// progress (the kernel drains a UDP send buffer by itself), so the
	// wait is back-pressure, not a stall.
	maxQueued = 1024
	// packetCap is the pooled buffer size: an SRTP packet at a 1500-byte
	// MTU with its auth tag fits. Larger packets grow their buffer.
	packetCap = 2048
)

// batchWriter sends a batch of messages and reports how many left, as
// golang.org/x/net's ipv4 and ipv6 PacketConn.WriteBatch do: a short
// count with a nil error when the socket took only some, an error (and a
// count of 0) when the first message failed.
type batchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// outPacket is one queued datagram: a copy of the caller's bytes and
// address, so the caller may reuse both once WriteTo returns.
type outPacket struct {
	b    []byte
	bufs [1][]byte
	ip   [net.IPv6len]byte
	addr net.UDPAddr
}

var outPackets = sync.Pool{New: func() any { return &outPacket{b: make([]byte, 0, packetCap)} }}

// batchStats are a batchConn's counters since it was made.
type batchStats struct {
	Batches uint64 // WriteBatch calls (system calls on Linux)
	Sent    uint64 // packets the socket took
	Waits   uint64 // times a writer waited for room in a full queue
	Failed  uint64 // packets the socket refused (per-message errors, closed)
}

// batchConn is a net.PacketConn whose WriteTo to a *net.UDPAddr is sent
// in batches; everything else (ReadFrom, addresses, deadlines) goes
// straight to the wrapped conn. WriteTo may be called from any number of
// goroutines; packets from one goroutine leave in the order written. It
// starts no goroutine: a writer sends on its own call.
type batchConn struct {
	net.PacketConn
	w batchWriter

	mu      sync.Mutex
	room    sync.Cond // signalled when the sender empties the queue
	waiting int       // writers waiting on room
	queue   []*outPacket
	sending bool // a writer is taking packets off the queue and sending
	elected bool // a writer will send once its yield is over
	closed  bool

	// Owned by the sending writer.
	spare []*outPacket
	msgs  []ipv4.Message

	batches, sent, waits, failed atomic.Uint64
}

// newBatchConn wraps pc. On Linux a *net.UDPConn sends with sendmmsg;
// elsewhere, or for another kind of conn, a batch is a loop of WriteTo.
func newBatchConn(pc net.PacketConn) *batchConn {
	return newBatchConnWith(pc, newBatchWriter(pc))
}

func newBatchConnWith(pc net.PacketConn, w batchWriter) *batchConn {
	c := &batchConn{
		PacketConn: pc, w: w,
		queue: make([]*outPacket, 0, maxBatch), spare: make([]*outPacket, 0, maxBatch),
		msgs: make([]ipv4.Message, maxBatch),
	}
	c.room.L = &c.mu
	return c
}

// WriteTo queues a copy of b for addr and, unless another writer is
// sending or about to, sends the queue before it returns. It returns
// len(b) once the packet is queued; send errors are counted, not
// returned (UDP reports nothing about delivery anyway). When the queue is
// full it waits for the sender to empty it (or sends it itself when no
// one is). It returns net.ErrClosed after Close.
func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return c.PacketConn.WriteTo(b, addr)
	}
	p := outPackets.Get().(*outPacket)
	p.b = append(p.b[:0], b...)
	p.bufs[0] = p.b
	p.addr = net.UDPAddr{IP: p.ip[:copy(p.ip[:], ua.IP)], Port: ua.Port, Zone: ua.Zone}

	c.mu.Lock()
	for !c.closed && len(c.queue) >= maxQueued {
		if !c.sending { // a writer between its yield and sending
			c.sending = true
			c.mu.Unlock()
			c.send()
			c.mu.Lock()
			continue
		}
		c.waits.Add(1)
		c.waiting++
		c.room.Wait()
		c.waiting--
	}
	if c.closed {
		c.mu.Unlock()
		putOutPacket(p)
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: net.ErrClosed}
	}
	c.queue = append(c.queue, p)
	switch {
	case c.sending:
		c.mu.Unlock()
		return len(b), nil
	case len(c.queue) >= maxBatch:
		// A full batch: send it now, whoever yielded.
		c.sending = true
		c.mu.Unlock()
		c.send()
		return len(b), nil
	case c.elected:
		c.mu.Unlock()
		return len(b), nil
	}
	c.elected = true
	c.mu.Unlock()

	runtime.Gosched() // let runnable writers join this batch

	c.mu.Lock()
	c.elected = false
	if c.sending || len(c.queue) == 0 {
		// Whoever sends now sends this packet too; or it has left.
		c.mu.Unlock()
		return len(b), nil
	}
	c.sending = true
	c.mu.Unlock()
	c.send()
	return len(b), nil
}

// send takes the whole queue and writes it, again and again until the
// queue is empty, then gives up the sender's role. Only the writer that
// set c.sending calls it, so batches leave in queue order.
func (c *batchConn) send() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.sending = false
			c.mu.Unlock()
			return
		}
		taken := c.queue
		c.queue = c.spare[:0]
		if c.waiting > 0 {
			c.room.Broadcast()
		}
		c.mu.Unlock()

		for batch := taken; len(batch) > 0; {
			n := min(len(batch), maxBatch)
			c.writeBatch(batch[:n])
			for i := range batch[:n] {
				putOutPacket(batch[i])
				batch[i] = nil
			}
			batch = batch[n:]
		}
		c.spare = taken[:0]
	}
}

// writeBatch writes ps, at most maxBatch packets, resuming after a short
// write and skipping a packet the socket refuses so the rest still leave.
func (c *batchConn) writeBatch(ps []*outPacket) {
	ms := c.msgs[:len(ps)]
	for i, p := range ps {
		ms[i] = ipv4.Message{Buffers: p.bufs[:], Addr: &p.addr}
	}
	for len(ms) > 0 {
		n, err := c.w.WriteBatch(ms, 0)
		c.batches.Add(1)
		n = max(0, min(n, len(ms)))
		c.sent.Add(uint64(n))
		ms = ms[n:]
		if err == nil {
			continue
		}
		if errors.Is(err, net.ErrClosed) {
			c.failed.Add(uint64(len(ms)))
			break
		}
		if len(ms) > 0 { // the first message not taken is the one refused
			c.failed.Add(1)
			ms = ms[1:]
		}
	}
	clear(c.msgs[:len(ps)])
}

func putOutPacket(p *outPacket) {
	if cap(p.b) > 64<<10 {
		return // a giant; let it go
	}
	p.bufs[0] = nil
	p.addr = net.UDPAddr{}
	outPackets.Put(p)
}

// Close refuses further writes and closes the wrapped conn. Packets still
// queued are dropped: the writer sending them sees the closed socket and
// returns (Close does not wait for it). Close is safe to call more than
// once and concurrently with WriteTo.
func (c *batchConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.room.Broadcast()
	c.mu.Unlock()
	return c.PacketConn.Close()
}

// stats returns the counters.
func (c *batchConn) stats() batchStats {
	return batchStats{
		Batches: c.batches.Load(), Sent: c.sent.Load(),
		Waits: c.waits.Load(), Failed: c.failed.Load(),
	}
}

// writeToBatcher sends a batch one WriteTo at a time: the fallback for a
// conn without sendmmsg.
type writeToBatcher struct{ pc net.PacketConn }

func (w writeToBatcher) WriteBatch(ms []ipv4.Message, _ int) (int, error) {
	for i := range ms {
		if _, err := w.pc.WriteTo(ms[i].Buffers[0], ms[i].Addr); err != nil {
			return i, err
		}
	}
	return len(ms), nil
}
