package chat

import (
	"github.com/livecart/livecart/auth"

	"context"
	"encoding/json"
	"maps"
	"sync"
	"time"
)

// presenceTTL is how long a node's viewer count counts without a refresh.
const presenceTTL = 15 * time.Second

// hub is one stream's room on this node: its connections, the moderation
// state cached from the broker and reaction counts. It lives while it has
// connections. It owns no goroutine while the room is idle: timers run its
// ticks (tick.go), the viewer count and the reactions, each callback on a
// goroutine of its own that ends with it; stop stops the timers and waits
// for the callbacks under way.
type hub struct {
	r      *Rooms
	stream string

	ready chan struct{} // closed when started (err set on failure)
	err   error
	refs  int // under r.mu

	unsub func()

	mu        sync.Mutex
	clients   map[*client]struct{}
	local     int // connections of viewers (staff are not viewers)
	mod       modState
	reactions map[string]int
	viewers   int // last count pushed

	// Timers: timers counts the callbacks scheduled and not yet over;
	// halted stops scheduling more.
	timers sync.WaitGroup
	halted bool

	// The viewer count: its timer, when it fires, and (for its callback
	// only) what was last written to the broker and how many polls in a
	// row found nothing changed.
	viewerTimer *time.Timer
	viewerDue   time.Time
	lastLocal   int
	lastRefresh time.Time
	quietPolls  int

	reactTimer *time.Timer // nil: no reactions waiting

	// Ticks (tick.go): what arrived for everyone since the last tick, the
	// timer of the next, and what a tick reuses.
	pending  []Publication
	spare    []Publication
	armed    bool          // a tick is scheduled
	tickDue  time.Time     // when
	stretch  time.Duration // the interval of ticks while writers fall behind (pace)
	tickMu   sync.Mutex    // held through a tick, its writes included
	sends    []sharedSend  // the connections a tick writes its shared frames to
	lastTick time.Time
	timer    *time.Timer
	budget   *lineBudget
	skips    [numClasses]skipCount
	cur      tick
	latest   map[string]int
	buf      []byte
}

func newHub(r *Rooms, stream string) *hub {
	return &hub{
		r:         r,
		stream:    stream,
		ready:     make(chan struct{}),
		clients:   make(map[*client]struct{}),
		mod:       newModState(),
		reactions: make(map[string]int),
		viewers:   -1,
		lastLocal: -1,
		budget:    newLineBudget(r.cfg.LineBudget),
	}
}

// start subscribes to the stream and loads its moderation state; then it
// schedules the first viewer count. It closes h.ready either way.
func (h *hub) start(ctx context.Context) {
	defer close(h.ready)
	unsub, err := h.r.cfg.Broker.Subscribe(ctx, h.stream, h.deliver)
	if err != nil {
		h.err = err
		return
	}
	h.unsub = unsub
	if states, err := h.r.cfg.Broker.States(ctx, h.stream); err != nil {
		h.r.cfg.Log.Warn("chat: loading moderation state", "stream", h.stream, "err", err)
	} else {
		h.mu.Lock()
		h.mod.load(states)
		h.mu.Unlock()
	}
	h.mu.Lock()
	h.countViewersLocked(0)
	h.mu.Unlock()
}

// afterLocked runs f after d, counted in h.timers; h.mu must be held and
// the hub not halted.
func (h *hub) afterLocked(d time.Duration, f func()) *time.Timer {
	h.timers.Add(1)
	return time.AfterFunc(max(0, d), func() {
		defer h.timers.Done()
		f()
	})
}

// stopLocked stops t, if it has not fired, and reports whether it was
// stopped; h.mu must be held.
func (h *hub) stopLocked(t *time.Timer) bool {
	if t != nil && t.Stop() {
		h.timers.Done()
		return true
	}
	return false
}

// stop stops the timers, waits for callbacks under way, unsubscribes and
// withdraws this node's viewer count; the count without it goes to
// Config.OnViewers when it differs from the last.
func (h *hub) stop() {
	<-h.ready
	if h.err != nil {
		return
	}
	h.mu.Lock()
	h.halted = true
	if h.armed && h.stopLocked(h.timer) {
		h.armed = false
	}
	h.stopLocked(h.viewerTimer)
	if h.stopLocked(h.reactTimer) {
		h.reactTimer = nil
	}
	h.mu.Unlock()
	h.timers.Wait()
	h.unsub()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b := h.r.cfg.Broker
	if err := b.SetPresence(ctx, h.stream, h.r.node, 0, presenceTTL); err != nil || h.r.cfg.OnViewers == nil {
		return
	}
	total, err := b.Presence(ctx, h.stream)
	if err != nil {
		return
	}
	h.mu.Lock()
	changed := total != h.viewers
	h.mu.Unlock()
	if changed {
		h.r.cfg.OnViewers(h.stream, total)
	}
}

// deliver is the broker's handler: it holds p for the next tick (tick.go),
// which sends it to every connection, or applies a control message. It
// never blocks on a connection.
func (h *hub) deliver(p Publication) {
	if p.Kind == KindControl {
		h.control(p)
		return
	}
	h.mu.Lock()
	h.pending = append(h.pending, p)
	h.scheduleLocked()
	h.mu.Unlock()
}

