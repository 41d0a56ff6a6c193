package main

// End-to-end tests of the HTTP edge: what every request meets before its
// route (limits, admission, origins, strict input, problem+json for all of
// it), through the real server.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
)

// mustServeConfig is MustServe with a hook that edits the parsed
// configuration, for what is not a setting (the body deadline).
func mustServeConfig(tb testing.TB, edit func(*Config), args ...string) *testServer {
	tb.Helper()
	envs := map[string]string{"LIVECART_SECRET": testSecret, "LIVECART_LOG_FORMAT": "text"}
	ts := &testServer{done: make(chan int, 1), out: &syncBuffer{}, errOut: &syncBuffer{}}
	cfg, err := ParseServe(append([]string{"--addr", "127.0.0.1:0", "--udp-port", "0"}, args...), env(envs), ts.errOut)
	if err != nil {
		tb.Fatal(err)
	}
	edit(&cfg)
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	addr := make(chan net.Addr, 1)
	p := &program{getenv: env(envs), stdout: ts.out, stderr: ts.errOut, listening: func(a net.Addr) { addr <- a }}
	go func() {
		code := 0
		if err := p.serve(ctx, cfg); err != nil {
			fmt.Fprintln(ts.errOut, err)
			code = 1
		}
		ts.done <- code
	}()
	select {
	case a := <-addr:
		ts.URL = "http://" + a.String()
	case <-ts.done:
		cancel()
		tb.Fatalf("livecart serve exited before listening:\n%s", ts.errOut)
	case <-time.After(30 * time.Second):
		cancel()
		tb.Fatalf("livecart serve did not listen within 30s:\n%s", ts.errOut)
	}
	if ts.signer, err = auth.NewSigner([]byte(testSecret), nil); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ts.Stop(tb) })
	return ts
}

// rawRequest sends head (a request line and header fields, without the
// blank line) and body on a new connection, and returns the connection.
func rawRequest(tb testing.TB, base, head, body string) net.Conn {
	tb.Helper()
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, head+"\r\nHost: "+u.Host+"\r\n\r\n"+body); err != nil {
		tb.Fatal(err)
	}
	return conn
}

// readResponse reads one answer from conn.
func readResponse(tb testing.TB, conn net.Conn) e2eResp {
	tb.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(e2eWait))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		tb.Fatalf("reading the answer: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return e2eResp{Status: res.StatusCode, Header: res.Header, Body: b}
}

// TestEdgeMethodNotAllowed: a known path with another method is a 405 with
// Allow, in problem+json; before, every method on it was a 404.
func TestEdgeMethodNotAllowed(t *testing.T) {
	ts := MustServe(t, nil)
	tests := []struct {
		method, path string
		allow        []string
	}{
		{"DELETE", "/api/streams", []string{"GET", "POST"}},
		{"PUT", "/api/streams/s1", []string{"GET"}},
		{"GET", "/api/streams/s1/whep", []string{"POST", "OPTIONS"}},
		{"GET", "/api/cart/checkout", []string{"POST"}},
		{"POST", "/api/products/sku-1", []string{"GET", "PUT"}},
		{"GET", "/api/guest", []string{"POST"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := e2eCall(t, tt.method, ts.URL+tt.path, "", nil)
			e2eProblem(t, tt.method+" "+tt.path, r, 405, "bad_request")
			allow := r.Header.Get("Allow")
			for _, m := range tt.allow {
				if !strings.Contains(allow, m) {
					t.Errorf("Allow = %q, want %s in it", allow, m)
				}
			}
			if strings.Contains(allow, tt.method) {
				t.Errorf("Allow = %q names the refused method %s", allow, tt.method)
			}
		})
	}
}

// TestEdgeNotFound: unknown paths are a 404 problem, whatever the method.
func TestEdgeNotFound(t *testing.T) {
	ts := MustServe(t, nil)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/nothing-here"},
		{"POST", "/api/nothing-here"},
		{"DELETE", "/api/streams/s1/nothing/deeper"},
		{"GET", "/api"},
	} {
		e2eProblem(t, tc.method+" "+tc.path, e2eCall(t, tc.method, ts.URL+tc.path, "", nil), 404, "not_found")
	}
	if code, body := get(t, ts.URL+"/"); code != 200 || !strings.Contains(body, "<") {
		t.Errorf("GET / = %d, want the page", code)
	}
}

