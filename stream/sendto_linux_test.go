package stream

import (
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
)

// TestParallelSends: many goroutines sending through the media socket at
// once deliver every datagram whole, in order per sender, to IPv4 peers
// from a dual-stack socket and from an IPv4 one; sends do not allocate;
// after Close a send fails cleanly.
func TestParallelSends(t *testing.T) {
	eachMediaSocket(t, func(t *testing.T, c *parallelConn) {
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

// TestCorkedSends: bursts written to corked peers, from several writers at
// once, arrive whole and in order per writer; runs of equal sizes leave in
// one system call each (fewer calls than datagrams); a shorter datagram
// ends a run and a longer one starts the next; bursts longer than a cork
// are split; a lone datagram leaves when its burst is released, and a
// datagram written outside a burst leaves at once. Nothing waits for a
// timer: the cork is empty as soon as release returns.
func TestCorkedSends(t *testing.T) {
	eachMediaSocket(t, func(t *testing.T, c *parallelConn) {
		defer c.Close()
		if !c.gso.Load() {
			t.Skip("this kernel has no UDP segmentation offload")
		}
		// Each burst is a list of sizes: a video frame and its
		// shorter last packet; a lone audio packet; a keyframe longer
		// than one cork; sizes that shrink and grow.
		bursts := [][]int{
			{1200, 1200, 1200, 1200, 1200, 1200, 1200, 700},
			{100},
			slices.Repeat([]int{1200}, 130),
			{300, 1200, 1200, 90, 90, 1200, 500, 500, 500},
			{1200},
		}
		const writers = 6
		rxs := make([]*net.UDPConn, writers)
		for i := range rxs {
			rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer rx.Close()
			_ = rx.SetReadBuffer(4 << 20)
			rxs[i] = rx
		}
		var wg sync.WaitGroup
		for w, rx := range rxs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				to := rx.LocalAddr().(*net.UDPAddr)
				k := c.corkFor(to.AddrPort())
				if k == nil {
					t.Error("no cork for a loopback peer")
					return
				}
				defer k.uncork()
				b := make([]byte, 1500)
				seq := 0
				for _, burst := range bursts {
					k.hold()
					for _, size := range burst {
						stamp(b[:size], w, seq)
						if n, err := c.WriteTo(b[:size], to); n != size || err != nil {
							t.Errorf("write: %d, %v", n, err)
						}
						seq++
					}
					k.release()
					if k.n != 0 || k.buf != nil {
						t.Errorf("writer %d: %d datagrams still corked after release", w, k.n)
					}
				}
			}()
		}
		buf := make([]byte, 2048)
		for w, rx := range rxs {
			_ = rx.SetReadDeadline(time.Now().Add(10 * time.Second))
			seq := 0
			for _, burst := range bursts {
				for _, size := range burst {
					n, _, err := rx.ReadFrom(buf)
					if err != nil {
						t.Fatalf("writer %d, datagram %d: %v", w, seq, err)
					}
					if gw, gs, ok := stamped(buf[:n]); n != size || !ok || gw != w || gs != seq {
						t.Fatalf("writer %d, datagram %d of %d bytes: got %d bytes from writer %d, datagram %d (whole: %v)", w, seq, size, n, gw, gs, ok)
					}
					seq++
				}
			}
		}
		wg.Wait()
		datagrams := 0
		for _, burst := range bursts {
			datagrams += len(burst)
		}
		batches, batched := c.batchStats()
		if batches == 0 || batched <= batches {
			t.Errorf("%d datagrams went out in %d batched calls of %d datagrams: nothing was batched", writers*datagrams, batches, batched)
		}

		// A lone datagram: held until release, then sent by release.
		rx := rxs[0]
		to := rx.LocalAddr().(*net.UDPAddr)
		k := c.corkFor(to.AddrPort())
		k.hold()
		stamp(buf[:64], 0, 1000)
		_, _ = c.WriteTo(buf[:64], to)
		if k.n != 1 {
			t.Fatalf("a held datagram: %d waiting, want 1", k.n)
		}
		k.release()
		if k.n != 0 || k.buf != nil {
			t.Fatal("release left the datagram corked")
		}
		if _, s, ok := stamped(readOne(t, rx)); !ok || s != 1000 {
			t.Fatalf("the lone datagram: got %d", s)
		}
		// Outside a burst a write is sent at once.
		stamp(buf[:64], 0, 1001)
		_, _ = c.WriteTo(buf[:64], to)
		if k.n != 0 {
			t.Fatal("a write outside a burst was corked")
		}
		if _, s, ok := stamped(readOne(t, rx)); !ok || s != 1001 {
			t.Fatalf("the unheld datagram: got %d", s)
		}
		k.uncork()
		if m := c.corks.Load(); m != nil && len(*m) != 0 {
			t.Errorf("%d corks left registered after every uncork", len(*m))
		}
		k = c.corkFor(to.AddrPort())
		defer k.uncork()
		if allocs := testing.AllocsPerRun(100, func() {
			k.hold()
			_, _ = c.WriteTo(buf[:1200], to)
			_, _ = c.WriteTo(buf[:1200], to)
			k.release()
		}); allocs >= 1 {
			t.Errorf("a corked burst allocates %.1f times", allocs)
		}

		// A route that turns out unable to segment: a cork then sends
		// what it gathered one datagram at a time, all of it, in order.
		rx1 := rxs[1]
		to1 := rx1.LocalAddr().(*net.UDPAddr)
		k1 := c.corkFor(to1.AddrPort())
		defer k1.uncork()
		c.gso.Store(false)
		batches, _ = c.batchStats()
		k1.hold()
		for i := range 3 {
			stamp(buf[:1200], 1, 2000+i)
			_, _ = c.WriteTo(buf[:1200], to1)
		}
		k1.release()
		for i := range 3 {
			if w, s, ok := stamped(readOne(t, rx1)); !ok || w != 1 || s != 2000+i {
				t.Fatalf("without segmentation, datagram %d: got %d from writer %d (whole: %v)", i, s, w, ok)
			}
		}
		if after, _ := c.batchStats(); after != batches {
			t.Errorf("%d batched calls without segmentation", after-batches)
		}
	})
}

// eachMediaSocket runs test on a wrapped dual-stack media socket and on
// an IPv4 one.
func eachMediaSocket(t *testing.T, test func(*testing.T, *parallelConn)) {
	for _, bind := range []struct{ network, addr string }{{"udp", ":0"}, {"udp4", "127.0.0.1:0"}} {
		t.Run(bind.network, func(t *testing.T) {
			sock, err := net.ListenPacket(bind.network, bind.addr)
			if err != nil {
				t.Skipf("no %s socket here: %v", bind.network, err)
			}
			c, ok := parallelSends(sock).(*parallelConn)
			if !ok {
				t.Fatalf("the media socket was not wrapped: %T", sock)
			}
			test(t, c)
		})
	}
}

// stamp fills b with writer w's datagram seq: a header, then a pattern a
// truncated or mixed datagram would break.
func stamp(b []byte, w, seq int) {
	binary.BigEndian.PutUint32(b[0:], uint32(w))
	binary.BigEndian.PutUint32(b[4:], uint32(seq))
	for i := 8; i < len(b); i++ {
		b[i] = byte(w*31 + seq + i)
	}
}

// stamped reads stamp's header back and checks the pattern.
func stamped(b []byte) (w, seq int, ok bool) {
	if len(b) < 8 {
		return 0, 0, false
	}
	w, seq = int(binary.BigEndian.Uint32(b[0:])), int(binary.BigEndian.Uint32(b[4:]))
	for i := 8; i < len(b); i++ {
		if b[i] != byte(w*31+seq+i) {
			return w, seq, false
		}
	}
	return w, seq, true
}

func readOne(t *testing.T, rx *net.UDPConn) []byte {
	t.Helper()
	b := make([]byte, 2048)
	_ = rx.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := rx.ReadFrom(b)
	if err != nil {
		t.Fatal(err)
	}
	return b[:n]
}

// TestRelayBatchesSends: with pion peers on both sides, every video packet
// of an H264 stream (keyframes of four packets, three of one size) reaches
// each viewer once and in order, and the relay sent some of them in
// batches, as its metrics show.
func TestRelayBatchesSends(t *testing.T) {
	r := mustRelay(t, nil)
	c, ok := r.svc.corks.(*parallelConn)
	if !ok || !c.gso.Load() {
		t.Skip("the media socket cannot batch here")
	}
	r.stream(t, "shop", "host1")
	startPublisher(t, r.srv.URL, "shop", r.token(t, "host1", auth.Host), h264Codec, 'A', 2)
	viewers := make([]*testViewer, 4)
	for i := range viewers {
		viewers[i] = startViewer(t, r.srv.URL, "shop")
	}
	eachHasVideo(t, viewers, 90)
	for i, tv := range viewers {
		video, _ := tv.snapshot()
		for j := 1; j < len(video); j++ {
			if video[j].seq != video[j-1].seq+1 {
				t.Fatalf("viewer %d: packet %d has sequence number %d after %d", i, j, video[j].seq, video[j-1].seq)
			}
		}
	}
	batches := counterValue(t, r.reg, "livecart_stream_udp_batches_total")
	datagrams := counterValue(t, r.reg, "livecart_stream_udp_batched_datagrams_total")
	if batches == 0 || datagrams < 2*batches {
		t.Errorf("batched sends: %v calls carrying %v datagrams", batches, datagrams)
	}
}

// BenchmarkMediaSend: one op is one 8-datagram frame (seven of 1,200
// bytes and one of 700) sent through the media socket to each of 100
// loopback peers, which read on their own goroutines: one sendto per
// datagram ("direct"), or each peer's frame gathered under its cork and
// sent as segmented runs ("corked"). The loopback receive path runs in the
// sender's system call, so the figure is the kernel's whole cost too.
func BenchmarkMediaSend(b *testing.B) {
	for _, corked := range []bool{false, true} {
		name := "direct"
		if corked {
			name = "corked"
		}
		b.Run(name, func(b *testing.B) {
			sock, err := net.ListenPacket("udp", ":0")
			if err != nil {
				b.Fatal(err)
			}
			c := parallelSends(sock).(*parallelConn)
			defer c.Close()
			if corked && !c.gso.Load() {
				b.Skip("no UDP segmentation offload here")
			}
			const peers = 100
			tos := make([]*net.UDPAddr, peers)
			ks := make([]*cork, peers)
			for i := range tos {
				rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					b.Fatal(err)
				}
				defer rx.Close()
				go func() {
					buf := make([]byte, 2048)
					for {
						if _, _, err := rx.ReadFrom(buf); err != nil {
							return
						}
					}
				}()
				tos[i] = rx.LocalAddr().(*net.UDPAddr)
				if corked {
					ks[i] = c.corkFor(tos[i].AddrPort())
					defer ks[i].uncork()
				}
			}
			pkt := make([]byte, 1200)
			b.SetBytes(peers * (7*1200 + 700))
			b.ResetTimer()
			for range b.N {
				for i, to := range tos {
					ks[i].hold()
					for j := range 8 {
						n := 1200
						if j == 7 {
							n = 700
						}
						_, _ = c.WriteTo(pkt[:n], to)
					}
					ks[i].release()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*peers*8), "ns/datagram")
		})
	}
}
