package web_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/web"
)

// shows is a Show lookup over a fixed set of streams: "down" fails as a
// store that does not answer.
func shows(m map[string]web.Show) func(context.Context, string) (web.Show, error) {
	return func(_ context.Context, id string) (web.Show, error) {
		if id == "down" {
			return web.Show{}, errors.New("store down")
		}
		s, ok := m[id]
		if !ok {
			return web.Show{}, api.Errorf(api.NotFound, "no stream %q", id)
		}
		return s, nil
	}
}

// TestWatchPreview checks what /watch/{id} says before any script runs: the
// show's title, host and picture as Open Graph and Twitter card tags, a 404
// page for a stream that does not exist, and a plain page when the lookup
// fails.
func TestWatchPreview(t *testing.T) {
	srv := newServer(t, web.Config{Guests: true, Show: shows(map[string]web.Show{
		"spring": {Title: `Spring <drop> & "more"`, Host: "mia", Status: "live", Image: "/assets/demo/tee.svg"},
		"plain":  {Title: "No pictures", Host: "leo", Status: "offline"},
		"bad":    {Title: "Bad picture", Status: "ended", Image: "javascript:alert(1)"},
		"cdn":    {Title: "CDN", Status: "live", Image: "https://cdn.example/tee.png"},
	})})

	t.Run("a show's preview", func(t *testing.T) {
		res, body := get(t, srv.URL+"/watch/spring?token=secret", nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200", res.StatusCode)
		}
		for _, want := range []string{
			`<title>Spring &lt;drop&gt; &amp; &#34;more&#34; · livecart</title>`,
			`<meta property="og:title" content="Spring &lt;drop&gt; &amp; &#34;more&#34;">`,
			`<meta property="og:description" content="Live now with mia on livecart.">`,
			`<meta property="og:image" content="` + srv.URL + `/assets/demo/tee.svg">`,
			`<meta property="og:url" content="` + srv.URL + `/watch/spring">`,
			`<meta property="og:type" content="video.other">`,
			`<meta name="twitter:card" content="summary_large_image">`,
			`<meta name="twitter:image" content="` + srv.URL + `/assets/demo/tee.svg">`,
			`data-testid="host">with mia<`,
			`{"guests":true}`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %s", want)
			}
		}
		if strings.Contains(body, "secret") {
			t.Error("the page repeats the token of its URL")
		}
		if res.Header.Get("Content-Security-Policy") == "" || res.Header.Get("ETag") == "" {
			t.Error("page headers missing")
		}
	})

	t.Run("behind a TLS proxy", func(t *testing.T) {
		_, body := get(t, srv.URL+"/watch/spring", http.Header{"X-Forwarded-Proto": {"https"}})
		host := strings.TrimPrefix(srv.URL, "http://")
		if !strings.Contains(body, `<meta property="og:url" content="https://`+host+`/watch/spring">`) {
			t.Error("og:url is not https behind a proxy that says so")
		}
	})

	t.Run("pictures", func(t *testing.T) {
		for id, want := range map[string]string{
			"plain": "",
			"bad":   "",
			"cdn":   `<meta property="og:image" content="https://cdn.example/tee.png">`,
		} {
			_, body := get(t, srv.URL+"/watch/"+id, nil)
			if want == "" && strings.Contains(body, "og:image") {
				t.Errorf("%s: an og:image without a usable picture", id)
			}
			if want != "" && !strings.Contains(body, want) {
				t.Errorf("%s: page lacks %s", id, want)
			}
			if want == "" && !strings.Contains(body, `<meta name="twitter:card" content="summary">`) {
				t.Errorf("%s: without a picture the Twitter card is not summary", id)
			}
		}
	})

	t.Run("unknown show", func(t *testing.T) {
		res, body := get(t, srv.URL+"/watch/nope", nil)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("status %d, want 404", res.StatusCode)
		}
		if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("Content-Type %q, want a page", ct)
		}
		for _, want := range []string{`data-status="not_found"`, "Show not found", `<script type="module" src="/assets/js/watch.js">`} {
			if !strings.Contains(body, want) {
				t.Errorf("404 page lacks %s", want)
			}
		}
		if strings.Contains(body, "og:title") {
			t.Error("404 page has a preview")
		}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodHead, srv.URL+"/watch/nope", nil)
		head, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		head.Body.Close()
		if head.StatusCode != http.StatusNotFound {
			t.Errorf("HEAD status %d, want 404", head.StatusCode)
		}
	})

	t.Run("lookup fails", func(t *testing.T) {
		res, body := get(t, srv.URL+"/watch/down", nil)
		if res.StatusCode != http.StatusOK || strings.Contains(body, "og:title") || !strings.Contains(body, "/assets/js/watch.js") {
			t.Errorf("status %d: want the plain page, which asks the API itself", res.StatusCode)
		}
	})
}

// TestOrdersPage checks /orders answers the viewer's orders page.
func TestOrdersPage(t *testing.T) {
	srv := newServer(t, web.Config{})
	res, body := get(t, srv.URL+"/orders", nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `<script type="module" src="/assets/js/orders-page.js">`) || !strings.Contains(body, "My orders") {
		t.Errorf("GET /orders = %d, want the orders page", res.StatusCode)
	}
}
