package stream

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/api"
)

// maxLayers is the most simulcast layers a publisher may send.
const maxLayers = 3

// feed is one media kind of a room, across publisher sessions: audio, or
// video in one to three simulcast layers. Each layer is a relayTrack with
// its own packet cache; a layer slot (the position of its rid in the
// publisher's a=simulcast) keeps its track from one session to the next,
// so that viewers on it continue without a switch.
type feed struct {
	kind  webrtc.RTPCodecType
	codec webrtc.RTPCodecParameters

	mu  sync.Mutex
	all []*relayTrack // every layer slot ever used, by slot

	// layers are the current session's tracks, by slot; copy on write
	// under mu.
	layers atomic.Pointer[[]*relayTrack]
	// ranks counts the changes that may reorder the layers: a new session,
	// a layer's new picture size. Viewers re-resolve their layer when it
	// moves.
	ranks atomic.Uint64
}

func newFeed(codec webrtc.RTPCodecParameters) *feed {
	f := &feed{kind: kindOf(codec.MimeType), codec: codec}
	f.layers.Store(&[]*relayTrack{})
	return f
}

// begin starts session with n layers (1 without simulcast) and returns
// their tracks by slot.
func (f *feed) begin(session uint64, n int, mk func(ranks *atomic.Uint64) *relayTrack) []*relayTrack {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.all) < n {
		t := mk(&f.ranks)
		t.feed = f
		f.all = append(f.all, t)
	}
	cur := slices.Clone(f.all[:n])
	for _, t := range cur {
		t.setSession(session)
	}
	f.layers.Store(&cur)
	f.ranks.Add(1)
	// Viewers of a layer this session lacks hear no more of it: wake
	// them all to choose again.
	for _, t := range f.all {
		for _, d := range *t.downs.Load() {
			d.notify()
		}
	}
	return cur
}

// layerIdle is how long a layer may send nothing before it is left out of
// the ranking (a publisher short of bandwidth or CPU pauses its top
// layers).
const layerIdle = 2 * time.Second

// checkIdle marks the current layers that have sent nothing for layerIdle
// as idle; their viewers are woken to choose again. Each layer calls it
// once per rateWindow.
func (f *feed) checkIdle(now int64) {
	for _, t := range *f.layers.Load() {
		if now-t.lastAt.Load() > int64(layerIdle) && t.idle.CompareAndSwap(false, true) {
			f.ranks.Add(1)
			for _, d := range *t.downs.Load() {
				d.notify()
			}
		}
	}
}

// ranked returns the current layers from the lowest to the highest: by the
// picture size their keyframes announce, then by bitrate, then by slot
// (a layer whose size is not known yet ranks by its bitrate). Idle layers
// are left out, unless all are.
func (f *feed) ranked() []*relayTrack {
	ls := slices.Clone(*f.layers.Load())
	if active := slices.DeleteFunc(slices.Clone(ls), func(t *relayTrack) bool { return t.idle.Load() }); len(active) > 0 {
		ls = active
	}
	slices.SortStableFunc(ls, func(a, b *relayTrack) int {
		if pa, pb := a.pixels.Load(), b.pixels.Load(); pa != pb && pa != 0 && pb != 0 {
			return int(pa - pb)
		}
		return int(a.rate.Load() - b.rate.Load())
	})
	return ls
}

// rates returns the bitrates of the current layers, lowest first.
func (f *feed) rates() []int64 {
	ls := f.ranked()
	out := make([]int64, len(ls))
	for i, t := range ls {
		out[i] = t.rate.Load()
	}
	return out
}

// current reports whether t is one of the current session's layers.
func (f *feed) current(t *relayTrack) bool {
	return slices.Contains(*f.layers.Load(), t)
}

// layerMode is what a viewer asks of the layers: automatic, or one fixed.
type layerMode int32

const (
	layerAuto layerMode = iota
	layerLow
	layerMedium
	layerHigh
)

var layerNames = map[string]layerMode{"auto": layerAuto, "low": layerLow, "medium": layerMedium, "high": layerHigh}

// parseLayer reads a layer name; "" is automatic.
func parseLayer(s string) (layerMode, error) {
	if s == "" {
		return layerAuto, nil
	}
	if m, ok := layerNames[s]; ok {
		return m, nil
	}
	return 0, api.Errorf(api.BadRequest, "layer must be auto, high, medium or low, not %q", s)
}

func (m layerMode) String() string {
	for k, v := range layerNames {
		if v == m {
			return k
		}
	}
	return "auto"
}

