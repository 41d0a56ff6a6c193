package stream

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/auth"
)

// simLayer is one layer a test publisher sends: its rid, the picture size
// its keyframes announce, the tag its payloads end with, and how many
// packets a frame takes.
type simLayer struct {
	rid     string
	w, h    int
	tag     byte
	packets int
}

// The three layers most tests send, offered in an order that is not the
// order of their sizes, so that ranking by size is what is tested.
var threeLayers = []simLayer{
	{rid: "mid", w: 640, h: 360, tag: 'M', packets: 2},
	{rid: "full", w: 1280, h: 720, tag: 'H', packets: 4},
	{rid: "quarter", w: 320, h: 180, tag: 'L', packets: 1},
}

// simPublisher publishes VP8 simulcast and Opus from a pion peer: 30 fps
// per layer, keyframes on start, every keyEvery frames (0: never again)
// and on a PLI for that layer.
type simPublisher struct {
	pc       *webrtc.PeerConnection
	location string
	layers   []simLayer
	keyEvery int
	plis     []atomic.Int64
	wantKey  []atomic.Bool
	paused   []atomic.Bool // layers not sent
	sender   *webrtc.RTPSender
	done     chan struct{}
	readers  sync.WaitGroup // RTCP readers, stopped before the peer closes
	wg       sync.WaitGroup
	once     sync.Once
}

// simulcastPeer returns a pion peer that sends layers of VP8 and Opus,
// with its video sender and tracks (the caller closes the peer).
func simulcastPeer(tb testing.TB, layers []simLayer) (*webrtc.PeerConnection, *webrtc.RTPSender, []*webrtc.TrackLocalStaticRTP, *webrtc.TrackLocalStaticRTP) {
	tb.Helper()
	pc, err := clientAPI(tb, []webrtc.RTPCodecParameters{vp8Codec, opusCodec}, sdp.SDESMidURI, sdp.SDESRTPStreamIDURI).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	var tracks []*webrtc.TrackLocalStaticRTP
	for _, l := range layers {
		tr, err := webrtc.NewTrackLocalStaticRTP(vp8Codec.RTPCodecCapability, "video", "pub", webrtc.WithRTPStreamID(l.rid))
		if err != nil {
			tb.Fatal(err)
		}
		tracks = append(tracks, tr)
	}
	tx, err := pc.AddTransceiverFromTrack(tracks[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		tb.Fatal(err)
	}
	for _, tr := range tracks[1:] {
		if err := tx.Sender().AddEncoding(tr); err != nil {
			tb.Fatal(err)
		}
	}
	audio, _ := webrtc.NewTrackLocalStaticRTP(opusCodec.RTPCodecCapability, "audio", "pub")
	if _, err := pc.AddTransceiverFromTrack(audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		tb.Fatal(err)
	}
	return pc, tx.Sender(), tracks, audio
}

// simulcastOffer returns a pion peer's complete simulcast offer for layers.
func simulcastOffer(tb testing.TB, layers []simLayer) string {
	tb.Helper()
	pc, _, _, _ := simulcastPeer(tb, layers)
	defer pc.Close()
	return completeOffer(tb, pc)
}

func startSimPublisher(tb testing.TB, base, stream, token string, layers []simLayer, keyEvery int) *simPublisher {
	tb.Helper()
	pc, sender, tracks, audio := simulcastPeer(tb, layers)
	p := &simPublisher{pc: pc, layers: layers, keyEvery: keyEvery, done: make(chan struct{}), sender: sender,
		plis: make([]atomic.Int64, len(layers)), wantKey: make([]atomic.Bool, len(layers)), paused: make([]atomic.Bool, len(layers))}
	for i, l := range layers {
		p.readers.Add(1)
		go func() {
			defer p.readers.Done()
			for {
				pkts, _, err := sender.ReadSimulcastRTCP(l.rid)
				if err != nil {
					return
				}
				for _, pk := range pkts {
					if _, ok := pk.(*rtcp.PictureLossIndication); ok {
						p.plis[i].Add(1)
						p.wantKey[i].Store(true)
					}
				}
			}
		}()
	}
	p.location = negotiate(tb, pc, base+"/api/streams/"+stream+"/whip", token)
	var midID, ridID int
	for _, e := range sender.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			midID = e.ID
		case sdp.SDESRTPStreamIDURI:
			ridID = e.ID
		}
	}
	if midID == 0 || ridID == 0 {
		tb.Fatalf("the answer negotiated no mid (%d) or rid (%d) header extension", midID, ridID)
	}
	mid := pc.GetTransceivers()[0].Mid()
	p.wg.Add(1)
	go p.send(tracks, audio, uint8(midID), uint8(ridID), mid)
	tb.Cleanup(p.close)
	return p
}

