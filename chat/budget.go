package chat

import (
	"math"
	"slices"
	"time"
)

// The line budget of a busy room (contract section 6, "Busy rooms"): each
// viewer receives at most Config.LineBudget chat lines a second live.
// The hub decides once per tick which of the lines that arrived go out, the
// same for every viewer, so that they can share one frame; history and
// recovery are not affected.
//
// Lines of hosts, moderators and admins and answers are never dropped: they
// go out at once and use the budget first. Chat lines and questions of
// viewers are candidates: what is left of the budget is shared fairly
// across their senders, so that one flooder cannot take it. What is not
// sent is counted and told to the viewers as skipped.
//
// Fairness is max-min over the senders' recent rates: each sender's rate
// (lines a second, a moving average over about demandWindow) is met in
// full when it is below a level, and held to that level when above, the
// level being what shares the budget exactly (water filling). Each sender
// earns credit at its fair rate; a line goes out when its sender has a
// whole line of credit, the richest first, then the one served least
// recently, then the newest line. A room whose senders offer no more than
// the budget is not busy: every line goes out, the budget's limits aside.
//
// No second holds more picked lines than the budget less the most lines
// never dropped seen within one second over the last keptMemory, so that
// with those a viewer stays within the budget while they come at a steady
// pace.
const (
	demandWindow = 5 * time.Second
	forgetAfter  = 15 * time.Second
	maxSenders   = 4096

	// keptMemory is how far back the lines never dropped are looked at
	// to leave room for them.
	keptMemory = 3 * time.Second

	// maxLineBudget bounds a budget (and the times it remembers).
	maxLineBudget = 10000
)

// lineBudget decides which candidate lines go out live. It is owned by
// its hub and used under the hub's lock; times come from the caller.
type lineBudget struct {
	perSecond int

	// tokens paces lines at perSecond (at most a second's worth banked);
	// sent holds the times (Unix ns) of the last perSecond candidates
	// picked, oldest at next, so that no second ever holds more than
	// perSecond of them, less the lines never dropped.
	tokens float64
	last   time.Time
	sent   []int64
	next   int

	// offered is the lines offered in about the last second, as of
	// offeredAt.
	offered   float64
	offeredAt time.Time

	// keptAt holds the times (Unix ns) of the last perSecond lines never
	// dropped, oldest at keptNext.
	keptAt   []int64
	keptNext int

	senders map[string]*senderCredit
	pruned  time.Time // when senders were last pruned
	rates   []float64 // scratch for level
}

// senderCredit is one sender's share of the budget.
type senderCredit struct {
	demand   float64   // lines offered, a moving sum over demandWindow
	demandAt time.Time // when demand was last brought up to date
	since    time.Time // when it was first seen
	credit   float64   // lines it may send now
	creditAt time.Time // when credit was last brought up to date
	served   time.Time // when a line of it last went out
}

// candidate is one viewer's line waiting for the budget.
type candidate struct {
	sender string
	picked bool
}

func newLineBudget(perSecond int) *lineBudget {
	perSecond = min(max(1, perSecond), maxLineBudget)
	return &lineBudget{perSecond: perSecond, tokens: float64(perSecond), senders: make(map[string]*senderCredit)}
}

