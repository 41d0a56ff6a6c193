package chat

import (
	"encoding/binary"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// A tick's shared frame is one websocket message built once, header and
// all: a server's frames are not masked and the room does not compress, so
// every connection receives the same bytes. Writing it to a connection that
// is up to date is one write(2), made by the tick itself when the kernel
// takes it at once (no goroutine of the connection is woken); otherwise it
// is queued for the connection's writer, which writes it as it is.
//
// Whoever writes to a connection's socket holds its wmu: the writer, a
// tick, and the reader answering a ping or a close. A frame the kernel took
// only in part (partial) is finished, under wmu, before anything else is
// written.

// wireFrame returns payload as one final text frame of a server.
func wireFrame(payload []byte) []byte {
	var hdr [10]byte
	hdr[0] = 0x80 | websocket.TextMessage // FIN, text
	n, h := len(payload), 2
	switch {
	case n < 126:
		hdr[1] = byte(n)
	case n <= 0xffff:
		hdr[1] = 126
		binary.BigEndian.PutUint16(hdr[2:], uint16(n))
		h = 4
	default:
		hdr[1] = 127
		binary.BigEndian.PutUint64(hdr[2:], uint64(n))
		h = 10
	}
	out := make([]byte, 0, h+n)
	out = append(out, hdr[:h]...)
	return append(out, payload...)
}

// rawConn returns the connection's socket for writes that do not wait, or
// nil when it has none (then every frame goes through the writer).
func rawConn(conn *websocket.Conn) syscall.RawConn {
	if conn == nil {
		return nil
	}
	sc, ok := conn.NetConn().(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// tryShared writes the shared frame data at once when nobody else is
// writing to the socket and the kernel takes at least part of it without
// waiting. It reports false when nothing was written: the frame is then
// to be queued. The rest of a frame taken in part is left to the writer.
func (c *client) tryShared(data []byte) bool {
	if c.raw == nil || !c.wmu.TryLock() {
		return false
	}
	defer c.wmu.Unlock()
	if c.partial != nil {
		return false
	}
	n := 0
	err := c.raw.Write(func(fd uintptr) bool {
		var werr error
		n, werr = syscall.Write(int(fd), data)
		if werr != nil || n < 0 {
			n = 0
		}
		return true // one attempt: never wait for the socket
	})
	if err != nil || n == 0 {
		return false
	}
	if n < len(data) {
		c.partial = data[n:]
		c.signal()
	}
	return true
}

// flushPartialLocked finishes a frame the kernel took in part; c.wmu must
// be held.
func (c *client) flushPartialLocked() error {
	if c.partial == nil {
		return nil
	}
	nc := c.conn.NetConn()
	_ = nc.SetWriteDeadline(time.Now().Add(c.rooms.cfg.WriteTimeout))
	_, err := nc.Write(c.partial)
	c.partial = nil
	return err
}

// writeShared writes a shared frame's bytes, waiting for the socket;
// c.wmu must be held.
func (c *client) writeShared(data []byte) error {
	nc := c.conn.NetConn()
	_ = nc.SetWriteDeadline(time.Now().Add(c.rooms.cfg.WriteTimeout))
	_, err := nc.Write(data)
	return err
}

// control writes a control frame under c.wmu: the reader's answers to a
// ping (pong) and to a close.
func (c *client) control(typ int, data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.flushPartialLocked(); err != nil {
		return err
	}
	return c.conn.WriteControl(typ, data, time.Now().Add(c.rooms.cfg.WriteTimeout))
}

// answerControl makes the reader answer pings and closes as gorilla's own
// handlers do, but through control, so that its writes never land inside
// a frame.
func (c *client) answerControl() {
	c.conn.SetPingHandler(func(data string) error {
		err := c.control(websocket.PongMessage, []byte(data))
		var ne net.Error
		if errors.Is(err, websocket.ErrCloseSent) || (errors.As(err, &ne) && ne.Timeout()) {
			return nil
		}
		return err
	})
	c.conn.SetCloseHandler(func(code int, text string) error {
		var msg []byte
		if code != websocket.CloseNoStatusReceived {
			msg = websocket.FormatCloseMessage(code, "")
		}
		_ = c.control(websocket.CloseMessage, msg)
		return nil
	})
}
