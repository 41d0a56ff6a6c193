package stream

import (
	"fmt"
	"net"
	"sync"
	"testing"
)

// BenchmarkFanoutSend measures the media socket under the relay's fan-out:
// one writer goroutine per viewer (as downTrack.run), all woken at once by
// an ingest, each writing a burst of packets to its own viewer, through
// the plain socket (one sendto per packet) or through batchConn. One
// iteration is one burst to every viewer; ns/pkt is per packet per viewer
// and pkts/syscall the mean batch size. The viewers' sockets are not read:
// once full, the kernel drops at them, the same for both.
func BenchmarkFanoutSend(b *testing.B) {
	const size = 1200
	for _, viewers := range []int{1, 10, 100} {
		for _, burst := range []int{1, 4} {
			for _, batched := range []bool{false, true} {
				name := fmt.Sprintf("viewers=%d/burst=%d/conn=plain", viewers, burst)
				if batched {
					name = fmt.Sprintf("viewers=%d/burst=%d/conn=batched", viewers, burst)
				}
				b.Run(name, func(b *testing.B) { benchFanout(b, viewers, burst, size, batched) })
			}
		}
	}
}

func benchFanout(b *testing.B, viewers, burst, size int, batched bool) {
	sock, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var pc net.PacketConn = sock
	var bc *batchConn
	if batched {
		bc = newBatchConn(sock)
		pc = bc
	}
	defer pc.Close()

	var work, done sync.WaitGroup
	wake := make([]chan struct{}, viewers)
	for i := range wake {
		rx, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer rx.Close()
		wake[i] = make(chan struct{}, 1)
		to := rx.LocalAddr()
		done.Add(1)
		go func() {
			defer done.Done()
			pkt := make([]byte, size)
			for range wake[i] {
				for range burst {
					_, _ = pc.WriteTo(pkt, to)
				}
				work.Done()
			}
		}()
	}
	b.SetBytes(int64(viewers * burst * size))
	b.ResetTimer()
	for b.Loop() {
		work.Add(viewers)
		for _, w := range wake {
			w <- struct{}{}
		}
		work.Wait()
	}
	b.StopTimer()
	for _, w := range wake {
		close(w)
	}
	done.Wait()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*viewers*burst), "ns/pkt")
	if bc != nil {
		s := bc.stats()
		b.ReportMetric(float64(s.Sent)/float64(max(s.Batches, 1)), "pkts/syscall")
	} else {
		b.ReportMetric(1, "pkts/syscall")
	}
}
