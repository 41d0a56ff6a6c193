package main

import (
	"strings"
	"testing"
	"time"

	"github.com/livecart/livecart/redistest"
)

func waitStatus(tb testing.TB, url string, want int) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := get(tb, url)
		if code == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("GET %s = %d %s, want %d", url, code, body, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReadinessFollowsRedis(t *testing.T) {
	rs := redistest.Start(t)
	ts := MustServe(t, nil, "--redis", rs.URL())
	waitStatus(t, ts.URL+"/readyz", 200)
	rs.Stop()
	waitStatus(t, ts.URL+"/readyz", 503)
	if code, _ := get(t, ts.URL+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d while redis is down, want 200 (the process runs)", code)
	}
	rs.StartAgain()
	waitStatus(t, ts.URL+"/readyz", 200)
}

func TestServeFailsFastWithoutRedis(t *testing.T) {
	rs := redistest.Start(t)
	url := rs.URL()
	rs.Stop()
	var stderr syncBuffer
	p := &program{getenv: env(map[string]string{"LIVECART_SECRET": testSecret}), stdout: &syncBuffer{}, stderr: &stderr}
	code := p.run(t.Context(), []string{"serve", "--addr", "127.0.0.1:0", "--udp-port", "0", "--redis", url})
	if code == 0 || !strings.Contains(stderr.String(), "LIVECART_REDIS_URL") {
		t.Fatalf("serve with unreachable redis: exit %d, stderr %q; want non-zero naming LIVECART_REDIS_URL", code, stderr.String())
	}
}
