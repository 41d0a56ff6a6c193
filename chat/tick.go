package chat

import (
	"slices"
	"time"

	"github.com/livecart/livecart/auth"
)

// A hub sends what it receives for everyone in ticks: what arrives is held
// until the next tick (at once when the last one is older than
// Config.Tick), then the line budget (budget.go) decides which lines go
// out, and one frame is encoded for everyone who receives the same: one
// for viewers, one for staff (who also receive every question). A
// connection that is up to date gets that shared frame as it is; one that
// is behind, joining or whose own line was not picked gets the same
// messages one by one, as before, and its writer coalesces them.
//
// State (product, stock, coupon, viewers, stream) is never dropped; within
// a tick only its latest value per key goes out, and a connection that is
// behind keeps only the latest pending value per key.

// Classes of connection in a busy room.
const (
	classViewers = iota
	classStaff
	numClasses
)

// classOf is the class of a connection of rank.
func classOf(rank auth.Rank) int {
	if rank > auth.RankViewer {
		return classStaff
	}
	return classViewers
}

// skipCount is one class's count of lines it was not sent.
type skipCount struct {
	total uint64    // lines not sent to the class since the hub started
	told  uint64    // total when the class was last told
	at    time.Time // when the class was last told
}

// skippedMsg tells a viewer how many chat lines it was not sent live.
type skippedMsg struct {
	Type  string `json:"type"`
	Count uint64 `json:"count"`
}

// maxStretch bounds how far pace stretches the interval of ticks.
const maxStretch = 4

// skipEvery is how often a class is told of skipped lines when nothing
// else goes out to it.
const skipEvery = time.Second

// sharedFrame is one websocket message of a tick, encoded once, header
// and all (wire.go), and written as it is to every connection that
// receives it.
type sharedFrame struct {
	data []byte // nil: too large to share
	msgs int
}

// sharedSend is a connection that takes a tick's shared frame as it is.
type sharedSend struct {
	c *client
	f *sharedFrame
}

// tick is one tick's decision, used under the hub's lock.
type tick struct {
	pubs   []Publication // events in order of arrival, then states (latest per key)
	states int           // index of the first state in pubs
	in     [numClasses][]bool
	own    map[string][]int // a viewer's sub → its lines not sent to viewers
	skip   [numClasses]bool // the class is told of skipped lines this tick
	frames [numClasses]*sharedFrame
	built  [numClasses]bool
	lo, hi [numClasses]uint64 // offsets of what goes out to the class (0: none)
	epoch  string
	mixed  bool // more than one epoch: nothing is shared
}

// scheduleLocked arranges for the next tick, at once when the last one is
// older than the tick's interval; h.mu must be held.
func (h *hub) scheduleLocked() {
	h.armLocked(h.every() - time.Since(h.lastTick))
}

// every is the least time between two ticks: Config.Tick, or up to
// maxStretch times that while the writers fall behind (pace).
func (h *hub) every() time.Duration {
	return max(h.r.cfg.Tick, h.stretch)
}

// pace adapts the interval of ticks to how fast the connections' writers
// keep up: when more than a quarter of them had not yet written the last
// tick when the next came, ticks come half as often again (up to
// maxStretch times Config.Tick), so that each write carries more; when
// they keep up, ticks come more often again. h.mu must be held.
func (h *hub) pace(behind int) {
	tick := h.r.cfg.Tick
	if behind > len(h.clients)/4 && behind > 0 {
		h.stretch = min(max(tick, h.stretch)*3/2, maxStretch*tick)
	} else if h.stretch > tick {
		h.stretch = max(tick, h.stretch*3/4)
	}
}

// armLocked arranges for a tick after wait, unless one is already
// arranged as soon; h.mu must be held.
func (h *hub) armLocked(wait time.Duration) {
	if h.halted {
		return
	}
	due := time.Now().Add(wait)
	if h.armed {
		if !h.tickDue.After(due) || !h.stopLocked(h.timer) {
			return
		}
	}
	h.armed, h.tickDue = true, due
	h.timer = h.afterLocked(wait, h.tick)
}

