package chat

import (
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/livecart/livecart/auth"
)

// Close codes used by the room.
const (
	closeGoingAway = websocket.CloseGoingAway       // 1001: server shutting down
	closePolicy    = websocket.ClosePolicyViolation // 1008: too many malformed messages
	closeTryLater  = websocket.CloseTryAgainLater   // 1013: too slow to read
	closeInternal  = websocket.CloseInternalServerErr
)

// maxFrameOut bounds the size of one coalesced outgoing frame.
const maxFrameOut = 64 << 10

// frame is one queued message: the shared encoded bytes of a broadcast
// (never modified) and its position, when it has one; or a tick's whole
// frame, shared by every connection that receives it (shared set, data
// nil).
type frame struct {
	data   []byte
	shared *sharedFrame
	offset uint64
	epoch  string
}

// msgs is the number of messages f holds.
func (f *frame) msgs() int {
	if f.shared != nil {
		return f.shared.msgs
	}
	return 1
}

// stateEntry is the latest pending value of one piece of state.
type stateEntry struct {
	key string
	frame
}

// client is one websocket connection. The HTTP handler's goroutine reads
// (readLoop, in reader.go); one writer goroutine (writeLoop) does every
// data write. Everyone else only queues under mu and wakes the writer.
type client struct {
	rooms *Rooms
	hub   *hub
	conn  *websocket.Conn
	p     *auth.Principal // nil: anonymous
	rank  auth.Rank       // p's rank in the room
	mod   bool            // may moderate this stream

	wake     chan struct{} // capacity 1
	readDone chan struct{} // closed when the reader returns
	done     chan struct{} // closed when the writer returns

	mu        sync.Mutex
	queue     []frame
	queued    int // messages in queue
	states    []stateEntry
	ready     bool   // welcome queued: the writer may write
	minOffset uint64 // offset events at or below this (same epoch) are duplicates
	epoch     string
	closeCode int
	closeText string
	flushing  bool // on close, write what is queued first

	// Skipped lines (tick.go), under the hub's lock: the class's count up
	// to which this connection has been told or joined, and its own lines
	// counted there that it did receive.
	skipBase uint64
	skipOwn  uint64

	// Writing to the socket (wire.go): wmu is held by whoever writes;
	// partial is the rest of a shared frame the kernel took in part.
	wmu     sync.Mutex
	partial []byte
	raw     syscall.RawConn // nil: no writes that do not wait

	// reader-only state
	bad []time.Time
}

func newClient(r *Rooms, h *hub, conn *websocket.Conn, p *auth.Principal, rank auth.Rank, mod bool) *client {
	return &client{
		rooms:    r,
		hub:      h,
		conn:     conn,
		p:        p,
		rank:     rank,
		mod:      mod,
		wake:     make(chan struct{}, 1),
		readDone: make(chan struct{}),
		done:     make(chan struct{}),
		raw:      rawConn(conn),
	}
}

func (c *client) sub() string {
	if c.p == nil {
		return ""
	}
	return c.p.Sub
}