// close stops the RTCP readers first (by deadline): pion's simulcast
// reads race with its Close.
func (p *simPublisher) close() {
	p.once.Do(func() {
		close(p.done)
		for _, l := range p.layers {
			_ = p.sender.SetReadDeadlineSimulcast(time.Now(), l.rid)
		}
		p.readers.Wait()
		_ = p.pc.Close()
		p.wg.Wait()
	})
}

func (p *simPublisher) send(tracks []*webrtc.TrackLocalStaticRTP, audio *webrtc.TrackLocalStaticRTP, midID, ridID uint8, mid string) {
	defer p.wg.Done()
	seqs := make([]uint16, len(tracks))
	tss := make([]uint32, len(tracks))
	for i := range seqs {
		seqs[i], tss[i] = uint16(rand.Uint32()), rand.Uint32()
	}
	pace(p.done, audio, 'A', func(frame int) {
		for li, l := range p.layers {
			if p.paused[li].Load() {
				continue
			}
			key := frame == 0 || (p.keyEvery > 0 && frame%p.keyEvery == 0) || p.wantKey[li].Swap(false)
			pls := simPayloads(l, key)
			for j, pl := range pls {
				h := rtp.Header{Version: 2, SequenceNumber: seqs[li], Timestamp: tss[li], Marker: j == len(pls)-1}
				_ = h.SetExtension(midID, []byte(mid))
				_ = h.SetExtension(ridID, []byte(l.rid))
				_ = tracks[li].WriteRTP(&rtp.Packet{Header: h, Payload: pl})
				seqs[li]++
			}
			tss[li] += 3000
		}
	})
}

// simPayloads returns the VP8 payloads of one frame of layer l: a keyframe
// announces the layer's size; every payload ends with the layer's tag.
func simPayloads(l simLayer, key bool) [][]byte {
	body := bytes.Repeat([]byte{l.tag}, 500)
	var first []byte
	if key {
		first = []byte{0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, byte(l.w), byte(l.w >> 8), byte(l.h), byte(l.h >> 8)}
	} else {
		first = []byte{0x10, 0x01, 0x00, 0x00}
	}
	out := [][]byte{append(first, body...)}
	for len(out) < l.packets {
		out = append(out, append([]byte{0x00}, body...))
	}
	return out
}

// videoTags returns the tags of the video packets v received, in order.
func videoTags(v *testViewer) []byte {
	video, _ := v.snapshot()
	out := make([]byte, len(video))
	for i, p := range video {
		out[i] = p.tag
	}
	return out
}

// receivesOnly waits until v has had video and the last n packets all
// carry tag.
func receivesOnly(tb testing.TB, v *testViewer, tag byte, what string) {
	tb.Helper()
	eventually(tb, what, func() bool {
		tags := videoTags(v)
		if len(tags) < 30 {
			return false
		}
		return bytes.Count(tags[len(tags)-30:], []byte{tag}) == 30
	})
}

// setLayer asks for a layer on a viewer's WHEP session and returns the
// status and the answer.
func setLayer(tb testing.TB, base, location, layer string) (int, layerState) {
	tb.Helper()
	res := doRequest(tb, "POST", base+location+"/layer", "", `{"layer":"`+layer+`"}`, "Content-Type", "application/json")
	defer res.Body.Close()
	var st layerState
	_ = json.NewDecoder(res.Body).Decode(&st)
	return res.StatusCode, st
}

