package main

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
)

// Simulcast (--simulcast): the publisher sends three H264 layers on one
// video section, as a browser or OBS would: rids "f", "h" and "q" at the
// bitrate, a quarter and a sixteenth of it, each with its own SSRC,
// sequence numbers and timestamps, each keyframing every keyint and on a
// PLI for that layer. Pion's sender does not add the mid and rid header
// extensions (RFC 8852) the relay tells layers apart by: every packet gets
// them here, with the IDs the answer negotiated.

// simRids are the layers' rids, from the top; layer i sends bitrate >> 2i.
var simRids = []string{"f", "h", "q"}

// h264Codec is the one video format the publisher sends.
var h264Codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
	SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}

// h264Layer is one video stream the publisher writes: its track, its
// numbering and, for simulcast, the header extensions each packet carries.
type h264Layer struct {
	track      *webrtc.TrackLocalStaticRTP
	frameBytes int
	seq        uint16
	ts         uint32
	lastKey    time.Time
	// Simulcast only (ridID 0 without): the mid and rid extensions.
	midID, ridID uint8
	mid, rid     string
}

func newH264Layer(track *webrtc.TrackLocalStaticRTP, bitrate int) *h264Layer {
	return &h264Layer{track: track, frameBytes: bitrate / 8 / whepFPS, seq: uint16(rand.Uint32()), ts: rand.Uint32()}
}

func (l *h264Layer) write(h rtp.Header, payload []byte) {
	if l.ridID != 0 {
		_ = h.SetExtension(l.midID, []byte(l.mid))
		_ = h.SetExtension(l.ridID, []byte(l.rid))
	}
	_ = l.track.WriteRTP(&rtp.Packet{Header: h, Payload: payload})
}

// frame writes one frame (a keyframe three times the size, after a stub
// SPS and PPS) in FU-A fragments of 1,100 bytes, each starting with its
// send time; payload is scratch space.
func (l *h264Layer) frame(key bool, payload []byte) {
	size := l.frameBytes
	var nal byte = 0x41 // non-IDR slice, nal_ref_idc 2
	if key {
		l.lastKey = time.Now()
		size *= 3
		nal = 0x65 // IDR
		stap := []byte{0x78, 0, 4, 0x67, 0x42, 0xe0, 0x1f, 0, 3, 0x68, 0xce, 0x3c}
		l.write(rtp.Header{Version: 2, SequenceNumber: l.seq, Timestamp: l.ts}, stap)
		l.seq++
	}
	for off := 0; off < size; off += 1100 {
		n := min(1100, size-off)
		fu := payload[:n+2]
		fu[0] = nal&0xe0 | 28
		fu[1] = nal & 0x1f
		if n >= 8 { // the send time, for the viewers' delay
			binary.BigEndian.PutUint64(fu[2:], uint64(time.Now().UnixNano()))
		}
		if off == 0 {
			fu[1] |= 0x80
		}
		last := off+n >= size
		if last {
			fu[1] |= 0x40
		}
		l.write(rtp.Header{Version: 2, SequenceNumber: l.seq, Timestamp: l.ts, Marker: last}, fu)
		l.seq++
	}
	l.ts += 90000 / whepFPS
}

// whepPublishSimulcast is whepPublish with three video layers.
func whepPublishSimulcast(ctx context.Context, api *webrtc.API, f whepFlags) (*whepPublisher, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	var tracks []*webrtc.TrackLocalStaticRTP
	for _, rid := range simRids {
		tr, err := webrtc.NewTrackLocalStaticRTP(h264Codec, "video", "livecart-load", webrtc.WithRTPStreamID(rid))
		if err != nil {
			pc.Close()
			return nil, err
		}
		tracks = append(tracks, tr)
	}
	audio, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "livecart-load")
	tx, err := pc.AddTransceiverFromTrack(tracks[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		pc.Close()
		return nil, err
	}
	for _, tr := range tracks[1:] {
		if err := tx.Sender().AddEncoding(tr); err != nil {
			pc.Close()
			return nil, err
		}
	}
	atx, err := pc.AddTransceiverFromTrack(audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		pc.Close()
		return nil, err
	}
	p := &whepPublisher{pc: pc, token: f.token, done: make(chan struct{}), sender: tx.Sender(), keys: make([]atomic.Bool, len(simRids))}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			p.connected.Store(true)
		}
	})
	for i, rid := range simRids {
		p.readers.Add(1)
		go func() {
			defer p.readers.Done()
			for {
				pkts, _, err := p.sender.ReadSimulcastRTCP(rid)
				if err != nil {
					return
				}
				for _, pk := range pkts {
					switch pk.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						p.keys[i].Store(true)
					}
				}
			}
		}()
	}
	p.wg.Add(1)
	go func() { // the audio sender's RTCP, read so its interceptors run
		defer p.wg.Done()
		for {
			if _, _, err := atx.Sender().ReadRTCP(); err != nil {
				return
			}
		}
	}()
	if p.resource, err = whepExchange(ctx, pc, f.whip, f.token); err != nil {
		p.closePeer()
		p.wg.Wait()
		return nil, err
	}
	var midID, ridID uint8
	for _, e := range p.sender.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(e.ID)
		}
	}
	if ridID == 0 || midID == 0 {
		// The relay could not tell the layers apart.
		whepDelete(ctx, p.resource, p.token)
		p.closePeer()
		p.wg.Wait()
		return nil, errors.New("the WHIP answer negotiated no mid or rid header extension for the video: no simulcast")
	}
	var layers []*h264Layer
	for i, tr := range tracks {
		l := newH264Layer(tr, f.bitrate>>(2*i))
		l.midID, l.ridID, l.mid, l.rid = midID, ridID, tx.Mid(), simRids[i]
		layers = append(layers, l)
	}
	p.wg.Add(1)
	go p.send(layers, audio, f.keyInterval)
	return p, nil
}

// closePeer closes a simulcast publisher's peer connection. Pion's
// simulcast RTCP reads race with its Close: once connected (SRTP up), the
// readers are stopped first, by a read deadline; before that they wait in
// pion for the sender to start or stop, which Close ends.
func (p *whepPublisher) closePeer() {
	if p.connected.Load() {
		for _, rid := range simRids {
			_ = p.sender.SetReadDeadlineSimulcast(time.Now(), rid)
		}
		p.readers.Wait()
	}
	_ = p.pc.Close()
	p.readers.Wait()
}
