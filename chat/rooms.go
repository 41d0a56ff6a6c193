// Package chat is the live room of every stream: a websocket per viewer
// carrying product cards, stock, the order ticker, chat, Q&A, reactions and
// moderation (contract section 6).
//
// Rooms serves GET /api/streams/{id}/ws. Each stream with viewers on this
// node has a hub; hubs of every node meet through a Broker (in memory for
// one node, Redis for many). A hub sends what arrives for everyone in
// ticks (tick.go): a busy room's line budget (budget.go) picks the chat
// lines that go out live, and each tick is encoded once into a websocket
// frame that every connection up to date writes as it is. Each connection
// has one writer goroutine, fed by a bounded queue, that writes those
// shared frames and coalesces what was queued for it alone.
package chat

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// Rooms is every live room of this node. Its methods are safe for
// concurrent use. It owns the goroutines of its connections, hubs and
// outbox; Shutdown stops them all.
type Rooms struct {
	cfg      Config
	node     string
	metrics  *metrics
	block    blocklist
	upgrader websocket.Upgrader
	out      *outbox
	conns    *api.Gate
	// readBufs holds the buffers frames are read into (MaxFrame+1 bytes).
	readBufs sync.Pool
	// oneByOne makes every connection receive a tick's messages one by
	// one, never a shared frame (tests compare the two). Set before the
	// first connection.
	oneByOne bool

	mu       sync.Mutex
	hubs     map[string]*hub
	closed   bool
	handlers sync.WaitGroup
	shutdown sync.Once
}

// New returns the rooms described by cfg and starts their outbox goroutine.
func New(cfg Config) (*Rooms, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	r := &Rooms{
		cfg:     cfg,
		node:    uuid.NewString(),
		metrics: m,
		block:   newBlocklist(cfg.Blocklist),
		conns:   api.NewGate("room connections", cfg.MaxConnsPerClient, cfg.MaxConns),
		hubs:    make(map[string]*hub),
	}
	r.upgrader = websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		// The origin is checked before Upgrade, where the refusal can be
		// answered as problem+json.
		CheckOrigin: func(*http.Request) bool { return true },
		// Write buffers are pooled across connections: idle viewers hold none.
		WriteBufferPool: &sync.Pool{},
	}
	r.out = newOutbox(r)
	return r, nil
}

// Routes registers GET /api/streams/{id}/ws on mux.
func (r *Rooms) Routes(mux api.Router) {
	mux.HandleFunc("GET /api/streams/{id}/ws", r.serveWS)
}

// readBuf returns a buffer for one client frame, from the pool.
func (r *Rooms) readBuf() *[]byte {
	if b, ok := r.readBufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, r.cfg.MaxFrame+1)
	return &b
}

func (r *Rooms) brokerError(op string, err error) {
	r.metrics.brokerErrors.WithLabelValues(op).Inc()
	r.cfg.Log.Warn("chat: broker", "op", op, "err", err)
}

func (r *Rooms) blocked(text string) bool { return r.block.match(text) }

// originAllowed applies the origin rules: no Origin (not a browser) passes
// on to the token check; otherwise Config.CheckOrigin decides, or, without
// one, the origin must be the request's own host (the server's own pages).
func (r *Rooms) originAllowed(req *http.Request) bool {
	o := req.Header.Get("Origin")
	if o == "" {
		return true
	}
	if r.cfg.CheckOrigin != nil {
		return r.cfg.CheckOrigin(req)
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, req.Host)
}

