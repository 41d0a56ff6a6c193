package stream

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/redistest"
)

func doJSON(tb testing.TB, method, url, token, body string) (*http.Response, []byte) {
	tb.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := testHTTP.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func TestCreateStream(t *testing.T) {
	r := mustRelay(t, nil)
	host := r.token(t, "host1", auth.Host)
	res, body := doJSON(t, "POST", r.srv.URL+"/api/streams", host, `{"title":"Sneaker drop"}`)
	if res.StatusCode != 201 {
		t.Fatalf("create: got %d %s", res.StatusCode, body)
	}
	var v map[string]any
	json.Unmarshal(body, &v)
	id, _ := v["id"].(string)
	if !validID(id) || v["title"] != "Sneaker drop" || v["host"] != "host1" || v["status"] != "offline" {
		t.Errorf("create: got %s", body)
	}
	if v["viewers"] != float64(0) || len(v) != 5 {
		t.Errorf("create: got %s, want id, title, host, status and viewers 0", body)
	}
	if loc := res.Header.Get("Location"); loc != "/api/streams/"+id {
		t.Errorf("Location: got %q", loc)
	}

	for _, tc := range []struct {
		name, token, body string
		status            int
		code              string
	}{
		{"no token", "", `{"title":"x"}`, 401, "unauthorized"},
		{"a viewer", r.token(t, "u", auth.Viewer), `{"title":"x"}`, 403, "forbidden"},
		{"a moderator", r.token(t, "u", auth.Moderator), `{"title":"x"}`, 403, "forbidden"},
		{"no title", host, `{"id":"x"}`, 400, "bad_request"},
		{"bad id", host, `{"id":"Bad Id","title":"x"}`, 400, "bad_request"},
		{"id too long", host, `{"id":"` + strings.Repeat("a", 65) + `","title":"x"}`, 400, "bad_request"},
		{"unknown field", host, `{"title":"x","colour":"red"}`, 400, "bad_request"},
		{"title in another case", host, `{"title":"x","Title":"y"}`, 400, "bad_request"},
		{"control character in title", host, `{"title":"a\u0007b"}`, 400, "bad_request"},
		{"bidi override in title", host, `{"title":"sale \u202Eelas"}`, 400, "bad_request"},
		{"a token for one stream", r.token(t, "h9", auth.Host, "s9"), `{"title":"x"}`, 403, "forbidden"},
		{"taken id", host, `{"id":"` + id + `","title":"x"}`, 409, "conflict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", r.srv.URL+"/api/streams", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			res, err := testHTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			wantProblem(t, res, tc.status, tc.code)
		})
	}
	res, body = doJSON(t, "POST", r.srv.URL+"/api/streams", r.token(t, "root", auth.Admin), `{"id":"by-admin","title":"x"}`)
	if res.StatusCode != 201 {
		t.Errorf("admin create: got %d %s", res.StatusCode, body)
	}
	res, _ = doJSON(t, "GET", r.srv.URL+"/api/streams/nope", "", "")
	if res.StatusCode != 404 {
		t.Errorf("GET missing: got %d", res.StatusCode)
	}
	if _, err := r.svc.StreamOwner(t.Context(), "by-admin"); err != nil {
		t.Errorf("StreamOwner: %v", err)
	}
}

