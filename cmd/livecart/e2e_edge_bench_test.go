package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/redistest"
)

// BenchmarkE2EEdgeHop measures what an edge costs, through the real
// binary: the delay one edge hop adds (a viewer on the origin and one on
// an edge, each timing every video packet from the publisher's send), and
// the origin's CPU for one edge upstream against one viewer. Run it alone:
//
//	go test ./cmd/livecart/ -run '^$' -bench E2EEdgeHop -benchtime 1x
//
// It reports figures and never fails on them.
func BenchmarkE2EEdgeHop(b *testing.B) {
	const (
		window  = 15 * time.Second // each measurement
		direct  = 8                // viewers on the origin in the CPU phase
		edgeNum = 4                // edge nodes in the CPU phase
	)
	rs := redistest.Start(b)
	a := startNode(b, rs.URL(), edgeNodeArgs...)
	edges := make([]*nodeProc, edgeNum)
	for i := range edges {
		edges[i] = startNode(b, rs.URL(), edgeNodeArgs...)
	}
	signer, _ := auth.NewSigner([]byte(testSecret), nil)
	host, _ := signer.Issue(auth.Principal{Sub: "host-b", Role: auth.Host}, time.Hour)
	const id = "hop"
	e2eMust(b, 201, "POST", a.URL+"/api/streams", host, map[string]any{"id": id, "title": "Hop"}, nil)
	pub := hopPublish(b, a.URL, id, host)
	defer pub.close()

	// Delay: one viewer on the origin, one on an edge, at the same time.
	origin, edge := hopWatch(b, a.URL, id), hopWatch(b, edges[0].URL, id)
	time.Sleep(2 * time.Second) // past the join
	origin.reset()
	edge.reset()
	time.Sleep(window)
	o50, o99, olost := origin.stats()
	e50, e99, elost := edge.stats()
	b.ReportMetric(float64(o50.Microseconds())/1000, "origin-p50-ms")
	b.ReportMetric(float64(o99.Microseconds())/1000, "origin-p99-ms")
	b.ReportMetric(float64(e50.Microseconds())/1000, "edge-p50-ms")
	b.ReportMetric(float64(e99.Microseconds())/1000, "edge-p99-ms")
	b.Logf("delay from the publisher's send: origin viewer p50 %v p99 %v (loss %.3f %%), edge viewer p50 %v p99 %v (loss %.3f %%)",
		o50, o99, olost, e50, e99, elost)
	origin.close()
	edge.close()

	// The origin's CPU: the publisher alone, then direct viewers, then
	// edges (each with one viewer of its own).
	e2eUntil(b, "the edge lets go of its upstream", func() bool {
		return hopMetric(b, a, "livecart_stream_edge_sessions") == "0" && hopMetric(b, a, "livecart_stream_viewers") == "0"
	})
	base := hopCPU(b, a, window)
	var vs []*hopViewer
	for range direct {
		vs = append(vs, hopWatch(b, a.URL, id))
	}
	time.Sleep(2 * time.Second)
	withViewers := hopCPU(b, a, window)
	for _, v := range vs {
		v.close()
	}
	vs = nil
	for _, e := range edges {
		vs = append(vs, hopWatch(b, e.URL, id))
	}
	e2eUntil(b, "every edge relays", func() bool { return hopMetric(b, a, "livecart_stream_edge_sessions") == fmt.Sprint(edgeNum) })
	time.Sleep(2 * time.Second)
	withEdges := hopCPU(b, a, window)
	for _, v := range vs {
		v.close()
	}
	perViewer := (withViewers - base) / direct
	perEdge := (withEdges - base) / edgeNum
	b.ReportMetric(base*100, "origin-base-%core")
	b.ReportMetric(perViewer*100, "origin-per-viewer-%core")
	b.ReportMetric(perEdge*100, "origin-per-edge-%core")
	b.Logf("origin CPU: publisher alone %.2f %% of a core; +%.2f %% per direct viewer (%d viewers: %.2f %%); +%.2f %% per edge upstream (%d edges: %.2f %%)",
		base*100, perViewer*100, direct, withViewers*100, perEdge*100, edgeNum, withEdges*100)
}

