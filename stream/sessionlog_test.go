package stream

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
)

// syncBuffer is a bytes.Buffer safe for the log's concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the JSON log lines whose msg is msg.
func (b *syncBuffer) lines(tb testing.TB, msg string) []map[string]any {
	tb.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for l := range strings.SplitSeq(b.buf.String(), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			tb.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestSessionLog: one WHEP session logs one info line when it connects
// and one when it ends, with what an operator needs to follow a show.
func TestSessionLog(t *testing.T) {
	var logs syncBuffer
	r := mustRelay(t, func(c *Config) {
		c.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	r.stream(t, "shop", "host1")
	startPublisher(t, r.srv.URL, "shop", r.token(t, "host1", auth.Host), h264Codec, 'A', 30)
	v := startViewer(t, r.srv.URL, "shop")
	waitFor(t, v.gotKey, "video")
	eventually(t, "a few packets", func() bool {
		got, _ := v.snapshot()
		return len(got) > 20
	})
	session := v.location[strings.LastIndex(v.location, "/")+1:]
	time.Sleep(1500 * time.Millisecond) // a receiver report or two
	res := doSDP(t, "DELETE", r.srv.URL+v.location, "", "")
	res.Body.Close()

	mine := func(msg string) []map[string]any {
		var out []map[string]any
		for _, l := range logs.lines(t, msg) {
			if l["session"] == session {
				out = append(out, l)
			}
		}
		return out
	}
	eventually(t, "the session's end is logged", func() bool { return len(mine("stream: session ended")) > 0 })
	starts, ends := mine("stream: session started"), mine("stream: session ended")
	if len(starts) != 1 || len(ends) != 1 {
		t.Fatalf("got %d start and %d end lines for the session, want 1 and 1", len(starts), len(ends))
	}
	for _, l := range append(starts, ends...) {
		for key, want := range map[string]any{"level": "INFO", "stream": "shop", "role": "whep", "layers": float64(1)} {
			if l[key] != want {
				t.Errorf("%s: %s = %v, want %v", l["msg"], key, l[key], want)
			}
		}
		if c, _ := l["codec"].(string); !strings.Contains(c, "video/H264") || !strings.Contains(c, "audio/opus") {
			t.Errorf("%s: codec = %v, want video/H264 and audio/opus", l["msg"], l["codec"])
		}
		if a, _ := l["remote"].(string); !strings.HasPrefix(a, "127.0.0.1") {
			t.Errorf("%s: remote = %v, want the client's address", l["msg"], l["remote"])
		}
	}
	if m, _ := starts[0]["media"].(string); !strings.HasPrefix(m, "127.0.0.1:") {
		t.Errorf("start: media = %v, want the client's ICE address", starts[0]["media"])
	}
	end := ends[0]
	if p, _ := end["packets"].(float64); p < 20 {
		t.Errorf("end: packets = %v, want at least the 20 the viewer saw", end["packets"])
	}
	if _, ok := end["loss"].(float64); !ok {
		t.Errorf("end: loss = %v, want a number", end["loss"])
	}
	if d, _ := end["duration"].(float64); d <= 0 {
		t.Errorf("end: duration = %v, want > 0", end["duration"])
	}
	if end["connected"] != true {
		t.Errorf("end: connected = %v, want true", end["connected"])
	}
	// The publisher's session started too, and nothing per packet is
	// logged at info.
	pubStarted := false
	for _, l := range logs.lines(t, "stream: session started") {
		pubStarted = pubStarted || l["role"] == "whip"
	}
	if !pubStarted {
		t.Error("no start line for the WHIP session")
	}
	for _, msg := range []string{"stream: NACK", "stream: keyframe request", "stream: packets missing from the publisher"} {
		if n := len(logs.lines(t, msg)); n > 0 {
			t.Errorf("%d %q lines at info, want them at debug only", n, msg)
		}
	}
}
