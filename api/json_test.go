package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

type product struct {
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Stock      int    `json:"stock"`
	Variants   []struct {
		SKU   string `json:"sku"`
		Stock int    `json:"stock"`
	} `json:"variants,omitempty"`
}

func TestUnmarshalStrict(t *testing.T) {
	tests := []struct {
		name, body string
		wantDetail string // "" when the body must decode
	}{
		{"ok", `{"name":"Vase","price_cents":1200,"stock":3}`, ""},
		{"white space around", " \n{\"name\":\"Vase\"}\n\t", ""},
		{"escaped non-ASCII", `{"name":"caf\u00e9 \ud83d\ude00"}`, ""},
		{"duplicate key", `{"stock":1,"stock":1000}`, `duplicate field "stock"`},
		{"duplicate key in a nested object", `{"variants":[{"sku":"a","sku":"b"}]}`, `duplicate field "variants.0.sku"`},
		{"case-insensitive duplicate", `{"stock":1,"Stock":1000}`, `unknown field "Stock"`},
		{"key of another case", `{"Name":"Vase"}`, `unknown field "Name"`},
		{"unknown key", `{"name":"Vase","colour":"red"}`, `unknown field "colour"`},
		{"unknown nested key", `{"variants":[{"sku":"a","size":"M"}]}`, `unknown field "variants.0.size"`},
		{"invalid UTF-8", "{\"name\":\"Va\xffse\"}", "invalid UTF-8"},
		{"lone surrogate escape", `{"name":"\ud800"}`, "surrogate"},
		{"lone low surrogate escape", `{"name":"a\udc00b"}`, "surrogate"},
		{"not JSON", `this is not json {{{`, "syntax error"},
		{"empty", ``, "empty"},
		{"only white space", "  \n ", "empty"},
		{"trailing object", `{"name":"a"} {}`, "after the JSON value"},
		{"trailing garbage", `{"name":"a"}x`, "after the JSON value"},
		{"truncated", `{"name":`, "unexpected end of input"},
		{"wrong type", `{"stock":"3"}`, `field "stock" must be an integer, not a string`},
		{"fraction for an integer", `{"stock":1.5}`, `field "stock"`},
		{"array for an object", `[1]`, "the body must be an object, not an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p product
			err := Unmarshal([]byte(tt.body), &p)
			if tt.wantDetail == "" {
				if err != nil {
					t.Fatalf("Unmarshal(%q) = %v, want success", tt.body, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Unmarshal(%q) succeeded with %+v, want an error containing %q", tt.body, p, tt.wantDetail)
			}
			if CodeOf(err) != BadRequest || !strings.Contains(err.Error(), tt.wantDetail) {
				t.Fatalf("Unmarshal(%q) = %v (code %q), want code bad_request containing %q", tt.body, err, CodeOf(err), tt.wantDetail)
			}
		})
	}
}

// TestUnmarshalLikeEncodingJSON checks that the types the packages decode,
// written for encoding/json, decode to the same values as there.
func TestUnmarshalLikeEncodingJSON(t *testing.T) {
	type inner struct {
		Label string `json:"label"`
	}
	type body struct {
		SKU      string          `json:"sku"`
		Price    *int64          `json:"price_cents,omitempty"`
		EndsAt   *time.Time      `json:"ends_at,omitempty"`
		At       time.Time       `json:"at"`
		Raw      json.RawMessage `json:"raw"`
		Tags     []string        `json:"tags"`
		Meta     map[string]any  `json:"meta"`
		Variants []inner         `json:"variants,omitempty"`
		Qty      int             `json:"qty"`
		Ok       bool            `json:"ok"`
		Ratio    float64         `json:"ratio"`
		Absent   *string         `json:"absent"`
		Nulled   *int64          `json:"nulled"`
	}
	docs := []string{
		`{"sku":"tee","price_cents":900,"ends_at":"2026-05-01T12:30:00Z","at":"2026-05-01T12:30:00.123456789+02:00",
		  "raw":{"b":[1,2,{"c":null}],"a":"x"},"tags":["a","b"],"meta":{"n":1.5,"s":"x","l":[true]},
		  "variants":[{"label":"M"}],"qty":3,"ok":true,"ratio":0.25,"nulled":null}`,
		`{"sku":"","tags":[],"raw":null,"at":"2026-01-02T03:04:05-07:00"}`,
	}
	for _, doc := range docs {
		var want, got body
		if err := json.Unmarshal([]byte(doc), &want); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		if err := Unmarshal([]byte(doc), &got); err != nil {
			t.Fatalf("Unmarshal(%s): %v", doc, err)
		}
		// Times are equal as instants; json.RawMessage holds the same JSON.
		if !got.At.Equal(want.At) || (got.EndsAt == nil) != (want.EndsAt == nil) || (got.EndsAt != nil && !got.EndsAt.Equal(*want.EndsAt)) {
			t.Errorf("times: got %v %v, want %v %v", got.At, got.EndsAt, want.At, want.EndsAt)
		}
		got.At, want.At, got.EndsAt, want.EndsAt = time.Time{}, time.Time{}, nil, nil
		if string(got.Raw) != string(want.Raw) && !(len(want.Raw) == 0 && string(got.Raw) == "null") {
			t.Errorf("raw = %s, want %s", got.Raw, want.Raw)
		}
		got.Raw, want.Raw = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Unmarshal(%s)\n got  %+v\n want %+v", doc, got, want)
		}
	}
	var v struct {
		At time.Time `json:"at"`
	}
	if err := Unmarshal([]byte(`{"at":"yesterday"}`), &v); CodeOf(err) != BadRequest {
		t.Errorf("a time that is not RFC 3339: %v, want bad_request", err)
	}
}

