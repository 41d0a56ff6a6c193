package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v2"
	"github.com/pion/transport/v2/stdnet"
	"github.com/pion/webrtc/v3"
)

func init() {
	register("whep", "media relay: one synthetic WHIP publisher (H264 + Opus), N WHEP viewers", runWHEP)
}

type whepFlags struct {
	whip, whep, token string
	viewers           int
	duration          time.Duration
	joinWindow        time.Duration
	bitrate           int
	keyInterval       time.Duration
	restartAt         time.Duration
	pid               int
	light             bool
	simulcast         bool
	layer             string
	capBps            int
	capped            int
	capAt, capFor     time.Duration
}

func runWHEP(ctx context.Context, args []string, stdout io.Writer) error {
	var f whepFlags
	fs := flag.NewFlagSet("whep", flag.ContinueOnError)
	fs.StringVar(&f.whip, "whip", "", "WHIP endpoint URL to publish to (empty: only watch)")
	fs.StringVar(&f.whep, "whep", "", "WHEP endpoint URL to watch (required)")
	fs.StringVar(&f.token, "token", "", "bearer token for WHIP (and its DELETE)")
	fs.IntVar(&f.viewers, "viewers", 10, "number of WHEP viewers")
	fs.DurationVar(&f.duration, "duration", 30*time.Second, "how long viewers watch after the join window")
	fs.DurationVar(&f.joinWindow, "join-window", 5*time.Second, "viewers join spread evenly over this window (0: all at once, a join storm)")
	fs.IntVar(&f.bitrate, "bitrate", 2_500_000, "publisher video bitrate, bit/s")
	fs.DurationVar(&f.keyInterval, "keyint", 2*time.Second, "publisher keyframe interval")
	fs.DurationVar(&f.restartAt, "restart-at", 0, "restart the publisher (WHIP DELETE, new WHIP) this long after viewers joined; 0: never")
	fs.IntVar(&f.pid, "pid", 0, "server process id, to read its CPU and RSS from /proc")
	fs.BoolVar(&f.light, "light", false, "light viewers: ICE and DTLS as real peers, but RTP is counted from its clear headers on the socket and never decrypted "+
		"(no keyframe or delay figures); for runs past a few hundred viewers")
	fs.BoolVar(&f.simulcast, "simulcast", false, "the publisher sends three H264 layers, rids f, h and q at --bitrate, a quarter and a sixteenth of it")
	fs.StringVar(&f.layer, "layer", "", "the layer viewers ask for: ?layer=auto, high, medium or low on the WHEP URL (empty: none, the server's automatic choice)")
	fs.IntVar(&f.capBps, "cap", 0, "cap the first --capped viewers' video at this many bit/s during the cap window: above it their link drops, "+
		"by a token bucket 100 ms deep, before the viewer (or pion) sees the packet; audio is not capped. 0: no cap")
	fs.IntVar(&f.capped, "capped", 0, "how many viewers (the first ones) --cap caps; the next one is recorded uncapped, to compare (0: all)")
	fs.DurationVar(&f.capAt, "cap-at", 5*time.Second, "when the cap starts, after all viewers joined")
	fs.DurationVar(&f.capFor, "cap-for", 10*time.Second, "how long the cap holds before it is lifted; the run lasts at least until 15 s after the lift")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.whep == "" || f.viewers < 1 {
		return errors.New("--whep and --viewers >= 1 are required")
	}
	if err := f.checkCap(); err != nil {
		return err
	}
	endpoint, err := whepLayerURL(f.whep, f.layer)
	if err != nil {
		return err
	}
	watch, stop, err := whepWatcher(f, endpoint)
	if err != nil {
		return err
	}
	defer stop()
	pubAPI, err := whepAPIWith(true, f.simulcast, nil)
	if err != nil {
		return err
	}
	var pub *whepPublisher
	if f.whip != "" {
		if pub, err = whepPublish(ctx, pubAPI, f); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		defer func() { pub.stop(context.Background()) }()
		time.Sleep(time.Second) // let the stream settle before the crowd arrives
	}
	links := f.capLinks()
	var switches []switchReading // the server's layer switch counters
	if links != nil || f.simulcast {
		if n, err := layerSwitches(ctx, f.whep); err != nil {
			fmt.Fprintf(os.Stderr, "server metrics: %v\n", err)
		} else {
			switches = append(switches, switchReading{n: n})
		}
	}
	rssBefore := whepRSS(f.pid)
	cpuStart, wallStart := whepCPU(f.pid), time.Now()
	selfStart := whepCPU(os.Getpid())

	viewers := make([]*whepViewer, f.viewers)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range viewers {
		delay := time.Duration(0)
		if f.viewers > 1 {
			delay = f.joinWindow * time.Duration(i) / time.Duration(f.viewers-1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
			var link *capLink // none without --cap
			if links != nil {
				link = links[i]
			}
			v, err := watch(ctx, link)
			if err != nil {
				failed.Add(1)
				fmt.Fprintf(os.Stderr, "viewer %d: %v\n", i, err)
				return
			}
			viewers[i] = v
		}()
	}
	wg.Wait()
	fmt.Fprintf(stdout, "joined: %d of %d viewers in %s\n", f.viewers-int(failed.Load()), f.viewers, time.Since(wallStart).Round(time.Millisecond))
	end := wallStart.Add(f.duration + f.joinWindow)
	var capSwitches <-chan switchReading
	if links != nil {
		capFrom := time.Now().Add(f.capAt)
		before := min(capBefore, f.capAt) / capWidth * capWidth
		for _, l := range links {
			if l != nil {
				l.schedule(capFrom, before, f.capFor, capAfter)
			}
		}
		if recEnd := capFrom.Add(f.capFor + capAfter + capWidth); recEnd.After(end) {
			end = recEnd
		}
		if switches != nil {
			capSwitches = readSwitchesAt(ctx, f.whep, []time.Time{capFrom, capFrom.Add(f.capFor)}, []string{"at the cap", "at the lift"})
		}
	}

	var restartAt time.Time
	if pub != nil && f.restartAt > 0 && f.restartAt < f.duration {
		select {
		case <-time.After(f.restartAt):
		case <-ctx.Done():
		}
		restartAt = time.Now()
		pub.stop(ctx)
		if pub, err = whepPublish(ctx, pubAPI, f); err != nil {
			return fmt.Errorf("republish: %w", err)
		}
		fmt.Fprintf(stdout, "publisher restarted after %s\n", time.Since(restartAt).Round(time.Millisecond))
	}
	select {
	case <-time.After(time.Until(end)):
	case <-ctx.Done():
	}
	cpuEnd, wall := whepCPU(f.pid), time.Since(wallStart)
	selfEnd := whepCPU(os.Getpid())
	rssAfter := whepRSS(f.pid)
	whepReport(stdout, f, viewers, restartAt)
	if links != nil {
		capReport(stdout, f, links, float64(f.bitrate))
	}
	if switches != nil {
		if capSwitches != nil {
			for r := range capSwitches {
				switches = append(switches, r)
			}
		}
		if n, err := layerSwitches(ctx, f.whep); err != nil {
			fmt.Fprintf(stdout, "server layer switches: not read at the end (%v)\n", err)
		} else {
			fmt.Fprintln(stdout, switchesLine(append(switches, switchReading{when: "at the end", n: n})))
		}
	}
	fmt.Fprintf(stdout, "load tool CPU: %.1f%% of one core (itself, publisher and %s viewers)\n", 100*(selfEnd-selfStart)/wall.Seconds(), whepMode(f))
	if f.pid > 0 {
		fmt.Fprintf(stdout, "server CPU: %.1f%% of one core\n", 100*(cpuEnd-cpuStart)/wall.Seconds())
		fmt.Fprintf(stdout, "server RSS: %.1f MiB before viewers, %.1f MiB with them, %.1f KiB per viewer\n",
			float64(rssBefore)/(1<<20), float64(rssAfter)/(1<<20), float64(rssAfter-rssBefore)/1024/float64(f.viewers))
	}
	for _, v := range viewers {
		if v != nil {
			v.close()
		}
	}
	return nil
}

// whepWatcher returns how a viewer of f's mode joins the stream at
// endpoint, through link if it has one (recorded viewers), and what to call
// once every viewer is closed.
func whepWatcher(f whepFlags, endpoint string) (watch func(context.Context, *capLink) (*whepViewer, error), stop func(), err error) {
	if f.light {
		l, err := newWhepLight()
		if err != nil {
			return nil, nil, err
		}
		return func(ctx context.Context, link *capLink) (*whepViewer, error) { return l.watch(ctx, endpoint, link) }, l.close, nil
	}
	api, err := whepAPI(false)
	if err != nil {
		return nil, nil, err
	}
	return func(ctx context.Context, link *capLink) (*whepViewer, error) {
		if link == nil {
			return whepWatch(ctx, api, endpoint)
		}
		// A recorded viewer reads its sockets through its link: an API
		// of its own, whose network is the link.
		host, err := whepNet()
		if err != nil {
			return nil, err
		}
		v := newWhepViewer()
		v.link = link
		api, err := whepAPIWith(false, false, &capNet{Net: host, v: v})
		if err != nil {
			return nil, err
		}
		return whepWatchAs(ctx, api, endpoint, v)
	}, func() {}, nil
}

// whepFPS is the publisher's frame rate.
const whepFPS = 30

// whepLayerURL is endpoint with ?layer=layer (none when layer is empty).
func whepLayerURL(endpoint, layer string) (string, error) {
	switch layer {
	case "":
		return endpoint, nil
	case "auto", "high", "medium", "low":
	default:
		return "", fmt.Errorf("--layer must be auto, high, medium or low, not %q", layer)
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("--whep: %w", err)
	}
	q := u.Query()
	q.Set("layer", layer)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// checkCap checks the cap's flags and resolves --capped's default.
func (f *whepFlags) checkCap() error {
	if f.capBps < 0 {
		return errors.New("--cap must be >= 0")
	}
	if f.capBps == 0 {
		return nil
	}
	if f.capped <= 0 || f.capped > f.viewers {
		f.capped = f.viewers
	}
	if f.capAt < 0 || f.capFor < settleWindow {
		return fmt.Errorf("--cap-at must be >= 0 and --cap-for >= %s", settleWindow)
	}
	return nil
}

// capLinks returns, by viewer, the links of the capped viewers and of the
// first uncapped one (for comparison); nil without a cap.
func (f *whepFlags) capLinks() []*capLink {
	if f.capBps == 0 {
		return nil
	}
	links := make([]*capLink, f.viewers)
	for i := range min(f.capped+1, f.viewers) {
		links[i] = newCapLink(i, i < f.capped, float64(f.capBps))
	}
	return links
}

func whepMode(f whepFlags) string {
	if f.light {
		return "light"
	}
	return "full"
}

// whepNet is the host's network, under the recorded full viewers' links.
var whepNet = sync.OnceValues(func() (transport.Net, error) { return stdnet.NewNet() })

// whepAPI builds the client API: a browser-like set of codecs for viewers;
// for the publisher (publisher true) only what it sends, H264 and Opus, as
// OBS offers, so that any server answers with those.
func whepAPI(publisher bool) (*webrtc.API, error) {
	return whepAPIWith(publisher, false, nil)
}

// whepAPIWith is whepAPI with, for a simulcast publisher, the mid and rid
// header extensions, on network n (nil: the host's, as pion has it).
func whepAPIWith(publisher, simulcast bool, n transport.Net) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if !publisher {
		if err := m.RegisterDefaultCodecs(); err != nil {
			return nil, err
		}
	} else {
		for _, c := range []webrtc.RTPCodecParameters{
			{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
				SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}},
			{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
				SDPFmtpLine: "minptime=10;useinbandfec=1"}},
		} {
			typ := webrtc.RTPCodecTypeVideo
			if c.MimeType == webrtc.MimeTypeOpus {
				typ = webrtc.RTPCodecTypeAudio
			}
			if err := m.RegisterCodec(c, typ); err != nil {
				return nil, err
			}
		}
	}
	if publisher && simulcast {
		for _, uri := range []string{sdp.SDESMidURI, sdp.SDESRTPStreamIDURI} {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo); err != nil {
				return nil, err
			}
		}
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		return nil, err
	}
	opts := []func(*webrtc.API){webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg)}
	if n != nil {
		se := webrtc.SettingEngine{}
		se.SetNet(n)
		opts = append(opts, webrtc.WithSettingEngine(se))
	}
	return webrtc.NewAPI(opts...), nil
}

