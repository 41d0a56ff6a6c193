package main

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// routes registers what belongs to the process rather than to a part:
// health, readiness, metrics and guest sign-in. What no route takes is
// answered by the edge (api.Routes): 404 or 405, in problem+json.
func (a *app) routes() {
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
	if a.cfg.Guests {
		lim := newClientLimiter(rate.Every(2*time.Second), 10, maxLimitedClients)
		a.mux.Handle("POST /api/guest", auth.GuestHandler(a.signer, lim.allow))
	} else {
		a.mux.HandleFunc("POST /api/guest", func(w http.ResponseWriter, r *http.Request) {
			api.WriteError(w, r, nil, api.New(api.Forbidden, "guests are off on this server (start it with --guests)"))
		})
	}
}

// readyz answers 200 only while every store answers.
func (a *app) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if a.rdb != nil {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := a.rdb.Ping(ctx).Err(); err != nil {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "redis: %v\n", err)
			return
		}
	}
	fmt.Fprintln(w, "ready")
}

// The edge's bounds on requests in flight: per client address (an IPv6
// client's /64) and on the node in all.
const (
	maxRequestsPerClient = 64
	maxRequestsTotal     = 4096
)

// handler wraps the mux with the edge every request passes, outermost
// first: the client's address (--trusted-proxies) in the context, request
// metrics by route and status, panic recovery, the head size limits (414,
// 431), CORS (403 for a preflight from an origin not allowed), the bound on
// requests in flight (429, 503), the body deadline (408) and problem+json
// answers for what no route takes (404, 405). Every error it answers is
// problem+json.
func (a *app) handler() http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "livecart_http_requests_total", Help: "HTTP requests by route and status.",
	}, []string{"route", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "livecart_http_request_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})
	a.reg.MustRegister(requests, latency)
	proxies, _ := trustedProxies(a.cfg.TrustedProxies) // Validate refused bad entries
	inFlight := api.NewGate("requests in flight", maxRequestsPerClient, maxRequestsTotal)

	var h http.Handler = recordRoute(api.Routes(a.mux))
	h = api.BodyDeadline(h, cmp.Or(a.cfg.BodyTimeout, DefaultBodyTimeout))
	h = api.Admit(h, inFlight, notInFlight)
	h = a.origins.CORS(h, isWHEP)
	h = api.LimitHead(h, api.MaxURL, api.MaxHeader)
	h = api.Recover(h, a.log)
	byRoute := promhttp.WithLabelFromCtx("route", routeOf)
	h = promhttp.InstrumentHandlerDuration(latency, promhttp.InstrumentHandlerCounter(requests, h, byRoute), byRoute)
	h = withRoute(h)
	return api.NewClients(proxies).Handler(h)
}

// notInFlight reports the requests the in-flight bound does not count:
// room websockets, which are long-lived and bounded by the room, and the
// probes and metrics an operator needs most when the node is busy.
func notInFlight(r *http.Request) bool {
	switch r.URL.Path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return strings.HasSuffix(r.URL.Path, "/ws")
}

// isWHEP reports the WHEP endpoint and its session resources, which the
// contract opens to every origin: WHEP needs no token, and a session's URL
// is what allows acting on it.
func isWHEP(r *http.Request) bool {
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/streams/")
	if !ok {
		return false
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) < 2 || parts[0] == "" || parts[1] != "whep":
		return false
	case len(parts) == 4:
		return parts[3] == "layer"
	}
	return len(parts) <= 3
}

// route is the metrics label of a request: the pattern the mux chose, or
// "unmatched". withRoute puts an empty one in the request's context before
// the metrics middleware, and recordRoute fills it in after the mux ran, so
// the label survives the request copies the middlewares in between make.
type route struct{ pattern string }

type routeKey struct{}

func withRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, &route{})))
	})
}

func recordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if rt, ok := r.Context().Value(routeKey{}).(*route); ok && r.Pattern != "" {
				rt.pattern = r.Pattern
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func routeOf(ctx context.Context) string {
	if rt, ok := ctx.Value(routeKey{}).(*route); ok && rt.pattern != "" {
		return rt.pattern
	}
	return "unmatched"
}

// maxLimitedClients bounds how many client addresses a clientLimiter
// remembers.
const maxLimitedClients = 100_000

// clientLimiter bounds the rate of requests per client address (as the edge
// resolved it, api.ClientOf, an IPv6 client by its /64). It remembers at
// most max clients: a client idle long enough to be back at its full burst
// is forgotten, since remembering it changes nothing, and while max clients
// are active a new one is refused. It is safe for concurrent use.
type clientLimiter struct {
	every rate.Limit
	burst int
	max   int
	idle  time.Duration

	mu        sync.Mutex
	m         map[string]*clientRate
	lastSweep time.Time
}

type clientRate struct {
	lim  *rate.Limiter
	seen time.Time
}

func newClientLimiter(every rate.Limit, burst, max int) *clientLimiter {
	idle := time.Minute
	if every > 0 {
		idle = time.Duration(float64(burst)/float64(every)*float64(time.Second)) + time.Second
	}
	return &clientLimiter{every: every, burst: burst, max: max, idle: idle, m: make(map[string]*clientRate)}
}

// allow reports whether r's client may make one more request now.
func (l *clientLimiter) allow(r *http.Request) bool {
	return l.allowAt(api.ClientGroup(api.ClientOf(r)), time.Now())
}

func (l *clientLimiter) allowAt(client string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.m[client]
	if !ok {
		if len(l.m) >= l.max && now.Sub(l.lastSweep) >= l.idle/2 {
			l.lastSweep = now
			for k, v := range l.m {
				if now.Sub(v.seen) >= l.idle {
					delete(l.m, k)
				}
			}
		}
		if len(l.m) >= l.max {
			return false
		}
		c = &clientRate{lim: rate.NewLimiter(l.every, l.burst)}
		l.m[client] = c
	}
	c.seen = now
	return c.lim.AllowN(now, 1)
}
