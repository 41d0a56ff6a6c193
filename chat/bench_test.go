package chat

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
)

// BenchmarkFanout measures the hub's broadcast path without the network:
// one publication queued for N connections (encoded once, shared).
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run("viewers="+strconv.Itoa(n), func(b *testing.B) {
			r := &Rooms{cfg: Config{SendQueue: 1 << 30}, metrics: mustMetrics(b)}
			h := newHub(r, "s")
			for range n {
				c := newClient(r, h, nil, nil, auth.RankViewer, false)
				c.ready = true
				h.clients[c] = struct{}{}
			}
			data := encode(line{Type: typeChat, ID: "x", Text: "hello", TS: timestamp(time.Now())})
			p := Publication{Kind: KindEvent, Data: data}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				h.deliver(p)
				if i%64 == 63 { // drain as writers would
					for c := range h.clients {
						c.queue = c.queue[:0]
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

func mustMetrics(b *testing.B) *metrics {
	m, err := newMetrics(nil)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkRoomBroadcast measures end to end on loopback: one chat line
// published through the memory broker reaches every one of N real
// websocket viewers (each op waits until all have it).
func BenchmarkRoomBroadcast(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run("viewers="+strconv.Itoa(n), func(b *testing.B) {
			rm := mustRoom(b, nil, Config{SendQueue: 4096, MaxConnsPerClient: 2 * n})
			var got atomic.Int64
			var wg sync.WaitGroup
			for range n {
				c := rm.dialNoRead(b, "s1", "", nil, 0)
				wg.Go(func() {
					for {
						_, data, err := c.conn.ReadMessage()
						if err != nil {
							return
						}
						got.Add(int64(bytes.Count(data, []byte(`"type":"chat"`))))
					}
				})
			}
			eventually(b, "all connected", func() bool { return rm.Viewers(b.Context(), "s1") == n })
			data := encode(line{Type: typeChat, ID: "x", Text: "hello everyone", TS: timestamp(time.Now())})
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := rm.cfg.Broker.Publish(b.Context(), "s1", Publication{Kind: KindEvent, Key: "chat x", Data: data}, true, 200); err != nil {
					b.Fatal(err)
				}
				want := int64(i+1) * int64(n)
				for got.Load() < want {
					time.Sleep(20 * time.Microsecond)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
			rm.Shutdown(b.Context())
			wg.Wait()
		})
	}
}
