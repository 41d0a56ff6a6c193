package chat

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/livecart/livecart/auth"
)

func TestWelcomeAnonymous(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	c := rm.dial(t, "s1", "", nil)
	w := c.welcome
	if w["you"] != nil {
		t.Errorf("you = %v, want null", w["you"])
	}
	if got := w.obj("stream").str("id"); got != "s1" {
		t.Errorf("stream.id = %q, want s1", got)
	}
	if h, ok := w["history"].([]any); !ok || len(h) != 0 {
		t.Errorf("history = %v, want []", w["history"])
	}
	if v, ok := w["pinned"]; !ok || v != nil {
		t.Errorf("pinned = %v (present %v), want null", v, ok)
	}
	if w["recovered"] != false {
		t.Errorf("recovered = %v, want false", w["recovered"])
	}
	if w.str("epoch") == "" {
		t.Error("welcome has no epoch")
	}
	// Anonymous is read-only.
	c.send(`{"type":"chat","text":"hi"}`)
	c.expectError(codeUnauthorized)
	c.send(`{"type":"question","text":"hi?"}`)
	c.expectError(codeUnauthorized)
}

func TestChatAndHistory(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	anon := rm.dial(t, "s1", "", nil)
	ana := rm.dial(t, "s1", mustToken(t, auth.Viewer, "ana", ""), nil)
	if you := ana.welcome.obj("you"); you.str("sub") != "ana" || you.str("name") != "N-ana" || you.str("role") != "viewer" {
		t.Errorf("welcome.you = %v", you)
	}
	ana.send(`{"type":"chat","text":"  hello room  ","user":{"sub":"forged","role":"admin"},"extra":1}`)
	for _, c := range []*wsc{anon, ana} {
		m := c.expect("chat")
		if m.str("text") != "hello room" || m.obj("user").str("sub") != "ana" || m.obj("user").str("role") != "viewer" {
			t.Errorf("chat = %v, want text %q from ana (viewer)", m, "hello room")
		}
		if m.str("id") == "" || m.num("offset") < 1 || m.str("epoch") == "" {
			t.Errorf("chat lacks id/offset/epoch: %v", m)
		}
		if _, err := time.Parse(time.RFC3339, m.str("ts")); err != nil {
			t.Errorf("ts %q: %v", m.str("ts"), err)
		}
	}
	ana.send(`{"type":"question","text":"does it come in blue?"}`)
	q := anon.expect("question")
	late := rm.dial(t, "s1", "", nil)
	h, _ := late.welcome["history"].([]any)
	if len(h) != 2 {
		t.Fatalf("late joiner history has %d entries, want 2: %v", len(h), h)
	}
	if m := msg(h[1].(map[string]any)); m.str("type") != "question" || m.str("id") != q.str("id") {
		t.Errorf("history[1] = %v, want the question", m)
	}
}

func TestSeveralLinesPerFrame(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	c := rm.dial(t, "s1", mustToken(t, auth.Viewer, "ana", ""), nil)
	c.send("{\"type\":\"chat\",\"text\":\"one\"}\n{\"type\":\"chat\",\"text\":\"two\"}\n\n{\"type\":\"chat\",\"text\":\"three\"}")
	for _, want := range []string{"one", "two", "three"} {
		if got := c.expect("chat").str("text"); got != want {
			t.Fatalf("chat text = %q, want %q", got, want)
		}
	}
}

func TestQuestionAnswer(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	viewer := rm.dial(t, "s1", mustToken(t, auth.Viewer, "ana", ""), nil)
	other := rm.dial(t, "s1", "", nil)
	host := rm.dial(t, "s1", mustToken(t, auth.Host, "host1", ""), nil)
	viewer.send(`{"type":"question","text":"what size?"}`)
	q := host.expect("question")
	viewer.send(map[string]any{"type": "answer", "question_id": q.str("id"), "text": "I answer myself"})
	viewer.expectError(codeForbidden)
	host.send(map[string]any{"type": "answer", "question_id": "no-such", "text": "x"})
	host.expectError(codeNotFound)
	host.send(map[string]any{"type": "answer", "question_id": q.str("id"), "text": "size M"})
	for _, c := range []*wsc{viewer, other, host} {
		a := c.expect("answer")
		if a.str("question_id") != q.str("id") || a.str("text") != "size M" || a.obj("user").str("role") != "host" {
			t.Errorf("answer = %v", a)
		}
	}
}

