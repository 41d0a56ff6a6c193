package stream

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v3"
)

// room is the live state of one stream on this node: its publisher (at
// most one), its relay tracks and its viewers. It exists from the first
// WHIP 201 until the stream ends or its reconnect grace expires.
//
// Lock order: Service.mu, then room.mu. Neither is held across a network
// write or a store call.
type room struct {
	s  *Service
	id string

	mu      sync.Mutex
	pub     *publisher
	feeds   map[webrtc.RTPCodecType]*feed
	viewers map[string]*viewer
	// edges are the sessions of edge nodes relaying this stream from here.
	edges map[string]*viewer
	// idleSince is when the room last had no viewer (zero while it has
	// some): an edge lets go of a stream nobody watches.
	idleSince   time.Time
	grace       *time.Timer
	graceGen    uint64
	closed      bool
	nextSession uint64
}

// idleLocked is how long the room has had no viewer (0 while it has
// some). r.mu is held.
func (r *room) idleLocked(now time.Time) time.Duration {
	if len(r.viewers) > 0 {
		return 0
	}
	if r.idleSince.IsZero() {
		r.idleSince = now
	}
	return now.Sub(r.idleSince)
}

// touch restarts the idle clock of a room without viewers.
func (r *room) touch(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.viewers) == 0 {
		r.idleSince = now
	}
}

func (r *room) viewerCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.viewers)
}

// sameCodec reports whether a publisher's new codec can continue a track
// that viewers have already negotiated.
func sameCodec(a, b webrtc.RTPCodecParameters) bool {
	if !strings.EqualFold(a.MimeType, b.MimeType) || a.ClockRate != b.ClockRate {
		return false
	}
	return codecKindOf(a.MimeType) != codecH264 || h264Mode(a.SDPFmtpLine) == h264Mode(b.SDPFmtpLine)
}

// attach makes pub the stream's publisher, replacing the same host's
// earlier session; layers is how many simulcast layers its video has (1
// without simulcast). It returns the session replaced and the viewers that
// must go because the new session's codec cannot continue their track.
func (s *Service) attach(id string, pub *publisher, chosen map[webrtc.RTPCodecType]webrtc.RTPCodecParameters, layers int) (old *publisher, drop []*viewer, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, nil, errShutdown
	}
	r := s.rooms[id]
	if r == nil {
		r = &room{s: s, id: id, feeds: map[webrtc.RTPCodecType]*feed{},
			viewers: map[string]*viewer{}, edges: map[string]*viewer{}, idleSince: s.now()}
		s.rooms[id] = r
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// A host's session replaces the same host's earlier one, or an
	// upstream (the host came to this node); an upstream replaces an
	// upstream (the origin moved), never a host's session.
	if cur := r.pub; cur != nil && cur.upstream == "" && (pub.upstream != "" || cur.sub != pub.sub) {
		return nil, nil, ErrBusy
	}
	old = r.pub
	r.pub = pub
	r.graceGen++
	if r.grace != nil {
		r.grace.Stop()
		r.grace = nil
	}
	r.nextSession++
	pub.room, pub.session = r, r.nextSession
	pub.tracks = map[webrtc.RTPCodecType][]*relayTrack{}
	for kind, c := range chosen {
		f := r.feeds[kind]
		if f != nil && !sameCodec(f.codec, c) {
			// Viewers cannot switch codec without renegotiating: let them
			// go (their players reconnect) and start a fresh feed.
			for _, m := range []map[string]*viewer{r.viewers, r.edges} {
				for vid, v := range m {
					if v.uses(f) {
						drop = append(drop, v)
						delete(m, vid)
					}
				}
			}
			f = nil
		}
		if f == nil {
			f = newFeed(c)
			r.feeds[kind] = f
		}
		n := 1
		if kind == webrtc.RTPCodecTypeVideo {
			n = layers
		}
		pub.tracks[kind] = f.begin(pub.session, n, func(ranks *atomic.Uint64) *relayTrack {
			return newRelayTrack(c, s.m, s.now, s.cfg.KeyframeInterval, ranks)
		})
	}
	if pub.upstream != "" {
		s.m.upstreams.Inc()
	} else {
		s.m.publishers.Inc()
	}
	return old, drop, nil
}

// publisherGone is called when pub's connection failed or closed or it
// sent DELETE: if it is still the stream's publisher, the reconnect grace
// starts; viewers stay connected and wait.
func (r *room) publisherGone(pub *publisher) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pub != pub || r.closed {
		return
	}
	r.pub = nil
	r.graceGen++
	gen := r.graceGen
	r.grace = time.AfterFunc(r.s.cfg.ReconnectGrace, func() { r.s.expire(r, gen) })
}

// expire runs when a grace period ends: without a new publisher the room
// closes, its viewers are released and the stream is offline.
func (s *Service) expire(r *room, gen uint64) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.timers.Add(1)
	defer s.timers.Done()
	r.mu.Lock()
	if r.closed || r.pub != nil || r.graceGen != gen {
		r.mu.Unlock()
		s.mu.Unlock()
		return
	}
	r.closed = true
	viewers := r.takeViewersLocked()
	if s.rooms[r.id] == r {
		delete(s.rooms, r.id)
	}
	r.mu.Unlock()
	s.mu.Unlock()

	for _, v := range viewers {
		v.close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Offline only while this node is still the origin: a publisher that
	// came back here (or to another node) made it live again, and stays.
	done, err := s.store.Abandon(ctx, r.id, s.cfg.NodeID)
	if err != nil {
		s.log.Warn("stream: could not mark stream offline", "stream", r.id, "err", err)
		return
	}
	if done {
		s.emit(r.id, Offline)
	}
}

// takeViewersLocked empties the room of its viewers and edge sessions and
// returns them.
func (r *room) takeViewersLocked() []*viewer {
	out := make([]*viewer, 0, len(r.viewers)+len(r.edges))
	for _, v := range r.viewers {
		out = append(out, v)
	}
	for _, v := range r.edges {
		out = append(out, v)
	}
	if len(r.viewers) > 0 {
		r.idleSince = r.s.now()
	}
	r.viewers = map[string]*viewer{}
	r.edges = map[string]*viewer{}
	return out
}

// closeAll closes the room with its publisher and viewers and waits for
// their goroutines.
func (r *room) closeAll() {
	r.mu.Lock()
	r.closed = true
	if r.grace != nil {
		r.grace.Stop()
		r.grace = nil
	}
	pub := r.pub
	r.pub = nil
	viewers := r.takeViewersLocked()
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, v := range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.close()
		}()
	}
	if pub != nil {
		pub.close()
	}
	wg.Wait()
}

// addViewer registers v, a viewer or an edge session; false when the room
// closed meanwhile.
func (r *room) addViewer(v *viewer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	if v.node != "" {
		r.edges[v.id] = v
		return true
	}
	r.viewers[v.id] = v
	r.idleSince = time.Time{}
	return true
}

// removeViewer forgets v and reports whether it was there.
func (r *room) removeViewer(v *viewer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.viewers
	if v.node != "" {
		m = r.edges
	}
	if m[v.id] != v {
		return false
	}
	delete(m, v.id)
	if v.node == "" && len(r.viewers) == 0 {
		r.idleSince = r.s.now()
	}
	return true
}

// room returns the live room of stream id on this node, or nil.
func (s *Service) room(id string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[id]
}
