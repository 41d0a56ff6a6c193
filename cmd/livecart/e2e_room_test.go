package main

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
)

// TestE2ERoom is the live room through the real server: pins from the
// host's websocket, chat and Q&A, the viewer count, origins, and recovery
// after a reconnect.
func TestE2ERoom(t *testing.T) {
	const shop = "https://shop.example"
	ts := MustServe(t, nil, "--allowed-origins", shop)
	base := ts.URL
	host := ts.e2eToken(t, "host-r", "Rae", auth.Host)
	e2eShow(t, base, host, "room",
		e2eProduct{SKU: "scarf", Name: "Silk scarf", PriceCents: 4500, Currency: "EUR", Stock: 6},
		e2eProduct{SKU: "ring", Name: "Ring", PriceCents: 9900, Currency: "EUR", Stock: 2})
	e2eMust(t, 201, "PUT", base+"/api/products/gone", host, e2eProduct{Name: "Not here", PriceCents: 1, Currency: "EUR", Stock: 1}, nil)

	hostRoom, hostWelcome := e2eJoin(t, base, "room", host)
	if you := hostWelcome.obj("you"); you["sub"] != "host-r" || you["role"] != "host" {
		t.Errorf("host welcome you = %v", you)
	}
	ana := ts.e2eToken(t, "v-ana", "Ana", auth.Viewer)
	anaRoom, anaWelcome := e2eJoin(t, base, "room", ana)
	if you := anaWelcome.obj("you"); you["sub"] != "v-ana" || you["name"] != "Ana" || you["role"] != "viewer" {
		t.Errorf("viewer welcome you = %v, want v-ana, Ana, viewer", you)
	}
	anon, anonWelcome := e2eJoin(t, base, "room", "")
	if v, ok := anonWelcome.M["you"]; !ok || v != nil {
		t.Errorf("anonymous welcome you = %v, want null", anonWelcome.M["you"])
	}
	for _, k := range []string{"you", "stream", "history", "pinned", "recovered"} {
		if _, ok := anonWelcome.M[k]; !ok {
			t.Errorf("welcome has no %q: %s", k, anonWelcome.Raw)
		}
	}

	t.Run("viewers", func(t *testing.T) {
		// Ana and the anonymous viewer; the host is staff, not a viewer.
		anon.wait(t, 0, "viewers", func(m e2eMsg) bool { return m.num("count") == 2 })
		extra, _ := e2eJoin(t, base, "room", "")
		mark := anon.mark()
		anon.wait(t, 0, "viewers", func(m e2eMsg) bool { return m.num("count") == 3 })
		extra.close()
		anon.wait(t, mark, "viewers", func(m e2eMsg) bool { return m.num("count") == 2 })
	})

	t.Run("pin over the websocket", func(t *testing.T) {
		mark := anon.mark()
		hostRoom.send(t, map[string]any{"type": "pin", "sku": "scarf"})
		for _, r := range []*e2eRoom{anon, anaRoom} {
			m := r.wait(t, mark, "product", func(m e2eMsg) bool { return m.obj("card") != nil })
			if c := m.obj("card"); c["sku"] != "scarf" || c["price_cents"] != 4500.0 || c["stock"] != 6.0 || c["name"] != "Silk scarf" {
				t.Errorf("card = %v, want the scarf at 4500 with stock 6", c)
			}
		}
		var pinned map[string]any
		s := e2eGetStream(t, base, "room")
		r := e2eResp{Status: 200, Body: s.Pinned}
		r.JSON(t, &pinned)
		if pinned["sku"] != "scarf" {
			t.Errorf("GET stream pinned = %s, want the scarf", s.Pinned)
		}

		// A viewer may not pin; anonymous neither; a product outside the lineup is not_found.
		mark = anaRoom.mark()
		anaRoom.send(t, map[string]any{"type": "pin", "sku": "ring"})
		anaRoom.wait(t, mark, "error", func(m e2eMsg) bool { return m.str("code") == "forbidden" })
		mark = anon.mark()
		anon.send(t, map[string]any{"type": "pin", "sku": "ring"})
		anon.wait(t, mark, "error", func(m e2eMsg) bool { return m.str("code") == "unauthorized" })
		mark = hostRoom.mark()
		hostRoom.send(t, map[string]any{"type": "pin", "sku": "gone"})
		hostRoom.wait(t, mark, "error", func(m e2eMsg) bool { return m.str("code") == "not_found" })
		if m, ok := anon.find(mark, "product", func(e2eMsg) bool { return true }); ok {
			t.Errorf("a refused pin reached the room: %s", m.Raw)
		}
	})

	t.Run("chat and questions", func(t *testing.T) {
		mark := anon.mark()
		// The client's claims about who it is are ignored.
		anaRoom.send(t, map[string]any{"type": "chat", "text": "hello room", "user": map[string]any{"sub": "host-r", "name": "Host", "role": "admin"}})
		chat := anon.wait(t, mark, "chat", func(m e2eMsg) bool { return m.str("text") == "hello room" })
		if u := chat.obj("user"); u["sub"] != "v-ana" || u["name"] != "Ana" || u["role"] != "viewer" {
			t.Errorf("chat user = %v, want the server's v-ana, Ana, viewer", u)
		}
		if chat.str("id") == "" {
			t.Errorf("chat id = %v, want a string", chat.M["id"])
		}
		if _, err := time.Parse(time.RFC3339, chat.str("ts")); err != nil {
			t.Errorf("chat ts %q: %v", chat.str("ts"), err)
		}
		if _, ok := chat.M["offset"].(float64); !ok || chat.str("epoch") == "" {
			t.Errorf("chat without offset and epoch: %s", chat.Raw)
		}

		anaRoom.send(t, map[string]any{"type": "question", "text": "does it come in blue?"})
		q := hostRoom.wait(t, mark, "question", func(m e2eMsg) bool { return m.str("text") == "does it come in blue?" })
		anon.wait(t, mark, "question", func(m e2eMsg) bool { return m.str("id") == q.str("id") })
		hostRoom.send(t, map[string]any{"type": "answer", "question_id": q.str("id"), "text": "yes, and in green"})
		for _, r := range []*e2eRoom{anon, anaRoom} {
			a := r.wait(t, mark, "answer", func(m e2eMsg) bool { return m.str("question_id") == q.str("id") })
			if a.str("text") != "yes, and in green" || a.obj("user")["sub"] != "host-r" || a.str("id") == "" {
				t.Errorf("answer = %s, want the host's answer to %s", a.Raw, q.str("id"))
			}
		}
		// Offsets increase in the order the room saw the lines.
		var offsets []float64
		for _, m := range anon.since(mark) {
			if slices.Contains([]string{"chat", "question", "answer"}, m.Type) {
				offsets = append(offsets, m.num("offset"))
			}
		}
		if len(offsets) != 3 || !slices.IsSorted(offsets) || offsets[0] == offsets[1] || offsets[1] == offsets[2] {
			t.Errorf("offsets of chat, question, answer = %v, want 3 increasing", offsets)
		}

		// A viewer may not answer; anonymous may not chat; the connections stay open.
		m2 := anaRoom.mark()
		anaRoom.send(t, map[string]any{"type": "answer", "question_id": q.str("id"), "text": "me too"})
		anaRoom.wait(t, m2, "error", func(m e2eMsg) bool { return m.str("code") == "forbidden" })
		m2 = anon.mark()
		anon.send(t, map[string]any{"type": "chat", "text": "let me in"})
		anon.wait(t, m2, "error", func(m e2eMsg) bool { return m.str("code") == "unauthorized" })
		anon.send(t, map[string]any{"type": "nonsense"})
		anon.wait(t, m2, "error", func(m e2eMsg) bool { return m.str("code") == "bad_message" })

		// A late joiner gets the lines in its welcome history.
		_, w := e2eJoin(t, base, "room", "")
		hist, _ := w.M["history"].([]any)
		var texts []string
		for _, h := range hist {
			if m, ok := h.(map[string]any); ok {
				if s, ok := m["text"].(string); ok {
					texts = append(texts, s)
				}
			}
		}
		for _, want := range []string{"hello room", "does it come in blue?", "yes, and in green"} {
			if !slices.Contains(texts, want) {
				t.Errorf("welcome history texts = %q, want %q in them", texts, want)
			}
		}
	})

	t.Run("origins", func(t *testing.T) {
		for _, tc := range []struct {
			origin string
			ok     bool
		}{
			{"", true},   // not a browser: on to the token check
			{shop, true}, // --allowed-origins
			{base, true}, // same origin
			{"https://evil.example", false},
			{"null", false},
		} {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			r, res, err := e2eDialRoom(t, base, "room", "", nil, h)
			if tc.ok {
				if err != nil {
					t.Errorf("origin %q: %v (%s), want the room", tc.origin, err, e2eStatusOf(res))
					continue
				}
				r.wait(t, 0, "welcome", func(e2eMsg) bool { return true })
				r.close()
				continue
			}
			if err == nil {
				t.Errorf("origin %q was let in, want 403", tc.origin)
				r.close()
				continue
			}
			if res == nil {
				t.Errorf("origin %q: %v, want a 403 answer", tc.origin, err)
				continue
			}
			resp := e2eResp{Status: res.StatusCode, Header: res.Header}
			resp.Body = e2eReadAll(res)
			e2eProblem(t, "room from origin "+tc.origin, resp, 403, "forbidden")
		}
		// No Origin passes to the token check, which refuses a bad token.
		_, res, err := e2eDialRoom(t, base, "room", "forged", nil, nil)
		if err == nil || res == nil {
			t.Fatalf("a bad token was let in (err %v)", err)
		}
		e2eProblem(t, "room with a bad token", e2eResp{Status: res.StatusCode, Header: res.Header, Body: e2eReadAll(res)}, 401, "unauthorized")
		_, res, err = e2eDialRoom(t, base, "room", ts.e2eToken(t, "v-x", "X", auth.Viewer, "other"), nil, nil)
		if err == nil || res == nil {
			t.Fatalf("a token for another stream was let in (err %v)", err)
		}
		e2eProblem(t, "room with another stream's token", e2eResp{Status: res.StatusCode, Header: res.Header, Body: e2eReadAll(res)}, 403, "forbidden")
	})

	t.Run("default origins", func(t *testing.T) {
		// Without --allowed-origins only the server's own origin is let in.
		plain := MustServe(t, nil)
		e2eMust(t, 201, "POST", plain.URL+"/api/streams", plain.e2eToken(t, "host-p", "", auth.Host), map[string]any{"id": "plain", "title": "Plain"}, nil)
		for _, tc := range []struct {
			origin string
			ok     bool
		}{{"", true}, {plain.URL, true}, {shop, false}} {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			r, res, err := e2eDialRoom(t, plain.URL, "plain", "", nil, h)
			switch {
			case tc.ok && err != nil:
				t.Errorf("origin %q: %v (%s), want the room", tc.origin, err, e2eStatusOf(res))
			case tc.ok:
				r.wait(t, 0, "welcome", func(e2eMsg) bool { return true })
				r.close()
			case err == nil:
				t.Errorf("origin %q was let in by default, want 403", tc.origin)
				r.close()
			case res == nil:
				t.Errorf("origin %q: %v, want a 403 answer", tc.origin, err)
			default:
				e2eProblem(t, "room from origin "+tc.origin, e2eResp{Status: res.StatusCode, Header: res.Header, Body: e2eReadAll(res)}, 403, "forbidden")
			}
		}
	})

	t.Run("reconnect recovers what was missed", func(t *testing.T) {
		bob := ts.e2eToken(t, "v-bob", "Bob", auth.Viewer)
		bobRoom, welcome := e2eJoin(t, base, "room", bob)
		last := welcome.num("offset")
		epoch := welcome.str("epoch")
		if epoch == "" {
			t.Fatalf("welcome has no epoch: %s", welcome.Raw)
		}
		mark := bobRoom.mark()
		hostRoom.send(t, map[string]any{"type": "chat", "text": "before the drop"})
		seen := bobRoom.wait(t, mark, "chat", func(m e2eMsg) bool { return m.str("text") == "before the drop" })
		last = seen.num("offset")
		bobRoom.close()

		// What Bob misses: chat lines, a pin and an order.
		mark = anon.mark()
		for i := range 3 {
			hostRoom.send(t, map[string]any{"type": "chat", "text": "missed " + strconv.Itoa(i)})
		}
		anon.wait(t, mark, "chat", func(m e2eMsg) bool { return m.str("text") == "missed 2" })
		hostRoom.send(t, map[string]any{"type": "pin", "sku": "ring"})
		anon.wait(t, mark, "product", func(m e2eMsg) bool { return m.obj("card")["sku"] == "ring" })
		if r := e2eBuy(t, base, ana, "room", "ring", 1, "room-1"); r.Status != 201 {
			t.Fatalf("buy = %s", r)
		}
		anon.wait(t, mark, "order", func(m e2eMsg) bool { return m.str("sku") == "ring" })
		var missed []e2eMsg
		for _, m := range anon.since(mark) {
			if _, ok := m.M["offset"].(float64); ok && m.num("offset") > last {
				missed = append(missed, m)
			}
		}

		q := url.Values{"since": {strconv.FormatFloat(last, 'f', -1, 64)}, "epoch": {epoch}}
		again, res, err := e2eDialRoom(t, base, "room", bob, q, nil)
		if err != nil {
			t.Fatalf("reconnecting: %v (%s)", err, e2eStatusOf(res))
		}
		w := again.wait(t, 0, "welcome", func(e2eMsg) bool { return true })
		if w.M["recovered"] != true {
			t.Fatalf("welcome after reconnect = %s, want recovered true", w.Raw)
		}
		want := missed[len(missed)-1].num("offset")
		again.wait(t, 0, missed[len(missed)-1].Type, func(m e2eMsg) bool { return m.num("offset") == want })
		var got []e2eMsg
		for _, m := range again.since(1) {
			if _, ok := m.M["offset"].(float64); ok {
				got = append(got, m)
			}
		}
		if len(got) < len(missed) {
			t.Fatalf("recovered %d messages, want %d:%s", len(got), len(missed), again.dump(0))
		}
		for i, m := range missed {
			if got[i].num("offset") != m.num("offset") || got[i].Type != m.Type {
				t.Errorf("recovered #%d = %s, want %s", i, got[i].Raw, m.Raw)
			}
		}
		for i := 1; i < len(got); i++ {
			if got[i].num("offset") <= got[i-1].num("offset") {
				t.Errorf("recovered messages out of order: %s then %s", got[i-1].Raw, got[i].Raw)
			}
		}

		// Another epoch: not recovered, the room as it is now.
		q.Set("epoch", "not-"+epoch)
		stale, res, err := e2eDialRoom(t, base, "room", bob, q, nil)
		if err != nil {
			t.Fatalf("reconnecting with another epoch: %v (%s)", err, e2eStatusOf(res))
		}
		w = stale.wait(t, 0, "welcome", func(e2eMsg) bool { return true })
		if w.M["recovered"] != false {
			t.Errorf("welcome with another epoch = %s, want recovered false", w.Raw)
		}
		if p, _ := w.M["pinned"].(map[string]any); p["sku"] != "ring" {
			t.Errorf("welcome pinned = %v, want the ring pinned now", w.M["pinned"])
		}
		if h, _ := w.M["history"].([]any); len(h) == 0 {
			t.Errorf("welcome with another epoch has no history: %s", w.Raw)
		}
	})
}

func e2eReadAll(res *http.Response) []byte {
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return b
}
