package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// storeTimeout bounds every call to Redis: a store that does not answer
// within it makes the request answer 503 unavailable.
const storeTimeout = time.Second

// shutdownBudget is how long SIGTERM may take from first signal to exit.
const shutdownBudget = 10 * time.Second

// app is one running server: the configuration and the parts it wired.
// Only serve builds it; its fields are set once before the server accepts.
type app struct {
	cfg    Config
	log    *slog.Logger
	signer *auth.Signer
	rdb    *redis.Client // nil with the embedded stores
	reg    *prometheus.Registry
	// origins is the one origin policy, for CORS and the room's websocket.
	origins *api.Origins
	mux     *routeMux
	parts   parts
	// madeUpSecret is the key a --demo without LIVECART_SECRET signs with,
	// printed with the demo's URLs so that `livecart token` can use it;
	// empty when the key was configured.
	madeUpSecret string

	// closers run at shutdown, concurrently, each bounded by the context.
	closers []func(ctx context.Context) error
	// background goroutines started by wire; cancelled and awaited at stop.
	bg sync.WaitGroup
}

// gcPercent is the garbage collector's target for a server whose GOGC is
// not set: the heap may grow by half its live size between collections,
// not by all of it (Go's default, 100). Most of a node's heap lives as
// long as a connection does (each viewer's WebRTC state) and little is
// garbage per packet, so collecting twice as often costs little CPU and
// keeps about a quarter less memory per viewer (docs/BENCHMARKS.md).
const gcPercent = 50

// tuneGC applies gcPercent unless the operator chose GOGC; it returns the
// percent in force.
func tuneGC(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(gcPercent)
	return gcPercent
}

func (p *program) serve(ctx context.Context, cfg Config) error {
	log := newLogger(cfg, p.stderr)
	gc := tuneGC(os.Getenv)
	secret := cfg.Secret
	if secret == "" { // only --demo gets here (Validate)
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		secret = hex.EncodeToString(b)
		log.Warn("no LIVECART_SECRET: demo tokens are signed with a random key and stop working when this process exits")
	}
	signer, err := auth.NewSigner([]byte(secret), nil)
	if err != nil {
		return err
	}
	a := &app{cfg: cfg, log: log, signer: signer, reg: prometheus.NewRegistry(), mux: newRouteMux(),
		origins: api.NewOrigins(cfg.AllowedOrigins)}
	if cfg.Secret == "" {
		a.madeUpSecret = secret
	}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if cfg.RedisURL != "" {
		if a.rdb, err = connectRedis(ctx, cfg.RedisURL); err != nil {
			return err
		}
		defer a.rdb.Close()
		log.Info("using redis", "addr", a.rdb.Options().Addr, "db", a.rdb.Options().DB)
	} else {
		log.Info("using the embedded in-process stores: single node, nothing survives a restart")
	}

	bgCtx, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	if err := a.wire(bgCtx); err != nil {
		stopBG()
		a.bg.Wait()
		return err
	}
	a.routes()
	if p.routes != nil {
		p.routes(a.mux.Patterns())
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		stopBG()
		a.bg.Wait()
		a.closeParts(context.Background())
		return fmt.Errorf("listen on %s (LIVECART_ADDR): %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           a.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// Far above the edge's own limits (api.MaxURL, api.MaxHeader), so
		// that the edge answers oversized heads in problem+json; only
		// heads beyond this get net/http's text/plain 431.
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("livecart listening", "addr", ln.Addr().String(), "udp_port", cfg.UDPPort, "demo", cfg.Demo, "gc_percent", gc)
	if p.listening != nil {
		p.listening(ln.Addr())
	}
	if cfg.Demo {
		if err := a.seedDemo(ctx, ln.Addr(), p.stdout); err != nil {
			log.Error("seeding the demo failed", "err", err)
		}
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		stopBG()
		a.bg.Wait()
		a.closeParts(context.Background())
		return fmt.Errorf("http server: %w", err)
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownBudget-time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("http shutdown", "err", err)
			srv.Close()
		}
	})
	wg.Go(func() { a.closeParts(sctx) })
	wg.Wait()
	stopBG()
	a.bg.Wait()
	log.Info("stopped")
	return nil
}

// closeParts runs every closer concurrently and waits for them.
func (a *app) closeParts(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range a.closers {
		wg.Go(func() {
			if err := c(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Warn("shutdown", "err", err)
			}
		})
	}
	wg.Wait()
}

// goBackground runs f until ctx ends; serve waits for it before exiting.
func (a *app) goBackground(ctx context.Context, name string, f func(ctx context.Context) error) {
	a.bg.Go(func() {
		if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("background task stopped", "task", name, "err", err)
		}
	})
}

// connectRedis parses url and fails fast when the server does not answer.
func connectRedis(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("LIVECART_REDIS_URL: %w", err)
	}
	// Every call is bounded (docs/API.md): the request's deadline reaches
	// the socket, and no call waits longer than storeTimeout.
	opts.ContextTimeoutEnabled = true
	opts.DialTimeout = storeTimeout
	opts.ReadTimeout = storeTimeout
	opts.WriteTimeout = storeTimeout
	opts.PoolTimeout = storeTimeout
	rdb := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("LIVECART_REDIS_URL: redis at %s did not answer: %w", opts.Addr, err)
	}
	return rdb, nil
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