func TestReadJSON(t *testing.T) {
	const body = `{"name":"Vase", "stock": 2}`
	r := httptest.NewRequest("POST", "/x", strings.NewReader(body))
	var p product
	raw, err := ReadJSON(httptest.NewRecorder(), r, 0, &p)
	if err != nil || string(raw) != body || p.Name != "Vase" || p.Stock != 2 {
		t.Fatalf("ReadJSON = %q, %v (%+v), want the body's bytes and the product", raw, err, p)
	}

	tests := []struct {
		name, body string
		wantErr    bool
	}{
		{"empty without v", "", false},
		{"object without v", `{"coupon":"X"}`, false},
		{"duplicate without v", `{"coupon":"X","coupon":"Y"}`, true},
		{"invalid UTF-8 without v", "{\"coupon\":\"\xff\"}", true},
		{"not JSON without v", `coupon=X`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/x", strings.NewReader(tt.body))
			raw, err := ReadJSON(httptest.NewRecorder(), r, 0, nil)
			if tt.wantErr {
				if CodeOf(err) != BadRequest {
					t.Fatalf("ReadJSON(%q, nil) = %v, want bad_request", tt.body, err)
				}
				return
			}
			if err != nil || string(raw) != tt.body {
				t.Fatalf("ReadJSON(%q, nil) = %q, %v", tt.body, raw, err)
			}
		})
	}
}

// timeoutReader fails as a body read past the connection's deadline does.
type timeoutReader struct{}

func (timeoutReader) Read([]byte) (int, error) { return 0, os.ErrDeadlineExceeded }

type netTimeout struct{}

func (netTimeout) Error() string   { return "i/o timeout" }
func (netTimeout) Timeout() bool   { return true }
func (netTimeout) Temporary() bool { return true }

type netTimeoutReader struct{}

func (netTimeoutReader) Read([]byte) (int, error) { return 0, netTimeout{} }

type brokenReader struct{}

func (brokenReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestReadBodyErrors(t *testing.T) {
	tests := []struct {
		name       string
		body       io.Reader
		wantStatus int
	}{
		{"deadline", timeoutReader{}, http.StatusRequestTimeout},
		{"net timeout", netTimeoutReader{}, http.StatusRequestTimeout},
		{"broken", brokenReader{}, http.StatusBadRequest},
		{"too large", strings.NewReader(strings.Repeat("x", 100)), http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/x", tt.body)
			_, err := ReadBody(httptest.NewRecorder(), r, 10)
			p := ProblemOf(err)
			if p.Status != tt.wantStatus || p.Code != BadRequest {
				t.Fatalf("ReadBody error %v = %d %s, want %d bad_request", err, p.Status, p.Code, tt.wantStatus)
			}
		})
	}
}

func TestPageLimit(t *testing.T) {
	tests := []struct {
		query   string
		want    int
		wantErr bool
	}{
		{"", 50, false},
		{"limit=1", 1, false},
		{"limit=100", 100, false},
		{"limit=0", 0, true},
		{"limit=101", 0, true},
		{"limit=-1", 0, true},
		{"limit=ten", 0, true},
		{"limit=", 50, false},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, err := PageLimit(httptest.NewRequest("GET", "/x?"+tt.query, nil))
			if tt.wantErr {
				if CodeOf(err) != BadRequest {
					t.Fatalf("PageLimit(%q) = %d, %v; want bad_request", tt.query, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("PageLimit(%q) = %d, %v; want %d", tt.query, got, err, tt.want)
			}
		})
	}
}
