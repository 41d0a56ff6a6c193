package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/net/ipv4"
)

// fakeBatch is a batchWriter that records what it is handed. take limits
// how many messages one call accepts (0: all); refuse makes the socket
// refuse a message (with sendmmsg's semantics: an error only when it is
// the first of the batch); gate, when set, is waited on by every call,
// and entered is told each time a call starts.
type fakeBatch struct {
	take    int
	refuse  func(addr string) bool
	gate    chan struct{}
	entered chan struct{}
	err     error // returned by every call once set through fail

	mu    sync.Mutex
	calls int
	got   []string // "addr payload"
}

func (f *fakeBatch) WriteBatch(ms []ipv4.Message, _ int) (int, error) {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return 0, f.err
	}
	n := 0
	for _, m := range ms {
		if f.take > 0 && n == f.take {
			break
		}
		a := m.Addr.String()
		if f.refuse != nil && f.refuse(a) {
			if n == 0 {
				return 0, errors.New("fake: message refused")
			}
			break
		}
		f.got = append(f.got, a+" "+string(m.Buffers[0]))
		n++
	}
	return n, nil
}

func (f *fakeBatch) fail(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *fakeBatch) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

// mustBatchConn wraps a loopback UDP socket with w (nil: the real
// sendmmsg writer) and closes it at the end of the test.
func mustBatchConn(tb testing.TB, network, addr string, w batchWriter) *batchConn {
	tb.Helper()
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		tb.Fatalf("listen %s %s: %v", network, addr, err)
	}
	var c *batchConn
	if w == nil {
		c = newBatchConn(pc)
	} else {
		c = newBatchConnWith(pc, w)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func dst(port int) *net.UDPAddr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port} }

// A lone packet is handed to the socket by the WriteTo that queued it:
// when WriteTo returns, the writer has it. Nothing in the path waits for
// a timer (TestBatchConnHasNoTimerOrGoroutine).
func TestBatchConnLonePacketLeavesWithinWriteTo(t *testing.T) {
	f := &fakeBatch{}
	c := mustBatchConn(t, "udp4", "127.0.0.1:0", f)
	for i := range 3 {
		p := fmt.Sprint("p", i)
		if n, err := c.WriteTo([]byte(p), dst(1000)); n != len(p) || err != nil {
			t.Fatalf("WriteTo = %d, %v; want %d, nil", n, err, len(p))
		}
		if got, want := f.sent(), fmt.Sprint("127.0.0.1:1000 ", p); len(got) != i+1 || got[i] != want {
			t.Fatalf("after WriteTo %d returned the socket had %q; want it to end with %q", i, got, want)
		}
	}
	if s := c.stats(); s.Batches != 3 || s.Sent != 3 {
		t.Errorf("stats = %+v; want 3 batches of one", s)
	}
}

// The caller may reuse its buffer and address once WriteTo returns.
func TestBatchConnCopiesPacketAndAddress(t *testing.T) {
	f := &fakeBatch{gate: make(chan struct{}), entered: make(chan struct{}, 8)}
	c := mustBatchConn(t, "udp4", "127.0.0.1:0", f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = c.WriteTo([]byte("first"), dst(1))
	}()
	<-f.entered // the first writer is sending; the next ones only queue
	b, a := []byte("second"), dst(2)
	if _, err := c.WriteTo(b, a); err != nil {
		t.Fatal(err)
	}
	copy(b, "XXXXXX")
	a.Port, a.IP[15] = 9, 9
	close(f.gate)
	<-done
	want := []string{"127.0.0.1:1 first", "127.0.0.1:2 second"}
	if got := f.sent(); !slices.Equal(got, want) {
		t.Errorf("sent %q; want %q", got, want)
	}
}