// exchange POSTs a complete offer and applies the answer; it returns the
// resource URL.
func whepExchange(ctx context.Context, pc *webrtc.PeerConnection, endpoint, token string) (string, error) {
	sdp, err := completeOffer(ctx, pc)
	if err != nil {
		return "", err
	}
	// The server bounds the sessions a client has not connected yet
	// (429, or 503 when the node is full): wait as it says and offer again,
	// as a player would, so that many viewers from one address join in
	// waves.
	var res *http.Response
	var body []byte
	for {
		req, _ := http.NewRequestWithContext(ctx, "POST", endpoint, strings.NewReader(sdp))
		req.Header.Set("Content-Type", "application/sdp")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err = http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		body, _ = io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		if res.StatusCode != http.StatusTooManyRequests && res.StatusCode != http.StatusServiceUnavailable {
			break
		}
		wait := 200 * time.Millisecond
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait):
		}
	}
	if res.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("%s: %s %s", endpoint, res.Status, bytes.TrimSpace(body))
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		return "", err
	}
	base, _ := url.Parse(endpoint)
	loc, err := base.Parse(res.Header.Get("Location"))
	if err != nil {
		return "", err
	}
	return loc.String(), nil
}

func whepDelete(ctx context.Context, resource, token string) {
	if resource == "" {
		return
	}
	req, _ := http.NewRequestWithContext(ctx, "DELETE", resource, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
	}
}

