package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

var errSoldOut = New(OutOfStock, "sold out")

func TestWriteError(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   Code
		wantDetail string
		wantRetry  string
	}{
		{"sentinel wrapped", fmt.Errorf("buy sku-1: %w", errSoldOut), 409, OutOfStock, "sold out", ""},
		{"errorf", Errorf(NotInLineup, "sku %q is not in this stream's lineup", "x"), 422, NotInLineup, `sku "x" is not in this stream's lineup`, ""},
		{"errorf wraps", Errorf(Conflict, "again: %w", errSoldOut), 409, Conflict, "again: sold out", ""},
		{"unavailable", Unavailablef(errors.New("dial tcp: refused"), "the store is unavailable"), 503, Unavailable, "the store is unavailable", "1"},
		{"too large", New(TooLarge, "too big"), 413, BadRequest, "too big", ""},
		{"method not allowed", New(MethodNotAllowed, "no"), 405, BadRequest, "no", ""},
		{"request timeout", New(RequestTimeout, "slow"), 408, BadRequest, "slow", ""},
		{"unsupported media type", New(UnsupportedMediaType, "sdp"), 415, BadRequest, "sdp", ""},
		{"URI too long", New(URITooLong, "long"), 414, BadRequest, "long", ""},
		{"header too large", New(HeaderTooLarge, "big"), 431, BadRequest, "big", ""},
		{"unclassified hides text", errors.New("secret internals"), 500, Internal, "internal error", ""},
		{"every contract code", New(IdempotencyMismatch, "other body"), 422, IdempotencyMismatch, "other body", ""},
		{"rate limited", New(RateLimited, "slow down"), 429, RateLimited, "slow down", ""},
		{"stream offline", New(StreamOffline, "offline"), 404, StreamOffline, "offline", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteError(w, httptest.NewRequest("GET", "/x", nil), nil, tt.err)
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q, want application/problem+json", ct)
			}
			if got := w.Header().Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
			var raw map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			for _, k := range []string{"type", "title", "status", "detail", "code"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("body %s lacks %q", w.Body, k)
				}
			}
			if raw["code"] != string(tt.wantCode) || raw["detail"] != tt.wantDetail || int(raw["status"].(float64)) != tt.wantStatus {
				t.Errorf("body = %s, want code %q detail %q status %d", w.Body, tt.wantCode, tt.wantDetail, tt.wantStatus)
			}
		})
	}
}

func TestDecodeJSON(t *testing.T) {
	type body struct {
		Name  string `json:"name"`
		Price int64  `json:"price_cents"`
	}
	tests := []struct {
		name, ct, body string
		max            int64
		wantCode       Code
		wantDetail     string
	}{
		{name: "ok", body: `{"name":"a","price_cents":5}`},
		{name: "ok with charset", ct: "application/json; charset=utf-8", body: `{"name":"a"}`},
		{name: "unknown field", body: `{"name":"a","colour":"red"}`, wantCode: BadRequest, wantDetail: `unknown field "colour"`},
		{name: "wrong type", body: `{"price_cents":"5"}`, wantCode: BadRequest, wantDetail: `field "price_cents" must be an integer, not a string`},
		{name: "syntax", body: `{"name":`, wantCode: BadRequest, wantDetail: "unexpected end"},
		{name: "trailing", body: `{"name":"a"} {}`, wantCode: BadRequest, wantDetail: "after the JSON value"},
		{name: "empty", body: ``, wantCode: BadRequest, wantDetail: "empty"},
		{name: "too large", body: `{"name":"` + strings.Repeat("a", 100) + `"}`, max: 50, wantCode: TooLarge, wantDetail: "larger than 50 bytes"},
		{name: "content type", ct: "text/plain", body: `{}`, wantCode: UnsupportedMediaType, wantDetail: "Content-Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/x", strings.NewReader(tt.body))
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			var b body
			err := DecodeJSON(httptest.NewRecorder(), r, tt.max, &b)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("DecodeJSON: %v", err)
				}
				return
			}
			if CodeOf(err) != tt.wantCode || !strings.Contains(err.Error(), tt.wantDetail) {
				t.Fatalf("DecodeJSON error = %v (code %q), want code %q containing %q", err, CodeOf(err), tt.wantCode, tt.wantDetail)
			}
		})
	}
}

func TestPage(t *testing.T) {
	w := httptest.NewRecorder()
	WriteJSON(w, http.StatusOK, NewPage[int](nil, ""))
	if got := strings.TrimSpace(w.Body.String()); got != `{"items":[],"next":null}` {
		t.Errorf("empty page = %s", got)
	}
	w = httptest.NewRecorder()
	WriteJSON(w, http.StatusOK, NewPage([]int{1}, "c2"))
	if got := strings.TrimSpace(w.Body.String()); got != `{"items":[1],"next":"c2"}` {
		t.Errorf("page = %s", got)
	}
}
