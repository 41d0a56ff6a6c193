package stream

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// viewer is one WHEP session: a PeerConnection with one downTrack per
// kind the stream has. Its writer and RTCP goroutines start when the peer
// connects; until then it holds a pending slot (see admit).
type viewer struct {
	s    *Service
	id   string // 128 random bits: the WHEP resource, and the right to DELETE it
	room *room
	// node is the edge node this session relays the stream to; "" for a
	// viewer. A node session is not a viewer: it is not counted, takes no
	// pending slot and has a metric of its own.
	node    string
	pc      *webrtc.PeerConnection
	downs   []*downTrack
	senders []*webrtc.RTPSender // senders[i] carries downs[i]
	unpend  func()              // releases the pending slot; idempotent

	// ice is the session's ICE side, which PATCH changes (trickle.go).
	ice *iceSession
	// remote is the HTTP client, for the log; created is when the
	// session was made; opened is set once it is answered, and only an
	// answered session logs its end.
	remote  string
	created time.Time
	opened  atomic.Bool
	// lost[i] is the cumulative loss the viewer last reported for
	// downs[i] (RTCP receiver reports).
	lost []atomic.Uint32

	// cork batches the datagrams to the viewer's peer (cork.go), nil
	// when they are not batched; under mu.
	cork *cork

	connected atomic.Bool
	wg        sync.WaitGroup
	mu        sync.Mutex
	closed    bool
	timer     *time.Timer
	once      sync.Once
}

// uses reports whether v receives f.
func (v *viewer) uses(f *feed) bool {
	for _, d := range v.downs {
		if d.f == f {
			return true
		}
	}
	return false
}

// video is v's video track, nil when it receives none.
func (v *viewer) video() *downTrack {
	for _, d := range v.downs {
		if d.kind == webrtc.RTPCodecTypeVideo {
			return d
		}
	}
	return nil
}

// goFunc runs f on a goroutine that close waits for.
func (v *viewer) goFunc(f func()) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		f()
	}()
}

// close releases the viewer: its writers stop, its connection closes, and
// close returns when its goroutines have.
func (v *viewer) close() {
	v.once.Do(func() {
		v.room.removeViewer(v)
		v.mu.Lock()
		v.closed = true
		timer := v.timer
		v.mu.Unlock()
		if timer != nil {
			timer.Stop()
		}
		for _, d := range v.downs {
			d.close()
		}
		_ = v.pc.Close()
		v.wg.Wait()
		v.mu.Lock()
		k := v.cork
		v.cork = nil
		v.mu.Unlock()
		k.uncork()
		v.unpend()
		if v.node != "" {
			v.s.m.edges.Dec()
		} else {
			v.s.m.viewers.Dec()
		}
		if v.opened.Load() {
			var packets, lost uint64
			for i, d := range v.downs {
				packets += d.sentPackets.Load()
				lost += uint64(v.lost[i].Load())
			}
			v.s.logEnd(v.info(), v.connected.Load(), v.s.now().Sub(v.created), packets, lost)
		}
	})
}

// info describes v for its log lines.
func (v *viewer) info() sessionInfo {
	i := sessionInfo{role: "whep", stream: v.room.id, session: v.id, remote: v.remote}
	if v.node != "" {
		i.role, i.remote = "relay", v.node
	}
	for _, d := range v.downs {
		i.codecs = append(i.codecs, d.want)
		if d.kind == webrtc.RTPCodecTypeVideo {
			i.layers = len(*d.f.layers.Load())
			i.layer = layerMode(d.mode.Load()).String()
		}
	}
	return i
}

// connect runs once when the viewer's peer connects: it leaves the
// pending bound and its writers start.
func (v *viewer) connect() {
	if v.connected.Swap(true) {
		return
	}
	v.unpend()
	v.recork()
	v.watchPeer()
	for i, d := range v.downs {
		sender := v.senders[i]
		v.goFunc(d.run)
		v.goFunc(func() { v.readRTCP(i, d, sender) })
		d.start()
	}
	v.s.logStart(v.info(), mediaAddr(v.pc), v.s.now().Sub(v.created))
}

