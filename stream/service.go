// Package stream is livecart's media path: the stream registry, WHIP
// ingest (RFC 9725) from the host and WHEP playback for viewers, with a
// selective forwarding relay in between built on pion/webrtc. Packets of
// the one publisher are forwarded to every viewer as they are, never
// transcoded; only SSRC, payload type, sequence numbers and timestamps are
// rewritten, so that viewers see one continuous track across publisher
// reconnects.
//
// stream imports neither chat nor cart: what it tells the rest of the
// system goes through the Events interface it declares, and what it knows
// of a stream is its View, which the wiring may complete with what other
// parts know (RoutesWith) without this package knowing of them.
package stream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pion/webrtc/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// Events receives stream lifecycle changes. StreamStatus is called, never
// under a lock of this package, when a stream goes live, goes offline (its
// reconnect grace expired) or ends. It should not block for long: it runs
// on the goroutine of the request or timer that made the change.
type Events interface {
	StreamStatus(stream, status string)
}

// View is what this package knows of a stream: the registry's record and
// its WHEP viewers. Answers that carry a stream carry its View, or what
// the caller of RoutesWith makes of it.
type View struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Host is the sub of the host that created the stream.
	Host string `json:"host"`
	// Status is "offline", "live" or "ended".
	Status string `json:"status"`
	// Viewers counts WHEP viewers on every node: this node's now, the
	// others' as they last told the store (every LeaseEvery).
	Viewers int `json:"viewers"`
}

// Config configures a Service. Log, Signer and Store are required.
type Config struct {
	Log    *slog.Logger
	Signer *auth.Signer
	Store  Store
	// Events is told about status changes; nil means nobody listens.
	Events Events
	// Metrics is where the relay's series are registered; nil registers
	// nothing.
	Metrics prometheus.Registerer
	// UDPPort is the one UDP port of all WebRTC media (ICE UDP mux); 0
	// picks a free port, for tests.
	UDPPort int
	// UDPHost is the address the UDP socket binds; empty binds every
	// interface. Tests use 127.0.0.1.
	UDPHost string
	// PublicIP, when set, is advertised in ICE candidates instead of the
	// host's addresses (NAT 1:1).
	PublicIP string
	// ICEServers are stun: and turn: URLs handed to clients in Link
	// headers. With TURNSecret, each TURN URL's Link carries credentials
	// made for the session. Without it, a TURN URL may carry static
	// credentials as turn:user:pass@host:port[?transport=udp], sent as the
	// username and credential attributes of its Link header to every
	// client. The relay itself does not use them: it has a public address
	// (or PublicIP).
	ICEServers []string
	// ReconnectGrace is how long viewers are kept waiting for a publisher
	// that dropped before the stream goes offline; default 30 s.
	ReconnectGrace time.Duration
	// NodeID names this node among those sharing the store (default: a
	// random id per process); NodeURL is where the others reach it.
	NodeID, NodeURL string
	// LeaseEvery is how often Run renews this node's lease and checks the
	// origins of live streams (default 2 s); the lease lasts three times
	// that, so a stream whose origin stopped is offline everywhere within
	// four periods.
	LeaseEvery time.Duration
	// ICEDisconnectedTimeout and ICEFailedTimeout are how long a silent
	// peer is tolerated before ICE calls it disconnected, then failed (and
	// the relay releases it); defaults 5 s and 10 s.
	ICEDisconnectedTimeout, ICEFailedTimeout time.Duration
	// ConnectTimeout releases a peer that never connects after its 201;
	// default 15 s, enough for ICE over TURN on a slow network.
	ConnectTimeout time.Duration
	// MaxPendingPerClient bounds the WHIP and WHEP sessions that one client
	// address (api.ClientOf) holds answered but not yet connected; default
	// 16. Over it an offer is answered 429 rate_limited with Retry-After.
	MaxPendingPerClient int
	// MaxPending bounds the sessions answered but not yet connected on this
	// node, all clients together; default 500. Over it an offer is answered
	// 503 unavailable with Retry-After.
	MaxPending int
	// TURNSecret, when set, is the secret shared with the TURN servers of
	// ICEServers (coturn: use-auth-secret, static-auth-secret): every WHIP
	// and WHEP answer and OPTIONS then carries credentials made for that
	// session alone, valid for TURNTTL, as the TURN REST API
	// (draft-uberti-behave-turn-rest) defines them. This is the way to
	// run TURN; without it, a TURN URL's static credentials are handed to
	// every client and never expire. With it, TURN URLs must carry no
	// credentials.
	TURNSecret string
	// TURNTTL is how long credentials made with TURNSecret allow a new
	// TURN allocation; default 1 h. A TURN server checks it when an
	// allocation is made, so a session that outlives it keeps its relay.
	TURNTTL time.Duration
	// UpstreamTimeout bounds how long an edge (a node asked for WHEP on a
	// stream live on another node) takes to open its upstream from the
	// origin; a viewer's WHEP waits for it at most that long, then is
	// answered 503 unavailable with Retry-After. Default 5 s.
	UpstreamTimeout time.Duration
	// EdgeLinger is how long an edge keeps its upstream of a stream after
	// its last viewer left; default 10 s.
	EdgeLinger time.Duration
	// KeyframeInterval is the least time between two keyframe requests
	// to a publisher, whatever the number of viewers asking; default 500 ms.
	KeyframeInterval time.Duration
	// Now is the clock for rate limits and keyframe ages; nil is time.Now.
	Now func() time.Time
}

