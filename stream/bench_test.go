package stream

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// discardWriter stands in for a viewer's SRTP stream.
type discardWriter struct{}

func (discardWriter) WriteRTP(*rtp.Header, []byte) (int, error) { return 0, nil }
func (discardWriter) Write(b []byte) (int, error)               { return len(b), nil }

// BenchmarkForward measures the relay's own per-packet work: one ingest
// (parse, rewrite, cache, wake every viewer) and, for every viewer, one
// drain (copy out of the shared cache, header rewrite, hand-off to the
// viewer's writer). SRTP encryption and the UDP write, which pion does per
// viewer, are not included. ns/viewer is the cost per packet per viewer.
func BenchmarkForward(b *testing.B) {
	for _, n := range []int{1, 10, 100, 500} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			m, _ := newMetrics(nil)
			f, tr := testFeed(vp8Codec, m, time.Now, time.Second)
			downs := make([]*downTrack, n)
			for i := range downs {
				d := newDownTrack(f, tr, layerAuto, vp8Codec, "s", m)
				d.w, d.ssrc, d.pt = discardWriter{}, uint32(i), 96
				d.started.Store(true)
				d.listen(tr)
				downs[i] = d
			}
			pkt := testPacket(0, true)
			now := time.Now().UnixNano()
			tr.ingest(1, pkt, now)
			for _, d := range downs {
				d.drain()
			}
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				seq := uint16(i + 1)
				pkt[2], pkt[3] = byte(seq>>8), byte(seq)
				tr.ingest(1, pkt, now)
				for _, d := range downs {
					<-d.wake
					d.drain()
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/viewer")
			for _, d := range downs {
				if d.sentPackets.Load() != uint64(b.N)+1 {
					b.Fatalf("viewer sent %d packets, want %d", d.sentPackets.Load(), b.N+1)
				}
			}
		})
	}
}
