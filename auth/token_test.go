package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/livecart/livecart/api"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func MustSigner(tb testing.TB, key []byte, now func() time.Time) *Signer {
	tb.Helper()
	s, err := NewSigner(key, now)
	if err != nil {
		tb.Fatalf("NewSigner: %v", err)
	}
	return s
}

func sign(tb testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	tb.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		tb.Fatalf("sign: %v", err)
	}
	return tok
}

func TestVerify(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	s := MustSigner(t, testKey, func() time.Time { return now })
	future := now.Add(time.Hour).Unix()
	good := jwt.MapClaims{"sub": "u1", "name": "Ana", "role": "viewer", "exp": future}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	// alg none: header {"alg":"none","typ":"JWT"}, no signature.
	enc := base64.RawURLEncoding.EncodeToString
	none := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(`{"sub":"u1","role":"admin","exp":`+itoa(future)+`}`)) + "."

	tests := []struct {
		name    string
		token   string
		want    *Principal
		wantErr string
	}{
		{"good", sign(t, jwt.SigningMethodHS256, testKey, good), &Principal{Sub: "u1", Name: "Ana", Role: Viewer}, ""},
		{"stream scoped", sign(t, jwt.SigningMethodHS256, testKey, with("stream", "s1")), &Principal{Sub: "u1", Name: "Ana", Role: Viewer, Stream: "s1"}, ""},
		{"name defaults to sub", sign(t, jwt.SigningMethodHS256, testKey, with("name", nil)), &Principal{Sub: "u1", Name: "u1", Role: Viewer}, ""},
		{"within leeway", sign(t, jwt.SigningMethodHS256, testKey, with("exp", now.Add(-10*time.Second).Unix())), &Principal{Sub: "u1", Name: "Ana", Role: Viewer}, ""},
		{"expired", sign(t, jwt.SigningMethodHS256, testKey, with("exp", now.Add(-time.Hour).Unix())), nil, "expired"},
		{"no exp", sign(t, jwt.SigningMethodHS256, testKey, with("exp", nil)), nil, "exp is required"},
		{"wrong key", sign(t, jwt.SigningMethodHS256, []byte("another key, another key, another"), good), nil, "bad signature"},
		{"alg none", none, nil, "HS256"},
		{"HS512", sign(t, jwt.SigningMethodHS512, testKey, good), nil, "HS256"},
		{"unknown role", sign(t, jwt.SigningMethodHS256, testKey, with("role", "superuser")), nil, "unknown role"},
		{"missing role", sign(t, jwt.SigningMethodHS256, testKey, with("role", nil)), nil, "unknown role"},
		{"missing sub", sign(t, jwt.SigningMethodHS256, testKey, with("sub", nil)), nil, "sub is required"},
		{"empty", "", nil, "token"},
		{"garbage", "not.a.token", nil, "malformed"},
		{"oversized", strings.Repeat("a", MaxTokenLen+1), nil, "longer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Verify(tt.token)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Verify = %+v, want error containing %q", got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q, want it to contain %q", err, tt.wantErr)
				}
				if !errors.Is(err, ErrUnauthorized) || api.CodeOf(err) != api.Unauthorized {
					t.Errorf("error %v: want unauthorized (code %q)", err, api.CodeOf(err))
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if *got != *tt.want {
				t.Errorf("Verify = %+v, want %+v", *got, *tt.want)
			}
		})
	}
}

func TestIssueRoundTrip(t *testing.T) {
	s := MustSigner(t, testKey, nil)
	want := Principal{Sub: "h1", Name: "Host", Role: Host, Stream: "demo"}
	tok, err := s.Issue(want, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if *got != want {
		t.Errorf("round trip = %+v, want %+v", *got, want)
	}
	for _, bad := range []Principal{{Role: Viewer}, {Sub: "x", Role: "root"}} {
		if _, err := s.Issue(bad, time.Minute); err == nil {
			t.Errorf("Issue(%+v) succeeded, want error", bad)
		}
	}
	if _, err := NewSigner(nil, nil); err == nil {
		t.Error("NewSigner(empty key) succeeded")
	}
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