// Short batch writes resume where the socket stopped; a message the
// socket refuses is counted and skipped, and the rest still leave in
// order.
func TestBatchConnShortWritesAndRefusals(t *testing.T) {
	for _, tc := range []struct {
		name       string
		take       int
		refuse     int // destination port the socket refuses (0: none)
		wantFailed uint64
	}{
		{"all at once", 0, 0, 0},
		{"three per call", 3, 0, 0},
		{"one per call", 1, 0, 0},
		{"one destination refused", 0, 3, 8},
		{"refused and short", 2, 3, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeBatch{take: tc.take, gate: make(chan struct{}), entered: make(chan struct{}, 64)}
			if tc.refuse != 0 {
				bad := "127.0.0.1:" + strconv.Itoa(tc.refuse)
				f.refuse = func(a string) bool { return a == bad }
			}
			c := mustBatchConn(t, "udp4", "127.0.0.1:0", f)
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = c.WriteTo([]byte("0"), dst(1))
			}()
			<-f.entered
			// Queued behind the sender: 40 packets to 5 destinations.
			var want []string
			for i := 1; i <= 40; i++ {
				port := 1 + i%5
				if _, err := c.WriteTo([]byte(strconv.Itoa(i)), dst(port)); err != nil {
					t.Fatal(err)
				}
				if port != tc.refuse {
					want = append(want, fmt.Sprintf("127.0.0.1:%d %d", port, i))
				}
			}
			close(f.gate)
			<-done
			want = append([]string{"127.0.0.1:1 0"}, want...)
			if got := f.sent(); !slices.Equal(got, want) {
				t.Errorf("sent %q\nwant %q", got, want)
			}
			if s := c.stats(); s.Failed != tc.wantFailed || s.Sent != uint64(len(want)) {
				t.Errorf("stats = %+v; want Sent %d, Failed %d", s, len(want), tc.wantFailed)
			}
		})
	}
}

// The queue holds maxQueued packets behind a busy sender; the next writer
// waits for room (it is neither dropped nor sent out of order), and once
// the socket takes the queue everything leaves, in order.
func TestBatchConnQueueBound(t *testing.T) {
	f := &fakeBatch{gate: make(chan struct{}), entered: make(chan struct{}, 64)}
	c := mustBatchConn(t, "udp4", "127.0.0.1:0", f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = c.WriteTo([]byte("lead"), dst(1))
	}()
	<-f.entered
	want := []string{"127.0.0.1:1 lead"}
	for i := range maxQueued {
		p := strconv.Itoa(i)
		if _, err := c.WriteTo([]byte(p), dst(2)); err != nil {
			t.Fatalf("WriteTo %d of %d: %v", i, maxQueued, err)
		}
		want = append(want, "127.0.0.1:2 "+p)
	}
	want = append(want, "127.0.0.1:2 over")
	over := make(chan error, 1)
	go func() {
		_, err := c.WriteTo([]byte("over"), dst(2))
		over <- err
	}()
	for c.stats().Waits == 0 { // the writer is waiting for room
		runtime.Gosched()
	}
	select {
	case err := <-over:
		t.Fatalf("WriteTo on a full queue returned (%v) before the queue had room", err)
	default:
	}
	close(f.gate)
	<-done
	if err := <-over; err != nil {
		t.Fatalf("WriteTo that waited for room: %v", err)
	}
	if got := f.sent(); !slices.Equal(got, want) {
		t.Errorf("sent %d packets (last %q); want %d ending in %q", len(got), got[len(got)-1], len(want), want[len(want)-1])
	}
	if s := c.stats(); s.Sent != uint64(len(want)) || s.Waits != 1 {
		t.Errorf("stats = %+v; want Sent %d, Waits 1", s, len(want))
	}
}