// Service is the stream registry and the media relay of one node. Its
// methods are safe for concurrent use. It owns every PeerConnection and
// goroutine it starts; Shutdown releases them.
type Service struct {
	cfg   Config
	log   *slog.Logger
	store Store
	m     *metrics
	eng   *engines
	now   func() time.Time
	ice   *iceServers
	udp   net.PacketConn
	// corks batches the datagrams to each viewer (cork.go); nil when the
	// media socket cannot.
	corks  corker
	closed chan struct{}

	// pending bounds the sessions answered but not yet connected.
	pending *api.Gate
	queue   pendingQueue

	countsMu sync.Mutex
	told     map[string]bool // streams whose viewer count this node last told the store

	// httpc carries node-to-node requests (upstreams).
	httpc *http.Client

	mu      sync.Mutex
	rooms   map[string]*room
	uplinks map[string]*uplink // streams this node relays, or tried to, from another node
	closing bool

	// judgeAfter is when this node may next judge other nodes' leases:
	// after the store failed, every node needs a lease period to renew
	// its lease before a missing one means a dead node. Only Run's
	// goroutine uses it.
	judgeAfter time.Time

	timers   sync.WaitGroup // grace timers that fired and are running
	dials    sync.WaitGroup // upstreams being opened, and earlier ones being closed
	shutdown sync.Once
}