// TestEdgeHeadLimits: a long URL and large header fields are answered in
// problem+json; before, a 40 KB URL got net/http's text/plain 431.
func TestEdgeHeadLimits(t *testing.T) {
	ts := MustServe(t, nil)
	r := e2eCall(t, "GET", ts.URL+"/api/streams?q="+strings.Repeat("a", 40<<10), "", nil)
	e2eProblem(t, "a 40 KB URL", r, 414, "bad_request")

	r = e2eCall(t, "GET", ts.URL+"/api/streams", "", nil, "Cookie", strings.Repeat("c", 20<<10))
	e2eProblem(t, "20 KB of header fields", r, 431, "bad_request")

	r = e2eCall(t, "GET", ts.URL+"/api/streams?q="+strings.Repeat("a", 4<<10), "", nil, "Cookie", strings.Repeat("c", 8<<10))
	if r.Status != 200 {
		t.Errorf("a 4 KB URL with 8 KB of cookies = %s, want 200", r)
	}
}

// TestEdgeSlowBody: a client that sends its headers and then its body a
// byte at a time, slower than the body deadline allows in all, gets 408
// problem+json; before, nothing bounded it.
func TestEdgeSlowBody(t *testing.T) {
	ts := mustServeConfig(t, func(c *Config) { c.BodyTimeout = 300 * time.Millisecond })
	host := ts.e2eToken(t, "host-slow", "Sol", auth.Host)
	conn := rawRequest(t, ts.URL, "POST /api/streams HTTP/1.1\r\nAuthorization: Bearer "+host+
		"\r\nContent-Type: application/json\r\nContent-Length: 200", `{"title":`)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	e2eProblem(t, "a body trickling in", readResponse(t, conn), 408, "bad_request")

	// A body that arrives in time is served as usual.
	e2eMust(t, 201, "POST", ts.URL+"/api/streams", host, map[string]any{"id": "quick", "title": "Quick"}, nil)
}

// TestEdgeInFlight: one client holding its bound of requests in flight gets
// 429 with Retry-After for one more, while another client (told apart by a
// trusted proxy's X-Forwarded-For) is still served, and so are probes.
func TestEdgeInFlight(t *testing.T) {
	ts := MustServe(t, nil, "--trusted-proxies", "127.0.0.1")
	host := ts.e2eToken(t, "host-busy", "Bo", auth.Host)
	const busy = "198.51.100.7"
	// Each request is held in flight by a body that does not arrive.
	for range maxRequestsPerClient {
		rawRequest(t, ts.URL, "POST /api/streams HTTP/1.1\r\nAuthorization: Bearer "+host+
			"\r\nX-Forwarded-For: "+busy+"\r\nContent-Type: application/json\r\nContent-Length: 100", `{`)
	}
	var r e2eResp
	e2eUntil(t, "the busy client is refused", func() bool {
		r = e2eCall(t, "GET", ts.URL+"/api/streams", "", nil, "X-Forwarded-For", busy)
		return r.Status == 429
	})
	e2eProblem(t, "one request over the bound", r, 429, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After: %v", r.Header)
	}
	e2eMust(t, 200, "GET", ts.URL+"/api/streams", "", nil, nil, "X-Forwarded-For", "198.51.100.8")
	if code, _ := get(t, ts.URL+"/healthz"); code != 200 {
		t.Errorf("/healthz while the node is busy = %d, want 200", code)
	}
}

// TestEdgeTrustedProxies: behind a trusted proxy, the guest sign-in limit
// counts each client named by X-Forwarded-For; from an untrusted peer the
// header is ignored. Before, the limit counted the TCP peer only.
func TestEdgeTrustedProxies(t *testing.T) {
	signIn := func(t *testing.T, ts *testServer, xff string) e2eResp {
		t.Helper()
		return e2eCall(t, "POST", ts.URL+"/api/guest", "", map[string]any{"name": "Ana"}, "X-Forwarded-For", xff)
	}
	burst := func(t *testing.T, ts *testServer, xff string) {
		t.Helper()
		for i := 0; ; i++ {
			r := signIn(t, ts, xff)
			if r.Status == 429 {
				e2eProblem(t, "a sign-in over the limit", r, 429, "rate_limited")
				return
			}
			if r.Status != 201 || i > 50 {
				t.Fatalf("guest sign-in %d = %s, want 201 until a 429", i, r)
			}
		}
	}

	t.Run("trusted", func(t *testing.T) {
		ts := MustServe(t, nil, "--guests", "--trusted-proxies", "10.0.0.0/8, 127.0.0.1")
		burst(t, ts, "203.0.113.1, 198.51.100.1")
		if r := signIn(t, ts, "198.51.100.2"); r.Status != 201 {
			t.Errorf("another client behind the proxy = %s, want 201", r)
		}
		if r := signIn(t, ts, "198.51.100.2, 198.51.100.1"); r.Status != 429 {
			t.Errorf("the limited client with a spoofed hop in front = %s, want 429", r)
		}
	})

	t.Run("untrusted", func(t *testing.T) {
		ts := MustServe(t, nil, "--guests")
		burst(t, ts, "198.51.100.1")
		if r := signIn(t, ts, "198.51.100.2"); r.Status != 429 {
			t.Errorf("X-Forwarded-For from an untrusted peer changed the client: %s, want 429", r)
		}
	})
}

