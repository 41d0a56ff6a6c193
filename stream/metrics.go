package stream

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the relay's Prometheus series. They exist (unregistered)
// even when no Registerer is configured, so the code never checks for nil.
type metrics struct {
	publishers       prometheus.Gauge
	viewers          prometheus.Gauge
	forwarded        prometheus.Counter
	bytes            prometheus.Counter
	retransmits      prometheus.Counter
	lostIngest       prometheus.Counter
	lostViewer       prometheus.Counter
	keyframeRequests *prometheus.CounterVec
	keyframesServed  prometheus.Counter
	layerSwitches    *prometheus.CounterVec
	pending          prometheus.Gauge
	refused          *prometheus.CounterVec
	evicted          prometheus.Counter
	upstreams        prometheus.Gauge
	edges            prometheus.Gauge
	upstreamFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	lost := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "livecart_stream_packets_lost_total",
		Help: "RTP packets lost: where=ingest, missing from a publisher; where=viewer, not delivered to a viewer that fell behind or whose slot was overwritten.",
	}, []string{"where"})
	m := &metrics{
		publishers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livecart_stream_publishers", Help: "WHIP publishers connected to this node.",
		}),
		viewers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livecart_stream_viewers", Help: "WHEP viewers on this node.",
		}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livecart_stream_packets_forwarded_total", Help: "RTP packets sent to viewers, retransmissions included.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livecart_stream_bytes_forwarded_total", Help: "RTP payload bytes sent to viewers.",
		}),
		retransmits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livecart_stream_retransmits_total", Help: "Packets resent to viewers from the shared cache in answer to a NACK.",
		}),
		lostIngest: lost.WithLabelValues("ingest"),
		lostViewer: lost.WithLabelValues("viewer"),
		keyframeRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecart_stream_keyframe_requests_total",
			Help: "Keyframe requests (PLI) sent to publishers, by reason: publish, join, viewer, lag, wait.",
		}, []string{"reason"}),
		keyframesServed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livecart_stream_keyframes_served_total", Help: "Joining viewers started on a cached keyframe instead of a new request.",
		}),
		layerSwitches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecart_stream_layer_switches_total", Help: "Simulcast layer switches made for viewers, by direction (up, down).",
		}, []string{"direction"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livecart_stream_pending_sessions",
			Help: "WHIP and WHEP sessions answered on this node whose peer has not connected yet.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecart_stream_sessions_refused_total",
			Help: "WHIP and WHEP offers refused at admission, by code: rate_limited (the client's bound of pending sessions), unavailable (the node's).",
		}, []string{"code"}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livecart_stream_sessions_evicted_total",
			Help: "Pending (not yet connected) sessions closed to make room for a new offer on a node at its bound.",
		}),
		upstreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livecart_stream_upstreams",
			Help: "Upstreams this node holds as an edge: one session to the origin node per stream it relays from another node.",
		}),
		edges: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livecart_stream_edge_sessions",
			Help: "Sessions of edge nodes relaying streams from this node (not counted as viewers).",
		}),
		upstreamFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livecart_stream_upstream_failures_total",
			Help: "Upstreams to an origin node that could not be opened (origin gone, refused, or not connected in time).",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.publishers, m.viewers, m.forwarded, m.bytes, m.retransmits, lost, m.keyframeRequests, m.keyframesServed, m.layerSwitches, m.pending, m.refused, m.evicted, m.upstreams, m.edges, m.upstreamFailures} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.New("stream: metrics already registered on this Registerer")
			}
			return nil, err
		}
	}
	return m, nil
}

// registerBatches exports what the media socket's corks sent (cork.go),
// when it has them.
func registerBatches(reg prometheus.Registerer, c corker) error {
	if reg == nil || c == nil {
		return nil
	}
	for _, f := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "livecart_stream_udp_batches_total",
			Help: "System calls that sent several datagrams to one peer at once (UDP segmentation offload).",
		}, func() float64 { b, _ := c.batchStats(); return float64(b) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "livecart_stream_udp_batched_datagrams_total",
			Help: "Datagrams sent by those system calls.",
		}, func() float64 { _, d := c.batchStats(); return float64(d) }),
	} {
		if err := reg.Register(f); err != nil {
			return err
		}
	}
	return nil
}