// whepPublisher sends synthetic H264 (constrained baseline, 30 fps,
// keyframe every keyint and on PLI) and Opus (50 packets/s); with
// simulcast, three H264 layers (whep_simulcast.go).
type whepPublisher struct {
	pc       *webrtc.PeerConnection
	resource string
	token    string
	keys     []atomic.Bool // per video layer: a PLI (or FIR) asked for a keyframe
	done     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
	// Simulcast only: the video sender, whose per-layer RTCP readers
	// (readers) must stop before the peer closes, and whether the peer
	// connected.
	sender    *webrtc.RTPSender
	readers   sync.WaitGroup
	connected atomic.Bool
}

func whepPublish(ctx context.Context, api *webrtc.API, f whepFlags) (*whepPublisher, error) {
	if f.simulcast {
		return whepPublishSimulcast(ctx, api, f)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	video, _ := webrtc.NewTrackLocalStaticRTP(h264Codec, "video", "livecart-load")
	audio, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "livecart-load")
	p := &whepPublisher{pc: pc, token: f.token, done: make(chan struct{}), keys: make([]atomic.Bool, 1)}
	for _, tr := range []*webrtc.TrackLocalStaticRTP{video, audio} {
		t, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			pc.Close()
			return nil, err
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				pkts, _, err := t.Sender().ReadRTCP()
				if err != nil {
					return
				}
				for _, pk := range pkts {
					switch pk.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						p.keys[0].Store(true)
					}
				}
			}
		}()
	}
	if p.resource, err = whepExchange(ctx, pc, f.whip, f.token); err != nil {
		pc.Close()
		p.wg.Wait()
		return nil, err
	}
	p.wg.Add(1)
	go p.send([]*h264Layer{newH264Layer(video, f.bitrate)}, audio, f.keyInterval)
	return p, nil
}

