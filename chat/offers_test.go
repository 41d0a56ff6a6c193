package chat

import (
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
)

// expectNoneBeforeStock reads c's messages in order until the stock
// message of sku marker, and fails on any message of type typ for which
// bad holds before it. The room sends a connection its messages in the
// order they were published, so a marker published after an event shows
// that the event was not sent to c.
func (c *wsc) expectNoneBeforeStock(typ, marker string, bad func(msg) bool) {
	c.tb.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		select {
		case m := <-c.msgs:
			switch {
			case m.str("type") == typ && bad(m):
				c.tb.Fatalf("got %v before the stock of %q, want no such %q message", m, marker, typ)
			case m.str("type") == "stock" && m.str("sku") == marker:
				return
			}
		case <-deadline.C:
			c.tb.Fatalf("no stock message of %q within %v", marker, wait)
		}
	}
}

func anyMsg(msg) bool { return true }

func offerOf(sku string) func(msg) bool { return func(m msg) bool { return m.str("sku") == sku } }

// checkOffer fails unless m offers sku held until until.
func checkOffer(tb testing.TB, m msg, sku string, until time.Time) {
	tb.Helper()
	got, err := time.Parse(time.RFC3339, m.str("held_until"))
	if m.str("sku") != sku || err != nil || !got.Equal(until) {
		tb.Errorf("offer = %v, want sku %q held until %s", m, sku, until.Format(time.RFC3339Nano))
	}
}

// An offer reaches every connection of its viewer, on both nodes, and
// those it opens while the offer lasts, and nobody else; OfferGone clears
// it.
func TestOfferOnlyToItsViewer(t *testing.T) {
	forEachBroker(t, func(t *testing.T, nodes twoNodes) {
		n1, n2 := nodes(t, Config{})
		ana := mustToken(t, auth.Viewer, "ana", "")
		bobTok := mustToken(t, auth.Viewer, "bob", "")
		ana1 := n1.dial(t, "s1", ana, nil)
		ana2 := n2.dial(t, "s1", ana, nil)
		bob := n2.dial(t, "s1", bobTok, nil)
		anon := n1.dial(t, "s1", "", nil)
		host := n1.dial(t, "s1", mustToken(t, auth.Host, "host1", ""), nil)
		otherStream := n1.dial(t, "s2", ana, nil)

		until := n1.clock.Now().Add(time.Minute).Truncate(time.Millisecond)
		n1.Offer("s1", "ana", "mug", until)
		for _, c := range []*wsc{ana1, ana2} {
			checkOffer(t, c.expect("offer"), "mug", until)
		}
		n1.StockChanged("s1", "marker", 1)
		n1.StockChanged("s2", "marker", 1)
		for _, c := range []*wsc{bob, anon, host, otherStream} {
			c.expectNoneBeforeStock("offer", "marker", anyMsg)
		}

		t.Run("late joiners", func(t *testing.T) {
			late := n2.dial(t, "s1", ana, nil)
			checkOffer(t, late.expect("offer"), "mug", until)
			n1.dial(t, "s1", bobTok, nil).expectNoneBeforeStock("offer", "marker", anyMsg)
			n2.dial(t, "s1", "", nil).expectNoneBeforeStock("offer", "marker", anyMsg)
		})

		t.Run("a newer offer replaces the older", func(t *testing.T) {
			later := until.Add(30 * time.Second)
			n2.Offer("s1", "ana", "mug", later)
			checkOffer(t, ana1.expectWhere("offer", offerOf("mug")), "mug", later)
			n1.StockChanged("s1", "marker2", 1)
			ana1.expectWhere("stock", func(m msg) bool { return m.str("sku") == "marker2" })
			late := n1.dial(t, "s1", ana, nil)
			checkOffer(t, late.expect("offer"), "mug", later)
			late.expectNoneBeforeStock("offer", "marker2", anyMsg)
		})

		t.Run("gone", func(t *testing.T) {
			n2.OfferGone("s1", "ana", "mug")
			for _, c := range []*wsc{ana1, ana2} {
				c.expectWhere("offer", func(m msg) bool {
					v, ok := m["held_until"]
					return m.str("sku") == "mug" && ok && v == nil
				})
			}
			n2.StockChanged("s1", "marker3", 1)
			bob.expectNoneBeforeStock("offer", "marker3", anyMsg)
			ana1.expectWhere("stock", func(m msg) bool { return m.str("sku") == "marker3" })
			n1.dial(t, "s1", ana, nil).expectNoneBeforeStock("offer", "marker3", anyMsg)
		})

		t.Run("expired", func(t *testing.T) {
			soon := n1.clock.Now().Add(time.Minute)
			n1.Offer("s1", "ana", "cap", soon)
			ana2.expectWhere("offer", offerOf("cap"))
			n1.clock.Advance(2 * time.Minute) // one clock for both nodes
			n2.dial(t, "s1", ana, nil).expectNoneBeforeStock("offer", "marker3", anyMsg)
		})
	})
}

// A viewer whose sub has the separator of the state keys gets only its own
// offers.
func TestOfferKeysDoNotMix(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	until := rm.clock.Now().Add(time.Minute)
	rm.Offer("s1", "a", "b:c", until)
	rm.Offer("s1", "a:b", "c", until)
	rm.StockChanged("s1", "marker", 1)
	rm.dial(t, "s1", mustToken(t, auth.Viewer, "x", ""), nil).expect("stock") // the outbox has published
	a := rm.dial(t, "s1", mustToken(t, auth.Viewer, "a", ""), nil)
	checkOffer(t, a.expect("offer"), "b:c", until.Truncate(time.Millisecond))
	a.expectNoneBeforeStock("offer", "marker", anyMsg)
	ab := rm.dial(t, "s1", mustToken(t, auth.Viewer, "a:b", ""), nil)
	checkOffer(t, ab.expect("offer"), "c", until.Truncate(time.Millisecond))
	ab.expectNoneBeforeStock("offer", "marker", anyMsg)
}