// rankOf is the rank (0 = lowest) a fixed mode picks among n layers:
// high the top one, low the bottom one, medium the middle of three (the
// lower of two). auto is the rank the viewer's controller chose.
func (m layerMode) rankOf(n, auto int) int {
	switch m {
	case layerHigh:
		return n - 1
	case layerMedium:
		return (n - 1) / 2
	case layerLow:
		return 0
	}
	return min(max(auto, 0), n-1)
}

// Layer choice for viewers in automatic mode. A viewer starts on the lowest
// layer, the one that is safe without feedback. It goes down one layer at
// once when its receiver reports show heavy loss, and to the highest layer
// its bandwidth estimate (REMB) carries when that estimate falls under half
// the rate of the layer it plays; it goes up one layer only after its
// reports have been clean for the hold time. (A browser's estimate
// follows what it receives, from about 0.9 to 2 times it on a clear link,
// and starts low: it tells congestion when it collapses, but it cannot
// vouch for a layer four times larger, so climbs go by loss alone.) Going
// down sets the hold to at least holdLoss (the link got thinner: probe
// again later, not at once); going down right after a climb (a failed
// probe) doubles it, up to holdMax; a climb that holds brings it back to
// holdMin.
const (
	lossDown    = 26 // of 256: 10 % lost
	lossClean   = 5  // of 256: 2 % lost
	holdMin     = 2 * time.Second
	holdLoss    = 8 * time.Second
	holdMax     = 16 * time.Second
	climbProven = 4 * time.Second // a climb that held this long worked
	// settle is how long after a switch down reports are ignored: they
	// still describe the layer the viewer left.
	settle = 1500 * time.Millisecond
	// rembFresh is how long a bandwidth estimate counts.
	rembFresh = 5 * time.Second
	// rembDown: an estimate under this share of the rate of the layer
	// played moves the viewer down.
	rembDown = 0.5
)

// control is one viewer's automatic layer choice. It is owned by the
// goroutine that reads the viewer's RTCP.
type control struct {
	rank    int
	hold    time.Duration
	changed time.Time // the last switch
	upAt    time.Time // the last switch up
	downAt  time.Time // the last switch down
	clean   time.Time // since when reports are clean (zero: not clean)
	remb    float64
	rembAt  time.Time
}

func newControl() *control { return &control{hold: holdMin} }

// report takes one receiver report's fraction lost (of 256) for the
// layers' bitrates, lowest first, and returns the rank to play.
func (c *control) report(now time.Time, fractionLost uint8, rates []int64) int {
	n := len(rates)
	if n == 0 {
		return 0
	}
	c.rank = min(c.rank, n-1)
	if now.Sub(c.downAt) < settle {
		return c.rank
	}
	switch {
	case fractionLost > lossDown:
		c.clean = time.Time{}
		if c.rank > 0 {
			c.down(now, c.rank-1)
		}
		return c.rank
	case fractionLost > lossClean:
		c.clean = time.Time{}
		return c.rank
	}
	if c.clean.IsZero() {
		c.clean = now
	}
	if !c.upAt.IsZero() && c.downAt.Before(c.upAt) && now.Sub(c.upAt) >= climbProven {
		c.hold = holdMin // the last climb held
	}
	if c.rank < n-1 && now.Sub(c.clean) >= c.hold && now.Sub(c.changed) >= c.hold {
		c.rank++
		c.changed, c.upAt, c.clean = now, now, now
	}
	return c.rank
}

// estimate takes a bandwidth estimate (bits/s) and returns the rank to
// play: the current one, or lower when the estimate does not carry it.
func (c *control) estimate(now time.Time, bps float64, rates []int64) int {
	c.remb, c.rembAt = bps, now
	if len(rates) == 0 {
		return 0
	}
	c.rank = min(c.rank, len(rates)-1)
	r := c.rank
	for r > 0 && !c.carries(now, rates[r]) {
		r--
	}
	if r < c.rank {
		c.down(now, r)
	}
	return c.rank
}

// down moves to rank and sets the hold: doubled after a failed climb,
// at least holdLoss otherwise.
func (c *control) down(now time.Time, rank int) {
	if now.Sub(c.upAt) < climbProven {
		c.hold = min(max(2*c.hold, holdLoss), holdMax)
	} else {
		c.hold = max(c.hold, holdLoss)
	}
	c.rank = rank
	c.changed, c.downAt, c.clean = now, now, time.Time{}
}

// carries reports whether a fresh estimate, if any, does not rule out a
// layer of rate bits/s.
func (c *control) carries(now time.Time, rate int64) bool {
	if c.rembAt.IsZero() || now.Sub(c.rembAt) > rembFresh {
		return true
	}
	return float64(rate)*rembDown <= c.remb
}
