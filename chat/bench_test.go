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

// BenchmarkFanout measures a hub's tick without the network: a line of
// the host arrives and the tick gives it to N connections that are up to
// date (the frame is encoded once and shared; each connection queues a
// reference to it).
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run("viewers="+strconv.Itoa(n), func(b *testing.B) {
			r := &Rooms{cfg: Config{SendQueue: 256, Tick: time.Hour}, metrics: mustMetrics(b)}
			h := newHub(r, "s")
			h.halted = true // ticks are run by hand
			for range n {
				c := newClient(r, h, nil, nil, auth.RankViewer, false)
				c.ready = true
				h.clients[c] = struct{}{}
			}
			data := encode(line{Type: typeChat, ID: "x", Text: "hello", TS: timestamp(time.Now())})
			p := Publication{Kind: KindEvent, Key: lineKey(typeChat, "x", auth.RankHost), Data: data}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				h.deliver(p)
				h.tick()
				for c := range h.clients { // drain as writers would
					c.queue, c.queued = c.queue[:0], 0
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

// BenchmarkBusyTick measures a busy room's tick: 10 viewers' lines arrive
// for N connections and the line budget picks what goes out.
func BenchmarkBusyTick(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run("viewers="+strconv.Itoa(n), func(b *testing.B) {
			r := &Rooms{cfg: Config{SendQueue: 256, Tick: time.Hour, LineBudget: 8}, metrics: mustMetrics(b)}
			h := newHub(r, "s")
			h.halted = true
			for range n {
				c := newClient(r, h, nil, nil, auth.RankViewer, false)
				c.ready = true
				h.clients[c] = struct{}{}
			}
			var pubs []Publication
			for i := range 200 {
				l := line{Type: typeChat, ID: strconv.Itoa(i), User: User{Sub: "s" + strconv.Itoa(i), Role: auth.Viewer}, Text: "hello", TS: timestamp(time.Now())}
				pubs = append(pubs, Publication{Kind: KindEvent, Key: lineKey(typeChat, l.ID, auth.RankViewer), Data: encode(l)})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				for k := range 10 {
					h.deliver(pubs[(i*10+k)%len(pubs)])
				}
				h.tick()
				for c := range h.clients {
					c.queue, c.queued = c.queue[:0], 0
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/viewer")
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

// BenchmarkRoomBroadcast measures end to end on loopback: one chat line of
// the host published through the memory broker reaches every one of N real
// websocket viewers (each op waits until all have it).
func BenchmarkRoomBroadcast(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run("viewers="+strconv.Itoa(n), func(b *testing.B) {
			rm := mustRoom(b, nil, Config{SendQueue: 4096, MaxConnsPerClient: 2 * n, Tick: time.Microsecond})
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
				if _, err := rm.cfg.Broker.Publish(b.Context(), "s1", Publication{Kind: KindEvent, Key: lineKey(typeChat, "x", auth.RankHost), Data: data}, true, 200); err != nil {
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
