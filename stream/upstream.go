package stream

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/api"
)

// The edge's side of a cascade. A node asked for WHEP on a stream that is
// live on another node (its origin) opens one upstream to the origin: a
// WebRTC session in which this node is the client, offering to receive
// audio and video at the origin's POST /api/streams/{id}/relay with a node
// token. The upstream is a publisher of the local room like a WHIP
// session, so the edge's viewers get the same shared packet cache, NACK
// answers and keyframe handling; the NACKs and keyframe requests the edge
// needs go upstream. When the origin moves (the host published to another
// node), the edge attaches an upstream to the new origin to the same room,
// and its viewers see one continuous track, as in a publisher reconnect.

// upstreamRetry is how long after a failed upstream an edge answers its
// viewers 503 without trying the origin again.
const upstreamRetry = time.Second

// nodeTokenTTL is the life of the node tokens an edge mints per request.
const nodeTokenTTL = time.Minute

// uplink is this node's upstream of one stream: at most one session at a
// time, opened by the first viewer (or by Run when the origin moved), and
// shared by every viewer of the stream on this node. Lock order:
// uplink.mu, then publisher.mu, Service.mu, room.mu.
type uplink struct {
	id string

	mu      sync.Mutex
	origin  string        // the origin of the session open or being opened
	pub     *publisher    // the session opened last; nil before
	dialing chan struct{} // closed when the attempt under way ends; nil when none is
	err     error         // why the last attempt failed; nil after a success
	failed  time.Time     // when it failed
}

// openLocked reports whether u holds an open session to origin.
func (u *uplink) openLocked(origin string) bool {
	return u.pub != nil && u.origin == origin && !u.pub.isClosed()
}

// uplinkOf returns the stream's uplink, made on first use.
func (s *Service) uplinkOf(id string) *uplink {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.uplinks[id]
	if u == nil {
		u = &uplink{id: id}
		s.uplinks[id] = u
	}
	return u
}

// relaysFrom reports whether this node's room of stream id has a
// publisher that is the host's own session here or an upstream from
// origin.
func (s *Service) relaysFrom(id, origin string) bool {
	r := s.room(id)
	if r == nil {
		return false
	}
	r.mu.Lock()
	pub, closed := r.pub, r.closed
	r.mu.Unlock()
	return !closed && pub != nil && (pub.upstream == "" || pub.upstream == origin) && !pub.isClosed()
}

// relayFrom makes this node relay st, which is live on another node: it
// opens the upstream to st.Origin, or waits for the one being opened, for
// at most UpstreamTimeout. It returns an error with code unavailable when
// the origin is gone, refuses, or does not connect in time; after such a
// failure it answers so at once for upstreamRetry.
func (s *Service) relayFrom(ctx context.Context, st Stream) error {
	for range 2 {
		u := s.uplinkOf(st.ID)
		u.mu.Lock()
		if u.openLocked(st.Origin) {
			u.mu.Unlock()
			return nil
		}
		if u.dialing == nil {
			if u.err != nil && u.origin == st.Origin && s.now().Sub(u.failed) < upstreamRetry {
				err := u.err
				u.mu.Unlock()
				return err
			}
			if err := s.dialLocked(u, st.Origin); err != nil {
				u.mu.Unlock()
				if errors.Is(err, errForgotten) {
					continue
				}
				return err
			}
		}
		ch := u.dialing
		u.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return api.Unavailablef(ctx.Err(), "the stream's origin node did not answer in time")
		}
		u.mu.Lock()
		ok, err, origin := u.openLocked(u.origin), u.err, u.origin
		u.mu.Unlock()
		switch {
		case ok && origin == st.Origin:
			return nil
		case err != nil && origin == st.Origin:
			return err
		}
		// That attempt went to an earlier origin: try the current one.
	}
	return api.New(api.Unavailable, "the stream's origin node changed while this node connected to it")
}

// follow starts an upstream to st.Origin unless one is open or under way;
// it does not wait.
func (s *Service) follow(st Stream) {
	u := s.uplinkOf(st.ID)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.openLocked(st.Origin) || u.dialing != nil ||
		(u.err != nil && u.origin == st.Origin && s.now().Sub(u.failed) < upstreamRetry) {
		return
	}
	_ = s.dialLocked(u, st.Origin) // a node shutting down follows nothing
}

// errForgotten: the uplink was forgotten meanwhile; take the stream's
// current one.
var errForgotten = errors.New("stream: uplink forgotten")

// dialLocked starts an attempt to open u's upstream to origin, on a
// goroutine that Shutdown waits for. u.mu is held.
func (s *Service) dialLocked(u *uplink, origin string) error {
	s.mu.Lock()
	switch {
	case s.closing:
		s.mu.Unlock()
		return errShutdown
	case s.uplinks[u.id] != u:
		s.mu.Unlock()
		return errForgotten
	}
	s.dials.Add(1)
	s.mu.Unlock()
	u.origin = origin
	u.dialing = make(chan struct{})
	go s.dial(u, origin)
	return nil
}

// dial opens u's upstream to origin and records the outcome.
func (s *Service) dial(u *uplink, origin string) {
	defer s.dials.Done()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.UpstreamTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	start := s.now()
	pub, err := s.openUpstream(ctx, u.id, origin)
	if err != nil {
		s.m.upstreamFailures.Inc()
		s.log.Warn("stream: no upstream from the origin node", "stream", u.id, "origin", origin, "err", err)
	} else {
		s.log.Info("stream: relaying from the origin node", "stream", u.id, "origin", origin,
			"connected_in", s.now().Sub(start).Round(time.Millisecond))
	}
	u.mu.Lock()
	ch := u.dialing
	u.dialing = nil
	if err != nil {
		u.err, u.failed = err, s.now()
	} else {
		u.pub, u.err = pub, nil
	}
	u.mu.Unlock()
	close(ch)
}