// TestSimulcastLayers: a publisher sends three rids; viewers asking for
// each layer by ?layer= receive that layer only, chosen by picture size
// whatever the order of the rids; an automatic viewer starts on the lowest
// and, with clean reports, climbs to the top.
func TestSimulcastLayers(t *testing.T) {
	r, _ := simulcastShow(t, 30)
	base := r.srv.URL + "/api/streams/sim/whep"
	for _, c := range []struct {
		layer string
		tag   byte
	}{{"low", 'L'}, {"medium", 'M'}, {"high", 'H'}} {
		v := startViewerAt(t, base+"?layer="+c.layer)
		waitFor(t, v.gotKey, c.layer+" viewer's keyframe")
		receivesOnly(t, v, c.tag, c.layer+" viewer receives its layer")
		if tags := videoTags(v); bytes.IndexFunc(tags, func(r rune) bool { return byte(r) != c.tag }) >= 0 {
			t.Errorf("%s viewer received other layers: %q", c.layer, tags)
		}
	}

	auto := startViewerAt(t, base)
	waitFor(t, auto.gotKey, "automatic viewer's keyframe")
	video, _ := auto.snapshot()
	if video[0].tag != 'L' {
		t.Errorf("automatic viewer started on layer %q, want the lowest (L)", video[0].tag)
	}
	receivesOnly(t, auto, 'H', "the automatic viewer climbs to the top layer on clean reports")
	checkOneTrack(t, auto)

	res := doSDP(t, "POST", base+"?layer=ultra", "", "v=0")
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("?layer=ultra: got %d, want 400", res.StatusCode)
	}
}

// simulcastShow starts a relay whose stream "sim" is published in
// threeLayers, with a keyframe every keyEvery frames (0: only when asked),
// and waits until the relay knows all three layers.
func simulcastShow(t *testing.T, keyEvery int) (*relay, *simPublisher) {
	t.Helper()
	r := mustRelay(t, nil)
	r.stream(t, "sim", "host1")
	pub := startSimPublisher(t, r.srv.URL, "sim", r.token(t, "host1", auth.Host), threeLayers, keyEvery)
	layersKnown(t, r, "sim", 3)
	return r, pub
}

// layersKnown waits until the relay knows the picture size of the n layers
// of stream's video: until then it cannot rank them, and a viewer who
// joins may start on another layer than the one asked for.
func layersKnown(tb testing.TB, r *relay, stream string, n int) {
	tb.Helper()
	eventually(tb, "the layers' sizes are known", func() bool {
		rm := r.svc.room(stream)
		if rm == nil {
			return false
		}
		rm.mu.Lock()
		f := rm.feeds[webrtc.RTPCodecTypeVideo]
		rm.mu.Unlock()
		if f == nil {
			return false
		}
		ls := *f.layers.Load()
		for _, t := range ls {
			if t.pixels.Load() == 0 {
				return false
			}
		}
		return len(ls) == n
	})
}

// checkOneTrack checks that v's video is one continuous track across layer
// switches: one SSRC, every sequence number once and in order, timestamps
// that never go back, and each switch to another layer's packets made at a
// keyframe after a complete frame.
func checkOneTrack(t *testing.T, v *testViewer) {
	t.Helper()
	video, _ := v.snapshot()
	switches := 0
	for i := 1; i < len(video); i++ {
		prev, p := video[i-1], video[i]
		if p.ssrc != video[0].ssrc {
			t.Fatalf("SSRC changed from %d to %d at packet %d", video[0].ssrc, p.ssrc, i)
		}
		if d := p.seq - prev.seq; d != 1 {
			t.Fatalf("sequence number goes from %d to %d at packet %d (layers %q → %q)", prev.seq, p.seq, i, prev.tag, p.tag)
		}
		if int32(p.ts-prev.ts) < 0 {
			t.Fatalf("timestamp goes back from %d to %d at packet %d", prev.ts, p.ts, i)
		}
		if p.tag != prev.tag {
			switches++
			if !p.key {
				t.Errorf("switch %q → %q at packet %d is not at a keyframe", prev.tag, p.tag, i)
			}
			if !prev.marker {
				t.Errorf("switch %q → %q at packet %d cuts a frame of the layer left", prev.tag, p.tag, i)
			}
			if p.ts == prev.ts {
				t.Errorf("switch %q → %q at packet %d keeps the timestamp of the frame before", prev.tag, p.tag, i)
			}
		}
	}
	if switches == 0 {
		t.Errorf("no layer switch seen")
	}
}