// pick decides a tick at now: kept lines (never dropped) go out and use
// the budget first; then candidates are picked in place (picked set), in
// the order fairness says. It returns how many candidates were picked.
func (b *lineBudget) pick(now time.Time, kept int, cands []candidate) int {
	per := float64(b.perSecond)
	if d := now.Sub(b.last); d > 0 && !b.last.IsZero() {
		b.tokens = min(per, b.tokens+d.Seconds()*per)
	}
	b.last = now
	for range min(kept, b.perSecond) {
		b.keepAt(now)
	}
	b.offered = decay(b.offered, b.offeredAt, now, time.Second) + float64(kept+len(cands))
	b.offeredAt = now
	b.tokens = max(b.tokens-float64(kept), -per)
	if len(cands) == 0 {
		return 0
	}
	busy := b.offered > per
	b.credit(now, cands)
	// Room for what the last second holds, less room for the lines never
	// dropped that are coming; a busy room is also paced.
	limit := b.free(now) - b.keptPeak(now)
	if busy {
		limit = min(limit, int(b.tokens))
	}
	picked := 0
	for picked < limit {
		best := -1
		for i := range cands {
			if !cands[i].picked && (best < 0 || b.before(&cands[i], &cands[best])) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		if busy && b.senders[cands[best].sender].credit < 1 {
			break // the rest is owed to senders who have not had their share
		}
		c := &cands[best]
		c.picked = true
		s := b.senders[c.sender]
		s.credit = max(s.credit-1, -1)
		s.served = now
		b.tokens = max(b.tokens-1, -per)
		b.record(now)
		picked++
	}
	return picked
}

// before reports whether candidate x goes out before y: the sender with
// more credit, then the one served least recently, then the newer line
// (x comes after y).
func (b *lineBudget) before(x, y *candidate) bool {
	sx, sy := b.senders[x.sender], b.senders[y.sender]
	if sx.credit != sy.credit {
		return sx.credit > sy.credit
	}
	if !sx.served.Equal(sy.served) {
		return sx.served.Before(sy.served)
	}
	return true
}

// credit counts the candidates in their senders' demand and brings the
// credit of those senders up to now at their fair rate.
func (b *lineBudget) credit(now time.Time, cands []candidate) {
	if now.Sub(b.pruned) >= time.Second {
		b.prune(now)
		b.pruned = now
	}
	for _, c := range cands {
		s := b.senders[c.sender]
		if s == nil {
			if len(b.senders) >= maxSenders {
				b.forget(now)
			}
			s = &senderCredit{credit: 1, creditAt: now, demandAt: now, since: now}
			b.senders[c.sender] = s
		}
		s.demand = decay(s.demand, s.demandAt, now, demandWindow) + 1
		s.demandAt = now
	}
	level := b.level(now)
	for _, c := range cands {
		s := b.senders[c.sender]
		if d := now.Sub(s.creditAt); d > 0 {
			rate := min(s.rate(now), level)
			s.credit = min(max(2, 2*rate), s.credit+d.Seconds()*rate)
			s.creditAt = now
		}
	}
}

// level is the water level of the senders' rates at now: senders below it
// have their rate, those above it have it, and together they use the
// budget (infinite when all their rates fit in it).
func (b *lineBudget) level(now time.Time) float64 {
	rates := b.rates[:0]
	sum := 0.0
	for _, s := range b.senders {
		r := s.rate(now)
		rates = append(rates, r)
		sum += r
	}
	b.rates = rates
	left := float64(b.perSecond)
	if sum <= left {
		return math.Inf(1)
	}
	slices.Sort(rates)
	for i, r := range rates {
		if share := left / float64(len(rates)-i); r > share {
			return share
		}
		left -= r
	}
	return math.Inf(1)
}

// rate is the sender's lines a second at now: its moving sum over the
// part of demandWindow it has been seen in (at least a second).
func (s *senderCredit) rate(now time.Time) float64 {
	w := demandWindow.Seconds()
	if age := now.Sub(s.since).Seconds(); age < 10*w {
		w *= -math.Expm1(-max(1, age) / w)
	}
	return decay(s.demand, s.demandAt, now, demandWindow) / w
}

// prune forgets senders whose demand has decayed for forgetAfter.
func (b *lineBudget) prune(now time.Time) {
	for k, s := range b.senders {
		if now.Sub(s.demandAt) > forgetAfter {
			delete(b.senders, k)
		}
	}
}

// forget makes room for a new sender: those not seen for forgetAfter go,
// then, if that is not enough, the half seen least recently.
func (b *lineBudget) forget(now time.Time) {
	b.prune(now)
	if len(b.senders) < maxSenders {
		return
	}
	ats := make([]int64, 0, len(b.senders))
	for _, s := range b.senders {
		ats = append(ats, s.demandAt.UnixNano())
	}
	slices.Sort(ats)
	cut := ats[len(ats)/2]
	for k, s := range b.senders {
		if s.demandAt.UnixNano() <= cut && !s.demandAt.Equal(now) {
			delete(b.senders, k)
		}
	}
}

// free is how many candidates may still be picked at now without more
// than perSecond in any second.
func (b *lineBudget) free(now time.Time) int {
	if b.sent == nil {
		return b.perSecond
	}
	cut := now.Add(-time.Second).UnixNano()
	n := 0
	for n < len(b.sent) && b.sent[(b.next+n)%len(b.sent)] <= cut {
		n++
	}
	return n
}

// keepAt notes a line never dropped at now.
func (b *lineBudget) keepAt(now time.Time) {
	if b.keptAt == nil {
		b.keptAt = make([]int64, b.perSecond)
	}
	b.keptAt[b.keptNext] = now.UnixNano()
	b.keptNext = (b.keptNext + 1) % len(b.keptAt)
}

// keptPeak is the most lines never dropped within one second over the
// last keptMemory: what the next second is expected to hold at most.
func (b *lineBudget) keptPeak(now time.Time) int {
	if b.keptAt == nil {
		return 0
	}
	n, from := len(b.keptAt), now.Add(-keptMemory).UnixNano()
	peak, j := 0, 0
	for i := range n {
		t := b.keptAt[(b.keptNext+i)%n]
		if t <= from {
			j = i + 1
			continue
		}
		for b.keptAt[(b.keptNext+j)%n] <= t-int64(time.Second) {
			j++
		}
		peak = max(peak, i-j+1)
	}
	return peak
}

// record notes a candidate picked at now.
func (b *lineBudget) record(now time.Time) {
	if b.sent == nil {
		b.sent = make([]int64, b.perSecond) // zero: long ago
	}
	b.sent[b.next] = now.UnixNano()
	b.next = (b.next + 1) % len(b.sent)
}

// decay is a moving sum v as of at, decayed to now by e every window.
func decay(v float64, at, now time.Time, window time.Duration) float64 {
	if d := now.Sub(at); d > 0 && v != 0 {
		return v * math.Exp(-d.Seconds()/window.Seconds())
	}
	return v
}
