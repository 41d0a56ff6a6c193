package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestFloodSourceRoundRobin(t *testing.T) {
	for _, tc := range []struct {
		i, k int
		want string
	}{
		{0, 50, "127.0.0.2"},
		{49, 50, "127.0.0.51"},
		{50, 50, "127.0.0.2"},
		{123, 50, "127.0.0.25"},
		{0, 1, "127.0.0.2"},
		{999, 1, "127.0.0.2"},
		{252, 253, "127.0.0.254"},
		{253, 253, "127.0.0.2"},
	} {
		if got := floodSource(tc.i, tc.k).String(); got != tc.want {
			t.Errorf("floodSource(%d, %d) = %s, want %s", tc.i, tc.k, got, tc.want)
		}
	}
}

func TestFloodSlowHeadIsABuy(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:8080")
	head, body, err := floodSlowHead(u, "bench", "tee", "TOKEN")
	if err != nil {
		t.Fatal(err)
	}
	if len(body) != floodBodyLen {
		t.Fatalf("body is %d bytes, want %d", len(body), floodBodyLen)
	}
	req, err := http.ReadRequest(bufio.NewReader(io.MultiReader(bytes.NewReader(head), bytes.NewReader(body))))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(req.Body)
	for _, c := range []struct{ what, got, want string }{
		{"method", req.Method, "POST"},
		{"path", req.URL.Path, "/api/streams/bench/buy"},
		{"host", req.Host, "127.0.0.1:8080"},
		{"authorization", req.Header.Get("Authorization"), "Bearer TOKEN"},
		{"body", strings.TrimSpace(string(got)), `{"qty":1,"sku":"tee"}`},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if req.ContentLength != floodBodyLen || req.Header.Get("Idempotency-Key") == "" {
		t.Errorf("Content-Length %d, Idempotency-Key %q; want %d and a key", req.ContentLength, req.Header.Get("Idempotency-Key"), floodBodyLen)
	}
	if _, _, err := floodSlowHead(u, "bench", strings.Repeat("x", 60), "TOKEN"); err == nil {
		t.Error("a sku too long for the body was accepted")
	}
}

func TestFloodKinds(t *testing.T) {
	got := floodKinds(map[string]int{"201": 3, "503": 7, "error": 1, "400": 2}, []string{"201", "429", "503"})
	want := "201 × 3, 429 × 0, 503 × 7, 400 × 2, error × 1"
	if got != want {
		t.Errorf("floodKinds = %q, want %q", got, want)
	}
}

func TestFloodReport(t *testing.T) {
	r := &floodRun{cfg: floodConfig{base: "http://127.0.0.1:8080", whepFlood: 1000, conc: 200, slowBodies: 3,
		slowEvery: 4 * time.Second, sources: 50, duration: 40 * time.Second, buyEvery: 100 * time.Millisecond}}
	r.offers.add("201")
	r.offers.add("503")
	r.placed.Store(1)
	r.lastPlaced.Store(int64(1500 * time.Millisecond))
	r.ends = []floodEnd{{"408", 10 * time.Second}, {"408", 10100 * time.Millisecond}, {"closed", 3 * time.Second}}
	r.viewer = floodViewer{started: 2 * time.Second, answered: 4 * time.Second, answers: map[int]int{503: 2, 201: 1},
		firstKey: 4100 * time.Millisecond, received: 990, spanned: 1000}
	r.buyLat = []time.Duration{time.Millisecond, 2 * time.Millisecond}
	r.buyRes = map[string]int{"201": 2}
	r.samples = []floodSample{{goroutines: 37, pending: -1, fds: 12, rss: 50 << 20}, {at: time.Second, goroutines: 900, pending: -1, fds: 2013, rss: 80 << 20}}
	r.final = floodSample{at: 40 * time.Second, goroutines: 40, pending: -1, fds: 13, rss: 60 << 20}
	var b strings.Builder
	floodReport(&b, r)
	for _, want := range []string{
		"from 50 source addresses (127.0.0.2–127.0.0.51)",
		"1 sessions placed of 1000 (latest at 1.5s); POSTs answered 201 × 1, 429 × 0, 503 × 1",
		"408 × 2 after 10s / 10s / 10.1s (min/p50/max); closed × 1",
		"201 after 4s (WHEP POSTs 201 × 1, 503 × 2); first keyframe after 4.1s; 990 video packets, loss 1.000%",
		"2 taps, one per 100ms: p50 1ms, p99 2ms",
		"goroutines 37 / 900 / 40; fds 12 / 2013 / 13; RSS MiB 50.0 / 80.0 / 60.0; pending WebRTC sessions max -",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestFloodWindowMax(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	at := []time.Duration{ms(100), ms(4900), ms(5000), ms(5100), ms(9000)}
	lat := []time.Duration{ms(1), ms(300), ms(7), ms(2), ms(40)}
	for _, tc := range []struct {
		from, to time.Duration
		want     string
	}{
		{0, ms(5000), "300ms"},
		{ms(5000), ms(10000), "40ms"},
		{ms(10000), ms(15000), "-"},
	} {
		if got := floodWindowMax(at, lat, tc.from, tc.to); got != tc.want {
			t.Errorf("floodWindowMax(%s, %s) = %s, want %s", tc.from, tc.to, got, tc.want)
		}
	}
}
