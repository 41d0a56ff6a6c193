package main

import (
	"io"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseServeTrustedProxies(t *testing.T) {
	const secret = "0123456789abcdef0123"
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    []netip.Prefix
		wantErr string
	}{
		{name: "default: none", env: map[string]string{"LIVECART_SECRET": secret}},
		{name: "env", env: map[string]string{"LIVECART_SECRET": secret, "LIVECART_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7"},
			want: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}},
		{name: "flag over env", env: map[string]string{"LIVECART_SECRET": secret, "LIVECART_TRUSTED_PROXIES": "10.0.0.0/8"},
			args: []string{"--trusted-proxies", "2001:db8::/32,::1"},
			want: []netip.Prefix{netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("::1/128")}},
		{name: "prefix with host bits", env: map[string]string{"LIVECART_SECRET": secret}, args: []string{"--trusted-proxies", "10.1.2.3/8"},
			want: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		{name: "IPv4-mapped address", env: map[string]string{"LIVECART_SECRET": secret}, args: []string{"--trusted-proxies", "::ffff:10.0.0.1"},
			want: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}},
		{name: "a host name", env: map[string]string{"LIVECART_SECRET": secret}, args: []string{"--trusted-proxies", "proxy.internal"}, wantErr: "LIVECART_TRUSTED_PROXIES"},
		{name: "a bad prefix", env: map[string]string{"LIVECART_SECRET": secret}, args: []string{"--trusted-proxies", "10.0.0.0/33"}, wantErr: `"10.0.0.0/33"`},
		{name: "one bad among good", env: map[string]string{"LIVECART_SECRET": secret, "LIVECART_TRUSTED_PROXIES": "10.0.0.0/8,10.0.0.300"}, wantErr: `"10.0.0.300"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseServe(tt.args, env(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "LIVECART_TRUSTED_PROXIES") {
					t.Fatalf("ParseServe error = %v, want one naming LIVECART_TRUSTED_PROXIES and %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseServe: %v", err)
			}
			got, err := trustedProxies(c.TrustedProxies)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("trusted proxies = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if !slices.Contains(EnvNames(), "LIVECART_TRUSTED_PROXIES") {
		t.Error("EnvNames lacks LIVECART_TRUSTED_PROXIES")
	}
}

func TestClientLimiterBounded(t *testing.T) {
	l := newClientLimiter(1, 2, 3) // one a second, burst 2, three clients
	now := timeZero()
	for _, c := range []string{"a", "b", "c"} {
		if !l.allowAt(c, now) {
			t.Fatalf("first request of %s refused", c)
		}
	}
	if l.allowAt("d", now) {
		t.Fatal("a fourth client admitted while three are active, want refused")
	}
	if !l.allowAt("a", now) || l.allowAt("a", now) {
		t.Fatal("client a: want its burst of 2, then a refusal")
	}
	later := now.Add(l.idle)
	if !l.allowAt("d", later) {
		t.Fatal("a new client refused once the others are idle")
	}
	if n := len(l.m); n > 3 {
		t.Fatalf("the limiter remembers %d clients, want at most 3", n)
	}
}

func timeZero() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