// upstreamError is a failed upstream as its viewers are told: 503
// unavailable with Retry-After.
func upstreamError(err error, format string, args ...any) error {
	return api.Unavailablef(err, format, args...)
}

// openUpstream opens a session from this node to the origin node of
// stream, attaches it to the local room as its publisher and waits until
// it connects. On error nothing is left open.
func (s *Service) openUpstream(ctx context.Context, stream, origin string) (*publisher, error) {
	base, err := s.store.NodeURL(ctx, origin)
	if err != nil {
		return nil, err
	}
	token, err := s.cfg.Signer.IssueNode(s.cfg.NodeID, stream, nodeTokenTTL)
	if err != nil {
		return nil, err
	}
	pc, err := s.eng.pub.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	pub := s.newPublisher(pc, "", origin, func() {})
	fail := func(err error) (*publisher, error) {
		pub.gone()
		return nil, err
	}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return fail(err)
		}
	}
	pub.start()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fail(err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(upstreamError(ctx.Err(), "gathering candidates for the upstream timed out"))
	}
	answer, resource, err := s.offerUpstream(ctx, base, stream, token, pc.LocalDescription().SDP)
	if err != nil {
		return fail(err)
	}
	pub.mu.Lock()
	pub.leave = func() { s.leaveUpstream(resource, stream) }
	pub.mu.Unlock()
	chosen, err := answerCodecs(answer)
	if err != nil {
		return fail(err)
	}
	// Attached before the answer is applied, so that the track handlers
	// find their relay tracks; they see them under pub.mu.
	pub.mu.Lock()
	old, drop, err := s.attach(stream, pub, chosen, 1)
	pub.mu.Unlock()
	if err != nil {
		pub.close()
		return nil, err
	}
	for _, v := range drop {
		v.close()
	}
	if old != nil {
		// Closing tells the earlier origin, which may not answer: do not
		// make the new upstream wait for it.
		s.dials.Add(1)
		go func() {
			defer s.dials.Done()
			old.close()
		}()
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fail(upstreamError(err, "the origin node's answer was refused"))
	}
	select {
	case <-pub.up:
		// The viewer who asked for it joins now: the room is not idle.
		pub.room.touch(s.now())
		return pub, nil
	case <-pub.done:
		return nil, upstreamError(nil, "the upstream from the origin node failed")
	case <-ctx.Done():
		return fail(upstreamError(ctx.Err(), "the upstream from the origin node did not connect in time"))
	}
}

// offerUpstream sends the offer to the origin's node endpoint and returns
// its answer and the session's URL.
func (s *Service) offerUpstream(ctx context.Context, base, stream, token, offer string) (answer, resource string, err error) {
	endpoint := strings.TrimRight(base, "/") + "/api/streams/" + url.PathEscape(stream) + "/relay"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(offer))
	if err != nil {
		return "", "", upstreamError(err, "the origin node's URL %q is not usable", base)
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := s.httpc.Do(req)
	if err != nil {
		return "", "", upstreamError(err, "the origin node did not answer")
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxSDP))
	if err != nil {
		return "", "", upstreamError(err, "reading the origin node's answer")
	}
	if res.StatusCode != http.StatusCreated {
		return "", "", upstreamError(nil, "the origin node refused the upstream: %d %s", res.StatusCode, firstLine(body))
	}
	loc, err := res.Request.URL.Parse(res.Header.Get("Location"))
	if err != nil || res.Header.Get("Location") == "" {
		return "", "", upstreamError(err, "the origin node's answer has no usable Location")
	}
	return string(body), loc.String(), nil
}

// leaveUpstream deletes an upstream's session at the origin, at most a
// second: an origin that does not answer releases it when ICE fails.
func (s *Service) leaveUpstream(resource, stream string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	token, err := s.cfg.Signer.IssueNode(s.cfg.NodeID, stream, nodeTokenTTL)
	if err != nil {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, resource, nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := s.httpc.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
	res.Body.Close()
}

// firstLine is the start of an answer body, for an error message.
func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// answerCodecs reads from an origin's answer the codec of each kind it
// sends (the origin answers each section with the publisher's codec
// alone), as this node's codec of the same name and parameters.
func answerCodecs(answer string) (map[webrtc.RTPCodecType]webrtc.RTPCodecParameters, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(answer); err != nil {
		return nil, upstreamError(err, "the origin node's answer is not SDP")
	}
	all := codecs()
	chosen := map[webrtc.RTPCodecType]webrtc.RTPCodecParameters{}
	for _, m := range d.MediaDescriptions {
		kind := webrtc.NewRTPCodecType(m.MediaName.Media)
		if kind == 0 || len(m.MediaName.Formats) == 0 || chosen[kind].MimeType != "" {
			continue
		}
		sends := false
		for _, a := range m.Attributes {
			sends = sends || a.Key == "sendonly" || a.Key == "sendrecv"
		}
		if !sends {
			continue
		}
		pt, err := strconv.ParseUint(m.MediaName.Formats[0], 10, 8)
		if err != nil {
			continue
		}
		c, err := d.GetCodecForPayloadType(uint8(pt))
		if err != nil {
			continue
		}
		want := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: kind.String() + "/" + c.Name, ClockRate: c.ClockRate, SDPFmtpLine: c.Fmtp,
		}}
		if match, ok := matchViewerCodec(want, all); ok {
			chosen[kind] = match
		}
	}
	if len(chosen) == 0 {
		return nil, upstreamError(nil, "the origin node sends no media this node relays")
	}
	return chosen, nil
}
