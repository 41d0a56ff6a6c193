package stream

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/logging"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
)

// videoFeedback is what the relay asks of and offers to video peers:
// retransmissions (NACK) and keyframe requests (PLI, FIR).
var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"},
}

// h264Profiles are the profile-level-ids the relay accepts. pion matches
// H264 on packetization-mode and the first two bytes of profile-level-id
// (profile_idc, profile_iop), so one entry per pair is enough; the level is
// whatever the peer offers.
var h264Profiles = []string{
	"42001f", // baseline
	"42e01f", // constrained baseline (OBS, browsers)
	"4d001f", // main
	"640032", // high
	"640c1f", // constrained high
	"f4001f", // high 4:4:4
}

// viewerFeedback is videoFeedback plus the receiver's bandwidth estimate
// (REMB), which a viewer's layer choice reads.
var viewerFeedback = append(slices.Clip(videoFeedback), webrtc.RTCPFeedback{Type: "goog-remb"})

// absSendTimeURI names the header extension a receiver's bandwidth
// estimate (REMB) is computed from.
const absSendTimeURI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"

// codecs lists the codecs the relay forwards, in its order of preference.
func codecs() []webrtc.RTPCodecParameters { return codecsWith(videoFeedback) }

// codecsWith is codecs with fb as the video codecs' feedback.
func codecsWith(fb []webrtc.RTCPFeedback) []webrtc.RTPCodecParameters {
	videoFeedback := fb
	var out []webrtc.RTPCodecParameters
	add := func(pt webrtc.PayloadType, mime string, clock uint32, ch uint16, fmtp string, fb []webrtc.RTCPFeedback) {
		out = append(out, webrtc.RTPCodecParameters{
			PayloadType: pt,
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: mime, ClockRate: clock, Channels: ch, SDPFmtpLine: fmtp, RTCPFeedback: fb,
			},
		})
	}
	add(111, webrtc.MimeTypeOpus, 48000, 2, "minptime=10;useinbandfec=1", nil)
	pt := webrtc.PayloadType(102)
	for _, pm := range []string{"1", "0"} {
		for _, p := range h264Profiles {
			add(pt, webrtc.MimeTypeH264, 90000, 0,
				"level-asymmetry-allowed=1;packetization-mode="+pm+";profile-level-id="+p, videoFeedback)
			pt++
		}
	}
	add(96, webrtc.MimeTypeVP8, 90000, 0, "", videoFeedback)
	add(98, webrtc.MimeTypeVP9, 90000, 0, "profile-id=0", videoFeedback)
	add(100, webrtc.MimeTypeVP9, 90000, 0, "profile-id=2", videoFeedback)
	add(45, webrtc.MimeTypeAV1, 90000, 0, "", videoFeedback)
	return out
}

// sdpRepairedRidURI names the header extension that carries the rid a
// retransmission stream repairs (RFC 8852).
const sdpRepairedRidURI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"

// kindOf returns the media kind of a codec mime type.
func kindOf(mime string) webrtc.RTPCodecType {
	if strings.HasPrefix(strings.ToLower(mime), "audio/") {
		return webrtc.RTPCodecTypeAudio
	}
	return webrtc.RTPCodecTypeVideo
}

// engines are the two webrtc.APIs of a Service, built once: publishers get
// receive-side interceptors (NACK generator, receiver reports, TWCC
// feedback); viewers get sender reports only, since the relay answers their
// NACKs itself from the track's shared packet cache.
type engines struct {
	pub  *webrtc.API
	view *webrtc.API
	mux  ice.UDPMux
}

// iceTimeouts are how long ICE waits before it calls a silent peer
// disconnected, then failed, and how often it sends keepalives.
type iceTimeouts struct {
	disconnected, failed, keepalive time.Duration
}

func newEngines(mux ice.UDPMux, publicIP string, loopback bool, to iceTimeouts) (*engines, error) {
	se := webrtc.SettingEngine{}
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICETimeouts(to.disconnected, to.failed, to.keepalive)
	se.SetIncludeLoopbackCandidate(loopback)
	se.LoggerFactory = &sharedLoggers{f: logging.NewDefaultLoggerFactory(), m: map[string]logging.LeveledLogger{}}
	if publicIP != "" {
		se.SetNAT1To1IPs([]string{publicIP}, webrtc.ICECandidateTypeHost)
	}

	build := func(pub bool) (*webrtc.API, error) {
		m := &webrtc.MediaEngine{}
		cs := codecs()
		if !pub {
			cs = codecsWith(viewerFeedback)
		}
		for _, c := range cs {
			if err := m.RegisterCodec(c, kindOf(c.MimeType)); err != nil {
				return nil, fmt.Errorf("register codec %s: %w", c.MimeType, err)
			}
		}
		reg := &interceptor.Registry{}
		if pub {
			// Simulcast layers are told apart by these (RFC 8852).
			for _, uri := range []string{sdp.SDESMidURI, sdp.SDESRTPStreamIDURI, sdpRepairedRidURI} {
				if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo); err != nil {
					return nil, fmt.Errorf("register header extension %s: %w", uri, err)
				}
			}
			gen, err := nack.NewGeneratorInterceptor()
			if err != nil {
				return nil, err
			}
			reg.Add(gen)
			rr, err := report.NewReceiverInterceptor()
			if err != nil {
				return nil, err
			}
			reg.Add(rr)
			if err := webrtc.ConfigureTWCCSender(m, reg); err != nil {
				return nil, err
			}
		} else {
			// Viewers' bandwidth estimates (REMB) are computed from the
			// send times the relay stamps on video.
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: absSendTimeURI}, webrtc.RTPCodecTypeVideo); err != nil {
				return nil, fmt.Errorf("register header extension %s: %w", absSendTimeURI, err)
			}
			sr, err := report.NewSenderInterceptor()
			if err != nil {
				return nil, err
			}
			reg.Add(sr)
		}
		return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
	}
	pub, err := build(true)
	if err != nil {
		return nil, err
	}
	view, err := build(false)
	if err != nil {
		return nil, err
	}
	return &engines{pub: pub, view: view, mux: mux}, nil
}

// sharedLoggers gives every PeerConnection the same logger per scope.
// pion's own factory makes new ones for each connection (five log.Loggers
// for each of a dozen scopes), which cost every viewer about 10 KiB for
// lines that, at the default level, are never written.
type sharedLoggers struct {
	f  logging.LoggerFactory
	mu sync.Mutex
	m  map[string]logging.LeveledLogger
}

// NewLogger returns the logger of scope.
func (s *sharedLoggers) NewLogger(scope string) logging.LeveledLogger {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.m[scope]
	if !ok {
		l = s.f.NewLogger(scope)
		s.m[scope] = l
	}
	return l
}