// hopPublisher publishes about 2.5 Mbit/s of synthetic VP8 (30 fps, ten
// 1,050-byte packets a frame, a keyframe every second and on request)
// and Opus, each video packet ending with its send time.
type hopPublisher struct {
	pc   *webrtc.PeerConnection
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func hopPublish(tb testing.TB, base, stream, token string) *hopPublisher {
	tb.Helper()
	pc, err := e2ePeerAPI(tb, e2eVP8, e2eOpus).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	p := &hopPublisher{pc: pc, done: make(chan struct{})}
	video, _ := webrtc.NewTrackLocalStaticRTP(e2eVP8.RTPCodecCapability, "video", "hop")
	audio, _ := webrtc.NewTrackLocalStaticRTP(e2eOpus.RTPCodecCapability, "audio", "hop")
	var wantKey atomic.Bool
	for _, tr := range []*webrtc.TrackLocalStaticRTP{video, audio} {
		tx, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			tb.Fatal(err)
		}
		p.wg.Go(func() {
			for {
				pkts, _, err := tx.Sender().ReadRTCP()
				if err != nil {
					return
				}
				for _, pk := range pkts {
					if _, ok := pk.(*rtcp.PictureLossIndication); ok {
						wantKey.Store(true)
					}
				}
			}
		})
	}
	tb.Cleanup(p.close)
	e2eNegotiate(tb, pc, base, base+"/api/streams/"+stream+"/whip", token)
	p.wg.Go(func() {
		var vseq, aseq uint16
		var vts, ats uint32
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		body := bytes.Repeat([]byte{0xab}, 1050)
		for i := 0; ; i++ {
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
			if i%2 == 0 {
				_ = audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: aseq, Timestamp: ats, Marker: true},
					Payload: bytes.Repeat([]byte{0xfc}, 80)})
				aseq, ats = aseq+1, ats+960
			}
			if i%3 != 0 {
				continue
			}
			key := (i/3)%30 == 0 || wantKey.Swap(false)
			for j := range 10 {
				pl := make([]byte, 0, 2+len(body)+8)
				switch {
				case j == 0 && key:
					pl = append(pl, 0x10, 0x00) // S=1 PID=0, keyframe
				case j == 0:
					pl = append(pl, 0x10, 0x01)
				default:
					pl = append(pl, 0x00, 0x00)
				}
				pl = append(pl, body...)
				pl = binary.BigEndian.AppendUint64(pl, uint64(time.Now().UnixNano()))
				_ = video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: vseq, Timestamp: vts, Marker: j == 9}, Payload: pl})
				vseq++
			}
			vts += 3000
		}
	})
	return p
}

func (p *hopPublisher) close() {
	p.once.Do(func() {
		close(p.done)
		_ = p.pc.Close()
		p.wg.Wait()
	})
}

// hopViewer times every video packet from its send to its arrival.
type hopViewer struct {
	pc       *webrtc.PeerConnection
	location string
	wg       sync.WaitGroup
	once     sync.Once

	mu      sync.Mutex
	delays  []time.Duration
	first   uint16 // sequence numbers since the last reset
	last    uint16
	got     int
	started bool
}

func hopWatch(tb testing.TB, base, stream string) *hopViewer {
	tb.Helper()
	pc, err := e2ePeerAPI(tb).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	v := &hopViewer{pc: pc}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			tb.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.wg.Add(1)
		defer v.wg.Done()
		for {
			pk, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if tr.Kind() != webrtc.RTPCodecTypeVideo || len(pk.Payload) < 8 {
				continue
			}
			sent := int64(binary.BigEndian.Uint64(pk.Payload[len(pk.Payload)-8:]))
			d := time.Duration(time.Now().UnixNano() - sent)
			v.mu.Lock()
			if !v.started {
				v.started, v.first = true, pk.SequenceNumber
			}
			if int16(pk.SequenceNumber-v.last) > 0 || v.got == 0 {
				v.last = pk.SequenceNumber
			}
			v.got++
			v.delays = append(v.delays, d)
			v.mu.Unlock()
		}
	})
	tb.Cleanup(v.close)
	v.location, _ = e2eNegotiate(tb, pc, base, base+"/api/streams/"+stream+"/whep", "")
	return v
}

func (v *hopViewer) reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.delays, v.started, v.got = nil, false, 0
}

// stats are the delay's median and 99th percentile since the last reset,
// and the share of video packets that did not arrive.
func (v *hopViewer) stats() (p50, p99 time.Duration, lossPct float64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ds := slices.Clone(v.delays)
	slices.Sort(ds)
	if len(ds) == 0 {
		return 0, 0, 100
	}
	span := int(uint16(v.last-v.first)) + 1
	return ds[len(ds)/2], ds[len(ds)*99/100], 100 * float64(max(span-v.got, 0)) / float64(span)
}

// close leaves as a player does: DELETE, then the connection closes.
func (v *hopViewer) close() {
	v.once.Do(func() {
		req, err := http.NewRequest(http.MethodDelete, v.location, nil)
		if err == nil {
			if res, err := e2eHTTP.Do(req); err == nil {
				res.Body.Close()
			}
		}
		_ = v.pc.Close()
		v.wg.Wait()
	})
}

// hopMetric is the value of an unlabelled metric of n.
func hopMetric(tb testing.TB, n *nodeProc, name string) string {
	tb.Helper()
	r := e2eCall(tb, "GET", n.URL+"/metrics", "", nil)
	for _, line := range strings.Split(string(r.Body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// hopCPU is the share of one core n's process uses over window.
func hopCPU(tb testing.TB, n *nodeProc, window time.Duration) float64 {
	tb.Helper()
	ticks := func() float64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.cmd.Process.Pid))
		if err != nil {
			tb.Fatal(err)
		}
		_, rest, _ := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		// utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
		u, _ := strconv.ParseFloat(f[11], 64)
		s, _ := strconv.ParseFloat(f[12], 64)
		return u + s
	}
	t0, start := ticks(), time.Now()
	time.Sleep(window)
	return (ticks() - t0) / 100 / time.Since(start).Seconds() // USER_HZ is 100 on Linux
}