func (p *whepPublisher) stop(ctx context.Context) {
	p.once.Do(func() {
		whepDelete(ctx, p.resource, p.token)
		close(p.done)
		if p.sender != nil {
			p.closePeer()
		} else {
			p.pc.Close()
		}
		p.wg.Wait()
	})
}

// send writes the layers' frames (each layer keyframes every keyint and
// when a PLI asked) and the audio until done.
func (p *whepPublisher) send(layers []*h264Layer, audio *webrtc.TrackLocalStaticRTP, keyint time.Duration) {
	defer p.wg.Done()
	payload := make([]byte, 1200)
	aseq, ats := uint16(rand.Uint32()), rand.Uint32()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	frames, audios := 0, 0
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
		el := time.Since(start)
		for ; audios < int(el/(20*time.Millisecond)); audios++ {
			_ = audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: aseq, Timestamp: ats, Marker: true}, Payload: payload[:100]})
			aseq++
			ats += 960
		}
		for ; frames < int(el*whepFPS/time.Second); frames++ {
			for i, l := range layers {
				l.frame(time.Since(l.lastKey) >= keyint || p.keys[i].Swap(false), payload)
			}
		}
	}
}

// whepViewer plays the stream and keeps per-viewer statistics. A full
// viewer reads every packet from pion, decrypted; a light one (whep_light.go)
// counts them on its sockets and leaves them encrypted, so it has no
// keyframe or delay figures.
type whepViewer struct {
	pc       *webrtc.PeerConnection
	resource string
	joined   time.Time
	kinds    *rtpKinds     // set before the offer, read-only after
	done     chan struct{} // closed by close, ends the viewer's goroutines
	wg       sync.WaitGroup

	mu      sync.Mutex
	streams map[uint32]*rtpCount // per SSRC, audio and video
	// The SSRC counted last and its count, which the next packet most
	// likely shares: a frame's packets come together.
	lastSSRC   uint32
	lastCount  *rtpCount
	firstVideo time.Duration // from the WHEP POST to the first video packet
	firstKey   time.Duration // from the WHEP POST to the first keyframe packet
	videoSeen  int           // video packets observed (full viewers)
	lastVideo  time.Time
	maxGap     time.Duration
	gapAt      time.Time
	delays     []whepDelay // publisher-to-viewer delay of 1 video packet in 8
	// link is the viewer's capped or recorded link (whep_cap.go), nil
	// for most; set before the offer, read-only after.
	link *capLink
}

