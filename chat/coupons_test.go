package chat

import (
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
)

func couponCode(code string) func(msg) bool {
	return func(m msg) bool { return m.str("code") == code }
}

// Coupons reach every viewer on both nodes, again as left changes, and
// connections that join later receive the live ones after their welcome.
func TestCoupons(t *testing.T) {
	forEachBroker(t, func(t *testing.T, nodes twoNodes) {
		n1, n2 := nodes(t, Config{})
		v1 := n1.dial(t, "s1", "", nil)
		v2 := n2.dial(t, "s1", mustToken(t, auth.Viewer, "ana", ""), nil)
		other := n1.dial(t, "s2", "", nil)

		pct, amt := int64(20), int64(500)
		ends := n1.clock.Now().Add(10 * time.Minute)
		n1.Coupon("s1", Coupon{Code: "LIVE20", PercentOff: &pct, Left: 3, EndsAt: &ends})
		for _, c := range []*wsc{v1, v2} {
			m := c.expectWhere("coupon", couponCode("LIVE20"))
			got, err := time.Parse(time.RFC3339, m.str("ends_at"))
			if m.num("percent_off") != 20 || m.num("left") != 3 || err != nil || !got.Equal(ends) {
				t.Errorf("coupon = %v, want 20%% off, 3 left, ends at %s", m, ends.Format(time.RFC3339))
			}
			if _, ok := m["amount_off_cents"]; ok {
				t.Errorf("coupon = %v, want no amount_off_cents", m)
			}
		}
		n2.Coupon("s1", Coupon{Code: "FIVE", AmountOffCents: &amt, Left: 10})
		m := v1.expectWhere("coupon", couponCode("FIVE"))
		if v, ok := m["ends_at"]; m.num("amount_off_cents") != 500 || m.num("left") != 10 || !ok || v != nil {
			t.Errorf("coupon = %v, want 500 off, 10 left, ends_at null", m)
		}
		if _, ok := m["percent_off"]; ok {
			t.Errorf("coupon = %v, want no percent_off", m)
		}

		// Used up: still sent, with left 0.
		n1.Coupon("s1", Coupon{Code: "LIVE20", PercentOff: &pct, Left: 0, EndsAt: &ends})
		if m := v2.expectWhere("coupon", couponCode("LIVE20")); m.num("left") != 0 {
			t.Errorf("used-up coupon = %v, want left 0", m)
		}
		// Neither a coupon without exactly one discount nor one without a
		// code is sent.
		n1.Coupon("s1", Coupon{Code: "BOTH", PercentOff: &pct, AmountOffCents: &amt, Left: 1})
		n1.Coupon("s1", Coupon{Code: "NONE", Left: 1})
		n1.Coupon("s1", Coupon{PercentOff: &pct, Left: 1})
		n1.StockChanged("s1", "marker", 1)
		n1.StockChanged("s2", "marker", 1)
		invalid := func(m msg) bool { c := m.str("code"); return c == "BOTH" || c == "NONE" || c == "" }
		v1.expectNoneBeforeStock("coupon", "marker", invalid)
		other.expectNoneBeforeStock("coupon", "marker", anyMsg)

		t.Run("late joiners", func(t *testing.T) {
			late := n2.dial(t, "s1", "", nil)
			seen := map[string]float64{}
			for len(seen) < 2 {
				m := late.expect("coupon")
				seen[m.str("code")] = m.num("left")
			}
			if seen["LIVE20"] != 0 || seen["FIVE"] != 10 {
				t.Errorf("coupons after welcome = %v, want LIVE20 with 0 left and FIVE with 10", seen)
			}
			late.expectNoneBeforeStock("coupon", "marker", anyMsg)
		})

		t.Run("gone", func(t *testing.T) {
			n2.CouponGone("s1", "LIVE20")
			n2.StockChanged("s1", "marker2", 1)
			v1.expectNoneBeforeStock("coupon", "marker2", anyMsg) // connected viewers are not told
			late := n1.dial(t, "s1", "", nil)
			if m := late.expect("coupon"); m.str("code") != "FIVE" {
				t.Errorf("coupon after welcome = %v, want FIVE", m)
			}
			late.expectNoneBeforeStock("coupon", "marker", anyMsg)
		})

		t.Run("ended", func(t *testing.T) {
			soon := n1.clock.Now().Add(time.Minute)
			n1.Coupon("s1", Coupon{Code: "FLASH", PercentOff: &pct, Left: 5, EndsAt: &soon})
			v2.expectWhere("coupon", couponCode("FLASH"))
			n1.clock.Advance(2 * time.Minute) // one clock for both nodes
			late := n2.dial(t, "s1", "", nil)
			late.expectWhere("coupon", couponCode("FIVE"))
			late.expectNoneBeforeStock("coupon", "marker", couponCode("FLASH"))
		})
	})
}

// A viewer that reads slowly but keeps up with its queue always ends on
// the latest value of each coupon, never going back, and is not dropped.
func TestConflatedCoupons(t *testing.T) {
	rm := mustRoom(t, nil, Config{SendQueue: 8})
	slow := rm.dialNoRead(t, "s1", "", nil, 4096)
	eventually(t, "connected", func() bool { return rm.Viewers(t.Context(), "s1") == 1 })
	const n = 3000
	pct := int64(10)
	for left := n; left >= 0; left-- {
		rm.Coupon("s1", Coupon{Code: "TEN", PercentOff: &pct, Left: left})
	}
	slow.startReading()
	slow.expect("welcome")
	var got []float64
	slow.expectWhere("coupon", func(m msg) bool {
		got = append(got, m.num("left"))
		return m.num("left") == 0
	})
	for i := 1; i < len(got); i++ {
		if got[i] >= got[i-1] {
			t.Fatalf("left went back from %v to %v", got[i-1], got[i])
		}
	}
	if rmDrops(rm) != 0 {
		t.Error("a viewer of coupons only was dropped")
	}
	t.Logf("%d coupon updates arrived as %d messages", n+1, len(got))
}