// TestEdgeOrigins: WHEP is open to every origin; the rest of the API to the
// allowed ones, and a preflight from another origin is refused.
func TestEdgeOrigins(t *testing.T) {
	const shop, evil = "https://shop.example", "https://evil.example"
	ts := MustServe(t, nil, "--allowed-origins", shop)
	preflight := func(method, path, origin string) e2eResp {
		return e2eCall(t, "OPTIONS", ts.URL+path, "", nil, "Origin", origin,
			"Access-Control-Request-Method", method, "Access-Control-Request-Headers", "authorization,content-type,idempotency-key")
	}
	for _, path := range []string{"/api/streams/x/whep", "/api/streams/x/whep/some-session", "/api/streams/x/whep/some-session/layer"} {
		r := preflight("POST", path, evil)
		if r.Status/100 != 2 || r.Header.Get("Access-Control-Allow-Origin") != evil {
			t.Errorf("WHEP preflight %s from %s = %s, Access-Control-Allow-Origin %q; want 2xx and the origin", path, evil, r, r.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	r := e2eCall(t, "POST", ts.URL+"/api/streams/x/whep", "", "v=0", "Origin", evil, "Content-Type", "application/sdp")
	if r.Header.Get("Access-Control-Allow-Origin") != evil || !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Errorf("WHEP POST from %s = %s with %v, want CORS headers exposing Location", evil, r, r.Header)
	}

	r = preflight("POST", "/api/streams", evil)
	e2eProblem(t, "a preflight from an origin not allowed", r, 403, "forbidden")
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("refused preflight Access-Control-Allow-Origin = %q, want none", got)
	}

	r = preflight("PUT", "/api/cart/items/sku-1", shop)
	if r.Status != 204 || r.Header.Get("Access-Control-Allow-Origin") != shop || r.Header.Get("Access-Control-Max-Age") != "600" {
		t.Errorf("preflight PUT /api/cart/items from %s = %s %v, want 204 allowing it", shop, r, r.Header)
	}
	if got := strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(got, "idempotency-key") || !strings.Contains(got, "authorization") {
		t.Errorf("Access-Control-Allow-Headers = %q, want Authorization and Idempotency-Key", got)
	}
	r = preflight("POST", "/api/streams", "HTTPS://Shop.Example:443")
	if r.Status != 204 {
		t.Errorf("preflight from %s written another way = %s, want 204", shop, r)
	}
}

// TestEdgeStrictJSON: request bodies are read strictly everywhere; before,
// a duplicated or differently cased key was accepted, and a body of another
// type was a 400 rather than a 415.
func TestEdgeStrictJSON(t *testing.T) {
	ts := MustServe(t, nil)
	host := ts.e2eToken(t, "host-j", "Jo", auth.Host)
	for name, body := range map[string]string{
		"duplicate key":         `{"title":"a","title":"b"}`,
		"key of another case":   `{"title":"a","Title":"b"}`,
		"unknown key":           `{"title":"a","colour":"red"}`,
		"invalid UTF-8":         "{\"title\":\"Sale \xff\"}",
		"lone surrogate escape": `{"title":"Sale \ud800"}`,
		"not JSON":              `this is not json {{{`,
		"empty":                 ``,
		"trailing data":         `{"title":"a"} {"title":"b"}`,
	} {
		t.Run(name, func(t *testing.T) {
			e2eProblem(t, name, e2eCall(t, "POST", ts.URL+"/api/streams", host, body), 400, "bad_request")
		})
	}
	e2eProblem(t, "a body of another type", e2eCall(t, "POST", ts.URL+"/api/streams", host, `{"title":"a"}`, "Content-Type", "text/plain"), 415, "bad_request")
	for name, body := range map[string]string{
		"duplicate key": `{"name":"Vase","price_cents":100,"currency":"EUR","stock":1,"stock":1000}`,
		"case variant":  `{"name":"Vase","price_cents":100,"currency":"EUR","stock":1,"Stock":1000}`,
	} {
		e2eProblem(t, "PUT product, "+name, e2eCall(t, "PUT", ts.URL+"/api/products/vase", host, body), 400, "bad_request")
	}
}

// TestEdgeMetrics: requests are counted by route pattern and status, and
// what no route takes as "unmatched".
func TestEdgeMetrics(t *testing.T) {
	ts := MustServe(t, nil)
	e2eMust(t, 200, "GET", ts.URL+"/api/streams", "", nil, nil)
	e2eCall(t, "GET", ts.URL+"/api/nothing", "", nil)
	_, body := get(t, ts.URL+"/metrics")
	for _, want := range []string{
		`livecart_http_requests_total{code="200",route="GET /api/streams"} 1`,
		`livecart_http_requests_total{code="404",route="unmatched"} 1`,
		`livecart_http_request_seconds_count{route="GET /api/streams"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
