package chat

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// wait is the generous limit for anything a test waits for.
const wait = 10 * time.Second

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// owners knows stream "s1" (host "host1") and "s2" (host "host2").
type owners struct{}

func (owners) StreamOwner(ctx context.Context, id string) (auth.Owner, error) {
	switch id {
	case "s1":
		return auth.Owner{Sub: "host1"}, nil
	case "s2":
		return auth.Owner{Sub: "host2"}, nil
	}
	return auth.Owner{}, api.Errorf(api.NotFound, "no stream %q", id)
}

type streams struct{}

func (streams) StreamView(ctx context.Context, id string) (json.RawMessage, error) {
	return json.Marshal(map[string]any{"id": id, "title": "Show " + id, "status": "live"})
}

type pinCall struct{ sub, stream, sku string }

type pinner struct {
	mu    sync.Mutex
	calls []pinCall
}

func (p *pinner) Pin(ctx context.Context, pr *auth.Principal, stream, sku string) error {
	p.mu.Lock()
	p.calls = append(p.calls, pinCall{pr.Sub, stream, sku})
	p.mu.Unlock()
	if sku == "nope" {
		return api.Errorf(api.NotInLineup, "%s is not in this stream's lineup", sku)
	}
	return nil
}

var testKey = []byte("test-secret-test-secret-test-sec")

func mustSigner(tb testing.TB) *auth.Signer {
	tb.Helper()
	s, err := auth.NewSigner(testKey, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func mustToken(tb testing.TB, role auth.Role, sub, stream string) string {
	tb.Helper()
	tok, err := mustSigner(tb).Issue(auth.Principal{Sub: sub, Name: "N-" + sub, Role: role, Stream: stream}, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// room is a Rooms behind a real HTTP server.
type room struct {
	*Rooms
	srv   *httptest.Server
	clock *fakeClock
	pins  *pinner
	log   *panicLog
}

// panicLog is the server's error log: net/http recovers a handler's panic
// and only logs it, so tests look for panics there.
type panicLog struct {
	mu     sync.Mutex
	panics []string
}

func (l *panicLog) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("panic")) {
		l.mu.Lock()
		l.panics = append(l.panics, string(p))
		l.mu.Unlock()
	}
	return len(p), nil
}

// panicked returns the handler panics logged so far.
func (rm *room) panicked() []string {
	rm.log.mu.Lock()
	defer rm.log.mu.Unlock()
	return append([]string(nil), rm.log.panics...)
}

// mustRoom starts Rooms on b (a new memory broker when nil) with cfg's
// non-zero fields, behind an httptest server; both stop at cleanup.
func mustRoom(tb testing.TB, b Broker, cfg Config) *room {
	tb.Helper()
	if b == nil {
		mb := NewMemoryBroker()
		tb.Cleanup(func() { mb.Close() })
		b = mb
	}
	clock := newFakeClock()
	pins := &pinner{}
	cfg.Signer = mustSigner(tb)
	cfg.Broker = b
	cfg.Owners = owners{}
	cfg.Streams = streams{}
	if cfg.Pinner == nil {
		cfg.Pinner = pins
	}
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	if cfg.ViewersEvery == 0 {
		cfg.ViewersEvery = 50 * time.Millisecond
	}
	if cfg.Tick == 0 {
		cfg.Tick = 5 * time.Millisecond
	}
	r, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	r.Routes(mux)
	plog := &panicLog{}
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(plog, "", 0)
	srv.Start()
	rm := &room{Rooms: r, srv: srv, clock: clock, pins: pins, log: plog}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
		srv.Close()
		for _, p := range rm.panicked() {
			tb.Errorf("a handler panicked: %s", p)
		}
	})
	return rm
}

func (rm *room) url(stream, token string, q url.Values) string {
	if q == nil {
		q = url.Values{}
	}
	if token != "" {
		q.Set("token", token)
	}
	u := "ws" + strings.TrimPrefix(rm.srv.URL, "http") + "/api/streams/" + stream + "/ws"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// msg is one server message.
type msg map[string]any

func (m msg) str(k string) string  { s, _ := m[k].(string); return s }
func (m msg) num(k string) float64 { f, _ := m[k].(float64); return f }
func (m msg) obj(k string) msg     { o, _ := m[k].(map[string]any); return o }

// wsc is a test websocket client whose goroutine reads every message into
// a channel (unless it was made with manual reading).
type wsc struct {
	tb      testing.TB
	conn    *websocket.Conn
	msgs    chan msg
	closed  chan struct{}
	mu      sync.Mutex
	err     error
	frames  int
	welcome msg
}

func dialRaw(tb testing.TB, u string, h http.Header, rcvbuf int) (*websocket.Conn, *http.Response, error) {
	tb.Helper()
	d := websocket.Dialer{HandshakeTimeout: wait}
	if rcvbuf > 0 {
		nd := net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			return errors.Join(err, serr)
		}}
		d.NetDialContext = nd.DialContext
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return d.DialContext(ctx, u, h)
}

