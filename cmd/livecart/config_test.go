package main

import (
	"io"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseServePrecedence(t *testing.T) {
	const secret = "0123456789abcdef0123"
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want func(c *Config)
	}{
		{"defaults", map[string]string{"LIVECART_SECRET": secret}, nil, func(c *Config) {}},
		{"env over default", map[string]string{"LIVECART_SECRET": secret, "LIVECART_ADDR": "127.0.0.1:9000", "LIVECART_HOLD": "90s", "LIVECART_UDP_PORT": "9443"},
			nil, func(c *Config) { c.Addr = "127.0.0.1:9000"; c.Hold = 90 * time.Second; c.UDPPort = 9443 }},
		{"flag over env", map[string]string{"LIVECART_SECRET": secret, "LIVECART_ADDR": "127.0.0.1:9000", "LIVECART_HOLD": "90s"},
			[]string{"--addr", ":7000", "--hold=2m"}, func(c *Config) { c.Addr = ":7000"; c.Hold = 2 * time.Minute }},
		{"lists", map[string]string{"LIVECART_SECRET": secret, "LIVECART_ICE_SERVERS": "stun:stun.example:3478, turn:t.example:3478"},
			[]string{"--allowed-origins", "https://shop.example/,https://b.example"}, func(c *Config) {
				c.ICEServers = []string{"stun:stun.example:3478", "turn:t.example:3478"}
				c.AllowedOrigins = []string{"https://shop.example", "https://b.example"}
			}},
		{"demo turns guests on", nil, []string{"--demo"}, func(c *Config) { c.Secret = ""; c.Demo = true; c.Guests = true }},
		{"bool env, flag wins", map[string]string{"LIVECART_SECRET": secret, "LIVECART_GUESTS": "true"}, []string{"--guests=false"}, func(c *Config) {}},
		{"bool env", map[string]string{"LIVECART_SECRET": secret, "LIVECART_GUESTS": "1"}, nil, func(c *Config) { c.Guests = true }},
		{"secret flag over env", map[string]string{"LIVECART_SECRET": "short"}, []string{"--secret", secret}, func(c *Config) {}},
		{"room lines", map[string]string{"LIVECART_SECRET": secret, "LIVECART_ROOM_LINES": "20"}, []string{"--room-lines", "12"}, func(c *Config) { c.RoomLines = 12 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseServe(tt.args, env(tt.env), io.Discard)
			if err != nil {
				t.Fatalf("ParseServe: %v", err)
			}
			want := Config{Addr: ":8080", Secret: secret, UDPPort: 8443, Hold: 10 * time.Minute, RoomLines: 8, LogLevel: "info", LogFormat: "auto"}
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseServeErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no secret outside demo", nil, nil, "LIVECART_SECRET"},
		{"short secret", map[string]string{"LIVECART_SECRET": "abc"}, nil, "too short"},
		{"bad hold", map[string]string{"LIVECART_SECRET": "0123456789abcdef", "LIVECART_HOLD": "ten minutes"}, nil, "LIVECART_HOLD"},
		{"bad port", nil, []string{"--demo", "--udp-port", "x"}, "LIVECART_UDP_PORT"},
		{"bad ip", nil, []string{"--demo", "--public-ip", "example.com"}, "LIVECART_PUBLIC_IP"},
		{"bad ice", nil, []string{"--demo", "--ice-servers", "http://x"}, "LIVECART_ICE_SERVERS"},
		{"bad origin", nil, []string{"--demo", "--allowed-origins", "shop.example"}, "LIVECART_ALLOWED_ORIGINS"},
		{"bad redis", nil, []string{"--demo", "--redis", "localhost:6379"}, "LIVECART_REDIS_URL"},
		{"bad bool", map[string]string{"LIVECART_DEMO": "yes please"}, nil, "LIVECART_DEMO"},
		{"bad room lines", nil, []string{"--demo", "--room-lines", "eight"}, "LIVECART_ROOM_LINES"},
		{"no room lines", nil, []string{"--demo", "--room-lines", "0"}, "LIVECART_ROOM_LINES"},
		{"stray argument", nil, []string{"--demo", "extra"}, "unexpected argument"},
		{"unknown flag", nil, []string{"--nope"}, "not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseServe(tt.args, env(tt.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseServe error = %v, want one naming %q", err, tt.want)
			}
		})
	}
}

// TestTuneGC: a server collects at gcPercent unless GOGC is set, which it
// leaves as it is.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	debug.SetGCPercent(100)
	if got := tuneGC(func(string) string { return "" }); got != gcPercent {
		t.Errorf("without GOGC: %d, want %d", got, gcPercent)
	}
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("without GOGC the collector runs at %d, want %d", got, gcPercent)
	}
	debug.SetGCPercent(300)
	if got := tuneGC(func(k string) string { return map[string]string{"GOGC": "300"}[k] }); got != 300 {
		t.Errorf("with GOGC=300: %d", got)
	}
	if got := debug.SetGCPercent(100); got != 300 {
		t.Errorf("with GOGC=300 the collector runs at %d", got)
	}
}
