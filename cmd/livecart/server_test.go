package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
)

const testSecret = "test-secret-0123456789abcdef"

// testServer is `livecart serve` running in-process on free ports.
type testServer struct {
	URL string
	// Routes are the route patterns the server registered.
	Routes []string
	signer *auth.Signer
	cancel context.CancelFunc
	done   chan int
	out    *syncBuffer
	errOut *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// MustServe starts livecart serve with args (plus loopback ports and the test
// secret unless args set them) and stops it at cleanup, failing the test if
// it does not exit cleanly.
func MustServe(tb testing.TB, envs map[string]string, args ...string) *testServer {
	tb.Helper()
	if envs == nil {
		envs = map[string]string{}
	}
	if _, ok := envs["LIVECART_SECRET"]; !ok {
		envs["LIVECART_SECRET"] = testSecret
	}
	envs["LIVECART_LOG_FORMAT"] = "text"
	full := append([]string{"serve", "--addr", "127.0.0.1:0", "--udp-port", "0"}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{cancel: cancel, done: make(chan int, 1), out: &syncBuffer{}, errOut: &syncBuffer{}}
	addr := make(chan net.Addr, 1)
	p := &program{
		getenv:    func(k string) string { return envs[k] },
		stdout:    ts.out,
		stderr:    ts.errOut,
		listening: func(a net.Addr) { addr <- a },
		routes:    func(r []string) { ts.Routes = r },
	}
	go func() { ts.done <- p.run(ctx, full) }()
	select {
	case a := <-addr:
		ts.URL = "http://" + a.String()
	case code := <-ts.done:
		cancel()
		tb.Fatalf("livecart serve exited with %d before listening:\n%s", code, ts.errOut)
	case <-time.After(30 * time.Second):
		cancel()
		tb.Fatalf("livecart serve did not listen within 30s:\n%s", ts.errOut)
	}
	s, err := auth.NewSigner([]byte(envs["LIVECART_SECRET"]), nil)
	if err == nil {
		ts.signer = s
	}
	tb.Cleanup(func() { ts.Stop(tb) })
	return ts
}

// Stop sends the equivalent of SIGTERM and waits for a clean exit.
func (ts *testServer) Stop(tb testing.TB) {
	tb.Helper()
	ts.cancel()
	select {
	case code, ok := <-ts.done:
		if ok && code != 0 {
			tb.Errorf("livecart serve exited with %d:\n%s", code, ts.errOut)
		}
		close(ts.done)
	case <-time.After(shutdownBudget + 5*time.Second):
		tb.Errorf("livecart serve did not stop within %s", shutdownBudget)
	}
}

// Token mints a token with the server's secret.
func (ts *testServer) Token(tb testing.TB, p auth.Principal) string {
	tb.Helper()
	tok, err := ts.signer.Issue(p, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func get(tb testing.TB, url string) (int, string) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeRefusesWithoutSecret(t *testing.T) {
	var stderr bytes.Buffer
	p := &program{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: &stderr}
	code := p.run(t.Context(), []string{"serve", "--addr", "127.0.0.1:0"})
	if code == 0 {
		t.Fatal("serve without a secret exited 0")
	}
	if !strings.Contains(stderr.String(), "LIVECART_SECRET") {
		t.Errorf("stderr = %q, want it to name LIVECART_SECRET", stderr.String())
	}
}

func TestHealthAndMetrics(t *testing.T) {
	ts := MustServe(t, nil)
	if code, body := get(t, ts.URL+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d %s", code, body)
	}
	if code, body := get(t, ts.URL+"/readyz"); code != 200 {
		t.Errorf("/readyz with embedded stores = %d %s", code, body)
	}
	code, body := get(t, ts.URL+"/metrics")
	if code != 200 || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "livecart_http_requests_total") {
		t.Errorf("/metrics = %d, want Prometheus text with go_goroutines and livecart_http_requests_total:\n%.500s", code, body)
	}
	code, body = get(t, ts.URL+"/api/nothing-here")
	if code != 404 || !strings.Contains(body, `"code":"not_found"`) {
		t.Errorf("unknown API path = %d %s, want 404 problem not_found", code, body)
	}
}

func TestTokenCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	p := &program{getenv: env(map[string]string{"LIVECART_SECRET": testSecret}), stdout: &out, stderr: &errOut}
	if code := p.run(t.Context(), []string{"token", "--role", "host", "--sub", "h1", "--name", "Mia", "--stream", "s1", "--org", "acme", "--ttl", "2h"}); code != 0 {
		t.Fatalf("token exited %d: %s", code, errOut.String())
	}
	tok := strings.TrimSpace(out.String())
	if strings.Count(out.String(), "\n") != 1 || strings.Contains(tok, " ") {
		t.Fatalf("stdout = %q, want the token alone on one line", out.String())
	}
	s, _ := auth.NewSigner([]byte(testSecret), nil)
	got, err := s.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if want := (auth.Principal{Sub: "h1", Name: "Mia", Role: auth.Host, Stream: "s1", Org: "acme"}); *got != want {
		t.Errorf("token claims = %+v, want %+v", *got, want)
	}
	for _, args := range [][]string{
		{"token", "--role", "king", "--sub", "x"},
		{"token", "--role", "viewer"},
		{"token", "--role", "viewer", "--sub", "x", "--ttl", "-1h"},
	} {
		if code := p.run(t.Context(), args); code == 0 {
			t.Errorf("%v exited 0, want an error", args)
		}
	}
	p = &program{getenv: env(nil), stdout: io.Discard, stderr: &errOut}
	errOut.Reset()
	if code := p.run(t.Context(), []string{"token", "--role", "viewer", "--sub", "x"}); code == 0 || !strings.Contains(errOut.String(), "LIVECART_SECRET") {
		t.Errorf("token without secret: exit %d, stderr %q", code, errOut.String())
	}
}
