package cart

import "github.com/prometheus/client_golang/prometheus"

// metrics are the shop's Prometheus metrics.
type metrics struct {
	orders   *prometheus.CounterVec
	taps     *prometheus.CounterVec
	released prometheus.Counter
	stale    *prometheus.CounterVec
	offers   prometheus.Counter
	funnel   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "livecart", Subsystem: "cart", Name: "orders_total",
			Help: "Orders placed and cancelled on this node, by event.",
		}, []string{"event"}),
		taps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "livecart", Subsystem: "cart", Name: "buys_total",
			Help: "One-tap buys answered by this node, by result (placed, replayed, sold_out_local, or an error code).",
		}, []string{"result"}),
		released: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "livecart", Subsystem: "cart", Name: "holds_released_total",
			Help: "Cart holds that lapsed and gave their stock back, released by this node.",
		}),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "livecart", Subsystem: "cart", Name: "plans_stale_total",
			Help: "Plans the store refused because what they were decided from had changed (decided again), by what changed.",
		}, []string{"what"}),
		offers: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "livecart", Subsystem: "cart", Name: "waitlist_offers_total",
			Help: "Units offered to waiting viewers by this node.",
		}),
		funnel: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "livecart", Subsystem: "cart", Name: "funnel_total",
			Help: "The shows' funnel as this node saw it, all streams together, by step: joins (viewers joining a room), card_views, carts (carts started), orders, units, revenue_cents (after discounts).",
		}, []string{"step"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.orders, m.taps, m.released, m.stale, m.offers, m.funnel} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
