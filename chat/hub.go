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
// connections; its goroutine (run) pushes viewer counts and reactions, and
// is stopped by stop.
type hub struct {
	r      *Rooms
	stream string

	ready chan struct{} // closed when started (err set on failure)
	err   error
	refs  int // under r.mu

	unsub func()
	quit  chan struct{}
	done  chan struct{}

	mu        sync.Mutex
	clients   map[*client]struct{}
	mod       modState
	reactions map[string]int
	viewers   int // last count pushed
}

func newHub(r *Rooms, stream string) *hub {
	return &hub{
		r:         r,
		stream:    stream,
		ready:     make(chan struct{}),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		clients:   make(map[*client]struct{}),
		mod:       newModState(),
		reactions: make(map[string]int),
		viewers:   -1,
	}
}

// start subscribes to the stream and loads its moderation state; then it
// starts run. It closes h.ready either way.
func (h *hub) start(ctx context.Context) {
	defer close(h.ready)
	unsub, err := h.r.cfg.Broker.Subscribe(ctx, h.stream, h.deliver)
	if err != nil {
		h.err = err
		close(h.done)
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
	go h.run()
}

// stop ends run, unsubscribes and withdraws this node's viewer count; the
// count without it goes to Config.OnViewers when it differs from the last.
func (h *hub) stop() {
	<-h.ready
	if h.err != nil {
		return
	}
	close(h.quit)
	<-h.done
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

// deliver is the broker's handler: it queues p for every connection (an
// encoded broadcast is shared, not copied) or applies a control message.
// It never blocks on a connection.
func (h *hub) deliver(p Publication) {
	if p.Kind == KindControl {
		h.control(p)
		return
	}
	h.mu.Lock()
	for c := range h.clients {
		c.push(p)
	}
	h.mu.Unlock()
}

func (h *hub) add(c *client) {
	h.mu.Lock()
	h.clients[c] = struct{}{}
	h.mu.Unlock()
	h.r.metrics.connections.Inc()
}

func (h *hub) remove(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
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

// run pushes the viewer count (at most every ViewersEvery, when it changed)
// and the reactions counted since the last tick.
func (h *hub) run() {
	defer close(h.done)
	cfg := &h.r.cfg
	vt := time.NewTicker(cfg.ViewersEvery)
	defer vt.Stop()
	rt := time.NewTicker(cfg.ReactionsEvery)
	defer rt.Stop()
	lastLocal, lastRefresh := -1, time.Time{}
	h.viewerTick(&lastLocal, &lastRefresh)
	for {
		select {
		case <-h.quit:
			return
		case <-vt.C:
			h.viewerTick(&lastLocal, &lastRefresh)
		case <-rt.C:
			h.flushReactions()
		}
	}
}

func (h *hub) viewerTick(lastLocal *int, lastRefresh *time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Staff (hosts, moderators, admins) are not viewers.
	h.mu.Lock()
	local := 0
	for c := range h.clients {
		if c.rank == auth.RankViewer {
			local++
		}
	}
	h.mu.Unlock()
	b := h.r.cfg.Broker
	if local != *lastLocal || time.Since(*lastRefresh) > presenceTTL/3 {
		if err := b.SetPresence(ctx, h.stream, h.r.node, local, presenceTTL); err != nil {
			h.r.brokerError("presence", err)
			return
		}
		*lastLocal, *lastRefresh = local, time.Now()
	}
	total, err := b.Presence(ctx, h.stream)
	if err != nil {
		h.r.brokerError("presence", err)
		return
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
}

// maxEmojiKinds bounds the distinct reactions counted per tick.
const maxEmojiKinds = 32

func (h *hub) react(emoji string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.reactions[emoji]; ok || len(h.reactions) < maxEmojiKinds {
		h.reactions[emoji]++
	}
}

func (h *hub) flushReactions() {
	h.mu.Lock()
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
