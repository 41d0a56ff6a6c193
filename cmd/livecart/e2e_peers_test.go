package main

// WebRTC peers for the end-to-end tests: a WHIP publisher sending synthetic
// media and WHEP viewers counting what they receive, built with pion as an
// outside client (OBS, a player) would be.

import (
	"bytes"
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

var (
	e2eOpus = webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}}
	e2eFeedback = []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	e2eVP8      = webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: e2eFeedback}}
	e2eH264 = webrtc.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: e2eFeedback,
		SDPFmtpLine: "profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1"}}
)

// e2ePeerAPI builds a pion API for a client on loopback. codecs nil
// registers pion's defaults, as a browser offers them.
func e2ePeerAPI(tb testing.TB, codecs ...webrtc.RTPCodecParameters) *webrtc.API {
	tb.Helper()
	m := &webrtc.MediaEngine{}
	if len(codecs) == 0 {
		if err := m.RegisterDefaultCodecs(); err != nil {
			tb.Fatal(err)
		}
	}
	for _, c := range codecs {
		kind := webrtc.RTPCodecTypeVideo
		if strings.HasPrefix(c.MimeType, "audio/") {
			kind = webrtc.RTPCodecTypeAudio
		}
		if err := m.RegisterCodec(c, kind); err != nil {
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
	// A server that goes away is noticed within seconds.
	se.SetICETimeouts(4*time.Second, 10*time.Second, time.Second)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
}

// e2eSDP sends an SDP offer (or a bodiless request) and reads the answer.
func e2eSDP(tb testing.TB, method, url, token, sdp string) e2eResp {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), method, url, strings.NewReader(sdp))
	if err != nil {
		tb.Fatal(err)
	}
	if sdp != "" {
		req.Header.Set("Content-Type", "application/sdp")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e2eHTTP.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return e2eResp{Status: res.StatusCode, Header: res.Header, Body: b}
}

// e2eOffer completes pc's offer with all its candidates.
func e2eOffer(tb testing.TB, pc *webrtc.PeerConnection) string {
	tb.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-gathered:
	case <-time.After(e2eWait):
		tb.Fatal("ICE gathering did not complete")
	}
	return pc.LocalDescription().SDP
}

// e2eNegotiate POSTs pc's offer to url, applies the 201 answer and returns
// the Location, resolved against base, and the answer's headers.
func e2eNegotiate(tb testing.TB, pc *webrtc.PeerConnection, base, url, token string) (string, http.Header) {
	tb.Helper()
	r := e2eSDP(tb, "POST", url, token, e2eOffer(tb, pc))
	if r.Status != http.StatusCreated {
		tb.Fatalf("POST %s = %s, want 201", url, r)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/sdp") {
		tb.Errorf("POST %s: Content-Type %q, want application/sdp", url, ct)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(r.Body)}); err != nil {
		tb.Fatal(err)
	}
	loc := r.Header.Get("Location")
	if loc == "" {
		tb.Fatalf("POST %s: no Location", url)
	}
	if strings.HasPrefix(loc, "/") {
		loc = base + loc
	}
	return loc, r.Header
}

// e2ePublisher publishes synthetic media over WHIP: 30 fps video with a
// keyframe every second and on PLI, and 50 packets/s of Opus.
type e2ePublisher struct {
	pc       *webrtc.PeerConnection
	location string
	codec    webrtc.RTPCodecParameters
	wantKey  atomic.Bool
	done     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
	state    e2eStates
}

func e2ePublish(tb testing.TB, base, stream, token string, codec webrtc.RTPCodecParameters) *e2ePublisher {
	tb.Helper()
	pc, err := e2ePeerAPI(tb, codec, e2eOpus).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	p := &e2ePublisher{pc: pc, codec: codec, done: make(chan struct{})}
	p.state.watch(pc)
	video, err := webrtc.NewTrackLocalStaticRTP(codec.RTPCodecCapability, "video", "e2e")
	if err != nil {
		tb.Fatal(err)
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(e2eOpus.RTPCodecCapability, "audio", "e2e")
	if err != nil {
		tb.Fatal(err)
	}
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
					switch pk.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						p.wantKey.Store(true)
					}
				}
			}
		})
	}
	tb.Cleanup(p.close)
	p.location, _ = e2eNegotiate(tb, pc, base, base+"/api/streams/"+stream+"/whip", token)
	p.wg.Go(func() { p.send(video, audio) })
	return p
}

func (p *e2ePublisher) close() {
	p.once.Do(func() {
		close(p.done)
		_ = p.pc.Close()
		p.wg.Wait()
	})
}

