package stream

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// clientAPI builds a pion API for test peers on loopback, with the video
// header extensions named. codecs nil registers pion's defaults (a
// browser-like viewer).
func clientAPI(tb testing.TB, codecs []webrtc.RTPCodecParameters, videoExtensions ...string) *webrtc.API {
	tb.Helper()
	m := &webrtc.MediaEngine{}
	if codecs == nil {
		if err := m.RegisterDefaultCodecs(); err != nil {
			tb.Fatal(err)
		}
	}
	for _, c := range codecs {
		if err := m.RegisterCodec(c, kindOf(c.MimeType)); err != nil {
			tb.Fatal(err)
		}
	}
	for _, uri := range videoExtensions {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo); err != nil {
			tb.Fatal(err)
		}
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		tb.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(0)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
}

var (
	opusCodec = webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}}
	vp8Codec = webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback}}
	// What OBS offers.
	h264Codec = webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: videoFeedback,
		SDPFmtpLine: "profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1"}}
)

// completeOffer sets pc's offer and returns it with every candidate.
func completeOffer(tb testing.TB, pc *webrtc.PeerConnection) string {
	tb.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		tb.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// negotiate completes pc's offer, POSTs it and applies the answer.
func negotiate(tb testing.TB, pc *webrtc.PeerConnection, url, token string) (location string) {
	tb.Helper()
	res := doSDP(tb, "POST", url, token, completeOffer(tb, pc))
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		tb.Fatalf("POST %s: got %d %s, want 201", url, res.StatusCode, body)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		tb.Fatal(err)
	}
	return res.Header.Get("Location")
}

var testHTTP = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

func doSDP(tb testing.TB, method, url, token, body string) *http.Response {
	tb.Helper()
	ctype := ""
	if body != "" {
		ctype = "application/sdp"
	}
	return doRequest(tb, method, url, token, body, "Content-Type", ctype)
}

// doRequest sends a request with body and the bearer token (none when
// empty) and the header pairs given (name, value; empty values are left
// out).
func doRequest(tb testing.TB, method, url, token, body string, header ...string) *http.Response {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := testHTTP.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// testPublisher sends synthetic media: 30 fps video (a keyframe on start,
// every keyEvery frames and on PLI) and 50 packets/s of Opus. Every
// payload carries tag, so viewers can tell publishers apart.
type testPublisher struct {
	pc       *webrtc.PeerConnection
	location string
	codec    webrtc.RTPCodecParameters
	tag      byte
	keyEvery int
	plis     atomic.Int64
	wantKey  atomic.Bool
	done     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
}

func startPublisher(tb testing.TB, base, stream, token string, codec webrtc.RTPCodecParameters, tag byte, keyEvery int) *testPublisher {
	tb.Helper()
	api := clientAPI(tb, []webrtc.RTPCodecParameters{codec, opusCodec})
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	video, _ := webrtc.NewTrackLocalStaticRTP(codec.RTPCodecCapability, "video", "pub")
	audio, _ := webrtc.NewTrackLocalStaticRTP(opusCodec.RTPCodecCapability, "audio", "pub")
	p := &testPublisher{pc: pc, codec: codec, tag: tag, keyEvery: keyEvery, done: make(chan struct{})}
	for _, tr := range []*webrtc.TrackLocalStaticRTP{video, audio} {
		sender, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			tb.Fatal(err)
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				pkts, _, err := sender.Sender().ReadRTCP()
				if err != nil {
					return
				}
				for _, pk := range pkts {
					if _, ok := pk.(*rtcp.PictureLossIndication); ok {
						p.plis.Add(1)
						p.wantKey.Store(true)
					}
				}
			}
		}()
	}
	p.location = negotiate(tb, pc, base+"/api/streams/"+stream+"/whip", token)
	p.wg.Add(1)
	go p.send(video, audio)
	tb.Cleanup(p.close)
	return p
}

func (p *testPublisher) close() {
	p.once.Do(func() {
		close(p.done)
		_ = p.pc.Close()
		p.wg.Wait()
	})
}

func (p *testPublisher) send(video, audio *webrtc.TrackLocalStaticRTP) {
	defer p.wg.Done()
	vseq, vts := uint16(rand.Uint32()), rand.Uint32()
	pace(p.done, audio, p.tag, func(frame int) {
		key := frame == 0 || (p.keyEvery > 0 && frame%p.keyEvery == 0) || p.wantKey.Swap(false)
		pls := framePayloads(p.codec.MimeType, key, p.tag)
		for j, pl := range pls {
			_ = video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: vseq, Timestamp: vts,
				Marker: j == len(pls)-1}, Payload: pl})
			vseq++
		}
		vts += 3000
	})
}

