package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/web/browsertest"
)

// busyWatch is what the viewer page's instrumentation records: chat lines
// rendered (and the host's among them), the skipped count's text changes,
// and how smoothly frames were drawn (for the log).
const busyWatch = `(() => {
  const w = window.__busy = { lines: 0, host: [], paints: 0, frames: 0, maxGap: 0, longTasks: 0, longest: 0 };
  new MutationObserver((recs) => {
    for (const r of recs) {
      for (const n of r.addedNodes) {
        if (n.nodeType === 1 && n.matches("li.line")) {
          w.lines++;
          const t = n.querySelector('[data-testid="chat-text"]')?.textContent || "";
          if (t.startsWith("host ")) w.host.push(t);
        }
      }
      if (r.target.closest && r.target.closest('[data-testid="chat-skipped"]')) w.paints++;
    }
  }).observe(document.querySelector(".bottom"), { childList: true, subtree: true, characterData: true });
  let last = performance.now();
  const frame = (t) => { w.frames++; w.maxGap = Math.max(w.maxGap, t - last); last = t; requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) { w.longTasks++; w.longest = Math.max(w.longest, e.duration); } })
      .observe({ type: "longtask", buffered: false });
  } catch { /* no long task timing */ }
  return true;
})()`

// TestBrowserBusyRoom floods a room far beyond the line budget (200
// viewers posting a line a second each, the host twice a second) while a
// viewer watches /watch: the page receives and renders at most the budget
// of lines a second, every line of the host, and a "+N messages" count of
// the rest that repaints a few times a second, not once per message.
func TestBrowserBusyRoom(t *testing.T) {
	const budget, senders, hostLines = 8, 200, 12
	ts := MustServe(t, nil)
	b := browsertest.Start(t)
	const id = "busy-room"
	host := ts.Token(t, auth.Principal{Sub: "mia", Name: "Mia", Role: auth.Host})
	newShow(t, ts.URL, host, id, "The busiest drop", []product{{SKU: "tee-busy", Name: "Busy tee", PriceCents: 2900, Stock: 100}})
	viewer := openPage(t, b, "viewer", ts.URL+"/watch/"+id)
	viewer.WaitFunc(`document.body.dataset.room === "open"`, "the room open")
	viewer.Eval(busyWatch, nil)

	step(t, "200 viewers and the host post for 6 s")
	wsURL := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/streams/" + id + "/ws"
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	dial := func(i int, token string) *websocket.Conn {
		// 50 connections per loopback address, under the 64 per address.
		src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i/50))}
		d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: (&net.Dialer{LocalAddr: src}).DialContext}
		conn, resp, err := d.DialContext(ctx, wsURL+"?token="+token, http.Header{})
		if err != nil {
			t.Fatalf("sender %d: %v (%v)", i, err, resp)
		}
		wg.Go(func() { // read and drop what the room sends
			defer conn.Close()
			go func() { <-ctx.Done(); conn.Close() }()
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					return
				}
			}
		})
		return conn
	}
	post := func(conn *websocket.Conn, text string) {
		data, _ := json.Marshal(map[string]string{"type": "chat", "text": text})
		_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := conn.WriteMessage(websocket.TextMessage, data); err != nil {
			t.Fatalf("posting %q: %v", text, err)
		}
	}
	conns := make([]*websocket.Conn, senders)
	for i := range conns {
		conns[i] = dial(i, ts.Token(t, auth.Principal{Sub: "fan" + strconv.Itoa(i), Name: "Fan " + strconv.Itoa(i), Role: auth.Viewer}))
	}
	hostConn := dial(senders, host)
	start := time.Now()
	tick := time.NewTicker(time.Second / senders)
	defer tick.Stop()
	sent, hosted := 0, 0
	for hosted < hostLines {
		<-tick.C
		post(conns[sent%senders], "fan line "+strconv.Itoa(sent))
		sent++
		if sent%(senders/2) == 0 {
			post(hostConn, "host "+strconv.Itoa(hosted))
			hosted++
		}
	}
	post(hostConn, "host the end")
	viewer.WaitFunc(`window.__busy.host.includes("host the end")`, "the host's last line on the page")
	elapsed := time.Since(start)

	var got struct {
		Lines, Paints, Frames, LongTasks int
		Host                             []string
		MaxGap, Longest                  float64
	}
	viewer.Eval(`window.__busy`, &got)
	var count string
	viewer.Eval(`document.querySelector('[data-testid="chat-skipped"]')?.textContent || ""`, &count)
	var shown bool
	viewer.Eval(`(() => { const e = document.querySelector('[data-testid="chat-skipped"]'); return !!e && !e.hidden && e.getBoundingClientRect().height > 0; })()`, &shown)
	screen(t, viewer, "watch-busy-room")
	t.Logf("%d fan lines and %d of the host's in %v; the page rendered %d lines, the count %q (%d paints); %d frames, longest gap %.0f ms, %d long tasks (longest %.0f ms)",
		sent, hosted+1, elapsed.Round(time.Millisecond), got.Lines, count, got.Paints, got.Frames, got.MaxGap, got.LongTasks, got.Longest)

	secs := int(elapsed/time.Second) + 1
	if got.Lines > budget*(secs+1) {
		t.Errorf("the page rendered %d lines in %v, want at most the budget of %d a second", got.Lines, elapsed, budget)
	}
	var want []string
	for i := range hosted {
		want = append(want, "host "+strconv.Itoa(i))
	}
	want = append(want, "host the end")
	if strings.Join(got.Host, ",") != strings.Join(want, ",") {
		t.Errorf("the host's lines on the page: %q, want every one, in order: %q", got.Host, want)
	}
	m := regexp.MustCompile(`^\+([\d,]+) messages$`).FindStringSubmatch(count)
	if m == nil || !shown {
		t.Fatalf("skipped count %q (shown %v), want a visible \"+N messages\"", count, shown)
	}
	if n, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", "")); n < sent/2 || n > sent {
		t.Errorf("skipped count %d, want about the %d fan lines not shown (%d sent, %d lines rendered)", n, sent-got.Lines, sent, got.Lines)
	}
	if limit := 4*secs + 4; got.Paints > limit {
		t.Errorf("the count's text changed %d times in %v, want at most %d (a few times a second)", got.Paints, elapsed, limit)
	}
	viewer.ExpectNoProblems(expectedNoise)
}