// handleWHEP is POST /api/streams/{id}/whep.
func (s *Service) handleWHEP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p, err := s.cfg.Signer.Identify(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.store.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := auth.Check(p, auth.Watch, auth.On(id, st.Owner())); err != nil {
		s.fail(w, r, err)
		return
	}
	mode, err := parseLayer(r.URL.Query().Get("layer"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	offer, err := watchOffer(w, r, st)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, answer, err := s.watchHere(r.Context(), st, api.ClientOf(r), offer, mode)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	user := ""
	if p != nil {
		user = p.Sub
	}
	location := "/api/streams/" + id + "/whep/" + v.id
	w.Header().Set("ETag", v.ice.ETag())
	w.Header().Set("Accept-Patch", SDPFragType)
	w.Header().Add("Link", "<"+location+"/layer>; rel=\""+LayerRel+"\"")
	s.writeSDP(w, location, answer, user)
}

// whepSession returns the WHEP session id of stream, or nil.
func (s *Service) whepSession(stream, id string) *viewer {
	rm := s.room(stream)
	if rm == nil {
		return nil
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return rm.viewers[id]
}

// handleWHEPPatch is PATCH on a WHEP resource: trickle ICE or an ICE
// restart (trickle.go). As for its DELETE, holding the session's URL is
// the right to it.
func (s *Service) handleWHEPPatch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	v := s.whepSession(id, r.PathValue("session"))
	if v == nil {
		s.fail(w, r, api.New(api.NotFound, "no such WHEP session"))
		return
	}
	s.patchICE(w, r, iceTarget{role: "whep", stream: id, session: v.id, pc: v.pc, ice: v.ice})
}

// watch negotiates a WHEP offer from client against the stream's tracks
// on this node, within client's bound of pending sessions. On error
// nothing is left allocated.
func (s *Service) watch(ctx context.Context, id, client, offer string, mode layerMode) (*viewer, string, error) {
	return s.join(ctx, id, client, "", offer, mode)
}

// watchHere is watch on this node, which relays st from its origin
// first when st is live on another node (this node is then an edge).
func (s *Service) watchHere(ctx context.Context, st Stream, client, offer string, mode layerMode) (*viewer, string, error) {
	for attempt := 0; ; attempt++ {
		edge := st.Status == Live && st.Origin != "" && st.Origin != s.cfg.NodeID && !s.relaysFrom(st.ID, st.Origin)
		if edge {
			if err := s.relayFrom(ctx, st); err != nil {
				return nil, "", err
			}
		}
		v, answer, err := s.watch(ctx, st.ID, client, offer, mode)
		// The edge may have let go of an idle stream just then: once more.
		if err == nil || !edge || attempt > 0 || !errors.Is(err, ErrOffline) {
			return v, answer, err
		}
	}
}

// join negotiates an offer against the stream's feeds on this node: a
// viewer's (node "", within client's bound of pending sessions) or an edge
// node's (outside the bound, not counted as a viewer, and given the top
// layer). mode is the layer the viewer asks for. On error nothing is left
// allocated.
func (s *Service) join(ctx context.Context, id, client, node, offer string, mode layerMode) (*viewer, string, error) {
	if s.isClosing() {
		return nil, "", errShutdown
	}
	if _, err := checkOffer(offer, false); err != nil {
		return nil, "", err
	}
	r := s.room(id)
	if r == nil {
		return nil, "", ErrOffline
	}
	r.mu.Lock()
	feeds := make(map[webrtc.RTPCodecType]*feed, len(r.feeds))
	for k, f := range r.feeds {
		feeds[k] = f
	}
	closed := r.closed
	r.mu.Unlock()
	if closed || len(feeds) == 0 {
		return nil, "", ErrOffline
	}

	var slot *pendingSlot
	release := func() {}
	if node == "" {
		var err error
		if slot, release, err = s.admit(client); err != nil {
			return nil, "", err
		}
	}
	pc, err := s.eng.view.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		release()
		return nil, "", err
	}
	if node != "" {
		s.m.edges.Inc()
	} else {
		s.m.viewers.Inc()
	}
	remote := client
	if node != "" {
		remote = node
	}
	v := &viewer{s: s, id: randomID(16), room: r, pc: pc, node: node, unpend: release,
		ice: newICESession(), remote: remote, created: s.now()}
	if slot != nil {
		slot.setEvict(v.close)
	}
	fail := func(err error) (*viewer, string, error) {
		v.close()
		return nil, "", err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(api.Errorf(api.BadRequest, "the SDP offer was refused: %v", err))
	}
	if node != "" {
		mode = layerHigh
	}
	if err := v.addTracks(feeds, mode); err != nil {
		return fail(err)
	}
	v.lost = make([]atomic.Uint32, len(v.downs))
	v.pc.OnConnectionStateChange(func(cs webrtc.PeerConnectionState) {
		switch cs {
		case webrtc.PeerConnectionStateConnected:
			v.connect()
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			v.close()
		}
	})
	timer := time.AfterFunc(s.cfg.ConnectTimeout, func() {
		if !v.connected.Load() {
			v.close()
		}
	})
	v.mu.Lock()
	v.timer = timer
	v.mu.Unlock()
	answer, err := s.answer(ctx, pc)
	if err != nil {
		return fail(err)
	}
	if !r.addViewer(v) {
		return fail(ErrOffline)
	}
	for _, d := range v.downs {
		d.listen(d.t)
	}
	v.opened.Store(true)
	return v, answer, nil
}

// addTracks attaches a downTrack to every section of the viewer's offer
// whose kind the stream has, limited to the publisher's codec. A section
// without that codec makes the offer unusable: the player would stay black
// (or silent). Video starts on the layer mode picks; automatic starts on
// the lowest.
func (v *viewer) addTracks(feeds map[webrtc.RTPCodecType]*feed, mode layerMode) error {
	used := map[webrtc.RTPCodecType]bool{}
	for _, tr := range v.pc.GetTransceivers() {
		kind := tr.Kind()
		f := feeds[kind]
		if f == nil || used[kind] || tr.Sender() != nil {
			continue
		}
		ls := f.ranked()
		if len(ls) == 0 {
			continue
		}
		match, ok := matchViewerCodec(f.codec, tr.Receiver().GetParameters().Codecs)
		if !ok {
			return api.Errorf(api.BadRequest, "the offer cannot receive this stream's %s codec %s", kind, f.codec.MimeType)
		}
		d := newDownTrack(f, ls[mode.rankOf(len(ls), 0)], mode, match, "livecart-"+v.room.id, v.s.m)
		if _, err := v.pc.AddTrack(d); err != nil {
			return api.Errorf(api.BadRequest, "the offer cannot receive %s: %v", kind, err)
		}
		if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{match}); err != nil {
			return api.Errorf(api.BadRequest, "the offer cannot receive %s: %v", kind, err)
		}
		used[kind] = true
		v.downs = append(v.downs, d)
		v.senders = append(v.senders, tr.Sender())
	}
	if len(v.downs) == 0 {
		return api.New(api.BadRequest, "the offer receives neither audio nor video")
	}
	return nil
}