func TestRoles(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	ana := rm.dial(t, "s1", mustToken(t, auth.Viewer, "ana", ""), nil)
	ana.send(`{"type":"chat","text":"delete me"}`)
	line := ana.expect("chat")
	id := line.str("id")

	cases := []struct {
		name  string
		token string
		want  string // error code, "" for allowed
	}{
		{"anonymous", "", codeUnauthorized},
		{"viewer", mustToken(t, auth.Viewer, "bob", ""), codeForbidden},
		{"moderator without this stream", mustToken(t, auth.Moderator, "mo", ""), codeForbidden},
		{"host of another stream", mustToken(t, auth.Host, "host2", ""), codeForbidden},
		{"moderator scoped to this stream", mustToken(t, auth.Moderator, "mo", "s1"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := rm.dial(t, "s1", tc.token, nil)
			for _, cmd := range []string{
				`{"type":"mute","sub":"zed","seconds":0}`,
				`{"type":"ban","sub":"zed"}`,
				`{"type":"unban","sub":"zed"}`,
				`{"type":"slow","seconds":0}`,
				`{"type":"pin","sku":""}`,
				`{"type":"approve","id":"nothing-held"}`,
				`{"type":"answer","question_id":"q","text":"t"}`,
			} {
				c.send(cmd)
				if tc.want != "" {
					c.expectError(tc.want)
				} else if cmd == `{"type":"approve","id":"nothing-held"}` || strings.Contains(cmd, "answer") {
					c.expectError(codeNotFound)
				}
			}
			if tc.want != "" {
				c.send(map[string]any{"type": "delete", "id": id})
				c.expectError(tc.want)
			}
		})
	}
	// The scoped moderator may delete; everyone receives deleted.
	mo := rm.dial(t, "s1", mustToken(t, auth.Moderator, "mo", "s1"), nil)
	mo.send(map[string]any{"type": "delete", "id": id})
	if got := ana.expect("deleted").str("id"); got != id {
		t.Errorf("deleted id = %q, want %q", got, id)
	}
	mo.expect("deleted")
	mo.send(map[string]any{"type": "delete", "id": "unknown"})
	mo.expectError(codeNotFound)
	late := rm.dial(t, "s1", "", nil)
	if h, _ := late.welcome["history"].([]any); len(h) != 0 {
		t.Errorf("history after delete = %v, want []", h)
	}
}

func TestUpgradeRefusals(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	host := strings.TrimPrefix(rm.srv.URL, "http://")
	cases := []struct {
		name   string
		stream string
		token  string
		origin string
		query  string
		status int
		code   string
	}{
		{"other origin", "s1", "", "https://evil.example", "", 403, "forbidden"},
		{"bad token", "s1", "not-a-jwt", "", "", 401, "unauthorized"},
		{"token for another stream", "s1", mustToken(t, auth.Moderator, "mo", "s2"), "", "", 403, "forbidden"},
		{"no such stream", "nope", "", "", "", 404, "not_found"},
		{"bad since", "s1", "", "", "since=x", 400, "bad_request"},
		{"same origin", "s1", "", "http://" + host, "", 101, ""},
		{"no origin", "s1", mustToken(t, auth.Viewer, "ana", ""), "", "", 101, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			u := rm.url(tc.stream, tc.token, q)
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			conn, resp, err := dialRaw(t, u, h, 0)
			if conn != nil {
				conn.Close()
			}
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d (%v)", resp.StatusCode, tc.status, err)
			}
			if tc.code == "" {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			body, _ := io.ReadAll(resp.Body)
			var p struct{ Code string }
			if err := json.Unmarshal(body, &p); err != nil || p.Code != tc.code {
				t.Errorf("body %s: code %q, want %q", body, p.Code, tc.code)
			}
		})
	}
}