// tick sends what arrived since the last one. When lines were skipped
// and not yet told, another tick tells them within skipEvery. Ticks run
// one at a time (tickMu): the shared frames of one are sent, after the
// hub's lock is released, before the next is decided.
func (h *hub) tick() {
	h.tickMu.Lock()
	defer h.tickMu.Unlock()
	now := time.Now()
	h.mu.Lock()
	h.armed = false
	h.lastTick = now
	pending := h.pending
	h.pending = h.spare[:0]
	h.sends = h.sends[:0]
	if t := h.decide(now, pending); t != nil {
		behind := 0
		for c := range h.clients {
			if h.send(t, c) {
				behind++
			}
		}
		h.told(now)
		h.pace(behind)
	}
	clear(pending)
	h.spare = pending[:0]
	for cl := range numClasses {
		if sk := &h.skips[cl]; sk.total != sk.told {
			h.armLocked(max(h.every(), skipEvery-now.Sub(sk.at)))
		}
	}
	sends := h.sends
	h.mu.Unlock()

	// No lock of the hub is held across the writes.
	msgs, frames := 0, 0
	for i, s := range sends {
		if s.c.sendShared(s.f) {
			msgs += s.f.msgs
			frames++
		}
		sends[i] = sharedSend{}
	}
	h.r.metrics.sent.Add(float64(msgs))
	h.r.metrics.frames.Add(float64(frames))
}

// decide builds a tick from the publications that arrived: the line budget
// picks the lines, and each class's skipped count is updated.
func (h *hub) decide(now time.Time, pending []Publication) *tick {
	if len(pending) == 0 && !h.skipDue(now) {
		return nil
	}
	t := &h.cur
	*t = tick{pubs: t.pubs[:0], in: t.in}
	// Events in order (state in the history, the card, keeps its place
	// among them); of other state only the latest value per key, after
	// the events, in the order of their latest arrival.
	latest := clearMap(h.latest)
	h.latest = latest
	for j, p := range pending {
		if isState(p) {
			latest[p.Key] = j
		}
	}
	var cands []candidate
	var candIdx []int
	kept := 0
	for _, p := range pending {
		if isState(p) {
			continue
		}
		if p.Kind == KindState {
			p.Kind = KindEvent // queued in order, never merged
		}
		t.pubs = append(t.pubs, p)
		typ, _, rank := splitKey(p.Key)
		switch {
		case !isLine(typ):
		case typ == typeAnswer || rank > auth.RankViewer:
			kept++
		default:
			cands = append(cands, candidate{sender: lineAuthor(p.Data)})
			candIdx = append(candIdx, len(t.pubs)-1)
		}
	}
	t.states = len(t.pubs)
	for j, p := range pending {
		if isState(p) && latest[p.Key] == j {
			t.pubs = append(t.pubs, p)
		}
	}
	h.budget.pick(now, kept, cands)

	for cl := range numClasses {
		in := t.in[cl][:0]
		for range t.pubs {
			in = append(in, true)
		}
		t.in[cl] = in
	}
	var skipped [numClasses]uint64
	for k, c := range cands {
		if c.picked {
			continue
		}
		i := candIdx[k]
		t.in[classViewers][i] = false
		skipped[classViewers]++
		if c.sender != "" {
			if t.own == nil {
				t.own = make(map[string][]int)
			}
			t.own[c.sender] = append(t.own[c.sender], i)
		}
		if typ, _, _ := splitKey(t.pubs[i].Key); typ != typeQuestion { // staff receive every question
			t.in[classStaff][i] = false
			skipped[classStaff]++
		}
	}
	h.r.metrics.skipped.Add(float64(skipped[classViewers]))
	for cl := range numClasses {
		sk := &h.skips[cl]
		sk.total += skipped[cl]
		if sk.total != sk.told && (slices.Contains(t.in[cl], true) || now.Sub(sk.at) >= skipEvery) {
			t.skip[cl] = true
		}
		for i, p := range t.pubs {
			if !t.in[cl][i] || p.Offset == 0 {
				continue
			}
			switch {
			case t.epoch == "":
				t.epoch = p.Epoch
			case t.epoch != p.Epoch:
				t.mixed = true
			}
			if t.lo[cl] == 0 {
				t.lo[cl] = p.Offset
			}
			t.hi[cl] = p.Offset
		}
	}
	return t
}

