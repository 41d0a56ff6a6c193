package chat

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

// simulate runs a line budget of perSecond over ticks every step for d,
// with post(tick) giving each tick's candidates' senders and kept lines;
// it returns the lines sent per sender and the times every line (kept or
// picked) went out.
func simulate(perSecond int, step, d time.Duration, post func(n int, at time.Duration) (senders []string, kept int)) (map[string]int, []time.Duration) {
	b := newLineBudget(perSecond)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	got := make(map[string]int)
	var out []time.Duration
	for n := 0; time.Duration(n)*step < d; n++ {
		at := time.Duration(n) * step
		senders, kept := post(n, at)
		cands := make([]candidate, len(senders))
		for i, s := range senders {
			cands[i] = candidate{sender: s}
		}
		b.pick(t0.Add(at), kept, cands)
		for range kept {
			out = append(out, at)
		}
		for _, c := range cands {
			if c.picked {
				got[c.sender]++
				out = append(out, at)
			}
		}
	}
	return got, out
}

// maxInWindow is the most of the sorted times within any window of length
// w (a line at t counts in [t, t+w)).
func maxInWindow(times []time.Duration, w time.Duration) int {
	best, j := 0, 0
	for i := range times {
		for times[i]-times[j] >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// The budget holds in every second, whatever is offered; lines that are
// never dropped use it first and go out even beyond it.
func TestLineBudgetWindow(t *testing.T) {
	cases := []struct {
		name      string
		perSecond int
		post      func(n int, at time.Duration) ([]string, int)
		wantMax   int // most lines in any second
		wantTotal [2]int
	}{
		{"a flood of one sender", 8, func(n int, at time.Duration) ([]string, int) {
			return []string{"f", "f", "f", "f", "f"}, 0
		}, 8, [2]int{10 * 8, 10*8 + 8}},
		{"many senders", 8, func(n int, at time.Duration) ([]string, int) {
			s := make([]string, 20)
			for i := range s {
				s[i] = "s" + strconv.Itoa((n*20+i)%300)
			}
			return s, 0
		}, 8, [2]int{10 * 8, 10*8 + 8}},
		{"kept lines first", 8, func(n int, at time.Duration) ([]string, int) {
			kept := 0
			if n%10 == 0 { // 2 a second
				kept = 1
			}
			return []string{"a", "b", "c"}, kept
		}, 8, [2]int{10 * 8, 10*8 + 8}},
		{"kept lines beyond the budget", 2, func(n int, at time.Duration) ([]string, int) {
			return []string{"a"}, 1 // 20 a second, never dropped
		}, 20, [2]int{200, 200 + 2}},
		{"a quiet room: everything", 8, func(n int, at time.Duration) ([]string, int) {
			if n%5 == 0 { // 4 a second, a burst of 3 now and then
				if n%40 == 0 {
					return []string{"a", "b", "c"}, 0
				}
				return []string{"a"}, 0
			}
			return nil, 0
		}, 8, [2]int{40 + 2*5, 40 + 2*5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, out := simulate(tc.perSecond, 50*time.Millisecond, 10*time.Second, tc.post)
			// The budget learns the rate of lines never dropped within a
			// second or two: from then on it holds with them included.
			steady := out[slices.IndexFunc(out, func(d time.Duration) bool { return d >= 2*time.Second }):]
			if got := maxInWindow(steady, time.Second); got > tc.wantMax {
				t.Errorf("%d lines within one second, want at most %d", got, tc.wantMax)
			}
			if got := maxInWindow(out, time.Second); got > tc.wantMax+1 {
				t.Errorf("%d lines within one second at first, want at most %d", got, tc.wantMax+1)
			}
			if len(out) < tc.wantTotal[0] || len(out) > tc.wantTotal[1] {
				t.Errorf("%d lines in 10 s, want %d to %d", len(out), tc.wantTotal[0], tc.wantTotal[1])
			}
		})
	}
}

// One sender posting far more than anyone does not take the budget: the
// others, each posting once a second, get their share of it.
func TestLineBudgetFairAcrossSenders(t *testing.T) {
	const others = 10
	got, out := simulate(8, 50*time.Millisecond, 20*time.Second, func(n int, at time.Duration) ([]string, int) {
		s := []string{"flood", "flood", "flood", "flood", "flood"} // 100 a second
		for i := range others {
			if n%20 == i*2 { // each once a second, spread out
				s = append(s, "v"+strconv.Itoa(i))
			}
		}
		return s, 0
	})
	// Until the room is known to be busy (its first second), every line
	// fits: the flooder's first lines go out too.
	share := float64(len(out)) / (others + 1)
	if f := float64(got["flood"]); f > 1.6*share {
		t.Errorf("the flooder got %v of %d lines, want at most 1.6 × its share %.1f; all: %v", f, len(out), share, got)
	}
	for i := range others {
		s := "v" + strconv.Itoa(i)
		if f := float64(got[s]); f < 0.7*share {
			t.Errorf("%s got %v lines, want at least 0.7 × its share %.1f; all: %v", s, f, share, got)
		}
	}
	if len(out) < 8*20*9/10 {
		t.Errorf("%d lines went out in 20 s, want at least 90 %% of the budget of %d: it must not go unused", len(out), 8*20)
	}
}

// Senders who stop posting are forgotten; the map stays bounded.
func TestLineBudgetForgetsSenders(t *testing.T) {
	b := newLineBudget(8)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for n := range 400 { // 20,000 senders within forgetAfter
		cands := make([]candidate, 50)
		for i := range cands {
			cands[i] = candidate{sender: "s" + strconv.Itoa(n*50+i)}
		}
		b.pick(t0.Add(time.Duration(n)*50*time.Millisecond), 0, cands)
		if len(b.senders) > maxSenders {
			t.Fatalf("%d senders remembered, want at most %d", len(b.senders), maxSenders)
		}
	}
}
