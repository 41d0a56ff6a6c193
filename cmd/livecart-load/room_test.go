package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseRoomLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want roomLine
	}{
		{`{"type":"chat","id":"x","user":{"sub":"load-sender-3","name":"N","role":"viewer"},"text":"v 1700000000000000000 3","ts":"t","offset":9,"epoch":"e"}`,
			roomLine{typ: "chat", who: 'v', sent: 1700000000000000000, n: 3}},
		{`{"type":"chat","id":"x","user":{"sub":"host1","name":"H","role":"host"},"text":"h 5 0","ts":"t"}`,
			roomLine{typ: "chat", who: 'h', sent: 5, n: 0}},
		{`{"type":"question","id":"q-1","user":{"sub":"load-asker"},"text":"q 7 2","ts":"t"}`,
			roomLine{typ: "question", who: 'q', sent: 7, n: 2, id: "q-1"}},
		{`{"type":"answer","id":"a","question_id":"q-1","user":{"sub":"host1"},"text":"a 8 2","ts":"t"}`,
			roomLine{typ: "answer", who: 'a', sent: 8, n: 2}},
		{`{"type":"chat","id":"x","user":{"sub":"ana"},"text":"hello there","ts":"t"}`, roomLine{typ: "chat"}},
		{`{"type":"skipped","count":240}`, roomLine{typ: "skipped", count: 240}},
		{`{"type":"stock","sku":"tee","stock":3}`, roomLine{typ: "stock"}},
		{`not json`, roomLine{}},
	} {
		if got := parseRoomLine([]byte(tc.line)); got != tc.want {
			t.Errorf("parseRoomLine(%s) = %+v, want %+v", tc.line, got, tc.want)
		}
	}
}

func TestRoomSourceAndURL(t *testing.T) {
	for _, tc := range []struct {
		i, per int
		want   string
	}{
		{0, 60, "127.1.0.1"}, {59, 60, "127.1.0.1"}, {60, 60, "127.1.0.2"},
		{249 * 60, 60, "127.1.0.250"}, {250 * 60, 60, "127.1.1.1"},
	} {
		if got := roomSource(tc.i, tc.per).String(); got != tc.want {
			t.Errorf("roomSource(%d, %d) = %s, want %s", tc.i, tc.per, got, tc.want)
		}
	}
	c := roomConfig{urls: []string{"ws://a/api/streams/{room}/ws", "ws://b/api/streams/{room}/ws"}, rooms: 3}
	for i, want := range []string{"ws://a/api/streams/r0/ws", "ws://b/api/streams/r1/ws", "ws://a/api/streams/r2/ws", "ws://b/api/streams/r0/ws"} {
		if got := c.roomURL(i); got != want {
			t.Errorf("roomURL(%d) = %s, want %s", i, got, want)
		}
	}
}

func TestRoomReportCountsPerSecond(t *testing.T) {
	st := newRoomStats()
	st.began(time.Now())
	v := st.newViewer()
	v.perSecond = []uint16{8, 9, 7}
	v.host, v.answers, v.viewer, v.skipped = 3, 1, 20, 100
	var out strings.Builder
	st.report(&out, roomConfig{duration: 3 * time.Second, budget: 8}, roomPosted{viewer: 120, host: 3, answers: 1}, 5*time.Second)
	for _, want := range []string{
		"median 8, p99 9, max 9; 1 viewer-seconds above the budget of 8",
		"host lines all 3 to every viewer, answers all 1 to every viewer",
		"24.0 of 124 lines offered received, 100.0 counted as skipped",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