// TestSimulcastForcedSwitch: a viewer moved by the layer resource switches
// only at a keyframe of the layer it goes to, which the relay asks that
// layer for (the publisher sends keyframes only when asked), on the same
// track; the layer resource refuses bad requests.
func TestSimulcastForcedSwitch(t *testing.T) {
	r, pub := simulcastShow(t, 0)
	v := startViewerAt(t, r.srv.URL+"/api/streams/sim/whep?layer=low")
	receivesOnly(t, v, 'L', "the viewer plays the low layer")
	plisHigh := pub.plis[1].Load()

	if code, st := setLayer(t, r.srv.URL, v.location, "high"); code != http.StatusOK || st.Layer != "high" || st.Layers != 3 {
		t.Fatalf("layer high: got %d %+v, want 200 high of 3", code, st)
	}
	receivesOnly(t, v, 'H', "the viewer plays the high layer")
	if pub.plis[1].Load() <= plisHigh {
		t.Errorf("the high layer was not asked for a keyframe")
	}
	if code, _ := setLayer(t, r.srv.URL, v.location, "medium"); code != http.StatusOK {
		t.Fatalf("layer medium: got %d", code)
	}
	receivesOnly(t, v, 'M', "the viewer plays the medium layer")
	if code, _ := setLayer(t, r.srv.URL, v.location, "low"); code != http.StatusOK {
		t.Fatalf("layer low: got %d", code)
	}
	receivesOnly(t, v, 'L', "the viewer plays the low layer again")
	checkOneTrack(t, v)
	if v.tracks.Load() != 2 {
		t.Errorf("tracks: got %d, want 2 (no renegotiation)", v.tracks.Load())
	}

	for _, c := range []struct {
		body string
		want int
	}{{`{"layer":"ultra"}`, 400}, {`{"layer":`, 400}, {`[]`, 400}} {
		res := doRequest(t, "POST", r.srv.URL+v.location+"/layer", "", c.body, "Content-Type", "application/json")
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("layer %s: got %d, want %d", c.body, res.StatusCode, c.want)
		}
	}
	res := doRequest(t, "POST", r.srv.URL+"/api/streams/sim/whep/nosuch/layer", "", `{"layer":"low"}`, "Content-Type", "application/json")
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("layer for an unknown session: got %d, want 404", res.StatusCode)
	}
}

// TestSimulcastReconnect: a simulcast publisher that reconnects with one
// layer, then with three again, keeps an automatic viewer on one
// continuous track.
func TestSimulcastReconnect(t *testing.T) {
	r := mustRelay(t, nil)
	r.stream(t, "sim", "host1")
	token := r.token(t, "host1", auth.Host)
	a := startSimPublisher(t, r.srv.URL, "sim", token, threeLayers, 30)
	layersKnown(t, r, "sim", 3)
	v := startViewerAt(t, r.srv.URL+"/api/streams/sim/whep?layer=high")
	receivesOnly(t, v, 'H', "the viewer plays the high layer")
	a.close()

	single := startPublisher(t, r.srv.URL, "sim", token, vp8Codec, 'B', 30)
	receivesOnly(t, v, 'B', "the viewer plays the single-layer publisher")
	single.close()

	startSimPublisher(t, r.srv.URL, "sim", token, threeLayers, 30)
	receivesOnly(t, v, 'H', "the viewer plays the high layer of the new simulcast session")
	checkOneTrack(t, v)
}

