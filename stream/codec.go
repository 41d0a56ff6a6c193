package stream

import (
	"slices"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/api"
)

// fmtpParam returns one parameter of an a=fmtp line, "" when absent.
func fmtpParam(line, key string) string {
	for _, kv := range strings.Split(line, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if strings.EqualFold(k, key) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// h264Mode is an H264 codec's packetization-mode ("0" when absent).
func h264Mode(fmtp string) string {
	if m := fmtpParam(fmtp, "packetization-mode"); m != "" {
		return m
	}
	return "0"
}

// checkOffer parses an SDP offer and returns a client error for one that
// is malformed or carries no audio or video. For a publisher's offer it
// checks its simulcast too and returns its video's layers (none without
// simulcast).
func checkOffer(offer string, publish bool) ([]layerOffer, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return nil, api.Errorf(api.BadRequest, "the body is not a valid SDP offer: %v", err)
	}
	av, seen := false, false
	var video []layerOffer
	for _, m := range d.MediaDescriptions {
		kind := m.MediaName.Media
		if kind == "audio" || kind == "video" {
			av = true
		}
		if !publish {
			if err := checkSimulcastSyntax(m); err != nil {
				return nil, err
			}
			continue
		}
		layers, err := offerLayers(m)
		if err != nil {
			return nil, err
		}
		if len(layers) > 0 && kind != "video" {
			return nil, api.Errorf(api.BadRequest, "simulcast is for video; the offer's %s section has it", kind)
		}
		if kind == "video" && !seen {
			// The first video section is the one used; the relay
			// declines the others.
			seen, video = true, layers
		}
	}
	if !av {
		return nil, api.New(api.BadRequest, "the SDP offer has no audio or video section")
	}
	return video, nil
}

// choosePublisherCodecs picks, for each kind the publisher sends, the first
// codec of its offer that the relay supports (the publisher's preference),
// and restricts the answer to it, so the publisher can only send what the
// relay expects. It must run after SetRemoteDescription.
//
// Simulcast video is relayed in H264 or VP8 only: with simulcast, the
// first of those the publisher offers is chosen.
func choosePublisherCodecs(pc *webrtc.PeerConnection, simulcast bool) (map[webrtc.RTPCodecType]webrtc.RTPCodecParameters, error) {
	chosen := map[webrtc.RTPCodecType]webrtc.RTPCodecParameters{}
	for _, tr := range pc.GetTransceivers() {
		kind := tr.Kind()
		if tr.Receiver() == nil || (tr.Direction() != webrtc.RTPTransceiverDirectionRecvonly && tr.Direction() != webrtc.RTPTransceiverDirectionSendrecv) {
			continue
		}
		if _, dup := chosen[kind]; dup {
			// One track per kind: further sections are declined.
			_ = tr.Stop()
			continue
		}
		cs := tr.Receiver().GetParameters().Codecs
		if simulcast && kind == webrtc.RTPCodecTypeVideo {
			cs = slices.DeleteFunc(slices.Clone(cs), func(c webrtc.RTPCodecParameters) bool {
				k := codecKindOf(c.MimeType)
				return k != codecH264 && k != codecVP8
			})
			if len(cs) == 0 {
				return nil, api.New(api.BadRequest, "simulcast video is relayed in H264 or VP8; the offer has neither")
			}
		}
		if len(cs) == 0 {
			continue
		}
		c := cs[0]
		if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{c}); err != nil {
			continue
		}
		chosen[kind] = c
	}
	if len(chosen) == 0 {
		return nil, api.New(api.BadRequest,
			"the offer sends no media in a codec the relay forwards (video: H264 packetization-mode 0 or 1, VP8, VP9, AV1; audio: Opus)")
	}
	return chosen, nil
}

// matchViewerCodec finds among a viewer's codecs the one that carries the
// publisher's codec unchanged: the same mime type, for H264 the same
// packetization mode (an exact profile match preferred), for VP9 the same
// profile.
func matchViewerCodec(want webrtc.RTPCodecParameters, have []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, bool) {
	var fallback *webrtc.RTPCodecParameters
	for i, c := range have {
		if !strings.EqualFold(c.MimeType, want.MimeType) || c.ClockRate != want.ClockRate {
			continue
		}
		switch codecKindOf(want.MimeType) {
		case codecH264:
			if h264Mode(c.SDPFmtpLine) != h264Mode(want.SDPFmtpLine) {
				continue
			}
			if profile(c.SDPFmtpLine) == profile(want.SDPFmtpLine) {
				return c, true
			}
			if fallback == nil {
				fallback = &have[i]
			}
			continue
		case codecVP9:
			if fmtpParam(c.SDPFmtpLine, "profile-id") != fmtpParam(want.SDPFmtpLine, "profile-id") {
				continue
			}
		}
		return c, true
	}
	if fallback != nil {
		return *fallback, true
	}
	return webrtc.RTPCodecParameters{}, false
}

// profile is the profile part (first four hex digits) of an H264
// profile-level-id.
func profile(fmtp string) string {
	p := strings.ToLower(fmtpParam(fmtp, "profile-level-id"))
	if len(p) >= 4 {
		return p[:4]
	}
	return p
}
