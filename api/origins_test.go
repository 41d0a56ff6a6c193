package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseOrigin(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "https://shop.example", want: "https://shop.example"},
		{in: "HTTPS://Shop.Example", want: "https://shop.example"},
		{in: "https://shop.example/", want: "https://shop.example"},
		{in: "https://shop.example:443", want: "https://shop.example"},
		{in: "http://shop.example:80", want: "http://shop.example"},
		{in: "http://shop.example:443", want: "http://shop.example:443"},
		{in: "http://localhost:8080", want: "http://localhost:8080"},
		{in: "http://[::1]:8080", want: "http://[::1]:8080"},
		{in: "https://[2001:DB8::1]:443", want: "https://[2001:db8::1]"},
		{in: "capacitor://localhost", want: "capacitor://localhost"},
		{in: "shop.example", wantErr: true},
		{in: "null", wantErr: true},
		{in: "https://shop.example/path", wantErr: true},
		{in: "https://user@shop.example", wantErr: true},
		{in: "https://shop.example?q=1", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseOrigin(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseOrigin(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestOriginsAllowed(t *testing.T) {
	listed := NewOrigins([]string{"https://Shop.Example/", "http://localhost:3000", "not an origin"})
	tests := []struct {
		name   string
		o      *Origins
		host   string
		origin string
		want   bool
	}{
		{"no Origin: not a browser", listed, "live.example", "", true},
		{"same origin", listed, "live.example", "https://live.example", true},
		{"same origin, other case", listed, "Live.Example", "https://LIVE.example", true},
		{"same origin with a port", listed, "localhost:8080", "http://localhost:8080", true},
		{"same origin, default port in Host", listed, "live.example:443", "https://live.example", true},
		{"same host, other port", listed, "localhost:8080", "http://localhost:8081", false},
		{"listed", listed, "live.example", "https://shop.example", true},
		{"listed, written otherwise", listed, "live.example", "https://SHOP.example:443", true},
		{"listed with a port", listed, "live.example", "http://localhost:3000", true},
		{"listed host, other scheme", listed, "live.example", "http://shop.example", false},
		{"listed host, other port", listed, "live.example", "https://shop.example:8443", false},
		{"not listed", listed, "live.example", "https://evil.example", false},
		{"suffix of a listed host", listed, "live.example", "https://evilshop.example", false},
		{"listed host as a prefix", listed, "live.example", "https://shop.example.evil.example", false},
		{"null origin", listed, "live.example", "null", false},
		{"garbage", listed, "live.example", "::::", false},
		{"any", NewOrigins([]string{"*"}), "live.example", "https://evil.example", true},
		{"any, null origin", NewOrigins([]string{"*"}), "live.example", "null", true},
		{"empty list: same origin only", NewOrigins(nil), "live.example", "https://shop.example", false},
		{"empty list, same origin", NewOrigins(nil), "live.example", "https://live.example", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/streams/s/ws", nil)
			r.Host = tt.host
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if got := tt.o.Allowed(r); got != tt.want {
				t.Errorf("Allowed(Origin %q, Host %q) = %v, want %v", tt.origin, tt.host, got, tt.want)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	const shop = "https://shop.example"
	o := NewOrigins([]string{shop})
	open := func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/whep") }
	var reached bool
	h := o.CORS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = true
		if r.Method == http.MethodOptions {
			w.Header().Set("Accept-Post", "application/sdp")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Location", "/x")
		w.WriteHeader(http.StatusCreated)
	}), open)
	do := func(method, path, origin string, hdr ...string) *httptest.ResponseRecorder {
		reached = false
		r := httptest.NewRequest(method, path, nil)
		r.Host = "live.example"
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	w := do("OPTIONS", "/api/streams", shop, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type,idempotency-key")
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != shop || w.Header().Get("Access-Control-Max-Age") != "600" ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "POST") || !strings.Contains(strings.ToLower(w.Header().Get("Access-Control-Allow-Headers")), "idempotency-key") {
		t.Errorf("preflight from %s = %d %v, want 204 allowing it", shop, w.Code, w.Header())
	}

	w = do("OPTIONS", "/api/streams", "https://evil.example", "Access-Control-Request-Method", "POST")
	if w.Code != 403 || w.Header().Get("Content-Type") != "application/problem+json" || w.Header().Get("Access-Control-Allow-Origin") != "" || reached {
		t.Errorf("preflight from another origin = %d %v (reached %v), want 403 problem+json without CORS headers", w.Code, w.Header(), reached)
	}

	w = do("OPTIONS", "/api/streams/s/whep", "https://evil.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "https://evil.example" || w.Header().Get("Accept-Post") == "" || !reached {
		t.Errorf("WHEP preflight from any origin = %d %v, want 204 from the route's OPTIONS handler with CORS", w.Code, w.Header())
	}

	w = do("POST", "/api/streams", shop)
	if w.Code != 201 || w.Header().Get("Access-Control-Allow-Origin") != shop || !strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "Location") {
		t.Errorf("POST from %s = %d %v, want 201 with CORS exposing Location", shop, w.Code, w.Header())
	}

	w = do("GET", "/api/streams", "https://evil.example")
	if w.Code != 201 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET from another origin = %d %v, want served without CORS headers", w.Code, w.Header())
	}

	w = do("POST", "/api/streams/s/whep", "https://evil.example")
	if w.Header().Get("Access-Control-Allow-Origin") != "https://evil.example" {
		t.Errorf("WHEP POST from any origin: headers %v, want Access-Control-Allow-Origin", w.Header())
	}

	w = do("GET", "/api/streams", "https://live.example")
	if w.Header().Get("Access-Control-Allow-Origin") != "https://live.example" {
		t.Errorf("same-origin GET: headers %v, want Access-Control-Allow-Origin", w.Header())
	}
}
