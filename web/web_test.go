package web_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/livecart/livecart/web"
)

func newServer(t *testing.T, cfg web.Config) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	web.Routes(mux, cfg)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func TestPagesAnswerHTMLWithCSP(t *testing.T) {
	srv := newServer(t, web.Config{Guests: true})
	tests := []struct {
		path, script string
	}{
		{"/", "/assets/js/index.js"},
		{"/watch/demo", "/assets/js/watch.js"},
		{"/watch/no-such-stream", "/assets/js/watch.js"},
		{"/studio/demo", "/assets/js/studio.js"},
		{"/moderate/demo", "/assets/js/moderate.js"},
		{"/orders", "/assets/js/orders-page.js"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, body := get(t, srv.URL+tt.path+"?token=x", nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q, want text/html; charset=utf-8", got)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control = %q, want no-cache", got)
			}
			csp := res.Header.Get("Content-Security-Policy")
			for _, want := range []string{"script-src 'self'", "connect-src 'self' ws: wss:", "media-src 'self' blob:", "object-src 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("CSP %q allows unsafe script", csp)
			}
			if got := res.Header.Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("Referrer-Policy = %q, want no-referrer", got)
			}
			if !strings.Contains(body, `<script type="module" src="`+tt.script+`">`) {
				t.Errorf("page does not load %s", tt.script)
			}
			if !strings.Contains(body, `{"guests":true}`) {
				t.Errorf("page lacks its inline config; body:\n%s", body)
			}
		})
	}
}

func TestConfigReachesPages(t *testing.T) {
	srv := newServer(t, web.Config{Guests: false})
	_, body := get(t, srv.URL+"/watch/demo", nil)
	if !strings.Contains(body, `{"guests":false}`) {
		t.Errorf("inline config with guests off missing")
	}
	res, cfg := get(t, srv.URL+"/assets/config.json", nil)
	if strings.TrimSpace(cfg) != `{"guests":false}` {
		t.Errorf("/assets/config.json = %q, want {\"guests\":false}", cfg)
	}
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("config.json Access-Control-Allow-Origin = %q, want *", got)
	}
}

func TestAssetsCacheAndCORS(t *testing.T) {
	srv := newServer(t, web.Config{})
	tests := []struct {
		path, ctype string
	}{
		{"/assets/js/watch.js", "text/javascript; charset=utf-8"},
		{"/assets/js/embed-app.js", "text/javascript; charset=utf-8"},
		{"/assets/css/base.css", "text/css; charset=utf-8"},
		{"/assets/icon.svg", "image/svg+xml"},
		{"/embed.js", "text/javascript; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, _ := get(t, srv.URL+tt.path, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type = %q, want %q", got, tt.ctype)
			}
			if got := res.Header.Get("Cache-Control"); got != "public, max-age=300" {
				t.Errorf("Cache-Control = %q, want public, max-age=300", got)
			}
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin = %q, want * (the embed loads modules cross-origin)", got)
			}
			etag := res.Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			res2, body := get(t, srv.URL+tt.path, http.Header{"If-None-Match": {etag}})
			if res2.StatusCode != http.StatusNotModified || body != "" {
				t.Errorf("revalidation: status %d with %d bytes, want 304 and empty", res2.StatusCode, len(body))
			}
		})
	}
	res, _ := get(t, srv.URL+"/assets/js/nope.js", nil)
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("missing asset: status %d, want 404", res.StatusCode)
	}
}

var importRE = regexp.MustCompile(`(?m)(?:^import\s[^;]*?from\s+|^export\s[^;]*?from\s+|import\()\s*"(\./[^"]+)"`)

// TestModulesResolve checks every relative import names an embedded file, and
// that no script builds HTML from strings.
func TestModulesResolve(t *testing.T) {
	dir := filepath.Join("static", "assets", "js")
	files, err := fs.Glob(os.DirFS(dir), "*.js")
	if err != nil || len(files) == 0 {
		t.Fatalf("no modules in %s: %v", dir, err)
	}
	banned := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(`)
	for _, f := range files {
		src, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range importRE.FindAllStringSubmatch(string(src), -1) {
			if _, err := os.Stat(filepath.Join(dir, m[1])); err != nil {
				t.Errorf("%s imports %s, which does not exist", f, m[1])
			}
		}
		if loc := banned.FindIndex(src); loc != nil {
			t.Errorf("%s uses %q: text must go in through textContent/text nodes only", f, src[loc[0]:loc[1]])
		}
	}
}