// pace is a test publisher's clock, until done: 50 Opus packets a second
// tagged tag, and frame(n) for the n-th video frame, 30 a second.
func pace(done <-chan struct{}, audio *webrtc.TrackLocalStaticRTP, tag byte, frame func(n int)) {
	aseq, ats := uint16(rand.Uint32()), rand.Uint32()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		if i%2 == 0 {
			_ = audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: aseq, Timestamp: ats, Marker: true},
				Payload: bytes.Repeat([]byte{tag}, 80)})
			aseq++
			ats += 960
		}
		if i%3 == 0 {
			frame(i / 3)
		}
	}
}

// framePayloads returns the RTP payloads of one synthetic frame.
func framePayloads(mime string, key bool, tag byte) [][]byte {
	body := bytes.Repeat([]byte{tag}, 600)
	if strings.EqualFold(mime, webrtc.MimeTypeH264) {
		if !key {
			return [][]byte{append([]byte{0x41, tag}, body...)} // non-IDR slice
		}
		stap := []byte{0x78, 0, 4, 0x67, 0x42, 0xe0, 0x1f, 0, 3, 0x68, 0xce, 0x3c} // STAP-A: SPS, PPS
		return [][]byte{
			stap,
			append([]byte{0x7c, 0x85, tag}, body...), // FU-A start, IDR
			append([]byte{0x7c, 0x05, tag}, body...),
			append([]byte{0x7c, 0x45, tag}, body...), // FU-A end
		}
	}
	// VP8: descriptor S=1 PID=0, then the frame tag whose bit 0 is P.
	first := byte(0x01)
	if key {
		first = 0x00
	}
	out := [][]byte{append([]byte{0x10, first, tag}, body...)}
	if key {
		out = append(out, append([]byte{0x00, tag}, body...), append([]byte{0x00, tag}, body...))
	}
	return out
}

// rxPacket is what a viewer saw of one packet.
type rxPacket struct {
	ssrc   uint32
	seq    uint16
	ts     uint32
	key    bool
	marker bool
	tag    byte
}

// testViewer plays a stream over WHEP and records what arrives.
type testViewer struct {
	pc       *webrtc.PeerConnection
	location string
	joined   time.Time
	gotKey   chan struct{}
	gotAudio chan struct{}
	tracks   atomic.Int32

	mu    sync.Mutex
	video []rxPacket
	audio []rxPacket
	wg    sync.WaitGroup
	once  sync.Once
}

// recvOnlyPeer is a PeerConnection of api that receives video and audio.
func recvOnlyPeer(tb testing.TB, api *webrtc.API) *webrtc.PeerConnection {
	tb.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			tb.Fatal(err)
		}
	}
	return pc
}

func startViewer(tb testing.TB, base, stream string) *testViewer {
	tb.Helper()
	return startViewerAt(tb, base+"/api/streams/"+stream+"/whep")
}

// startViewerAt plays the WHEP endpoint url (a query may ask for a layer).
func startViewerAt(tb testing.TB, url string) *testViewer {
	tb.Helper()
	pc := recvOnlyPeer(tb, clientAPI(tb, nil))
	v := &testViewer{pc: pc, gotKey: make(chan struct{}), gotAudio: make(chan struct{})}
	var keyOnce, audioOnce sync.Once
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.tracks.Add(1)
		v.wg.Add(1)
		defer v.wg.Done()
		ck := codecKindOf(tr.Codec().MimeType)
		for {
			pk, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			rx := rxPacket{ssrc: pk.SSRC, seq: pk.SequenceNumber, ts: pk.Timestamp, marker: pk.Marker}
			if len(pk.Payload) > 0 {
				rx.tag = pk.Payload[len(pk.Payload)-1]
			}
			v.mu.Lock()
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				rx.key = isKeyframe(ck, pk.Payload)
				v.video = append(v.video, rx)
				if rx.key {
					keyOnce.Do(func() { close(v.gotKey) })
				}
			} else {
				v.audio = append(v.audio, rx)
				audioOnce.Do(func() { close(v.gotAudio) })
			}
			v.mu.Unlock()
		}
	})
	v.joined = time.Now()
	v.location = negotiate(tb, pc, url, "")
	tb.Cleanup(v.close)
	return v
}

func (v *testViewer) close() {
	v.once.Do(func() {
		_ = v.pc.Close()
		v.wg.Wait()
	})
}

// eachHasVideo waits until every viewer has received n video packets.
func eachHasVideo(tb testing.TB, viewers []*testViewer, n int) {
	tb.Helper()
	eventually(tb, fmt.Sprintf("every viewer has %d video packets", n), func() bool {
		for _, tv := range viewers {
			if video, _ := tv.snapshot(); len(video) < n {
				return false
			}
		}
		return true
	})
}

func (v *testViewer) snapshot() (video, audio []rxPacket) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]rxPacket(nil), v.video...), append([]rxPacket(nil), v.audio...)
}

// waitFor waits for ch with a generous timeout.
func waitFor(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		tb.Fatalf("timed out waiting for %s", what)
	}
}

// eventually polls cond until it holds or a generous timeout passes.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var _ = fmt.Sprintf
var _ = context.Background
