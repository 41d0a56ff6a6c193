package stream

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// TestParallelSends: many goroutines sending through the media socket at
// once deliver every datagram whole, in order per sender, to IPv4 peers
// from a dual-stack socket and from an IPv4 one; sends do not allocate;
// after Close a send fails cleanly.
func TestParallelSends(t *testing.T) {
	for _, bind := range []struct{ network, addr string }{{"udp", ":0"}, {"udp4", "127.0.0.1:0"}} {
		t.Run(bind.network, func(t *testing.T) {
			sock, err := net.ListenPacket(bind.network, bind.addr)
			if err != nil {
				t.Skipf("no %s socket here: %v", bind.network, err)
			}
			c := parallelSends(sock)
			if _, ok := c.(*parallelConn); !ok {
				t.Fatalf("the media socket was not wrapped: %T", c)
			}
			rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer rx.Close()
			_ = rx.SetReadBuffer(4 << 20)
			const senders, each = 8, 200
			var wg sync.WaitGroup
			for s := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					b := make([]byte, 1200)
					for i := range each {
						binary.BigEndian.PutUint32(b[0:], uint32(s))
						binary.BigEndian.PutUint32(b[4:], uint32(i))
						b[len(b)-1] = byte(i)
						if _, err := c.WriteTo(b, rx.LocalAddr()); err != nil {
							t.Errorf("send: %v", err)
							return
						}
						if i%50 == 0 {
							time.Sleep(time.Millisecond) // let the receiver keep up
						}
					}
				}()
			}
			next := make([]int, senders)
			buf := make([]byte, 2048)
			_ = rx.SetReadDeadline(time.Now().Add(10 * time.Second))
			for got := 0; got < senders*each; got++ {
				n, _, err := rx.ReadFrom(buf)
				if err != nil {
					t.Fatalf("after %d datagrams: %v", got, err)
				}
				s, i := int(binary.BigEndian.Uint32(buf[0:])), int(binary.BigEndian.Uint32(buf[4:]))
				if n != 1200 || s >= senders || buf[n-1] != byte(i) {
					t.Fatalf("datagram %d: %d bytes from sender %d, packet %d", got, n, s, i)
				}
				if i != next[s] {
					t.Fatalf("sender %d: packet %d arrived when %d was due", s, i, next[s])
				}
				next[s]++
			}
			wg.Wait()

			b := make([]byte, 100)
			if allocs := testing.AllocsPerRun(100, func() { _, _ = c.WriteTo(b, rx.LocalAddr()) }); allocs != 0 {
				t.Errorf("a send allocates %.0f times", allocs)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.WriteTo(b, rx.LocalAddr()); !errors.Is(err, net.ErrClosed) {
				t.Errorf("a send after Close: %v, want net.ErrClosed", err)
			}
		})
	}
}
