package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// checkProblem fails unless w is a problem+json answer with status and the
// wire code.
func checkProblem(t *testing.T, what string, w *httptest.ResponseRecorder, status int, code Code) {
	t.Helper()
	if w.Code != status || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("%s = %d %q %s, want %d problem+json", what, w.Code, w.Header().Get("Content-Type"), w.Body, status)
		return
	}
	var p Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != status || p.Code != code || p.Detail == "" {
		t.Errorf("%s: body %s (%v), want status %d code %s", what, w.Body, err, status, code)
	}
}

func TestRoutes(t *testing.T) {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Pattern) }
	mux.HandleFunc("GET /api/streams", ok)
	mux.HandleFunc("POST /api/streams", ok)
	mux.HandleFunc("OPTIONS /api/streams/{id}/whep", ok)
	mux.HandleFunc("POST /api/streams/{id}/whep", ok)
	mux.HandleFunc("GET /assets/", ok)
	mux.HandleFunc("GET /", ok) // a page catch-all
	h := Routes(mux)
	do := func(method, path string, hdr ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	if w := do("GET", "/api/streams"); w.Code != 200 || w.Body.String() != "GET /api/streams" {
		t.Errorf("GET /api/streams = %d %s, want the route", w.Code, w.Body)
	}
	w := do("DELETE", "/api/streams")
	checkProblem(t, "DELETE /api/streams", w, 405, BadRequest)
	if allow := w.Header().Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") || strings.Contains(allow, "DELETE") {
		t.Errorf("405 Allow = %q, want GET and POST", allow)
	}
	w = do("OPTIONS", "/api/streams", "Origin", "https://shop.example", "Access-Control-Request-Method", "POST")
	if w.Code != 204 || !strings.Contains(w.Header().Get("Allow"), "POST") {
		t.Errorf("preflight on a route without OPTIONS = %d %v, want 204 with Allow", w.Code, w.Header())
	}
	if w := do("OPTIONS", "/api/streams/s/whep", "Origin", "https://shop.example", "Access-Control-Request-Method", "POST"); w.Body.String() != "OPTIONS /api/streams/{id}/whep" {
		t.Errorf("preflight on a route with OPTIONS = %d %s, want that route", w.Code, w.Body)
	}
	checkProblem(t, "GET /api/nothing", do("GET", "/api/nothing"), 404, NotFound)
	checkProblem(t, "POST /api/streams/s/nothing", do("POST", "/api/streams/s/nothing"), 404, NotFound)
	if w := do("GET", "/watch/x"); w.Code != 200 || w.Body.String() != "GET /" {
		t.Errorf("GET /watch/x = %d %s, want the page catch-all", w.Code, w.Body)
	}
	if w := do("GET", "/assets"); w.Code != http.StatusTemporaryRedirect && w.Code != http.StatusMovedPermanently {
		t.Errorf("GET /assets = %d, want the mux's redirect to /assets/", w.Code)
	}
	if w := do("GET", "/api//streams"); w.Code/100 != 3 {
		t.Errorf("GET /api//streams = %d, want the mux's redirect to the clean path", w.Code)
	}
}

func TestRoutesWithoutCatchAll(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {})
	h := Routes(mux)
	for _, tc := range []struct{ method, path string }{{"GET", "/api/x"}, {"GET", "/nothing"}, {"PUT", "/api/x/y"}} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		checkProblem(t, tc.method+" "+tc.path, w, 404, NotFound)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/", nil))
	checkProblem(t, "POST /", w, 405, BadRequest)
}

func TestLimitHead(t *testing.T) {
	h := LimitHead(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), 100, 200)
	do := func(r *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := do(httptest.NewRequest("GET", "/"+strings.Repeat("a", 90), nil)); w.Code != 200 {
		t.Errorf("URL under the limit = %d", w.Code)
	}
	checkProblem(t, "long URL", do(httptest.NewRequest("GET", "/x?q="+strings.Repeat("a", 100), nil)), 414, BadRequest)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", strings.Repeat("c", 150))
	if w := do(r); w.Code != 200 {
		t.Errorf("header under the limit = %d", w.Code)
	}
	r.Header.Set("X-Other", strings.Repeat("c", 50))
	checkProblem(t, "headers over the limit", do(r), 431, BadRequest)
}