// New builds the relay: it opens the UDP socket and builds the WebRTC
// engines once.
func New(cfg Config) (*Service, error) {
	if cfg.Log == nil || cfg.Signer == nil || cfg.Store == nil {
		return nil, errors.New("stream: Config needs Log, Signer and Store")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.ReconnectGrace, 30*time.Second)
	def(&cfg.LeaseEvery, 2*time.Second)
	if cfg.NodeID == "" {
		cfg.NodeID = randomID(12)
	}
	def(&cfg.ICEDisconnectedTimeout, 5*time.Second)
	def(&cfg.ICEFailedTimeout, 10*time.Second)
	def(&cfg.ConnectTimeout, 15*time.Second)
	def(&cfg.KeyframeInterval, 500*time.Millisecond)
	def(&cfg.TURNTTL, time.Hour)
	def(&cfg.UpstreamTimeout, 5*time.Second)
	def(&cfg.EdgeLinger, 10*time.Second)
	if cfg.MaxPendingPerClient <= 0 {
		cfg.MaxPendingPerClient = defaultMaxPendingPerClient
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = defaultMaxPending
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ice, err := newICEServers(cfg.ICEServers, cfg.TURNSecret, cfg.TURNTTL)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	udp, err := net.ListenPacket("udp", net.JoinHostPort(cfg.UDPHost, strconv.Itoa(cfg.UDPPort)))
	if err != nil {
		return nil, fmt.Errorf("stream: media UDP port: %w", err)
	}
	sizeReceiveBuffer(cfg.Log, udp)
	sock := parallelSends(udp)
	corks, _ := sock.(corker)
	if err := registerBatches(cfg.Metrics, corks); err != nil {
		_ = udp.Close()
		return nil, err
	}
	mux := webrtc.NewICEUDPMux(nil, sock)
	loopback := cfg.UDPHost != "" && net.ParseIP(cfg.UDPHost).IsLoopback()
	eng, err := newEngines(mux, cfg.PublicIP, loopback, iceTimeouts{
		disconnected: cfg.ICEDisconnectedTimeout, failed: cfg.ICEFailedTimeout, keepalive: time.Second,
	})
	if err != nil {
		_ = mux.Close()
		return nil, err
	}
	return &Service{
		cfg: cfg, log: cfg.Log, store: cfg.Store, m: m, eng: eng, now: cfg.Now, ice: ice,
		pending: api.NewGate("unconnected WebRTC sessions", cfg.MaxPendingPerClient, cfg.MaxPending),
		udp:     udp, corks: corks, closed: make(chan struct{}), rooms: make(map[string]*room), uplinks: make(map[string]*uplink),
		httpc: &http.Client{
			Timeout:       cfg.UpstreamTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// UDPAddr is the address of the media socket.
func (s *Service) UDPAddr() net.Addr { return s.udp.LocalAddr() }

var errShutdown = api.New(api.Unavailable, "the media relay is shutting down")

// Shutdown closes every PeerConnection, waits for the relay's goroutines
// and closes the UDP socket. It is idempotent; later requests get 503.
func (s *Service) Shutdown(ctx context.Context) error {
	var err error
	s.shutdown.Do(func() {
		s.mu.Lock()
		s.closing = true
		rooms := make([]*room, 0, len(s.rooms))
		for _, r := range s.rooms {
			rooms = append(rooms, r)
		}
		s.rooms = map[string]*room{}
		s.mu.Unlock()
		close(s.closed)

		done := make(chan struct{})
		go func() {
			defer close(done)
			var wg sync.WaitGroup
			for _, r := range rooms {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r.closeAll()
				}()
			}
			wg.Wait()
			s.timers.Wait()
			s.dials.Wait()
		}()
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if cerr := s.eng.mux.Close(); err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
	})
	return err
}

func (s *Service) isClosing() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// StreamOwner returns who owns the stream (its host, or its org); an error with code
// not_found when there is no such stream.
func (s *Service) StreamOwner(ctx context.Context, id string) (auth.Owner, error) {
	st, err := s.store.Get(ctx, id)
	if err != nil {
		return auth.Owner{}, err
	}
	return st.Owner(), nil
}

// View returns what this package knows of stream id; an error with code
// not_found when there is no such stream.
func (s *Service) View(ctx context.Context, id string) (View, error) {
	st, err := s.store.Get(ctx, id)
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, st), nil
}

// view is st with its WHEP viewers on every node: this node's now, the
// others' as they last told the store (every LeaseEvery). A store that
// does not answer counts this node's alone.
func (s *Service) view(ctx context.Context, st Stream) View {
	v := View{ID: st.ID, Title: st.Title, Host: st.Host, Status: string(st.Status), Viewers: s.viewerCount(st.ID)}
	if others, err := s.store.Viewers(ctx, st.ID, s.cfg.NodeID); err == nil {
		v.Viewers += others
	} else {
		s.log.Warn("stream: reading other nodes' viewer counts", "stream", st.ID, "err", err)
	}
	return v
}

// Create adds a stream hosted by host; conflict when id exists. An empty
// id is generated.
func (s *Service) Create(ctx context.Context, id, title string, owner auth.Owner) (View, error) {
	if id == "" {
		id = randomID(5)
	}
	if !validID(id) {
		return View{}, api.Errorf(api.BadRequest, "stream id %q must be 1 to 64 of a-z, 0-9 and -", id)
	}
	st := Stream{ID: id, Title: title, Host: owner.Sub, Org: owner.Org, Status: Offline, CreatedAt: s.now().UTC().Truncate(time.Millisecond)}
	if err := s.store.Create(ctx, st); err != nil {
		return View{}, err
	}
	return s.view(ctx, st), nil
}

// End ends the show: status ended, publisher and viewers disconnected, no
// more publishing.
func (s *Service) End(ctx context.Context, id string) (View, error) {
	prev, err := s.store.Get(ctx, id)
	if err != nil {
		return View{}, err
	}
	st, err := s.store.SetStatus(ctx, id, Ended)
	if err != nil {
		return View{}, err
	}
	s.mu.Lock()
	r := s.rooms[id]
	delete(s.rooms, id)
	s.mu.Unlock()
	if r != nil {
		r.closeAll()
	}
	if prev.Status != Ended {
		s.emit(id, Ended)
	}
	return s.view(ctx, st), nil
}

func (s *Service) emit(id string, st Status) {
	if s.cfg.Events != nil {
		s.cfg.Events.StreamStatus(id, string(st))
	}
}

func (s *Service) viewerCount(id string) int {
	s.mu.Lock()
	r := s.rooms[id]
	s.mu.Unlock()
	if r == nil {
		return 0
	}
	return r.viewerCount()
}

// randomID returns n random bytes in hex.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Node is this node's id among the nodes sharing the store.
func (s *Service) Node() string { return s.cfg.NodeID }

// Run keeps this node's lease and watches the origins of live streams
// until ctx ends: every LeaseEvery it renews the lease, and a live stream
// whose origin node holds none (it crashed, was killed or cut off) is
// marked offline and its room told. Only the first node to see it does so.
// It also keeps this node's rooms in step with their streams (tendRooms),
// and, eight times as often, looks up the origin of each stream whose
// room here waits for a publisher, so that its viewers resume soon after
// the host publishes again to another node.
// At the end Run drops the lease, so that the others see at once that this
// node's streams have no origin. Call it once; it returns when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.LeaseEvery)
	defer t.Stop()
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if err := s.store.Release(rctx, s.cfg.NodeID); err != nil {
			s.log.Warn("stream: dropping this node's lease", "err", err)
		}
	}()
	// Rooms waiting for a publisher look for a new origin more often.
	fast := time.NewTicker(max(s.cfg.LeaseEvery/followRate, time.Millisecond))
	defer fast.Stop()
	failing := false
	tend := func() {
		err := s.tend(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			s.log.Warn("stream: renewing the node lease or checking origins failed; retrying", "err", err)
			failing = true
		case err == nil && failing:
			s.log.Info("stream: node lease and origin checks work again")
			failing = false
		}
	}
	tend()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-fast.C:
			s.followWaiting(ctx)
		case <-t.C:
			tend()
		}
	}
}