// serveWS checks the request (origin, token, admission, stream), upgrades
// it and joins the room; then it hands the connection to a goroutine of
// its own (serveConn) and returns, so that the request's goroutine, its
// stack grown by the join, ends.
func (r *Rooms) serveWS(w http.ResponseWriter, req *http.Request) {
	stream := req.PathValue("id")
	if !r.originAllowed(req) {
		api.WriteError(w, req, r.cfg.Log, api.New(api.Forbidden, "this origin may not open the room"))
		return
	}
	p, err := r.cfg.Signer.Identify(req)
	if err != nil {
		api.WriteError(w, req, r.cfg.Log, err)
		return
	}
	leave, err := r.conns.Enter(api.ClientOf(req))
	if err != nil {
		api.WriteError(w, req, r.cfg.Log, err)
		return
	}
	handedOver := false
	defer func() {
		if !handedOver {
			leave()
		}
	}()
	if p != nil && !p.InScope(stream) {
		api.WriteError(w, req, r.cfg.Log, auth.Check(p, auth.Watch, auth.On(stream, auth.Owner{})))
		return
	}
	q := req.URL.Query()
	var since *uint64
	if s := q.Get("since"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			api.WriteError(w, req, r.cfg.Log, api.New(api.BadRequest, "since must be a message offset"))
			return
		}
		since = &v
	}
	owner, err := r.cfg.Owners.StreamOwner(req.Context(), stream)
	if err != nil {
		api.WriteError(w, req, r.cfg.Log, err)
		return
	}
	if !r.enter() {
		api.WriteError(w, req, r.cfg.Log, api.Unavailablef(nil, "the server is shutting down"))
		return
	}
	defer func() {
		if !handedOver {
			r.handlers.Done()
		}
	}()
	conn, err := r.upgrader.Upgrade(w, req, nil)
	if err != nil {
		return // Upgrade has answered.
	}
	if tc, ok := conn.NetConn().(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(r.cfg.SocketSendBuffer)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	h, err := r.acquire(ctx, stream)
	if err != nil {
		cancel()
		r.brokerError("join", err)
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeInternal, "room unavailable"), time.Now().Add(time.Second))
		conn.Close()
		return
	}
	c := newClient(r, h, conn, p, p.RankIn(stream, owner), p.Can(auth.Moderate, auth.On(stream, owner)))
	h.add(c)
	go c.writeLoop()
	if r.isClosed() {
		c.close(closeGoingAway, "server shutting down", false)
	}
	r.join(ctx, c, since, q.Get("epoch"))
	cancel()
	r.joined(stream, c)
	handedOver = true
	go r.serveConn(c, leave)
}

// serveConn reads the connection until it closes, waits for its writer,
// and lets go of its room and its admission (leave). It is counted in
// r.handlers, which Shutdown waits for.
func (r *Rooms) serveConn(c *client, leave func()) {
	defer r.handlers.Done()
	defer leave()
	defer r.release(c.hub)
	defer c.hub.remove(c)
	c.readLoop()
	<-c.done
}

// enter counts a handler in, unless shutting down.
func (r *Rooms) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.handlers.Add(1)
	return true
}

func (r *Rooms) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// acquire returns the stream's hub, started, with one more reference.
func (r *Rooms) acquire(ctx context.Context, stream string) (*hub, error) {
	r.mu.Lock()
	h := r.hubs[stream]
	created := h == nil
	if created {
		h = newHub(r, stream)
		r.hubs[stream] = h
	}
	h.refs++
	r.mu.Unlock()
	if created {
		h.start(ctx)
	} else {
		<-h.ready
	}
	if h.err != nil {
		r.release(h)
		return nil, h.err
	}
	return h, nil
}

// release drops a reference; the last one stops the hub.
func (r *Rooms) release(h *hub) {
	r.mu.Lock()
	h.refs--
	last := h.refs == 0
	if last && r.hubs[h.stream] == h {
		delete(r.hubs, h.stream)
	}
	r.mu.Unlock()
	if last {
		h.stop()
	}
}

