package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/transport/v2"
	"github.com/pion/transport/v2/stdnet"
	"github.com/pion/webrtc/v3"
)

// The light viewer is a real WebRTC peer to the server: pion runs its ICE
// (checks, consent, keepalives) and its DTLS handshake, and the viewer
// sends receiver reports (sendReports). But its RTP never reaches pion.
// Pion's ICE agent gets its sockets from the network given to its
// SettingEngine (SetNet): sockets of the poller (whep_poller_linux.go),
// which counts each RTP datagram from its header, which SRTP leaves in
// clear, and drops it; STUN, DTLS and RTCP go up to pion as usual. So no
// RTP is copied through ICE, the demultiplexer and SRTP, decrypted, or read
// by a track, and no goroutine wakes per packet.
//
// Every viewer keeps its own sockets. Light viewers cannot share one, as a
// UDP mux would have them: the relay answers all its viewers from one UDP
// port, so viewers on one local port would be one 5-tuple, and both ends'
// muxes route by remote address, not by ICE username, once it is known.

// lightTick is how often the poller drains the sockets. Arrival times, for
// the first video packet and the longest gap, are to this precision.
const lightTick = 5 * time.Millisecond

// whepLight builds light viewers. Their media engine is the full viewer's,
// default interceptors' feedback and header extensions included, so their
// offer is the same; but they run no interceptors: no RTP reaches pion for
// the NACK generator, receiver reports or TWCC feedback to work on, and
// their timers (NACK's every 100 ms) took a third of the load tool's CPU
// at 1,000 viewers. The media engine is shared (pion copies it per peer
// connection); each viewer gets its own SettingEngine, whose network counts
// into that viewer. close stops the poller, after the viewers are closed.
type whepLight struct {
	m    *webrtc.MediaEngine
	net  transport.Net
	poll *lightPoller
}

func newWhepLight() (*whepLight, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	if err := webrtc.RegisterDefaultInterceptors(m, &interceptor.Registry{}); err != nil {
		return nil, err
	}
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("light viewers: %w", err)
	}
	p, err := newLightPoller(lightTick)
	if err != nil {
		return nil, err
	}
	return &whepLight{m: m, net: n, poll: p}, nil
}

func (l *whepLight) close() { l.poll.close() }

// watch joins the stream at endpoint with a light viewer, whose RTP passes
// link first if it has one. The viewer sends a receiver report every
// second until close.
func (l *whepLight) watch(ctx context.Context, endpoint string, link *capLink) (*whepViewer, error) {
	v := newWhepViewer()
	v.link = link
	se := webrtc.SettingEngine{}
	se.SetNet(&lightNet{Net: l.net, p: l.poll, v: v})
	// Multicast DNS would open a socket per viewer outside the poller; the
	// relay sends no .local candidates.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(l.m), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	v.pc = pc
	if err := v.join(ctx, endpoint); err != nil {
		pc.Close()
		return nil, err
	}
	v.wg.Add(1)
	go v.sendReports()
	return v, nil
}

// lightNet is the host's network for one light viewer, but with UDP
// sockets from the poller, counting for that viewer.
type lightNet struct {
	transport.Net
	p *lightPoller
	v *whepViewer
}

func (n *lightNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	return n.p.listen(network, laddr, n.v)
}

// sendReports sends a receiver report every second, as pion and browsers
// do, from the header counts: per SSRC the loss since the last report, the
// loss in all and the highest sequence number. Jitter and the sender
// report fields (LSR, DLSR) stay zero; the timestamps they need are
// encrypted.
func (v *whepViewer) sendReports() {
	defer v.wg.Done()
	self := rand.Uint32()
	prev := map[uint32]rtpCount{}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-v.done:
			return
		case <-t.C:
		}
		rr := &rtcp.ReceiverReport{SSRC: self}
		v.mu.Lock()
		for ssrc, c := range v.streams {
			if len(rr.Reports) == 31 { // what one report holds
				break
			}
			rr.Reports = append(rr.Reports, receptionReport(ssrc, prev[ssrc], *c))
			prev[ssrc] = *c
		}
		v.mu.Unlock()
		if len(rr.Reports) > 0 {
			_ = v.pc.WriteRTCP([]rtcp.Packet{rr})
		}
	}
}

// receptionReport is the report block for one SSRC whose counts were prev
// at the last report and are now c (RFC 3550 §6.4.1).
func receptionReport(ssrc uint32, prev, c rtpCount) rtcp.ReceptionReport {
	expected := c.expected()
	if prev.packets > 0 {
		expected = int64(c.hi - prev.hi)
	}
	var fraction uint8
	if lost := expected - (c.packets - prev.packets); lost > 0 {
		fraction = uint8(min(255, lost*256/expected))
	}
	return rtcp.ReceptionReport{
		SSRC:               ssrc,
		FractionLost:       fraction,
		TotalLost:          uint32(min(c.lost(), 0x7fffff)),
		LastSequenceNumber: uint32(c.hi), // cycles and sequence number; 1<<32 falls away
	}
}
