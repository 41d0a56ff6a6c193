package main

// Helpers for the end-to-end tests (e2e_*_test.go): they talk to `livecart
// serve` only as its outside clients do, over HTTP, websockets and WebRTC.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/livecart/livecart/auth"
)

// e2eWait is how long a test waits for something that should happen soon.
const e2eWait = 20 * time.Second

var e2eHTTP = &http.Client{Timeout: 30 * time.Second}

// e2eResp is an HTTP answer, read whole.
type e2eResp struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test when it is not JSON.
func (r e2eResp) JSON(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("answer %d is not the JSON expected (%v): %s", r.Status, err, r.Body)
	}
}

func (r e2eResp) String() string { return fmt.Sprintf("%d %s", r.Status, bytes.TrimSpace(r.Body)) }

// e2eCall sends one request. body is nil (none), a string (sent as is) or
// anything else (sent as JSON); hdr are header name, value pairs.
func e2eCall(tb testing.TB, method, url, token string, body any, hdr ...string) e2eResp {
	tb.Helper()
	r, err := e2eTry(tb, method, url, token, body, hdr...)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// e2eTry is e2eCall for goroutines other than the test's: it reports a
// failed exchange instead of ending the test.
func e2eTry(tb testing.TB, method, url, token string, body any, hdr ...string) (e2eResp, error) {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
		ctype = "application/json"
	default:
		js, err := json.Marshal(b)
		if err != nil {
			return e2eResp{}, err
		}
		rd = bytes.NewReader(js)
		ctype = "application/json"
	}
	req, err := http.NewRequestWithContext(tb.Context(), method, url, rd)
	if err != nil {
		return e2eResp{}, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e2eHTTP.Do(req)
	if err != nil {
		return e2eResp{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return e2eResp{}, fmt.Errorf("%s %s: reading the answer: %w", method, url, err)
	}
	return e2eResp{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

// e2eMust sends a request that must answer want, and decodes its body into
// out when out is not nil.
func e2eMust(tb testing.TB, want int, method, url, token string, body, out any, hdr ...string) e2eResp {
	tb.Helper()
	r := e2eCall(tb, method, url, token, body, hdr...)
	if r.Status != want {
		tb.Fatalf("%s %s = %s, want %d", method, url, r, want)
	}
	if out != nil {
		r.JSON(tb, out)
	}
	return r
}

// e2eProblem checks that r is the contract's problem+json error with status
// and code.
func e2eProblem(tb testing.TB, what string, r e2eResp, status int, code string) {
	tb.Helper()
	if r.Status != status {
		tb.Errorf("%s = %s, want %d %s", what, r, status, code)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		tb.Errorf("%s: Content-Type %q, want application/problem+json", what, ct)
	}
	var p map[string]any
	if err := json.Unmarshal(r.Body, &p); err != nil {
		tb.Errorf("%s: body is not JSON: %s", what, r.Body)
		return
	}
	for _, k := range []string{"type", "title", "status", "detail", "code"} {
		if _, ok := p[k]; !ok {
			tb.Errorf("%s: problem has no %q: %s", what, k, r.Body)
		}
	}
	if typ, _ := p["type"].(string); typ == "" {
		tb.Errorf("%s: problem type %v, want a non-empty string", what, p["type"])
	}
	if title, _ := p["title"].(string); title == "" {
		tb.Errorf("%s: problem title %v, want a non-empty string", what, p["title"])
	}
	if s, _ := p["status"].(float64); int(s) != status {
		tb.Errorf("%s: problem status %v, want %d", what, p["status"], status)
	}
	if c, _ := p["code"].(string); c != code {
		tb.Errorf("%s: problem code %v, want %q (%s)", what, p["code"], code, r.Body)
	}
}

// e2eUntil polls cond until it holds or e2eWait passes.
func e2eUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(e2eWait)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// e2eKeys returns the sorted keys of m.
func e2eKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// e2eCheckOrder checks that an order JSON has exactly the contract's fields
// and an id that is a UUIDv7.
func e2eCheckOrder(tb testing.TB, body []byte) map[string]any {
	tb.Helper()
	var o map[string]any
	if err := json.Unmarshal(body, &o); err != nil {
		tb.Fatalf("order is not a JSON object: %s", body)
	}
	want := []string{"created_at", "currency", "discount_cents", "id", "items", "status", "stream", "total_cents", "user"}
	if got := e2eKeys(o); !slices.Equal(got, want) {
		tb.Errorf("order fields = %v, want exactly %v", got, want)
	}
	id, _ := o["id"].(string)
	if u, err := uuid.Parse(id); err != nil || u.Version() != 7 {
		tb.Errorf("order id %q is not a UUIDv7 (err %v)", id, err)
	}
	if ts, _ := o["created_at"].(string); ts == "" {
		tb.Errorf("order created_at = %v, want an RFC 3339 string", o["created_at"])
	} else if _, err := time.Parse(time.RFC3339, ts); err != nil {
		tb.Errorf("order created_at %q: %v", ts, err)
	}
	items, _ := o["items"].([]any)
	if len(items) == 0 {
		tb.Errorf("order has no items: %s", body)
	}
	for _, it := range items {
		m, _ := it.(map[string]any)
		if got, want := e2eKeys(m), []string{"name", "qty", "sku", "unit_price_cents"}; !slices.Equal(got, want) {
			tb.Errorf("order item fields = %v, want exactly %v", got, want)
		}
	}
	return o
}

// e2eOrder is an order as the contract defines it.
type e2eOrder struct {
	ID     string `json:"id"`
	User   string `json:"user"`
	Stream string `json:"stream"`
	Items  []struct {
		SKU            string `json:"sku"`
		Name           string `json:"name"`
		Qty            int    `json:"qty"`
		UnitPriceCents int64  `json:"unit_price_cents"`
	} `json:"items"`
	TotalCents int64  `json:"total_cents"`
	Currency   string `json:"currency"`
	Status     string `json:"status"`
	CreatedAt  string `json:"created_at"`
}

// e2eProduct is a product as PUT and GET carry it.
type e2eProduct struct {
	SKU         string `json:"sku,omitempty"`
	Name        string `json:"name"`
	PriceCents  int64  `json:"price_cents"`
	Currency    string `json:"currency"`
	Stock       int    `json:"stock"`
	ImageURL    string `json:"image_url,omitempty"`
	Description string `json:"description,omitempty"`
}

// e2eStream is a stream as GET /api/streams/{id} answers it.
type e2eStream struct {
	ID      string          `json:"id"`
	Title   string          `json:"title"`
	Host    string          `json:"host"`
	Status  string          `json:"status"`
	Viewers int             `json:"viewers"`
	Pinned  json.RawMessage `json:"pinned"`
	Lineup  []e2eProduct    `json:"lineup"`
}

// e2eShow creates stream id hosted by the token's host, puts products and
// sets the lineup to all of them.
func e2eShow(tb testing.TB, base, hostToken, id string, products ...e2eProduct) {
	tb.Helper()
	e2eMust(tb, 201, "POST", base+"/api/streams", hostToken, map[string]any{"id": id, "title": "Show " + id}, nil)
	skus := []string{}
	for _, p := range products {
		r := e2eCall(tb, "PUT", base+"/api/products/"+p.SKU, hostToken, e2eProduct{
			Name: p.Name, PriceCents: p.PriceCents, Currency: p.Currency, Stock: p.Stock, ImageURL: p.ImageURL, Description: p.Description,
		})
		if r.Status != 200 && r.Status != 201 {
			tb.Fatalf("PUT product %s = %s", p.SKU, r)
		}
		skus = append(skus, p.SKU)
	}
	e2eMust(tb, 200, "PUT", base+"/api/streams/"+id+"/lineup", hostToken, map[string]any{"skus": skus}, nil)
}

// e2eGetStream answers GET /api/streams/{id}.
func e2eGetStream(tb testing.TB, base, id string) e2eStream {
	tb.Helper()
	var s e2eStream
	e2eMust(tb, 200, "GET", base+"/api/streams/"+id, "", nil, &s)
	return s
}

// e2eStock answers the live stock of sku.
func e2eStock(tb testing.TB, base, sku string) int {
	tb.Helper()
	var p e2eProduct
	e2eMust(tb, 200, "GET", base+"/api/products/"+sku, "", nil, &p)
	return p.Stock
}

// e2eBuy buys qty of sku on stream with an Idempotency-Key.
func e2eBuy(tb testing.TB, base, token, stream, sku string, qty int, key string) e2eResp {
	tb.Helper()
	return e2eCall(tb, "POST", base+"/api/streams/"+stream+"/buy", token, map[string]any{"sku": sku, "qty": qty}, "Idempotency-Key", key)
}

// e2eRaceBuy is e2eBuy from a goroutine of its own: a failed exchange is
// reported as status 0.
func e2eRaceBuy(tb testing.TB, base, token, stream, sku string, key string) e2eResp {
	r, err := e2eTry(tb, "POST", base+"/api/streams/"+stream+"/buy", token, map[string]any{"sku": sku, "qty": 1}, "Idempotency-Key", key)
	if err != nil {
		tb.Errorf("buy: %v", err)
	}
	return r
}

// token mints a token for sub with role (optionally scoped to stream).
func (ts *testServer) e2eToken(tb testing.TB, sub, name string, role auth.Role, stream ...string) string {
	tb.Helper()
	p := auth.Principal{Sub: sub, Name: name, Role: role}
	if len(stream) > 0 {
		p.Stream = stream[0]
	}
	return ts.Token(tb, p)
}

// e2eMsg is one server-to-client room message.
type e2eMsg struct {
	Type string
	Raw  json.RawMessage
	M    map[string]any
}

func (m e2eMsg) str(k string) string { s, _ := m.M[k].(string); return s }

func (m e2eMsg) num(k string) float64 { f, _ := m.M[k].(float64); return f }

func (m e2eMsg) obj(k string) map[string]any { o, _ := m.M[k].(map[string]any); return o }

// e2eRoom is a websocket client of a stream's room that records every
// message it receives.
type e2eRoom struct {
	conn *websocket.Conn

	mu      sync.Mutex
	msgs    []e2eMsg
	changed chan struct{} // closed and replaced on each message and at the end
	err     error         // why reading stopped
	ended   bool
}

// e2eDialRoom opens the room of stream. query and header may be nil.
func e2eDialRoom(tb testing.TB, base, stream, token string, query url.Values, header http.Header) (*e2eRoom, *http.Response, error) {
	tb.Helper()
	if query == nil {
		query = url.Values{}
	}
	if token != "" {
		query.Set("token", token)
	}
	u := "ws" + strings.TrimPrefix(base, "http") + "/api/streams/" + stream + "/ws"
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	d := websocket.Dialer{HandshakeTimeout: e2eWait}
	conn, res, err := d.DialContext(tb.Context(), u, header)
	if err != nil {
		return nil, res, err
	}
	r := &e2eRoom{conn: conn, changed: make(chan struct{})}
	go r.read()
	tb.Cleanup(func() { conn.Close() })
	return r, res, nil
}

// e2eJoin opens the room of stream and waits for its welcome.
func e2eJoin(tb testing.TB, base, stream, token string) (*e2eRoom, e2eMsg) {
	tb.Helper()
	r, res, err := e2eDialRoom(tb, base, stream, token, nil, nil)
	if err != nil {
		tb.Fatalf("joining the room of %s: %v (%s)", stream, err, e2eStatusOf(res))
	}
	return r, r.wait(tb, 0, "welcome", func(e2eMsg) bool { return true })
}

func e2eStatusOf(res *http.Response) string {
	if res == nil {
		return "no HTTP answer"
	}
	b, _ := io.ReadAll(res.Body)
	return fmt.Sprintf("HTTP %d %s", res.StatusCode, b)
}

func (r *e2eRoom) read() {
	for {
		typ, data, err := r.conn.ReadMessage()
		r.mu.Lock()
		if err != nil {
			r.err, r.ended = err, true
			close(r.changed)
			r.mu.Unlock()
			return
		}
		if typ == websocket.TextMessage {
			for line := range bytes.SplitSeq(data, []byte("\n")) {
				if len(bytes.TrimSpace(line)) == 0 {
					continue
				}
				m := e2eMsg{Raw: append(json.RawMessage(nil), line...)}
				if err := json.Unmarshal(line, &m.M); err != nil {
					m.Type = "!invalid"
				} else {
					m.Type, _ = m.M["type"].(string)
				}
				r.msgs = append(r.msgs, m)
			}
			close(r.changed)
			r.changed = make(chan struct{})
		}
		r.mu.Unlock()
	}
}

// mark is the number of messages received so far: wait(mark, …) looks only
// at what arrives after it.
func (r *e2eRoom) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// since returns the messages received after mark.
func (r *e2eRoom) since(mark int) []e2eMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]e2eMsg(nil), r.msgs[mark:]...)
}

// find returns the first message after mark of type typ for which ok holds.
func (r *e2eRoom) find(mark int, typ string, ok func(e2eMsg) bool) (e2eMsg, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs[mark:] {
		if m.Type == typ && ok(m) {
			return m, true
		}
	}
	return e2eMsg{}, false
}

// wait waits for a message after mark of type typ for which ok holds.
func (r *e2eRoom) wait(tb testing.TB, mark int, typ string, ok func(e2eMsg) bool) e2eMsg {
	tb.Helper()
	timeout := time.After(e2eWait)
	for {
		if m, found := r.find(mark, typ, ok); found {
			return m
		}
		r.mu.Lock()
		ch, ended, err := r.changed, r.ended, r.err
		r.mu.Unlock()
		if ended {
			tb.Fatalf("room connection ended (%v) before a %q message came; got %s", err, typ, r.dump(mark))
		}
		select {
		case <-ch:
		case <-timeout:
			tb.Fatalf("timed out waiting for a %q message; got %s", typ, r.dump(mark))
		}
	}
}

// waitEnd waits until the connection ends and returns why.
func (r *e2eRoom) waitEnd(tb testing.TB, timeout time.Duration) error {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		ch, ended, err := r.changed, r.ended, r.err
		r.mu.Unlock()
		if ended {
			return err
		}
		select {
		case <-ch:
		case <-deadline:
			tb.Fatalf("the room connection did not end within %s", timeout)
		}
	}
}

func (r *e2eRoom) dump(mark int) string {
	var b strings.Builder
	for _, m := range r.since(mark) {
		b.WriteString("\n  ")
		b.Write(m.Raw)
	}
	return b.String()
}

// send writes one client message.
func (r *e2eRoom) send(tb testing.TB, msg map[string]any) {
	tb.Helper()
	b, err := json.Marshal(msg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := r.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		tb.Fatalf("sending %s: %v", b, err)
	}
}

// e2eClose closes the connection as a client leaving does.
func (r *e2eRoom) close() {
	_ = r.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = r.conn.Close()
}