// whepDelay is one packet's delay from the publisher's send to the viewer's
// read (same machine, same clock), at the time it was read.
type whepDelay struct {
	at time.Time
	d  time.Duration
}

func newWhepViewer() *whepViewer {
	return &whepViewer{joined: time.Now(), streams: map[uint32]*rtpCount{}, done: make(chan struct{})}
}

// join adds the viewer's receive-only video and audio sections to its
// peer connection, learns their payload types and makes the WHEP exchange.
func (v *whepViewer) join(ctx context.Context, endpoint string) error {
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := v.pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return err
		}
	}
	v.kinds = whepKinds(v.pc)
	var err error
	v.resource, err = whepExchange(ctx, v.pc, endpoint, "")
	return err
}

func whepWatch(ctx context.Context, api *webrtc.API, endpoint string) (*whepViewer, error) {
	return whepWatchAs(ctx, api, endpoint, nil)
}

// whepWatchAs joins the stream at endpoint with a full viewer: v, or a new
// one when v is nil.
func whepWatchAs(ctx context.Context, api *webrtc.API, endpoint string, v *whepViewer) (*whepViewer, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = newWhepViewer()
	}
	v.pc = pc
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.wg.Add(1)
		defer v.wg.Done()
		video := tr.Kind() == webrtc.RTPCodecTypeVideo
		mime := strings.ToLower(tr.Codec().MimeType)
		buf := make([]byte, 1500)
		var pk rtp.Packet
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			h, ok := rtpHeadOf(buf[:n])
			if !ok {
				continue
			}
			now := time.Now()
			v.count(h, n, now)
			if video && pk.Unmarshal(buf[:n]) == nil {
				v.observe(&pk, mime, now)
			}
		}
	})
	if err := v.join(ctx, endpoint); err != nil {
		pc.Close()
		return nil, err
	}
	return v, nil
}