// isState reports whether p is state that a newer value replaces: state
// outside the history (which has no offset).
func isState(p Publication) bool { return p.Kind == KindState && p.Key != "" && p.Offset == 0 }

// skipDue reports whether a class is to be told of skipped lines at now
// though nothing else goes out.
func (h *hub) skipDue(now time.Time) bool {
	for cl := range numClasses {
		if sk := &h.skips[cl]; sk.total != sk.told && now.Sub(sk.at) >= skipEvery {
			return true
		}
	}
	return false
}

func clearMap(m map[string]int) map[string]int {
	if m == nil {
		return make(map[string]int)
	}
	clear(m)
	return m
}

// send gives connection c its part of tick t: the shared frame of its
// class when it can take it as it is, else the same messages one by one.
// It reports whether c's writer had not yet taken the previous tick.
func (h *hub) send(t *tick, c *client) (behind bool) {
	cl := classOf(c.rank)
	var own []int
	if t.own != nil && cl == classViewers && c.p != nil {
		own = t.own[c.p.Sub]
	}
	sk := &h.skips[cl]
	if own == nil && !t.mixed && !h.r.oneByOne {
		f := h.frame(t, cl)
		if f == nil { // nothing for this class
			return false
		}
		if f.data != nil {
			ok, send, late := c.claimShared(t.lo[cl], t.hi[cl], t.epoch, t.skip[cl], sk)
			if send {
				h.sends = append(h.sends, sharedSend{c, f})
			}
			if ok {
				return false
			}
			behind = late
		}
	}
	// One by one: this class's messages and the connection's own lines.
	in := t.in[cl]
	k := 0
	for i := range t.states {
		switch {
		case in[i]:
		case k < len(own) && own[k] == i:
			k++
		default:
			continue
		}
		c.push(t.pubs[i])
	}
	if n := c.skipped(sk, t.skip[cl], uint64(len(own))); n > 0 {
		c.push(Publication{Kind: KindEvent, Data: encode(skippedMsg{Type: typeSkipped, Count: n})})
	}
	for i := t.states; i < len(t.pubs); i++ {
		c.push(t.pubs[i])
	}
	return behind
}

// frame returns the shared frame of class cl in t, encoding it on first
// use: nil when nothing goes out to the class, and a frame without data
// when it is too large to share (the writer then splits it).
func (h *hub) frame(t *tick, cl int) *sharedFrame {
	if t.built[cl] {
		return t.frames[cl]
	}
	t.built[cl] = true
	sk := &h.skips[cl]
	buf := h.buf[:0]
	msgs := 0
	put := func(data []byte) {
		if msgs > 0 {
			buf = append(buf, '\n')
		}
		buf = append(buf, data...)
		msgs++
	}
	for i, p := range t.pubs {
		if i == t.states && t.skip[cl] {
			put(encode(skippedMsg{Type: typeSkipped, Count: sk.total - sk.told}))
		}
		if t.in[cl][i] {
			put(p.Data)
		}
	}
	if t.states == len(t.pubs) && t.skip[cl] {
		put(encode(skippedMsg{Type: typeSkipped, Count: sk.total - sk.told}))
	}
	h.buf = buf[:0]
	if msgs == 0 {
		return nil
	}
	f := &sharedFrame{msgs: msgs}
	if len(buf) <= maxFrameOut {
		f.data = wireFrame(buf)
	}
	t.frames[cl] = f
	return f
}

// told records that the classes told of skipped lines in the current
// tick, at now, have been told.
func (h *hub) told(now time.Time) {
	for cl := range numClasses {
		if h.cur.skip[cl] {
			sk := &h.skips[cl]
			sk.told, sk.at = sk.total, now
		}
	}
}