func (h *hub) add(c *client) {
	h.mu.Lock()
	h.clients[c] = struct{}{}
	c.skipBase = h.skips[classOf(c.rank)].total
	if c.rank == auth.RankViewer {
		h.local++
		h.hurryViewersLocked()
	}
	h.mu.Unlock()
	h.r.metrics.connections.Inc()
}

func (h *hub) remove(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	if c.rank == auth.RankViewer {
		h.local--
		h.hurryViewersLocked()
	}
	h.mu.Unlock()
	h.r.metrics.connections.Dec()
}

// each calls f for every connection for which match is true, under h.mu.
func (h *hub) each(match func(*client) bool, f func(*client)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		if match(c) {
			f(c)
		}
	}
}

func (h *hub) closeAll(code int, text string) {
	h.each(func(*client) bool { return true }, func(c *client) { c.close(code, text, false) })
}

// The viewer count is polled every ViewersEvery while it changes; after
// quietPolls polls without a change it is polled every presenceTTL/3 (when
// this node refreshes its own count anyway), until a viewer joins or
// leaves on this node.
const quietPolls = 10

// countViewersLocked schedules the viewer count after d; h.mu must be
// held.
func (h *hub) countViewersLocked(d time.Duration) {
	if h.halted {
		return
	}
	h.viewerDue = time.Now().Add(d)
	h.viewerTimer = h.afterLocked(d, h.countViewers)
}

// hurryViewersLocked brings a quiet room's next viewer count forward to
// within ViewersEvery; h.mu must be held.
func (h *hub) hurryViewersLocked() {
	every := h.r.cfg.ViewersEvery
	if time.Until(h.viewerDue) > every && h.stopLocked(h.viewerTimer) {
		h.countViewersLocked(every)
	}
}

// countViewers pushes the viewer count when it changed, then schedules
// the next.
func (h *hub) countViewers() {
	changed := h.viewerTick()
	h.mu.Lock()
	defer h.mu.Unlock()
	if changed {
		h.quietPolls = 0
	} else {
		h.quietPolls++
	}
	next := h.r.cfg.ViewersEvery
	if h.quietPolls >= quietPolls {
		next = max(next, presenceTTL/3)
	}
	h.countViewersLocked(next)
}

// viewerTick writes this node's count of viewers to the broker (when it
// changed, or to refresh it), reads the count across nodes and pushes it
// when it changed. It reports whether either count changed.
func (h *hub) viewerTick() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	h.mu.Lock()
	local := h.local
	h.mu.Unlock()
	b := h.r.cfg.Broker
	moved := local != h.lastLocal
	if moved || time.Since(h.lastRefresh) > presenceTTL/3 {
		if err := b.SetPresence(ctx, h.stream, h.r.node, local, presenceTTL); err != nil {
			h.r.brokerError("presence", err)
			return true
		}
		h.lastLocal, h.lastRefresh = local, time.Now()
	}
	total, err := b.Presence(ctx, h.stream)
	if err != nil {
		h.r.brokerError("presence", err)
		return true
	}
	h.mu.Lock()
	changed := total != h.viewers
	h.viewers = total
	h.mu.Unlock()
	if changed {
		h.deliver(Publication{Kind: KindState, Key: "viewers", Data: encode(viewersMsg{Type: typeViewers, Count: total})})
		if f := h.r.cfg.OnViewers; f != nil {
			f(h.stream, total)
		}
	}
	return moved || changed
}

// maxEmojiKinds bounds the distinct reactions counted per tick.
const maxEmojiKinds = 32

// react counts a reaction; the first since the last broadcast schedules
// the next, ReactionsEvery later.
func (h *hub) react(emoji string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.reactions[emoji]; ok || len(h.reactions) < maxEmojiKinds {
		h.reactions[emoji]++
	}
	if h.reactTimer == nil && !h.halted {
		h.reactTimer = h.afterLocked(h.r.cfg.ReactionsEvery, h.flushReactions)
	}
}

// flushReactions broadcasts the reactions counted since the last time.
func (h *hub) flushReactions() {
	h.mu.Lock()
	h.reactTimer = nil
	if len(h.reactions) == 0 {
		h.mu.Unlock()
		return
	}
	counts := maps.Clone(h.reactions)
	clear(h.reactions)
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p := Publication{Kind: KindEvent, Data: encode(reactionsMsg{Type: typeReactions, Counts: counts})}
	if _, err := h.r.cfg.Broker.Publish(ctx, h.stream, p, false, 0); err != nil {
		h.r.brokerError("reactions", err)
	}
}

// viewerCount is the last total pushed (or this node's count before one).
func (h *hub) viewerCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.viewers >= 0 {
		return h.viewers
	}
	return len(h.clients)
}

// rawOrNull returns data as a raw JSON value, null when empty.
func rawOrNull(data []byte) json.RawMessage {
	if len(data) == 0 {
		return json.RawMessage("null")
	}
	return json.RawMessage(data)
}