// observe looks into a decrypted video packet for the first keyframe and
// the publisher's send time.
func (v *whepViewer) observe(pk *rtp.Packet, mime string, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.videoSeen++
	// Sampled from a second after the first keyframe: the cached keyframe a
	// viewer starts on was sent up to a second before it joined.
	if p := pk.Payload; v.videoSeen%8 == 0 && len(p) >= 10 && p[0]&0x1f == 28 &&
		v.firstKey > 0 && now.Sub(v.joined) > v.firstKey+time.Second {
		sent := int64(binary.BigEndian.Uint64(p[2:]))
		v.delays = append(v.delays, whepDelay{at: now, d: now.Sub(time.Unix(0, sent))})
	}
	if v.firstKey == 0 && whepKeyframe(mime, pk.Payload) {
		v.firstKey = now.Sub(v.joined)
	}
}

// keyframe recognises the start of a keyframe in H264, VP8, VP9 or AV1.
func whepKeyframe(mime string, p []byte) bool {
	if len(p) < 2 {
		return false
	}
	switch mime {
	case "video/h264":
		switch p[0] & 0x1f {
		case 5, 7:
			return true
		case 24:
			return p[3]&0x1f == 7 || p[3]&0x1f == 5
		case 28:
			return p[1]&0x80 != 0 && p[1]&0x1f == 5
		}
	case "video/vp8":
		return p[0]&0x10 != 0 && p[0]&0x07 == 0 && p[0]&0x80 == 0 && p[1]&0x01 == 0
	case "video/vp9":
		return p[0]&0x40 == 0 && p[0]&0x08 != 0
	case "video/av1":
		return p[0]&0x08 != 0
	}
	return false
}

func (v *whepViewer) close() {
	whepDelete(context.Background(), v.resource, "")
	close(v.done)
	v.pc.Close()
	v.wg.Wait()
}

