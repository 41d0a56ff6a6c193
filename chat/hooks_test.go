package chat

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/livecart/livecart/auth"
)

// hookLog records the calls of Config.OnJoin and Config.OnViewers.
type hookLog struct {
	mu     sync.Mutex
	joins  map[string][]string // stream → viewers, in call order
	counts map[string][]int    // stream → counts, in call order
}

func newHookLog(cfg *Config) *hookLog {
	l := &hookLog{joins: map[string][]string{}, counts: map[string][]int{}}
	cfg.OnJoin = func(stream, viewer string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.joins[stream] = append(l.joins[stream], viewer)
	}
	cfg.OnViewers = func(stream string, count int) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.counts[stream] = append(l.counts[stream], count)
	}
	return l
}

func (l *hookLog) joined(stream string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.joins[stream])
}

// lastCount is the last count OnViewers gave for stream (-1: none yet).
func (l *hookLog) lastCount(stream string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.counts[stream]
	if len(c) == 0 {
		return -1
	}
	return c[len(c)-1]
}

// OnJoin is called once per joining connection of a viewer, with its sub
// or a distinct id per anonymous connection, and never for staff;
// OnViewers follows the count of viewers messages down to zero.
func TestJoinAndViewersHooks(t *testing.T) {
	var cfg Config
	hooks := newHookLog(&cfg)
	rm := mustRoom(t, nil, cfg)
	ana := mustToken(t, auth.Viewer, "ana", "")
	conns := []*wsc{
		rm.dial(t, "s1", "", nil),
		rm.dial(t, "s1", "", nil),
		rm.dial(t, "s1", ana, nil),
		rm.dial(t, "s1", ana, nil),
		rm.dial(t, "s1", mustToken(t, auth.Host, "host2", ""), nil), // the host of another stream is a viewer here
	}
	staff := []*wsc{
		rm.dial(t, "s1", mustToken(t, auth.Host, "host1", ""), nil),
		rm.dial(t, "s1", mustToken(t, auth.Moderator, "mod1", "s1"), nil),
		rm.dial(t, "s1", mustToken(t, auth.Admin, "root", ""), nil),
	}
	rm.dial(t, "s2", ana, nil)
	eventually(t, "five joins of s1", func() bool { return len(hooks.joined("s1")) >= 5 })
	for _, c := range staff {
		c.sync() // its join is over: OnJoin would have been called by now
	}
	got := hooks.joined("s1")
	slices.Sort(got)
	if len(got) != 5 || got[0] != "ana" || got[1] != "ana" || !strings.HasPrefix(got[2], "anon-") || !strings.HasPrefix(got[3], "anon-") || got[2] == got[3] || got[4] != "host2" {
		t.Errorf("OnJoin viewers of s1 = %q, want ana twice, two distinct anon- ids and host2", got)
	}
	if got := hooks.joined("s2"); !slices.Equal(got, []string{"ana"}) {
		t.Errorf("OnJoin viewers of s2 = %q, want [ana]", got)
	}

	all := len(conns) // staff are not viewers
	conns[0].expectWhere("viewers", func(m msg) bool { return m.num("count") == float64(all) })
	eventually(t, "OnViewers with the count of viewers messages", func() bool { return hooks.lastCount("s1") == all })
	conns[0].conn.Close()
	conns[1].expectWhere("viewers", func(m msg) bool { return m.num("count") == float64(all-1) })
	eventually(t, "OnViewers one down", func() bool { return hooks.lastCount("s1") == all-1 })
	for _, c := range append(conns[1:], staff...) {
		c.conn.Close()
	}
	eventually(t, "OnViewers at zero once everyone left", func() bool { return hooks.lastCount("s1") == 0 })
}

// Each node's OnViewers gives the count across nodes.
func TestViewersHookAcrossNodes(t *testing.T) {
	forEachBroker(t, func(t *testing.T, nodes twoNodes) {
		var cfg Config
		hooks := newHookLog(&cfg)
		n1, n2 := nodes(t, cfg) // one log for both nodes, whose views agree once settled
		a := n1.dial(t, "s1", "", nil)
		b := n2.dial(t, "s1", "", nil)
		a.expectWhere("viewers", func(m msg) bool { return m.num("count") == 2 })
		eventually(t, "OnViewers 2", func() bool { return hooks.lastCount("s1") == 2 })
		b.conn.Close()
		a.expectWhere("viewers", func(m msg) bool { return m.num("count") == 1 })
		eventually(t, "OnViewers 1", func() bool { return hooks.lastCount("s1") == 1 })
		a.conn.Close()
		eventually(t, "OnViewers 0", func() bool { return hooks.lastCount("s1") == 0 })
	})
}