// join sends the welcome: the room as it is, or what the client missed
// since its offset when that is still in the history window.
func (r *Rooms) join(ctx context.Context, c *client, since *uint64, epoch string) {
	h, b := c.hub, r.cfg.Broker
	hist, err := b.History(ctx, h.stream)
	if err != nil {
		r.brokerError("history", err)
	}
	states, err := b.States(ctx, h.stream)
	if err != nil {
		r.brokerError("states", err)
	} else {
		h.recordRank(ctx, c, states)
	}
	var view json.RawMessage
	if r.cfg.Streams != nil {
		if v, err := r.cfg.Streams.StreamView(ctx, h.stream); err != nil {
			r.cfg.Log.Warn("chat: stream view", "stream", h.stream, "err", err)
		} else {
			view = v
		}
	}
	if len(view) == 0 {
		view = encode(map[string]string{"id": h.stream})
	}
	recovered := since != nil && hist.Epoch != "" && epoch == hist.Epoch && *since <= hist.Top
	if recovered && len(hist.Pubs) > 0 {
		recovered = *since+1 >= hist.Pubs[0].Offset
	} else if recovered {
		recovered = *since == hist.Top
	}
	w := welcomeMsg{
		Type:      typeWelcome,
		You:       userOf(c.p),
		Stream:    view,
		History:   []json.RawMessage{},
		Pinned:    rawOrNull(states["pinned"]),
		Recovered: recovered,
		Offset:    hist.Top,
		Epoch:     hist.Epoch,
		Viewers:   h.viewerCount(),
	}
	w.Slow = h.slowSeconds()
	var missed []Publication
	if recovered {
		for _, p := range hist.Pubs {
			if p.Offset > *since {
				missed = append(missed, p)
			}
		}
	} else {
		w.History = historyLines(hist.Pubs)
	}
	var extra [][]byte
	keys := make([]string, 0, len(states))
	for k := range states {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	now := r.cfg.Now()
	offers := ""
	if c.p != nil {
		offers = offerPrefix(c.p.Sub)
	}
	for _, k := range keys {
		switch {
		case strings.HasPrefix(k, "stock:"):
			extra = append(extra, states[k])
		case strings.HasPrefix(k, "coupon:") && couponLive(states[k], now):
			extra = append(extra, states[k])
		case offers != "" && strings.HasPrefix(k, offers) && offerLive(states[k], now):
			extra = append(extra, states[k])
		case strings.HasPrefix(k, "held:") && c.mod:
			w.Held = append(w.Held, states[k])
		}
	}
	if c.p != nil {
		if f := h.userState(c.p.Sub, c.rank); f != nil {
			extra = append(extra, f)
		}
	}
	c.start(encode(w), missed, extra, hist.Top, hist.Epoch)
}

// joined calls Config.OnJoin for a connection that has joined, unless it
// is staff or already closing.
func (r *Rooms) joined(stream string, c *client) {
	if r.cfg.OnJoin == nil || c.rank > auth.RankViewer || c.closing() {
		return
	}
	viewer := c.sub()
	if viewer == "" {
		viewer = "anon-" + uuid.NewString()
	}
	r.cfg.OnJoin(stream, viewer)
}

// historyLines are the chat lines, questions and answers of a window that
// were not deleted, oldest first.
func historyLines(pubs []Publication) []json.RawMessage {
	deleted := make(map[string]bool)
	for _, p := range pubs {
		if typ, id, _ := splitKey(p.Key); typ == typeDeleted {
			deleted[id] = true
		}
	}
	out := []json.RawMessage{}
	for _, p := range pubs {
		typ, id, _ := splitKey(p.Key)
		if isLine(typ) && !deleted[id] {
			out = append(out, p.Data)
		}
	}
	return out
}

// Viewers is the number of open room connections to stream on all nodes.
func (r *Rooms) Viewers(ctx context.Context, stream string) int {
	n, err := r.cfg.Broker.Presence(ctx, stream)
	if err != nil {
		r.brokerError("presence", err)
		r.mu.Lock()
		h := r.hubs[stream]
		r.mu.Unlock()
		if h != nil {
			return h.viewerCount()
		}
		return 0
	}
	return n
}

// Shutdown closes every websocket with 1001 going away and waits for every
// goroutine of the rooms to end, or for ctx (then it closes what is left
// without a close frame, and returns ctx's error). New connections are
// refused from the first call on. It is idempotent and safe to call from
// any goroutine; it does not close the Broker.
func (r *Rooms) Shutdown(ctx context.Context) error {
	r.shutdown.Do(func() {
		r.mu.Lock()
		r.closed = true
		hubs := make([]*hub, 0, len(r.hubs))
		for _, h := range r.hubs {
			hubs = append(hubs, h)
		}
		r.mu.Unlock()
		for _, h := range hubs {
			h.closeAll(closeGoingAway, "server shutting down")
		}
	})
	done := make(chan struct{})
	go func() {
		r.handlers.Wait()
		r.out.stop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	r.mu.Lock()
	for _, h := range r.hubs {
		h.each(func(*client) bool { return true }, func(c *client) { c.conn.Close() })
	}
	r.mu.Unlock()
	<-done
	return errors.Join(ctx.Err())
}
