package stream

import (
	"context"
	"encoding/binary"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// publisher is what feeds a room's relay tracks: a WHIP session (the
// host's PeerConnection) or, on an edge, an upstream (this node's client
// PeerConnection to the stream's origin node); and the goroutines reading
// its tracks into the relay tracks.
type publisher struct {
	s       *Service
	id      string // the resource id in the WHIP Location
	sub     string
	pc      *webrtc.PeerConnection
	room    *room  // set by attach
	session uint64 // set by attach
	// tracks are the relay tracks it feeds, by kind and layer slot;
	// rids are its video's simulcast rids by slot (none without
	// simulcast).
	tracks map[webrtc.RTPCodecType][]*relayTrack
	rids   []string

	// upstream is the origin node of an upstream session, "" for WHIP;
	// leave, when set, tells the origin the session is over.
	upstream string
	leave    func()

	// ice is the session's ICE side, which PATCH changes (trickle.go).
	ice *iceSession
	// remote is the HTTP client of a WHIP session, for the log; created
	// is when the session was made.
	remote  string
	created time.Time
	// packets and lost total the RTP packets received and missing, added
	// by each track's goroutine when it ends.
	packets, lost atomic.Uint64

	connected atomic.Bool
	up        chan struct{} // closed when the peer connects
	done      chan struct{} // closed when the publisher is closed
	timer     *time.Timer
	unpend    func() // releases the pending slot; idempotent

	mu      sync.Mutex
	closed  bool
	claimed map[layerKey]bool
	// layersUp counts the simulcast layers that arrived.
	layersUp int
	wg       sync.WaitGroup
	once     sync.Once
}

// layerKey names one layer of one kind.
type layerKey struct {
	kind webrtc.RTPCodecType
	rid  string
}

// track claims the layer rid of kind for a goroutine of pub and returns
// its relay track; nil when pub is closed, already reads that layer, or
// has no such layer.
func (p *publisher) track(kind webrtc.RTPCodecType, rid string) *relayTrack {
	p.mu.Lock()
	defer p.mu.Unlock()
	slot := 0
	if kind == webrtc.RTPCodecTypeVideo && len(p.rids) > 0 {
		if slot = slices.Index(p.rids, rid); slot < 0 {
			return nil
		}
	} else if rid != "" {
		return nil
	}
	k := layerKey{kind, rid}
	if p.closed || p.claimed[k] || slot >= len(p.tracks[kind]) {
		return nil
	}
	p.claimed[k] = true
	p.wg.Add(1)
	return p.tracks[kind][slot]
}

// close closes the connection and waits for its goroutines. It must not
// be called from one of them.
func (p *publisher) close() {
	p.once.Do(func() {
		p.mu.Lock()
		p.closed = true
		timer, attached, leave := p.timer, p.room != nil, p.leave
		p.mu.Unlock()
		if timer != nil {
			timer.Stop()
		}
		_ = p.pc.Close()
		p.wg.Wait()
		p.unpend()
		close(p.done)
		if leave != nil {
			leave()
		}
		if attached {
			p.s.logEnd(p.info(), p.connected.Load(), p.s.now().Sub(p.created), p.packets.Load(), p.lost.Load())
		}
		switch {
		case !attached:
		case p.upstream != "":
			p.s.m.upstreams.Dec()
		default:
			p.s.m.publishers.Dec()
		}
	})
}

// newPublisher returns a publisher of pc, not started; unpend releases its
// pending slot.
func (s *Service) newPublisher(pc *webrtc.PeerConnection, sub, upstream string, unpend func()) *publisher {
	return &publisher{s: s, id: randomID(16), sub: sub, pc: pc, upstream: upstream, unpend: unpend,
		ice: newICESession(), created: s.now(),
		claimed: map[layerKey]bool{}, up: make(chan struct{}), done: make(chan struct{})}
}

// info describes pub for its log lines.
func (p *publisher) info() sessionInfo {
	i := sessionInfo{role: "whip", session: p.id, remote: p.remote}
	if p.upstream != "" {
		i.role, i.remote = "upstream", p.upstream
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.room != nil {
		i.stream = p.room.id
	}
	for kind, ts := range p.tracks {
		i.codecs = append(i.codecs, ts[0].codec)
		if kind == webrtc.RTPCodecTypeVideo {
			i.layers = len(ts)
		}
	}
	return i
}

// whipSession returns the WHIP session id of stream, or nil.
func (s *Service) whipSession(stream, id string) *publisher {
	rm := s.room(stream)
	if rm == nil {
		return nil
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.pub != nil && rm.pub.upstream == "" && rm.pub.id == id {
		return rm.pub
	}
	return nil
}

// handleWHIP is POST /api/streams/{id}/whip.
func (s *Service) handleWHIP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p, err := s.cfg.Signer.Require(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.store.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := auth.Check(p, auth.Own, auth.On(id, st.Owner())); err != nil {
		s.fail(w, r, err)
		return
	}
	if st.Status == Ended {
		s.fail(w, r, ErrEnded)
		return
	}
	offer, err := readSDP(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pub, answer, err := s.publish(r.Context(), st, p.Sub, api.ClientOf(r), offer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("ETag", pub.ice.ETag())
	w.Header().Set("Accept-Patch", SDPFragType)
	s.writeSDP(w, "/api/streams/"+id+"/whip/"+pub.id, answer, p.Sub)
}

// handleWHIPPatch is PATCH on a WHIP resource: trickle ICE or an ICE
// restart (trickle.go), with the host's token as for its DELETE.
func (s *Service) handleWHIPPatch(w http.ResponseWriter, r *http.Request) {
	if pub, err := s.ownWHIPSession(r); err != nil {
		s.fail(w, r, err)
	} else {
		s.patchICE(w, r, iceTarget{role: "whip", stream: r.PathValue("id"), session: pub.id, pc: pub.pc, ice: pub.ice})
	}
}

// ownWHIPSession is the WHIP session of r's path, once r is checked to
// come from the stream's host (or an admin): not found when there is none.
func (s *Service) ownWHIPSession(r *http.Request) (*publisher, error) {
	id := r.PathValue("id")
	if err := s.checkOwn(r, id); err != nil {
		return nil, err
	}
	pub := s.whipSession(id, r.PathValue("session"))
	if pub == nil {
		return nil, api.New(api.NotFound, "no such WHIP session")
	}
	return pub, nil
}

// publish negotiates a WHIP offer from client, within its bound of
// pending sessions, and makes its sender the stream's publisher. On error
// nothing is left allocated.
func (s *Service) publish(ctx context.Context, st Stream, sub, client, offer string) (*publisher, string, error) {
	if s.isClosing() {
		return nil, "", errShutdown
	}
	layers, err := checkOffer(offer, true)
	if err != nil {
		return nil, "", err
	}
	if r := s.room(st.ID); r != nil {
		r.mu.Lock()
		busy := r.pub != nil && r.pub.upstream == "" && r.pub.sub != sub
		r.mu.Unlock()
		if busy {
			return nil, "", ErrBusy
		}
	}
	slot, release, err := s.admit(client)
	if err != nil {
		return nil, "", err
	}
	pc, err := s.eng.pub.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		release()
		return nil, "", err
	}
	pub := s.newPublisher(pc, sub, "", release)
	pub.remote = client
	for _, l := range layers {
		pub.rids = append(pub.rids, l.id)
	}
	slot.setEvict(pub.close)
	pub.start()
	answer, chosen, err := s.answerPublisher(ctx, pc, offer, layers)
	if err != nil {
		pub.close()
		return nil, "", err
	}
	// The handlers are on already; they see room, session and tracks
	// under pub.mu.
	pub.mu.Lock()
	old, drop, err := s.attach(st.ID, pub, chosen, max(1, len(layers)))
	pub.mu.Unlock()
	if err != nil {
		pub.close()
		return nil, "", err
	}
	for _, v := range drop {
		v.close()
	}
	if old != nil {
		old.close()
	}
	if _, err := s.store.GoLive(ctx, st.ID, s.cfg.NodeID); err != nil {
		pub.gone()
		return nil, "", err
	}
	if pub.isClosed() { // it failed while we attached it
		pub.gone()
	}
	if st.Status != Live {
		s.emit(st.ID, Live)
	}
	return pub, answer, nil
}

// answerPublisher applies the offer, picks the codecs and installs the
// handlers; it returns the complete answer (all candidates gathered).
func (s *Service) answerPublisher(ctx context.Context, pc *webrtc.PeerConnection, offer string, layers []layerOffer) (string, map[webrtc.RTPCodecType]webrtc.RTPCodecParameters, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", nil, api.Errorf(api.BadRequest, "the SDP offer was refused: %v", err)
	}
	chosen, err := choosePublisherCodecs(pc, len(layers) > 0)
	if err != nil {
		return "", nil, err
	}
	if err := checkLayerCodecs(layers, chosen[webrtc.RTPCodecTypeVideo]); err != nil {
		return "", nil, err
	}
	answer, err := s.answer(ctx, pc)
	return answer, chosen, err
}

// answer creates the local answer and waits for ICE gathering (host
// candidates on the UDP mux: immediate), so the answer is complete.
func (s *Service) answer(ctx context.Context, pc *webrtc.PeerConnection) (string, error) {
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", api.Errorf(api.BadRequest, "no answer to this offer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", api.Errorf(api.BadRequest, "no answer to this offer: %v", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}

// start installs pub's handlers, before the offer is applied.
func (p *publisher) start() {
	p.pc.OnTrack(func(tr *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
		t := p.track(tr.Kind(), tr.RID())
		if t == nil {
			return
		}
		defer p.wg.Done()
		p.read(t, tr, rcv)
	})
	p.pc.OnConnectionStateChange(func(cs webrtc.PeerConnectionState) {
		switch cs {
		case webrtc.PeerConnectionStateConnected:
			if !p.connected.Swap(true) {
				close(p.up)
				p.s.logStart(p.info(), mediaAddr(p.pc), p.s.now().Sub(p.created))
			}
			p.unpend()
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			p.gone()
		}
	})
	timer := time.AfterFunc(p.s.cfg.ConnectTimeout, func() {
		if !p.connected.Load() {
			p.gone()
		}
	})
	p.mu.Lock()
	p.timer = timer
	p.mu.Unlock()
}

func (p *publisher) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// gone handles a publisher that left: the room waits for it, and its
// connection is released.
func (p *publisher) gone() {
	p.mu.Lock()
	r := p.room
	p.mu.Unlock()
	if r != nil {
		r.publisherGone(p)
	}
	p.close()
}

// read forwards one publisher track into t until the connection closes.
func (p *publisher) read(t *relayTrack, tr *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
	// Receiver RTCP (sender reports) must be drained for the interceptors.
	// A simulcast layer's is read once every layer has arrived: pion
	// copies all of a receiver's layers to read one, while it sets up
	// those that arrive later.
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	var drain []func() ([]rtcp.Packet, interceptor.Attributes, error)
	if rid := tr.RID(); rid == "" {
		drain = append(drain, rcv.ReadRTCP)
	} else if p.layersUp++; p.layersUp == len(p.rids) {
		for _, rid := range p.rids {
			drain = append(drain, func() ([]rtcp.Packet, interceptor.Attributes, error) { return rcv.ReadSimulcastRTCP(rid) })
		}
	}
	p.wg.Add(len(drain))
	stream := ""
	if p.room != nil {
		stream = p.room.id
	}
	p.mu.Unlock()
	for _, read := range drain {
		go func() {
			defer p.wg.Done()
			for {
				if _, _, err := read(); err != nil {
					return
				}
			}
		}()
	}

	t.setSource(p.session, &source{write: p.pc.WriteRTCP, ssrc: uint32(tr.SSRC())})
	// OBS and browsers may drop their first frames: ask for a keyframe now
	// and again until one arrives.
	t.forceKeyframe("publish")
	var (
		buf [maxPayload + 64]byte
		seq seqCount
	)
	defer func() {
		p.packets.Add(seq.received)
		p.lost.Add(seq.lost())
	}()
	for {
		n, _, err := tr.Read(buf[:])
		if err != nil {
			return
		}
		if n >= 4 {
			if gap := seq.add(binary.BigEndian.Uint16(buf[2:4])); gap > 0 && p.s.debugOn() {
				p.s.log.Debug("stream: packets missing from the publisher", "stream", stream, "session", p.id,
					"kind", tr.Kind().String(), "missing", gap, "before", binary.BigEndian.Uint16(buf[2:4]))
			}
		}
		now := p.s.now().UnixNano()
		if !t.ingest(p.session, buf[:n], now) {
			t.requestKeyframe("publish")
		}
	}
}