// Close refuses later writes; packets queued behind a sender when the
// socket closes are counted as failed and the sender returns.
func TestBatchConnClose(t *testing.T) {
	f := &fakeBatch{gate: make(chan struct{}), entered: make(chan struct{}, 64)}
	c := mustBatchConn(t, "udp4", "127.0.0.1:0", f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = c.WriteTo([]byte("lead"), dst(1))
	}()
	<-f.entered
	for i := range 5 {
		if _, err := c.WriteTo([]byte{byte(i)}, dst(2)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	f.fail(&net.OpError{Op: "write", Net: "udp", Err: net.ErrClosed})
	close(f.gate)
	<-done
	if n, err := c.WriteTo([]byte("late"), dst(1)); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteTo after Close = %d, %v; want 0, net.ErrClosed", n, err)
	}
	if _, _, err := c.ReadFrom(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrom after Close: %v; want net.ErrClosed", err)
	}
	if s := c.stats(); s.Failed != 6 {
		t.Errorf("stats = %+v; want the lead and 5 queued failed", s)
	}
}

// Concurrent writers to real loopback sockets through sendmmsg: every
// packet arrives, and each writer's packets arrive in the order written.
// Each destination receives fewer packets than its receive buffer holds,
// so the kernel drops none even if its reader falls behind.
func TestBatchConnLoopbackOrder(t *testing.T) {
	for _, tc := range []struct{ name, network, bind, dest string }{
		{"ipv4", "udp4", "127.0.0.1:0", "127.0.0.1"},
		{"dual stack to ipv4", "udp", "[::]:0", "127.0.0.1"},
		{"ipv6", "udp6", "[::1]:0", "::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const dests, writersPerDest, perWriter = 16, 2, 60
			c := mustBatchConn(t, tc.network, tc.bind, nil)
			rxs := make([]net.PacketConn, dests)
			for i := range rxs {
				rx, err := net.ListenPacket("udp", net.JoinHostPort(tc.dest, "0"))
				if err != nil {
					t.Skipf("no %s loopback: %v", tc.dest, err)
				}
				t.Cleanup(func() { _ = rx.Close() })
				rxs[i] = rx
			}
			// Each reader checks order per writer and counts.
			var rwg sync.WaitGroup
			errs := make(chan error, dests*(writersPerDest+1))
			for d, rx := range rxs {
				rwg.Go(func() {
					next := make([]uint32, writersPerDest)
					buf := make([]byte, 64)
					for got := 0; ; got++ {
						n, _, err := rx.ReadFrom(buf)
						if err == nil && n == 3 && string(buf[:3]) == "end" {
							if got != writersPerDest*perWriter {
								errs <- fmt.Errorf("dest %d: %d packets arrived before the end mark; want %d", d, got, writersPerDest*perWriter)
							}
							return
						}
						if err != nil || n != 8 {
							errs <- fmt.Errorf("dest %d: read %d bytes, %v after %d packets", d, n, err, got)
							return
						}
						w, seq := binary.BigEndian.Uint32(buf[:4]), binary.BigEndian.Uint32(buf[4:8])
						if int(w) >= writersPerDest || seq != next[w] {
							errs <- fmt.Errorf("dest %d: writer %d packet %d arrived; want %d", d, w, seq, next[w%writersPerDest])
							return
						}
						next[w]++
					}
				})
			}
			var wwg sync.WaitGroup
			for d, rx := range rxs {
				to := rx.LocalAddr()
				for w := range writersPerDest {
					wwg.Go(func() {
						b := make([]byte, 8)
						binary.BigEndian.PutUint32(b, uint32(w))
						for seq := range perWriter {
							binary.BigEndian.PutUint32(b[4:], uint32(seq))
							if _, err := c.WriteTo(b, to); err != nil {
								errs <- fmt.Errorf("dest %d writer %d: WriteTo: %v", d, w, err)
								return
							}
						}
					})
				}
			}
			wwg.Wait()
			// The end mark leaves after every packet written above.
			for _, rx := range rxs {
				if _, err := c.WriteTo([]byte("end"), rx.LocalAddr()); err != nil {
					t.Fatal(err)
				}
			}
			rwg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			s := c.stats()
			if want := uint64(dests * (writersPerDest*perWriter + 1)); s.Sent != want || s.Failed != 0 {
				t.Errorf("stats = %+v; want Sent %d, none failed", s, want)
			}
			t.Logf("%d packets in %d batches, %d waits for room", s.Sent, s.Batches, s.Waits)
		})
	}
}

// Reads, addresses and the rest go straight to the socket.
func TestBatchConnPassesThrough(t *testing.T) {
	c := mustBatchConn(t, "udp4", "127.0.0.1:0", nil)
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := peer.WriteTo([]byte("ping"), c.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, from, err := c.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" || from.String() != peer.LocalAddr().String() {
		t.Fatalf("ReadFrom = %q, %v, %v; want ping from %v", buf[:n], from, err, peer.LocalAddr())
	}
	if _, err := c.WriteTo([]byte("pong"), from); err != nil {
		t.Fatal(err)
	}
	if n, _, err = peer.ReadFrom(buf); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("peer read %q, %v; want pong", buf[:n], err)
	}
}

// The send path has no timer and starts no goroutine: a packet leaves on
// a writer's own call, never because time passed.
func TestBatchConnHasNoTimerOrGoroutine(t *testing.T) {
	for _, name := range []string{"batch.go", "batch_linux.go", "batch_other.go"} {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if imp.Path.Value == `"time"` {
				t.Errorf("%s imports time", name)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if g, ok := n.(*ast.GoStmt); ok {
				t.Errorf("%s starts a goroutine at %v", name, g.Pos())
			}
			return true
		})
	}
}