func (p *e2ePublisher) send(video, audio *webrtc.TrackLocalStaticRTP) {
	vseq, aseq := uint16(rand.Uint32()), uint16(rand.Uint32())
	vts, ats := rand.Uint32(), rand.Uint32()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
		if i%2 == 0 {
			_ = audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: aseq, Timestamp: ats, Marker: true},
				Payload: bytes.Repeat([]byte{0xfc}, 80)})
			aseq++
			ats += 960
		}
		if i%3 == 0 {
			frame := i / 3
			key := frame%30 == 0 || p.wantKey.Swap(false)
			payloads := e2eFrame(p.codec.MimeType, key)
			for j, pl := range payloads {
				_ = video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: vseq, Timestamp: vts,
					Marker: j == len(payloads)-1}, Payload: pl})
				vseq++
			}
			vts += 3000
		}
	}
}

// e2eFrame returns the RTP payloads of one synthetic frame.
func e2eFrame(mime string, key bool) [][]byte {
	body := bytes.Repeat([]byte{0xab}, 600)
	if strings.EqualFold(mime, webrtc.MimeTypeH264) {
		if !key {
			return [][]byte{append([]byte{0x41}, body...)} // non-IDR slice
		}
		stap := []byte{0x78, 0, 4, 0x67, 0x42, 0xe0, 0x1f, 0, 3, 0x68, 0xce, 0x3c} // STAP-A: SPS, PPS
		return [][]byte{
			stap,
			append([]byte{0x7c, 0x85}, body...), // FU-A start, IDR
			append([]byte{0x7c, 0x05}, body...),
			append([]byte{0x7c, 0x45}, body...), // FU-A end
		}
	}
	// VP8: payload descriptor S=1 PID=0, then the frame tag whose bit 0 is P.
	first := byte(0x01)
	if key {
		first = 0x00
	}
	out := [][]byte{append([]byte{0x10, first}, body...)}
	if key {
		out = append(out, append([]byte{0x00}, body...), append([]byte{0x00}, body...))
	}
	return out
}

// e2eStates records the connection states a peer went through.
type e2eStates struct {
	mu  sync.Mutex
	got []webrtc.PeerConnectionState
}

func (s *e2eStates) watch(pc *webrtc.PeerConnection) {
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.mu.Lock()
		s.got = append(s.got, st)
		s.mu.Unlock()
	})
}

// any reports whether the peer went through one of states.
func (s *e2eStates) any(states ...webrtc.PeerConnectionState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.got {
		for _, w := range states {
			if st == w {
				return true
			}
		}
	}
	return false
}

func (s *e2eStates) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for i, st := range s.got {
		if i > 0 {
			b.WriteString(" → ")
		}
		b.WriteString(st.String())
	}
	return b.String()
}

// e2eViewer plays a stream over WHEP and counts the packets it receives.
type e2eViewer struct {
	pc       *webrtc.PeerConnection
	location string
	header   http.Header // of the WHEP answer
	video    atomic.Int64
	audio    atomic.Int64
	tracks   atomic.Int64 // tracks the viewer was given

	mu        sync.Mutex
	videoSSRC map[uint32]bool
	lastSeq   uint16
	seqJumps  int // video sequence numbers far from following the previous one
	state     e2eStates
	wg        sync.WaitGroup
	once      sync.Once
}

// e2eWatch starts a WHEP viewer; it receives pion's default codecs, as a
// browser does.
func e2eWatch(tb testing.TB, base, stream string) *e2eViewer {
	tb.Helper()
	pc, err := e2ePeerAPI(tb).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	v := &e2eViewer{pc: pc, videoSSRC: map[uint32]bool{}}
	v.state.watch(pc)
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			tb.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.wg.Add(1)
		defer v.wg.Done()
		v.tracks.Add(1)
		for {
			pk, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				v.mu.Lock()
				// Losses and reordering move a few packets; a new sequence
				// space moves thousands.
				if d := int16(pk.SequenceNumber - v.lastSeq - 1); len(v.videoSSRC) > 0 && (d > 500 || d < -500) {
					v.seqJumps++
				}
				v.videoSSRC[pk.SSRC] = true
				v.lastSeq = pk.SequenceNumber
				v.mu.Unlock()
				v.video.Add(1)
			} else {
				v.audio.Add(1)
			}
		}
	})
	tb.Cleanup(v.close)
	v.location, v.header = e2eNegotiate(tb, pc, base, base+"/api/streams/"+stream+"/whep", "")
	return v
}

func (v *e2eViewer) close() {
	v.once.Do(func() {
		_ = v.pc.Close()
		v.wg.Wait()
	})
}

// waitMedia waits until the viewer has received at least n video and n
// audio packets more than it had.
func (v *e2eViewer) waitMedia(tb testing.TB, n int64) {
	tb.Helper()
	video, audio := v.video.Load()+n, v.audio.Load()+n
	e2eUntil(tb, "the viewer receives video and audio", func() bool {
		return v.video.Load() >= video && v.audio.Load() >= audio
	})
}

// continuity returns the video SSRCs the viewer saw and how many times the
// sequence numbers jumped to another sequence space.
func (v *e2eViewer) continuity() (ssrcs, jumps int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.videoSSRC), v.seqJumps
}
