package chat

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the room's Prometheus collectors.
type metrics struct {
	connections  prometheus.Gauge
	sent         prometheus.Counter
	frames       prometheus.Counter
	slowDrops    prometheus.Counter
	skipped      prometheus.Counter
	brokerErrors *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livecart_room_connections", Help: "Open websocket room connections on this node.",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livecart_room_messages_sent_total", Help: "Room messages written to websockets.",
		}),
		frames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livecart_room_frames_sent_total", Help: "Websocket text frames written (several messages each when they queue up).",
		}),
		slowDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livecart_room_slow_drops_total", Help: "Connections dropped with 1013 for not reading fast enough.",
		}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livecart_room_lines_skipped_total", Help: "Chat lines and questions a busy room did not send live to its viewers (once per room on this node, not per viewer).",
		}),
		brokerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecart_room_broker_errors_total", Help: "Failed broker operations, by operation.",
		}, []string{"op"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.connections, m.sent, m.frames, m.slowDrops, m.skipped, m.brokerErrors} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}