func whepReport(w io.Writer, f whepFlags, viewers []*whepViewer, restartAt time.Time) {
	var keys, firsts, gaps, before, after []time.Duration
	var lossSum float64
	var sum whepTotals
	n, noKey, noVideo := 0, 0, 0
	for _, v := range viewers {
		if v == nil {
			continue
		}
		n++
		t := v.totals()
		sum.videoPackets += t.videoPackets
		sum.videoBytes += t.videoBytes
		sum.videoLost += t.videoLost
		sum.audioPackets += t.audioPackets
		sum.audioBytes += t.audioBytes
		sum.ssrcs += t.ssrcs
		if t.videoExpected > 0 {
			lossSum += float64(t.videoLost) / float64(t.videoExpected)
		}
		v.mu.Lock()
		if v.lastVideo.IsZero() {
			noVideo++
		} else {
			firsts = append(firsts, v.firstVideo)
		}
		if v.firstKey == 0 {
			noKey++
		} else {
			keys = append(keys, v.firstKey)
		}
		if !restartAt.IsZero() && v.gapAt.After(restartAt) {
			gaps = append(gaps, v.maxGap)
		}
		for _, d := range v.delays {
			if restartAt.IsZero() || d.at.Before(restartAt) {
				before = append(before, d.d)
			} else if from := max(restartAt.UnixNano(), v.gapAt.UnixNano()); d.at.UnixNano() > from+int64(time.Second) {
				after = append(after, d.d) // from a second after the restart's gap
			}
		}
		v.mu.Unlock()
	}
	if n == 0 {
		fmt.Fprintln(w, "no viewer joined")
		return
	}
	unit := "RTP bytes, decrypted"
	if f.light {
		unit = "SRTP bytes as received, auth tag included"
	}
	fmt.Fprintf(w, "viewers: %d %s (bitrate %d bit/s, keyframe every %s, join window %s)\n", n, whepMode(f), f.bitrate, f.keyInterval, f.joinWindow)
	if f.simulcast || f.layer != "" {
		layers := "one layer"
		if f.simulcast {
			layers = fmt.Sprintf("simulcast, rids f, h, q at %d, %d, %d bit/s", f.bitrate, f.bitrate>>2, f.bitrate>>4)
		}
		fmt.Fprintf(w, "publisher: %s; viewers ask for layer %q\n", layers, cmp.Or(f.layer, "(none: auto)"))
	}
	fmt.Fprintf(w, "received in all: video %d packets, %.1f MiB; audio %d packets, %.1f MiB; %.1f SSRCs per viewer (%s)\n",
		sum.videoPackets, float64(sum.videoBytes)/(1<<20), sum.audioPackets, float64(sum.audioBytes)/(1<<20), float64(sum.ssrcs)/float64(n), unit)
	fmt.Fprintf(w, "received per viewer (mean): video %d packets, audio %d packets\n", sum.videoPackets/int64(n), sum.audioPackets/int64(n))
	fmt.Fprintf(w, "video packet loss per viewer: %.3f%% (mean); %d packets lost in all\n", 100*lossSum/float64(n), sum.videoLost)
	fmt.Fprintf(w, "time to first video packet: p50 %s, p99 %s, never %d\n", whepPct(firsts, 50), whepPct(firsts, 99), noVideo)
	if f.light {
		fmt.Fprintln(w, "time to first keyframe and publisher-to-viewer delay: not measured by light viewers (payloads stay encrypted)")
	} else {
		fmt.Fprintf(w, "time to first keyframe: p50 %s, p99 %s, never %d\n", whepPct(keys, 50), whepPct(keys, 99), noKey)
	}
	if restartAt.IsZero() {
		if !f.light {
			fmt.Fprintf(w, "publisher-to-viewer delay: p50 %s, p99 %s (%d samples)\n", whepPctFine(before, 50), whepPctFine(before, 99), len(before))
		}
		return
	}
	fmt.Fprintf(w, "publisher restart: longest video gap p50 %s, max %s\n", whepPct(gaps, 50), whepPct(gaps, 100))
	if !f.light {
		fmt.Fprintf(w, "publisher-to-viewer delay before the restart: p50 %s, p99 %s; from 1 s after the gap: p50 %s, p99 %s\n",
			whepPctFine(before, 50), whepPctFine(before, 99), whepPctFine(after, 50), whepPctFine(after, 99))
	}
}

// whepPctFine is whepPct to the microsecond, for delays under a millisecond.
func whepPctFine(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := min(max((len(ds)*p+99)/100-1, 0), len(ds)-1)
	return ds[i].Round(time.Microsecond).String()
}

func whepPct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := (len(ds)*p + 99) / 100
	i = min(max(i-1, 0), len(ds)-1)
	return ds[i].Round(time.Millisecond).String()
}

// procCPU is a process's user+system CPU time in seconds, 0 without pid.
func whepCPU(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// procRSS is a process's resident set in bytes, 0 without pid.
func whepRSS(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// completeOffer makes pc's offer, sets it and waits until its ICE
// candidates are gathered: an offer with every candidate in it, as WHIP
// and WHEP without trickle need.
func completeOffer(ctx context.Context, pc *webrtc.PeerConnection) (string, error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}