// TestSimulcastBadOffers: offers the relay cannot take whole are refused
// with 400 and a detail, and leave nothing behind.
func TestSimulcastBadOffers(t *testing.T) {
	r := mustRelay(t, nil)
	r.stream(t, "sim", "host1")
	token := r.token(t, "host1", auth.Host)
	offer := simulcastOffer(t, threeLayers)
	offer4 := simulcastOffer(t, append(append([]simLayer{}, threeLayers...), simLayer{rid: "tiny", w: 160, h: 90, tag: 'T', packets: 1}))

	rid := func(s string) string { return strings.ReplaceAll(s, "a=rid:quarter send", "a=rid:other send") }
	vp9 := strings.Replace(offer, "m=video 9 UDP/TLS/RTP/SAVPF 96", "m=video 9 UDP/TLS/RTP/SAVPF 96 98", 1)
	vp9 = strings.Replace(vp9, "a=rtpmap:96 VP8/90000", "a=rtpmap:96 VP8/90000\r\na=rtpmap:98 VP9/90000", 1)
	vp9 = strings.Replace(vp9, "a=rid:mid send", "a=rid:mid send pt=98", 1)
	vp9 = strings.Replace(vp9, "a=rid:full send", "a=rid:full send pt=96", 1)
	cases := []struct{ name, offer, detail string }{
		{"four layers", offer4, "at most 3"},
		{"a rid a=simulcast names and no a=rid declares", rid(offer), "no a=rid line declares"},
		{"layers in different codecs", vp9, "same codec"},
		{"a payload type the section lacks", strings.Replace(offer, "a=rid:mid send", "a=rid:mid send pt=120", 1), "does not offer"},
		{"alternatives", strings.Replace(offer, "a=simulcast:send mid;full;quarter", "a=simulcast:send mid,full;quarter", 1), "alternatives"},
		{"recv", strings.Replace(offer, "a=simulcast:send mid;full;quarter", "a=simulcast:recv mid;full;quarter", 1), "send"},
		{"rid without simulcast", strings.Replace(offer, "a=simulcast:send mid;full;quarter\r\n", "", 1), "without a=simulcast"},
		{"an invalid rid", strings.ReplaceAll(offer, "quarter", "qu@rter"), "rid"},
	}
	if !strings.Contains(offer, "a=simulcast:send mid;full;quarter") {
		t.Fatalf("pion's offer changed form:\n%s", offer)
	}
	for _, c := range cases {
		res := doSDP(t, "POST", r.srv.URL+"/api/streams/sim/whip", token, c.offer)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), c.detail) {
			t.Errorf("%s: got %d %s, want 400 naming %q", c.name, res.StatusCode, body, c.detail)
		}
	}
	if rm := r.svc.room("sim"); rm != nil {
		t.Errorf("a refused offer left a room behind")
	}
	for _, g := range []string{"livecart_stream_pending_sessions", "livecart_stream_publishers"} {
		if n := counterValue(t, r.reg, g); n != 0 {
			t.Errorf("after refused offers %s = %v, want 0", g, n)
		}
	}
}

// TestSimulcastEstimate: an automatic viewer whose bandwidth estimate
// (REMB) falls under half the rate of the layer it plays leaves it at once
// for the layer the estimate allows; while the estimate stays low, the
// climbs that clean reports allow are undone and spaced apart. (Climbing
// back after it, hold by hold, is TestControlDownFastUpSlowly's.)
func TestSimulcastEstimate(t *testing.T) {
	r, _ := simulcastShow(t, 30)
	v := startViewerAt(t, r.srv.URL+"/api/streams/sim/whep")
	receivesOnly(t, v, 'H', "the automatic viewer climbs to the top layer")
	video, _ := v.snapshot()
	ssrc := video[0].ssrc

	// The low layer is about 130 kbit/s, the medium one 260 and the high
	// one 520: an estimate of 100 kbit/s is under half the rate of the
	// medium and high ones, not of the low one.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			_ = v.pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 100_000, SSRCs: []uint32{ssrc}}})
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	receivesOnly(t, v, 'L', "the viewer goes down to the layer its estimate carries")
	before := len(videoTags(v))
	time.Sleep(holdLoss + 2*holdMin) // long enough for a climb or two without the estimate
	tags := videoTags(v)[before:]
	if n := len(tags) - bytes.Count(tags, []byte{'L'}); n*4 > len(tags) {
		t.Errorf("under a low estimate %d of %d packets were of higher layers: %q", n, len(tags), tags)
	}
	close(stop)
	wg.Wait()
	checkOneTrack(t, v)
}

// TestSimulcastPausedLayer: when the publisher stops sending its top layer
// (as a browser short of bandwidth does), its viewers move to the highest
// layer still sent, and back when it resumes.
func TestSimulcastPausedLayer(t *testing.T) {
	r, pub := simulcastShow(t, 30)
	v := startViewerAt(t, r.srv.URL+"/api/streams/sim/whep?layer=high")
	receivesOnly(t, v, 'H', "the viewer plays the high layer")
	pub.paused[1].Store(true) // "full", the top one
	receivesOnly(t, v, 'M', "the viewer moves to the highest layer still sent")
	pub.paused[1].Store(false)
	receivesOnly(t, v, 'H', "the viewer returns to the top layer once it is sent again")
	checkOneTrack(t, v)
}
