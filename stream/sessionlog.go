package stream

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/pion/webrtc/v3"
)

// A media session logs one info line when its peer connects ("session
// started") and one when it is released ("session ended"), whatever
// released it: DELETE, ICE failure, a replaced publisher, the end of the
// stream or shutdown. Per-packet and per-candidate detail (gaps in a
// publisher's sequence numbers, NACKs, keyframe requests, trickled
// candidates) is logged at debug only.
//
// Roles: "whip" (a host's publisher), "whep" (a viewer), "upstream" (this
// node's session pulling a stream from its origin node) and "relay" (the
// origin's session feeding an edge node).

// sessionInfo is what the two lines of a session say of it.
type sessionInfo struct {
	role, stream, session string
	// remote is the HTTP client's address (WHIP, WHEP) or the other
	// node (upstream, relay).
	remote string
	codecs []webrtc.RTPCodecParameters
	// layers is how many video layers the session carries (0 counts as
	// 1); layer is the layer a viewer asked for (auto, high, medium,
	// low), "" for a publisher.
	layers int
	layer  string
}

func (i sessionInfo) attrs() []any {
	names := make([]string, 0, len(i.codecs))
	for _, c := range i.codecs {
		names = append(names, c.MimeType)
	}
	slices.Sort(names)
	out := []any{"stream", i.stream, "session", i.session, "role", i.role,
		"codec", strings.Join(names, ","), "layers", max(i.layers, 1), "remote", i.remote}
	if i.layer != "" {
		out = append(out, "layer", i.layer)
	}
	return out
}

// logStart logs that a session's peer connected, after setup since its
// answer, from the media address media.
func (s *Service) logStart(i sessionInfo, media string, setup time.Duration) {
	s.log.Info("stream: session started", append(i.attrs(), "media", media, "setup", setup.Round(time.Millisecond))...)
}

// logEnd logs that a session was released after duration: packets
// received (publisher) or sent (viewer), and loss, the packets missing in
// what a publisher sent or what a viewer reported lost.
func (s *Service) logEnd(i sessionInfo, connected bool, duration time.Duration, packets, loss uint64) {
	s.log.Info("stream: session ended", append(i.attrs(), "connected", connected,
		"duration", duration.Round(time.Millisecond), "packets", packets, "loss", loss)...)
}

// debugOn reports whether debug lines are logged, so that hot paths build
// none otherwise.
func (s *Service) debugOn() bool { return s.log.Enabled(context.Background(), slog.LevelDebug) }

// mediaAddr returns the remote address of pc's selected ICE candidate
// pair, or "" before there is one.
func mediaAddr(pc *webrtc.PeerConnection) string {
	if to, ok := selectedPeer(pc); ok {
		return to.String()
	}
	return ""
}

// seqCount counts the packets of one RTP stream and those missing from it,
// from their sequence numbers (RFC 3550 appendix A.3). One goroutine owns
// it.
type seqCount struct {
	started   bool
	base, max int64 // extended sequence numbers
	received  uint64
}

// add counts a packet; it returns how many packets are missing right
// before it (0 unless it jumps ahead).
func (c *seqCount) add(seq uint16) uint64 {
	c.received++
	if !c.started {
		c.started, c.base, c.max = true, int64(seq), int64(seq)
		return 0
	}
	ext := c.max + int64(int16(seq-uint16(c.max)))
	if ext <= c.max {
		if ext < c.base {
			c.base = ext
		}
		return 0
	}
	gap := ext - c.max - 1
	c.max = ext
	return uint64(gap)
}

// lost is the number of packets expected and not received.
func (c *seqCount) lost() uint64 {
	if !c.started {
		return 0
	}
	expected := uint64(c.max - c.base + 1)
	if c.received >= expected {
		return 0
	}
	return expected - c.received
}