func (c *client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// push queues a publication for this connection without blocking. An event
// that does not fit in the queue drops the connection (1013); state
// replaces any pending value with the same key.
func (c *client) push(p Publication) {
	c.mu.Lock()
	if c.closeCode != 0 {
		c.mu.Unlock()
		return
	}
	if c.ready && p.Offset != 0 && p.Epoch == c.epoch && p.Offset <= c.minOffset {
		c.mu.Unlock()
		return
	}
	if c.ready && p.Offset != 0 {
		c.minOffset, c.epoch = p.Offset, p.Epoch
	}
	f := frame{data: p.Data, offset: p.Offset, epoch: p.Epoch}
	if p.Kind == KindState && p.Key != "" {
		c.setStateLocked(p.Key, f)
	} else if !c.queueLocked(f) {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.signal()
}

// queueLocked adds f to the queue, or, when a queue that is not empty
// would hold more than SendQueue messages, drops the connection (1013) and
// reports false.
func (c *client) queueLocked(f frame) bool {
	if c.queued > 0 && c.queued+f.msgs() > c.rooms.cfg.SendQueue {
		c.closeLocked(closeTryLater, "too slow: messages were not read in time", false)
		c.rooms.metrics.slowDrops.Inc()
		return false
	}
	c.queue = append(c.queue, f)
	c.queued += f.msgs()
	return true
}

// claimShared takes a tick's shared frame for this connection when it can
// take it as it is: ready, nothing else pending, none of its messages
// already queued (offsets lo to hi of epoch), and, when it tells skipped
// lines (tell), told up to the class's last count sk. The caller then
// sends the frame (sendShared). It reports false when the connection needs
// the messages one by one instead, and behind when that is because its
// writer has not yet taken what was queued before; closing connections
// are skipped (ok, nothing to send). Called under the hub's lock.
func (c *client) claimShared(lo, hi uint64, epoch string, tell bool, sk *skipCount) (ok, send, behind bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeCode != 0 {
		return true, false, false
	}
	if len(c.queue) != 0 || len(c.states) != 0 {
		return false, false, c.ready
	}
	if !c.ready || (lo != 0 && epoch == c.epoch && lo <= c.minOffset) ||
		(tell && (c.skipBase != sk.told || c.skipOwn != 0)) {
		return false, false, false
	}
	if hi != 0 {
		c.minOffset, c.epoch = hi, epoch
	}
	if tell {
		c.skipBase = sk.total
	}
	return true, true, false
}

// sendShared sends a shared frame claimed by claimShared: written at once
// when the socket takes it (tryShared), else queued for the writer. It
// reports whether it was written at once.
func (c *client) sendShared(f *sharedFrame) bool {
	if c.tryShared(f.data) {
		return true
	}
	c.mu.Lock()
	if c.closeCode == 0 && c.queueLocked(frame{shared: f}) {
		c.mu.Unlock()
		c.signal()
		return false
	}
	c.mu.Unlock()
	return false
}

// skipped is the count of the skipped message this connection receives in
// a tick sent to it one by one: 0 when the class is not told this tick
// (tell false), else the lines skipped since it was last told, less its
// own lines it received (own of them in this tick). Called under the
// hub's lock.
func (c *client) skipped(sk *skipCount, tell bool, own uint64) uint64 {
	if !tell {
		c.skipOwn += own
		return 0
	}
	n := int64(sk.total) - int64(c.skipBase) - int64(c.skipOwn) - int64(own)
	c.skipBase, c.skipOwn = sk.total, 0
	return uint64(max(0, n))
}

func (c *client) setStateLocked(key string, f frame) {
	for i := range c.states {
		if c.states[i].key == key {
			copy(c.states[i:], c.states[i+1:])
			c.states = c.states[:len(c.states)-1]
			break
		}
	}
	c.states = append(c.states, stateEntry{key: key, frame: f})
}

// send queues a reply to this connection only (errors, notices). Replies
// count against the queue like any event.
func (c *client) send(data []byte) {
	c.push(Publication{Kind: KindEvent, Data: data})
}

// start makes the connection ready: the welcome, then what was missed,
// then extra frames, then what arrived while joining that is newer than
// the welcome (top in epoch).
func (c *client) start(welcome []byte, missed []Publication, extra [][]byte, top uint64, epoch string) {
	c.mu.Lock()
	q := make([]frame, 0, 1+len(missed)+len(extra)+len(c.queue))
	q = append(q, frame{data: welcome})
	for _, p := range missed {
		q = append(q, frame{data: p.Data, offset: p.Offset, epoch: p.Epoch})
	}
	for _, d := range extra {
		q = append(q, frame{data: d})
	}
	newer := func(f frame) bool { return f.offset == 0 || f.epoch != epoch || f.offset > top }
	for _, f := range c.queue {
		if newer(f) {
			q = append(q, f)
		}
	}
	states := c.states[:0]
	for _, s := range c.states {
		if newer(s.frame) {
			states = append(states, s)
		}
	}
	c.queue, c.states = q, states
	c.queued = len(q)
	c.minOffset, c.epoch = top, epoch
	for _, f := range q {
		if f.offset != 0 && f.epoch == epoch && f.offset > c.minOffset {
			c.minOffset = f.offset
		}
	}
	c.ready = true
	c.mu.Unlock()
	c.signal()
}

// close asks the writer to close the connection with code. When flush is
// true, what is already queued is written first. It never blocks.
func (c *client) close(code int, text string, flush bool) {
	c.mu.Lock()
	c.closeLocked(code, text, flush)
	c.mu.Unlock()
	c.signal()
}

func (c *client) closeLocked(code int, text string, flush bool) {
	if c.closeCode != 0 {
		return
	}
	c.closeCode, c.closeText, c.flushing = code, text, flush
	if !flush {
		c.queue, c.states, c.queued = nil, nil, 0
	}
	c.signal()
}

// take moves what is pending into the writer's buffers.
func (c *client) take(q []frame, s []stateEntry) ([]frame, []stateEntry, int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ready && c.closeCode == 0 {
		return q, s, 0, ""
	}
	if c.ready || c.flushing {
		q = append(q, c.queue...)
		s = append(s, c.states...)
	}
	clear(c.queue)
	c.queue = c.queue[:0]
	c.queued = 0
	c.states = c.states[:0]
	return q, s, c.closeCode, c.closeText
}

// writeLoop is the connection's only data writer. It coalesces what is
// queued into frames of newline-separated objects, pings, and closes.
func (c *client) writeLoop() {
	defer close(c.done)
	defer c.conn.Close()
	cfg := &c.rooms.cfg
	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	var q []frame
	var s []stateEntry
	for {
		select {
		case <-c.wake:
		case <-c.readDone:
			// The reader is gone; a close it asked for (1008) still goes
			// out, after what it asked to be written first.
			if q, s, code, text := c.take(q[:0], s[:0]); code != 0 {
				if c.write(q, s) == nil {
					c.writeClose(code, text)
				}
			}
			return
		case <-ping.C:
			if err := c.control(websocket.PingMessage, nil); err != nil {
				return
			}
			continue
		}
		var code int
		var text string
		q, s, code, text = c.take(q[:0], s[:0])
		if err := c.write(q, s); err != nil {
			return
		}
		clear(q)
		clear(s)
		if code != 0 {
			c.writeClose(code, text)
			return
		}
	}
}

// write finishes a shared frame left in part, then sends queued events
// and shared frames, then pending state, as few frames as fit.
func (c *client) write(q []frame, s []stateEntry) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.flushPartialLocked(); err != nil {
		return err
	}
	if len(q) == 0 && len(s) == 0 {
		return nil
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.rooms.cfg.WriteTimeout))
	var w interface {
		Write([]byte) (int, error)
		Close() error
	}
	size, msgs, frames := 0, 0, 0
	put := func(data []byte) error {
		if w != nil && size+len(data)+1 > maxFrameOut {
			if err := w.Close(); err != nil {
				return err
			}
			w = nil
		}
		if w == nil {
			nw, err := c.conn.NextWriter(websocket.TextMessage)
			if err != nil {
				return err
			}
			w, size = nw, 0
			frames++
		} else if _, err := w.Write(newline); err != nil {
			return err
		}
		size += len(data) + 1
		msgs++
		_, err := w.Write(data)
		return err
	}
	for _, f := range q {
		if f.shared == nil {
			if err := put(f.data); err != nil {
				return err
			}
			continue
		}
		// A shared frame goes out as it is, after what was coalesced.
		if w != nil {
			if err := w.Close(); err != nil {
				return err
			}
			w = nil
		}
		if err := c.writeShared(f.shared.data); err != nil {
			return err
		}
		msgs += f.shared.msgs
		frames++
	}
	for _, e := range s {
		if err := put(e.data); err != nil {
			return err
		}
	}
	c.rooms.metrics.sent.Add(float64(msgs))
	c.rooms.metrics.frames.Add(float64(frames))
	if w == nil {
		return nil
	}
	return w.Close()
}

var newline = []byte{'\n'}

// writeClose sends a close frame and gives the peer a moment to answer
// before the connection is closed.
func (c *client) writeClose(code int, text string) {
	_ = c.control(websocket.CloseMessage, websocket.FormatCloseMessage(code, text))
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-c.readDone:
	case <-t.C:
	}
}