func TestCheckOrigin(t *testing.T) {
	var asked []string
	var mu sync.Mutex
	rm := mustRoom(t, nil, Config{CheckOrigin: func(r *http.Request) bool {
		mu.Lock()
		asked = append(asked, r.Header.Get("Origin"))
		mu.Unlock()
		return r.Header.Get("Origin") == "https://shop.example"
	}})
	cases := []struct {
		name   string
		origin string
		token  string
		want   int
	}{
		{"allowed by the policy", "https://shop.example", "", 101},
		{"refused by the policy", "https://other.example", "", 403},
		{"the policy decides for the server's own pages too", rm.srv.URL, "", 403},
		{"no Origin goes on to the token check", "", "not-a-jwt", 401},
		{"no Origin with a good token", "", mustToken(t, auth.Viewer, "ana", ""), 101},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			conn, resp, _ := dialRaw(t, rm.url("s1", tc.token, nil), h, 0)
			if conn != nil {
				conn.Close()
			}
			if resp == nil || resp.StatusCode != tc.want {
				t.Errorf("origin %q: response %v, want %d", tc.origin, resp, tc.want)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	for _, o := range asked {
		if o == "" {
			t.Error("CheckOrigin was asked about a request without Origin")
		}
	}
}

func TestDefaultOriginIsSameOrigin(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	for origin, want := range map[string]int{rm.srv.URL: 101, "https://shop.example": 403, "null": 403} {
		conn, resp, _ := dialRaw(t, rm.url("s1", "", nil), http.Header{"Origin": {origin}}, 0)
		if conn != nil {
			conn.Close()
		}
		if resp == nil || resp.StatusCode != want {
			t.Errorf("origin %s: response %v, want %d", origin, resp, want)
		}
	}
}

func TestBadInput(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	c := rm.dial(t, "s1", mustToken(t, auth.Viewer, "ana", ""), nil)
	host := rm.dial(t, "s1", mustToken(t, auth.Host, "host1", ""), nil)
	cases := []struct {
		name string
		who  *wsc
		send any
		code string
	}{
		{"not JSON", c, `{"type":`, codeBadMessage},
		{"no type", c, `{"text":"x"}`, codeBadMessage},
		{"unknown type", c, `{"type":"shout","text":"x"}`, codeBadMessage},
		{"text of the wrong type", c, `{"type":"chat","text":5}`, codeBadMessage},
		{"no text", c, `{"type":"chat"}`, codeBadMessage},
		{"empty text", c, `{"type":"chat","text":"   "}`, codeBadMessage},
		{"invalid UTF-8", c, []byte("{\"type\":\"chat\",\"text\":\"\xff\xfe\"}"), codeBadMessage},
		{"501 code points", c, map[string]any{"type": "chat", "text": strings.Repeat("é", 501)}, codeTooLong},
		{"host is not exempt from size", host, map[string]any{"type": "chat", "text": strings.Repeat("x", 501)}, codeTooLong},
		{"frame over 4 KiB", c, `{"type":"chat","text":"` + strings.Repeat("a", 4100) + `"}`, codeTooLong},
		{"react without emoji", c, `{"type":"react"}`, codeBadMessage},
		{"mute without sub", host, `{"type":"mute","seconds":5}`, codeBadMessage},
		{"mute with negative seconds", host, `{"type":"mute","sub":"ana","seconds":-1}`, codeBadMessage},
		{"slow without seconds", host, `{"type":"slow"}`, codeBadMessage},
		{"pin without sku", host, `{"type":"pin"}`, codeBadMessage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.who.send(tc.send)
			tc.who.expectError(tc.code)
		})
		rm.clock.Advance(2 * badWindow) // keep the malformed count low
	}
	// 500 code points (multi-byte, 1000 bytes) are fine.
	c.send(map[string]any{"type": "chat", "text": strings.Repeat("é", 500)})
	if got := c.expect("chat").str("text"); len([]rune(got)) != 500 {
		t.Errorf("500-code-point line came back with %d", len([]rune(got)))
	}
	// A binary frame is malformed.
	if err := c.conn.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"chat","text":"x"}`)); err != nil {
		t.Fatal(err)
	}
	c.expectError(codeBadMessage)
}

func TestMalformedFloodCloses1008(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	c := rm.dial(t, "s1", "", nil)
	for i := range badLimit - 1 {
		c.send(`nope`)
		c.expectError(codeBadMessage)
		if i == 4 {
			rm.clock.Advance(time.Second)
		}
	}
	c.send(`nope`)
	if code := c.expectClose(); code != websocket.ClosePolicyViolation {
		t.Fatalf("close code = %d, want 1008", code)
	}

	// Spread over more than 10 s, they do not close.
	c2 := rm.dial(t, "s1", "", nil)
	for range 2 * badLimit {
		c2.send(`nope`)
		c2.expectError(codeBadMessage)
		rm.clock.Advance(1200 * time.Millisecond)
	}
	c2.send(`{"type":"react","emoji":"👍"}`)
	c2.expect("reactions")
}

func TestRateLimitAndSlowMode(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	ana := rm.dial(t, "s1", mustToken(t, auth.Viewer, "ana", ""), nil)
	host := rm.dial(t, "s1", mustToken(t, auth.Host, "host1", ""), nil)
	for i := range 5 {
		ana.send(map[string]any{"type": "chat", "text": "burst"})
		if m := ana.expect("chat"); m.str("text") != "burst" {
			t.Fatalf("line %d: %v", i, m)
		}
	}
	ana.send(`{"type":"chat","text":"one too many"}`)
	ana.expectError(codeRateLimited)
	rm.clock.Advance(time.Second)
	ana.send(`{"type":"chat","text":"after a second"}`)
	ana.expectWhere("chat", func(m msg) bool { return m.str("text") == "after a second" })

	// The host is exempt.
	for range 20 {
		host.send(`{"type":"chat","text":"host"}`)
	}
	for range 20 {
		host.expectWhere("chat", func(m msg) bool { return m.str("text") == "host" })
	}

	host.send(`{"type":"slow","seconds":30}`)
	if s := ana.expect("slow"); s.num("seconds") != 30 {
		t.Errorf("slow = %v", s)
	}
	ana.send(`{"type":"chat","text":"slow 1"}`)
	ana.expectWhere("chat", func(m msg) bool { return m.str("text") == "slow 1" })
	ana.send(`{"type":"chat","text":"slow 2"}`)
	ana.expectError(codeRateLimited)
	rm.clock.Advance(29 * time.Second)
	ana.send(`{"type":"chat","text":"slow 3"}`)
	ana.expectError(codeRateLimited)
	rm.clock.Advance(time.Second)
	ana.send(`{"type":"chat","text":"slow 4"}`)
	ana.expectWhere("chat", func(m msg) bool { return m.str("text") == "slow 4" })
	late := rm.dial(t, "s1", "", nil)
	if late.welcome.num("slow") != 30 {
		t.Errorf("welcome.slow = %v, want 30", late.welcome["slow"])
	}
}

func TestMuteAndBan(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	ana := rm.dial(t, "s1", mustToken(t, auth.Viewer, "ana", ""), nil)
	host := rm.dial(t, "s1", mustToken(t, auth.Host, "host1", ""), nil)
	host.send(`{"type":"mute","sub":"ana","seconds":60}`)
	m := ana.expect("muted")
	until, err := time.Parse(time.RFC3339, m.str("until"))
	if want := rm.clock.Now().Add(60 * time.Second); err != nil || !until.Equal(want) {
		t.Fatalf("muted until %q (%v), want %v", m.str("until"), err, want)
	}
	ana.send(`{"type":"chat","text":"let me speak"}`)
	ana.expectError(codeMuted)
	// A reconnecting muted user is told again.
	ana2 := rm.dial(t, "s1", mustToken(t, auth.Viewer, "ana", ""), nil)
	ana2.expect("muted")
	rm.clock.Advance(61 * time.Second)
	ana.send(`{"type":"chat","text":"free again"}`)
	ana.expectWhere("chat", func(m msg) bool { return m.str("text") == "free again" })

	host.send(`{"type":"ban","sub":"ana"}`)
	if b := ana.expect("banned"); b["until"] != nil {
		t.Errorf("banned until = %v, want null (until lifted)", b["until"])
	}
	ana.send(`{"type":"question","text":"why?"}`)
	ana.expectError(codeBanned)
	rm.clock.Advance(24 * time.Hour)
	ana.send(`{"type":"chat","text":"still?"}`)
	ana.expectError(codeBanned)
	host.send(`{"type":"unban","sub":"ana"}`)
	ana.expect("banned")
	ana.send(`{"type":"chat","text":"back"}`)
	ana.expectWhere("chat", func(m msg) bool { return m.str("text") == "back" })

	host.send(`{"type":"ban","sub":"ana","seconds":10}`)
	if b := ana.expect("banned"); b.str("until") == "" {
		t.Errorf("timed ban has no until: %v", b)
	}
}

func TestHeldForReview(t *testing.T) {
	rm := mustRoom(t, nil, Config{Blocklist: []string{"cheap pills"}})
	ana := rm.dial(t, "s1", mustToken(t, auth.Viewer, "ana", ""), nil)
	bob := rm.dial(t, "s1", mustToken(t, auth.Viewer, "bob", ""), nil)
	mo := rm.dial(t, "s1", mustToken(t, auth.Moderator, "mo", "s1"), nil)

	ana.send(`{"type":"chat","text":"buy CHEAP pills here"}`)
	held := mo.expect("held")
	if held.str("kind") != "chat" || held.obj("user").str("sub") != "ana" || held.str("text") != "buy CHEAP pills here" {
		t.Errorf("held = %v", held)
	}
	if got := ana.expect("held").str("id"); got != held.str("id") {
		t.Errorf("author's held id = %q, want %q", got, held.str("id"))
	}
	// bob sees nothing of it: his next chat is a later line.
	ana.send(`{"type":"chat","text":"fine line"}`)
	if got := bob.expect("chat").str("text"); got != "fine line" {
		t.Fatalf("bob got %q first, want the fine line", got)
	}
	late := rm.dial(t, "s1", mustToken(t, auth.Moderator, "mo", "s1"), nil)
	if h, _ := late.welcome["held"].([]any); len(h) != 1 {
		t.Errorf("moderator welcome.held = %v, want one line", late.welcome["held"])
	}
	bob.send(map[string]any{"type": "approve", "id": held.str("id")})
	bob.expectError(codeForbidden)
	mo.send(map[string]any{"type": "approve", "id": held.str("id")})
	if got := bob.expect("chat"); got.str("id") != held.str("id") || got.obj("user").str("sub") != "ana" {
		t.Errorf("approved line = %v", got)
	}
	if r := mo.expect("resolved"); r.str("action") != "approved" {
		t.Errorf("resolved = %v", r)
	}
	mo.send(map[string]any{"type": "approve", "id": held.str("id")})
	mo.expectError(codeNotFound)

	ana.send(`{"type":"question","text":"cheap pills?"}`)
	h2 := mo.expect("held")
	mo.send(map[string]any{"type": "drop", "id": h2.str("id")})
	if r := ana.expectWhere("resolved", func(m msg) bool { return m.str("id") == h2.str("id") }); r.str("action") != "dropped" {
		t.Errorf("resolved = %v", r)
	}
	// Moderators are not held.
	mo.send(`{"type":"chat","text":"no cheap pills here"}`)
	bob.expectWhere("chat", func(m msg) bool { return m.str("text") == "no cheap pills here" })
}

func TestReactionsAreBatched(t *testing.T) {
	rm := mustRoom(t, nil, Config{ReactionsEvery: 200 * time.Millisecond})
	ana := rm.dial(t, "s1", mustToken(t, auth.Viewer, "ana", ""), nil)
	watcher := rm.dial(t, "s1", "", nil)
	const taps = 20
	var frame strings.Builder
	for range taps {
		frame.WriteString(`{"type":"react","emoji":"❤️"}` + "\n")
	}
	ana.send(frame.String())
	total, broadcasts := 0, 0
	for total < taps {
		m := watcher.expect("reactions")
		broadcasts++
		total += int(m.obj("counts").num("❤️"))
	}
	if total != taps {
		t.Errorf("counted %d, want %d", total, taps)
	}
	if broadcasts >= taps {
		t.Errorf("%d broadcasts for %d taps, want them batched", broadcasts, taps)
	}
}

func TestViewers(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	a := rm.dial(t, "s1", "", nil)
	rm.dial(t, "s1", "", nil)
	c := rm.dial(t, "s1", mustToken(t, auth.Viewer, "ana", ""), nil)
	a.expectWhere("viewers", func(m msg) bool { return m.num("count") == 3 })
	if n := rm.Viewers(t.Context(), "s1"); n != 3 {
		t.Errorf("Viewers = %d, want 3", n)
	}
	c.conn.Close()
	a.expectWhere("viewers", func(m msg) bool { return m.num("count") == 2 })
}

func TestRoomEventsFromOtherParts(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	c := rm.dial(t, "s1", "", nil)
	other := rm.dial(t, "s2", "", nil)
	card := `{"sku":"mug","name":"Mug","price_cents":1200,"currency":"EUR","stock":5,"image_url":"","ends_at":null}`
	rm.ProductCard("s1", json.RawMessage(card))
	p := c.expect("product")
	if p.obj("card").str("sku") != "mug" || p.num("offset") < 1 {
		t.Errorf("product = %v", p)
	}
	// The room passes the shop's card on as it is.
	if got, _ := json.Marshal(p.obj("card")); string(got) != `{"currency":"EUR","ends_at":null,"image_url":"","name":"Mug","price_cents":1200,"sku":"mug","stock":5}` {
		t.Errorf("product card %s, want %s", got, card)
	}
	rm.StockChanged("s1", "mug", 4)
	if s := c.expect("stock"); s.str("sku") != "mug" || s.num("stock") != 4 {
		t.Errorf("stock = %v", s)
	}
	rm.StockChanged("s1", "mug", 0)
	if s := c.expect("stock"); s.num("stock") != 0 {
		t.Errorf("stock = %v, want 0 (present)", s)
	}
	rm.OrderPlaced("s1", "mug", 2, "Ana")
	if o := c.expect("order"); o.str("sku") != "mug" || o.num("qty") != 2 || o.str("buyer") != "Ana" || o.num("offset") < 1 {
		t.Errorf("order = %v", o)
	}
	rm.StreamStatus("s1", "ended")
	if s := c.expect("stream"); s.str("status") != "ended" {
		t.Errorf("stream = %v", s)
	}
	late := rm.dial(t, "s1", "", nil)
	if late.welcome.obj("pinned").str("sku") != "mug" {
		t.Errorf("late welcome.pinned = %v", late.welcome["pinned"])
	}
	if s := late.expect("stock"); s.num("stock") != 0 {
		t.Errorf("late joiner's stock = %v, want 0", s)
	}
	rm.ProductCard("s1", nil)
	if p := c.expect("product"); p["card"] != nil {
		t.Errorf("unpinned product = %v", p)
	}
	if late := rm.dial(t, "s1", "", nil); late.welcome["pinned"] != nil {
		t.Errorf("pinned after unpin = %v", late.welcome["pinned"])
	}
	// Nothing of s1 reached s2.
	rm.OrderPlaced("s2", "cap", 1, "Bo")
	if o := other.expect("order"); o.str("sku") != "cap" {
		t.Errorf("s2's first order = %v", o)
	}
}

func TestPin(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	host := rm.dial(t, "s1", mustToken(t, auth.Host, "host1", ""), nil)
	host.send(`{"type":"pin","sku":"nope"}`)
	host.expectError(codeNotFound)
	host.send(`{"type":"pin","sku":"mug"}`)
	host.send(`{"type":"pin","sku":""}`)
	eventually(t, "two pin calls", func() bool {
		rm.pins.mu.Lock()
		defer rm.pins.mu.Unlock()
		return len(rm.pins.calls) == 3
	})
	if got := rm.pins.calls[1]; got != (pinCall{"host1", "s1", "mug"}) {
		t.Errorf("pin call = %+v", got)
	}

	noPin := mustRoom(t, nil, Config{Pinner: nilPinner{}})
	h := noPin.dial(t, "s1", mustToken(t, auth.Host, "host1", ""), nil)
	h.send(`{"type":"pin","sku":"mug"}`)
	h.expectError(codeForbidden)
}

type nilPinner struct{}

func (nilPinner) Pin(ctx context.Context, p *auth.Principal, stream, sku string) error {
	return auth.Check(p, auth.Own, auth.On(stream, auth.Owner{Sub: "someone-else"}))
}