// readRTCP answers the viewer's feedback on downs[i]: NACKs from the
// shared cache, keyframe requests passed on to the publisher
// (rate-limited); it keeps the loss the viewer reports, and for video it
// chooses the viewer's layer from its reports and bandwidth estimates.
func (v *viewer) readRTCP(i int, d *downTrack, sender *webrtc.RTPSender) {
	if sender == nil {
		return
	}
	var ssrc uint32
	if enc := sender.GetParameters().Encodings; len(enc) > 0 {
		ssrc = uint32(enc[0].SSRC)
	}
	var ctl *control
	if d.kind == webrtc.RTPCodecTypeVideo {
		ctl = newControl()
	}
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		nacked := false
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.ReceiverReport:
				for _, rep := range p.Reports {
					if rep.SSRC != ssrc {
						continue
					}
					v.lost[i].Store(rep.TotalLost)
					if ctl != nil {
						d.setAuto(ctl.report(v.s.now(), rep.FractionLost, d.f.rates()))
					}
				}
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				if ctl != nil && slices.Contains(p.SSRCs, ssrc) {
					d.setAuto(ctl.estimate(v.s.now(), float64(p.Bitrate), d.f.rates()))
				}
			case *rtcp.TransportLayerNack:
				n := 0
				for _, pair := range p.Nacks {
					for _, seq := range pair.PacketList() {
						d.queueNack(seq)
						nacked = true
						n++
					}
				}
				if v.s.debugOn() {
					v.s.log.Debug("stream: NACK", "stream", v.room.id, "session", v.id, "kind", d.kind.String(), "packets", n)
				}
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				reason := "viewer"
				if v.node != "" {
					reason = "edge"
				}
				if v.s.debugOn() {
					v.s.log.Debug("stream: keyframe request", "stream", v.room.id, "session", v.id, "from", reason)
				}
				d.requestKeyframe(reason)
			}
		}
		if nacked {
			d.notify()
		}
	}
}

// LayerRel is the link relation of a WHEP session's layer resource, as the
// WHEP draft names it.
const LayerRel = "urn:ietf:params:whep:ext:core:layer"

// layerRequest is the body of a POST to a WHEP session's layer resource.
type layerRequest struct {
	Layer string `json:"layer"`
}

// layerState is what the layer resource answers: the layer asked for and
// how many the stream has now.
type layerState struct {
	Layer  string `json:"layer"`
	Layers int    `json:"layers"`
}

// handleWHEPLayer is POST on a WHEP session's layer resource: the viewer
// asks for a layer (auto, high, medium, low), played from the next
// keyframe of it on, on the same track. As for its DELETE, holding the
// session's URL is the right to it.
func (s *Service) handleWHEPLayer(w http.ResponseWriter, r *http.Request) {
	var req layerRequest
	if err := api.DecodeJSON(w, r, 1<<10, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	mode, err := parseLayer(req.Layer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := s.whepSession(r.PathValue("id"), r.PathValue("session"))
	if v == nil {
		s.fail(w, r, api.New(api.NotFound, "no such WHEP session"))
		return
	}
	d := v.video()
	if d == nil {
		s.fail(w, r, api.New(api.Conflict, "this session receives no video"))
		return
	}
	d.setMode(mode)
	api.WriteJSON(w, http.StatusOK, layerState{Layer: mode.String(), Layers: len(*d.f.layers.Load())})
}

// handleWHEPDelete is DELETE on a WHEP resource: holding its URL is the
// right to delete it.
func (s *Service) handleWHEPDelete(w http.ResponseWriter, r *http.Request) {
	v := s.whepSession(r.PathValue("id"), r.PathValue("session"))
	if v == nil {
		s.fail(w, r, api.New(api.NotFound, "no such WHEP session"))
		return
	}
	v.close()
	w.WriteHeader(http.StatusOK)
}