func TestAdmit(t *testing.T) {
	g := NewGate("requests", 1, 10)
	entered, release := make(chan struct{}), make(chan struct{})
	h := Admit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}), g, func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/ws") })
	req := func(path string) *http.Request {
		r := httptest.NewRequest("GET", path, nil)
		r.RemoteAddr = "192.0.2.1:1234"
		return r
	}
	var wg sync.WaitGroup
	wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), req("/api/slow")) })
	<-entered
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req("/api/other"))
	checkProblem(t, "second request in flight", w, 429, RateLimited)
	if w.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), req("/api/streams/s/ws")) })
	<-entered // an exempt request is not counted
	release <- struct{}{}
	release <- struct{}{}
	wg.Wait()
	if g.Held() != 0 {
		t.Fatalf("Held after the requests = %d, want 0", g.Held())
	}
	wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), req("/api/slow")) })
	<-entered
	release <- struct{}{}
	wg.Wait()
}

func TestRecover(t *testing.T) {
	h := Recover(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }), nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 500 || w.Header().Get("Content-Type") != "application/problem+json" || strings.Contains(w.Body.String(), "boom") {
		t.Errorf("panic = %d %s, want a 500 problem that hides the panic", w.Code, w.Body)
	}
}

// TestBodyDeadline is a client that sends its headers and then a body one
// byte at a time, more slowly than the deadline allows in all: it gets 408
// problem+json. A quick body and a handler that runs past the deadline
// after reading its body are not affected.
func TestBodyDeadline(t *testing.T) {
	const deadline = 300 * time.Millisecond
	h := BodyDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := DecodeJSON(w, r, 0, &v); err != nil {
			WriteError(w, r, nil, err)
			return
		}
		if r.URL.Path == "/slow-handler" {
			select {
			case <-time.After(2 * deadline):
			case <-r.Context().Done():
				WriteError(w, r, nil, New(Internal, "context ended"))
				return
			}
		}
		WriteJSON(w, 200, v)
	}), deadline)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	t.Run("slow body", func(t *testing.T) {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			tick := time.NewTicker(deadline / 3)
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
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no answer to a slow body: %v", err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 408 || res.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), `"code":"bad_request"`) {
			t.Fatalf("slow body = %d %q %s, want 408 problem+json bad_request", res.StatusCode, res.Header.Get("Content-Type"), body)
		}
	})

	t.Run("handler runs past the deadline", func(t *testing.T) {
		res, err := http.Post(srv.URL+"/slow-handler", "application/json", strings.NewReader(`{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("a handler running past the body deadline = %d %s, want 200", res.StatusCode, body)
		}
	})

	t.Run("keep-alive after a body", func(t *testing.T) {
		for i := range 3 {
			res, err := http.Post(srv.URL+"/x", "application/json", strings.NewReader(`{"a":1}`))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("request %d = %d, want 200", i, res.StatusCode)
			}
			time.Sleep(deadline / 2)
		}
	})
}

// A request refused by the in-flight bound is answered at once, even when
// its body is still arriving (slowly, or never): the refusal closes the
// connection instead of waiting for the body, and the client's connection
// is not held.
func TestAdmitRefusesSlowBodyAtOnce(t *testing.T) {
	g := NewGate("requests", 1, 10)
	entered, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(Admit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}), g, nil))
	defer srv.Close()
	defer close(release)
	go func() {
		res, err := http.Get(srv.URL + "/api/held")
		if err == nil {
			res.Body.Close()
		}
	}()
	<-entered
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The head and one byte of a 64-byte body; the rest never comes.
	fmt.Fprintf(conn, "POST /api/buy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n{")
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // a hang fails the test instead of stalling it
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the refused request while its body is pending: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests || !res.Close {
		t.Fatalf("answer %d (close %v), want 429 closing the connection", res.StatusCode, res.Close)
	}
}
