package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// TestDemoPrintsItsKey: `serve --demo` without LIVECART_SECRET signs with a
// key it makes up, and prints it with a `token` command line, so that the
// tokens a newcomer mints in another terminal are accepted by the running
// server. A configured key is never printed.
func TestDemoPrintsItsKey(t *testing.T) {
	ts := MustServe(t, map[string]string{"LIVECART_SECRET": ""}, "--demo")
	var line []string
	e2eUntil(t, "the demo prints how to mint tokens", func() bool {
		line = regexp.MustCompile(`LIVECART_SECRET=([0-9a-f]{64}) (go run ./cmd/livecart token .*)`).FindStringSubmatch(ts.out.String())
		return line != nil
	})
	var out, errOut bytes.Buffer
	p := &program{getenv: env(map[string]string{"LIVECART_SECRET": line[1]}), stdout: &out, stderr: &errOut}
	args := strings.Fields(strings.TrimPrefix(line[2], "go run ./cmd/livecart "))
	if code := p.run(t.Context(), args); code != 0 {
		t.Fatalf("%s exited %d: %s", line[2], code, errOut.String())
	}
	tok := strings.TrimSpace(out.String())
	if code, body := apiCall(t, "GET", ts.URL+"/api/cart", tok, nil); code != 200 {
		t.Errorf("GET /api/cart with the minted token = %d %s, want 200", code, body)
	}

	configured := MustServe(t, map[string]string{"LIVECART_SECRET": testSecret}, "--demo")
	e2eUntil(t, "the demo prints its URLs", func() bool { return strings.Contains(configured.out.String(), "More tokens") })
	if strings.Contains(configured.out.String(), testSecret) {
		t.Error("the demo printed the configured LIVECART_SECRET")
	}
}