// TestListStreams: live first, newest first, pages joined by cursors.
func TestListStreams(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	r := mustRelay(t, func(c *Config) {
		c.Now = func() time.Time { now = now.Add(time.Second); return now }
	})
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		r.stream(t, id, "host1")
	}
	st := r.svc.store
	st.SetStatus(t.Context(), "b", Live)
	st.SetStatus(t.Context(), "d", Live)
	st.SetStatus(t.Context(), "e", Ended)

	var got []string
	next := ""
	for pages := 0; pages < 10; pages++ {
		u := r.srv.URL + "/api/streams?limit=2"
		if next != "" {
			u += "&cursor=" + next
		}
		res, body := doJSON(t, "GET", u, "", "")
		if res.StatusCode != 200 {
			t.Fatalf("list: %d %s", res.StatusCode, body)
		}
		var page struct {
			Items []View  `json:"items"`
			Next  *string `json:"next"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Items {
			got = append(got, v.ID+":"+v.Status)
		}
		if page.Next == nil {
			break
		}
		next = *page.Next
	}
	want := "d:live b:live c:offline a:offline e:ended"
	if strings.Join(got, " ") != want {
		t.Errorf("list: got %q, want %q", strings.Join(got, " "), want)
	}
	res, _ := doJSON(t, "GET", r.srv.URL+"/api/streams?cursor=bm9wZQ", "", "")
	if res.StatusCode != 400 {
		t.Errorf("bad cursor: got %d, want 400", res.StatusCode)
	}
}

// shown is a stream as a caller of RoutesWith completes it.
type shown struct {
	View
	Pinned map[string]string `json:"pinned"`
	Lineup []string          `json:"lineup"`
}

// TestRoutesWith: every answer that carries a stream carries what the
// caller makes of its View.
func TestRoutesWith(t *testing.T) {
	r := mustRelay(t, nil)
	mux := http.NewServeMux()
	var down atomic.Bool
	RoutesWith(mux, r.svc, func(ctx context.Context, v View) (shown, error) {
		if down.Load() {
			return shown{}, api.New(api.Unavailable, "the shop is down")
		}
		return shown{View: v, Pinned: map[string]string{"sku": "tee-" + v.ID}, Lineup: []string{"tee"}}, nil
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	host := r.token(t, "host1", auth.Host)

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"create", "POST", "/api/streams", `{"id":"shop","title":"Show shop"}`, 201,
			`{"id":"shop","title":"Show shop","host":"host1","status":"offline","viewers":0,"pinned":{"sku":"tee-shop"},"lineup":["tee"]}`},
		{"get", "GET", "/api/streams/shop", "", 200,
			`{"id":"shop","title":"Show shop","host":"host1","status":"offline","viewers":0,"pinned":{"sku":"tee-shop"},"lineup":["tee"]}`},
		{"list", "GET", "/api/streams", "", 200,
			`{"items":[{"id":"shop","title":"Show shop","host":"host1","status":"offline","viewers":0,"pinned":{"sku":"tee-shop"},"lineup":["tee"]}],"next":null}`},
		{"end", "POST", "/api/streams/shop/end", "", 200,
			`{"id":"shop","title":"Show shop","host":"host1","status":"ended","viewers":0,"pinned":{"sku":"tee-shop"},"lineup":["tee"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := doJSON(t, tc.method, srv.URL+tc.path, host, tc.body)
			if res.StatusCode != tc.status || strings.TrimSpace(string(body)) != tc.want {
				t.Errorf("%s %s: got %d %s, want %d %s", tc.method, tc.path, res.StatusCode, body, tc.status, tc.want)
			}
		})
	}

	down.Store(true)
	for _, path := range []string{"/api/streams/shop", "/api/streams"} {
		res, err := testHTTP.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, res, http.StatusServiceUnavailable, "unavailable")
	}
}

// TestRedisDown: store failures are 503 unavailable with Retry-After.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	r := mustRelay(t, func(c *Config) { c.Store = NewRedisStore(rdb) })
	r.stream(t, "shop", "host1")
	res, body := doJSON(t, "GET", r.srv.URL+"/api/streams/shop", "", "")
	if res.StatusCode != 200 {
		t.Fatalf("GET with redis up: %d %s", res.StatusCode, body)
	}
	srv.Kill()
	for _, path := range []string{"/api/streams/shop", "/api/streams"} {
		req, _ := http.NewRequest("GET", r.srv.URL+path, nil)
		res, err := testHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if res.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s: no Retry-After", path)
		}
		wantProblem(t, res, http.StatusServiceUnavailable, "unavailable")
	}
	res2 := doSDP(t, "POST", r.srv.URL+"/api/streams/shop/whip", r.token(t, "host1", auth.Host), publisherOffer(t, vp8Codec))
	wantProblem(t, res2, http.StatusServiceUnavailable, "unavailable")
}