// dial connects and waits for the welcome.
func (rm *room) dial(tb testing.TB, stream, token string, q url.Values) *wsc {
	tb.Helper()
	c := rm.dialNoRead(tb, stream, token, q, 0)
	c.startReading()
	c.welcome = c.expect("welcome")
	return c
}

func (rm *room) dialNoRead(tb testing.TB, stream, token string, q url.Values, rcvbuf int) *wsc {
	tb.Helper()
	conn, resp, err := dialRaw(tb, rm.url(stream, token, q), nil, rcvbuf)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		tb.Fatalf("dial %s: %v (status %d)", stream, err, status)
	}
	c := &wsc{tb: tb, conn: conn, msgs: make(chan msg, 100000), closed: make(chan struct{})}
	tb.Cleanup(func() { conn.Close() })
	return c
}

func (c *wsc) startReading() {
	go func() {
		defer close(c.closed)
		for {
			_, data, err := c.conn.ReadMessage()
			if err != nil {
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
				return
			}
			c.mu.Lock()
			c.frames++
			c.mu.Unlock()
			sc := bufio.NewScanner(strings.NewReader(string(data)))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var m msg
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					c.tb.Errorf("server sent a line that is not JSON: %q", sc.Text())
					continue
				}
				c.msgs <- m
			}
		}
	}()
}

func (c *wsc) send(v any) {
	c.tb.Helper()
	var data []byte
	switch v := v.(type) {
	case string:
		data = []byte(v)
	case []byte:
		data = v
	default:
		data, _ = json.Marshal(v)
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(wait))
	if err := c.conn.WriteMessage(websocket.TextMessage, data); err != nil {
		c.tb.Fatalf("send: %v", err)
	}
}

// next returns the next message of type typ, skipping others; it fails the
// test after wait.
func (c *wsc) expect(typ string) msg {
	c.tb.Helper()
	return c.expectWhere(typ, func(msg) bool { return true })
}

func (c *wsc) expectWhere(typ string, ok func(msg) bool) msg {
	c.tb.Helper()
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case m := <-c.msgs:
			if m.str("type") == typ && ok(m) {
				return m
			}
		case <-c.closed:
			// drain what was read before the close
			for {
				select {
				case m := <-c.msgs:
					if m.str("type") == typ && ok(m) {
						return m
					}
				default:
					c.tb.Fatalf("connection closed (%v) before a %q message", c.closeErr(), typ)
					return nil
				}
			}
		case <-t.C:
			c.tb.Fatalf("no %q message within %v", typ, wait)
			return nil
		}
	}
}

// expectError waits for an error message and checks its code.
func (c *wsc) expectError(code string) msg {
	c.tb.Helper()
	m := c.expect("error")
	if got := m.str("code"); got != code {
		c.tb.Fatalf("error code = %q (%s), want %q", got, m.str("message"), code)
	}
	return m
}

// expectClose waits for the connection to close and returns its close code.
func (c *wsc) expectClose() int {
	c.tb.Helper()
	select {
	case <-c.closed:
	case <-time.After(wait):
		c.tb.Fatalf("connection still open after %v", wait)
	}
	var ce *websocket.CloseError
	if errors.As(c.closeErr(), &ce) {
		return ce.Code
	}
	return -1
}

func (c *wsc) closeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// waitTicked waits until stream's hub has sent everything that arrived
// (no tick pending).
func (rm *room) waitTicked(tb testing.TB, stream string) {
	tb.Helper()
	eventually(tb, "the room's tick sent", func() bool {
		rm.mu.Lock()
		h := rm.hubs[stream]
		rm.mu.Unlock()
		if h == nil {
			return true
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		return !h.armed && len(h.pending) == 0
	})
}

// eventually polls cond until it holds or wait passes.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %v", what, wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
