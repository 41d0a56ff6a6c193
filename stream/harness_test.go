package stream

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livecart/livecart/auth"
)

// recorder is an Events that remembers what it was told.
type recorder struct {
	mu  sync.Mutex
	got []string // "stream:status"
}

func (r *recorder) StreamStatus(stream, status string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, stream+":"+status)
}

func (r *recorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func (r *recorder) has(ev string) bool {
	for _, e := range r.events() {
		if e == ev {
			return true
		}
	}
	return false
}

// relay is a Service on loopback behind an httptest server.
type relay struct {
	svc    *Service
	srv    *httptest.Server
	signer *auth.Signer
	events *recorder
	reg    *prometheus.Registry
}

func (r *relay) token(tb testing.TB, sub string, role auth.Role, stream ...string) string {
	tb.Helper()
	p := auth.Principal{Sub: sub, Role: role}
	if len(stream) > 0 {
		p.Stream = stream[0]
	}
	tok, err := r.signer.Issue(p, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// mustRelay starts a relay; mod may change the config. It is shut down
// when the test ends.
func mustRelay(tb testing.TB, mod func(*Config)) *relay {
	tb.Helper()
	signer, err := auth.NewSigner([]byte("test-secret"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	r := &relay{signer: signer, events: &recorder{}, reg: prometheus.NewRegistry()}
	cfg := Config{
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Signer:  signer,
		Store:   NewMemoryStore(),
		Events:  r.events,
		Metrics: r.reg,
		UDPHost: "127.0.0.1",
	}
	if mod != nil {
		mod(&cfg)
	}
	r.svc, err = New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	r.svc.Routes(mux)
	r.srv = httptest.NewServer(mux)
	tb.Cleanup(func() {
		r.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := r.svc.Shutdown(ctx); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
	})
	return r
}

// stream creates a stream hosted by sub.
func (r *relay) stream(tb testing.TB, id, host string) {
	tb.Helper()
	if _, err := r.svc.Create(tb.Context(), id, "Show "+id, auth.Owner{Sub: host}); err != nil {
		tb.Fatal(err)
	}
}