// tend renews this node's lease and takes live streams whose origin has
// none offline.
func (s *Service) tend(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LeaseEvery)
	defer cancel()
	if err := s.store.Lease(ctx, s.cfg.NodeID, s.cfg.NodeURL, 3*s.cfg.LeaseEvery); err != nil {
		s.judgeAfter = s.now().Add(4 * s.cfg.LeaseEvery)
		return err
	}
	if err := s.store.SetViewers(ctx, s.cfg.NodeID, s.viewerCounts()); err != nil {
		return err
	}
	all, err := s.store.List(ctx)
	if err != nil {
		return err
	}
	var origins []string
	for _, st := range all {
		if st.Status == Live && st.Origin != "" && st.Origin != s.cfg.NodeID && !slices.Contains(origins, st.Origin) {
			origins = append(origins, st.Origin)
		}
	}
	defer s.tendRooms(ctx, all)
	if len(origins) == 0 || s.now().Before(s.judgeAfter) {
		return nil
	}
	alive, err := s.store.Alive(ctx, origins)
	if err != nil {
		return err
	}
	for i, st := range all {
		if st.Status != Live || st.Origin == "" || st.Origin == s.cfg.NodeID || alive[st.Origin] {
			continue
		}
		// Whoever sets it offline, nothing comes from that origin now.
		all[i].Status = Offline
		done, err := s.store.Abandon(ctx, st.ID, st.Origin)
		if err != nil {
			return err
		}
		if done {
			s.log.Info("stream: origin node gone; stream offline", "stream", st.ID, "origin", st.Origin)
			s.emit(st.ID, Offline)
		}
	}
	return nil
}

// viewerCounts is this node's WHEP viewers of each stream it relays, with
// a zero for each stream it told a count of before and relays no more.
func (s *Service) viewerCounts() map[string]int {
	s.mu.Lock()
	ids := make([]string, 0, len(s.rooms))
	for id := range s.rooms {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	counts := make(map[string]int, len(ids))
	for _, id := range ids {
		counts[id] = s.viewerCount(id)
	}
	s.countsMu.Lock()
	defer s.countsMu.Unlock()
	for id := range s.told {
		if _, ok := counts[id]; !ok {
			counts[id] = 0
		}
	}
	s.told = make(map[string]bool, len(counts))
	for id, n := range counts {
		if n > 0 {
			s.told[id] = true
		}
	}
	return counts
}

// mediaReceiveBuffer is the receive buffer asked for the media socket.
// Every publisher's media, an edge's upstreams and every viewer's RTCP
// arrive on that one socket; with the kernel's default (about 208 KiB
// here, some 90 full-size datagrams) an edge relaying to 100 viewers on
// one busy core dropped upstream packets that all its viewers then
// missed (docs/BENCHMARKS.md, "Across nodes").
const mediaReceiveBuffer = 4 << 20

// sizeReceiveBuffer asks for mediaReceiveBuffer on sock and warns when the
// kernel grants less (it caps the request at net.core.rmem_max).
func sizeReceiveBuffer(log *slog.Logger, sock net.PacketConn) {
	uc, ok := sock.(*net.UDPConn)
	if !ok {
		return
	}
	if err := uc.SetReadBuffer(mediaReceiveBuffer); err != nil {
		log.Warn("stream: sizing the media socket's receive buffer", "err", err)
		return
	}
	if got, err := receiveBuffer(uc); err == nil && got < mediaReceiveBuffer {
		log.Warn("stream: the media socket's receive buffer is smaller than asked; raise net.core.rmem_max",
			"bytes", got, "asked", mediaReceiveBuffer)
	}
}
