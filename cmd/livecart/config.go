package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is everything `livecart serve` is told, from flags and environment.
// Only this package reads either; the rest of livecart gets plain values.
type Config struct {
	Addr       string
	RedisURL   string
	Secret     string
	UDPPort    int
	PublicIP   string
	ICEServers []string
	// TURNSecret is coturn's static-auth-secret: with it every WHIP and
	// WHEP answer carries TURN credentials of its own that expire.
	TURNSecret     string
	AllowedOrigins []string
	// TrustedProxies are the addresses and CIDR prefixes of the reverse
	// proxies whose X-Forwarded-For names the client; empty: none, and
	// X-Forwarded-For is ignored.
	TrustedProxies []string
	// NodeURL is where the other nodes reach this one; empty: derived from
	// the host name and the port of Addr.
	NodeURL   string
	Hold      time.Duration
	RoomLines int
	Demo      bool
	Guests    bool
	LogLevel  string
	LogFormat string

	// BodyTimeout is how long a request body may take to arrive; zero
	// means DefaultBodyTimeout, the contract's 10 s. It is not a setting:
	// tests shorten it.
	BodyTimeout time.Duration
}

// DefaultBodyTimeout is how long a request body may take to arrive.
const DefaultBodyTimeout = 10 * time.Second

// setting is one flag with its environment variable and default.
type setting struct {
	flag, env, def, usage string
}

var serveSettings = []setting{
	{"addr", "LIVECART_ADDR", ":8080", "HTTP listen address (API, websocket, web pages)"},
	{"redis", "LIVECART_REDIS_URL", "", "redis:// URL; empty runs the embedded in-process stores (single node, nothing survives a restart)"},
	{"secret", "LIVECART_SECRET", "", "HS256 key for tokens; required outside --demo"},
	{"udp-port", "LIVECART_UDP_PORT", "8443", "the one UDP port all WebRTC media uses"},
	{"public-ip", "LIVECART_PUBLIC_IP", "", "address advertised in ICE candidates (NAT 1:1), e.g. the host's public IP"},
	{"ice-servers", "LIVECART_ICE_SERVERS", "", "comma-separated stun:/turn: URLs handed to clients"},
	{"turn-secret", "LIVECART_TURN_SECRET", "", "coturn's static-auth-secret (use-auth-secret): each session gets TURN credentials that expire, instead of a password in --ice-servers"},
	{"allowed-origins", "LIVECART_ALLOWED_ORIGINS", "", "comma-separated origins allowed for websocket and CORS (default: same origin only)"},
	{"trusted-proxies", "LIVECART_TRUSTED_PROXIES", "", "comma-separated IP addresses or CIDR prefixes of reverse proxies whose X-Forwarded-For names the client (default: none; X-Forwarded-For is ignored)"},
	{"node-url", "LIVECART_NODE_URL", "", "with Redis: the base URL at which the other nodes reach this node (default http://<hostname>:<port of --addr>)"},
	{"hold", "LIVECART_HOLD", "10m", "how long a cart item keeps its stock reserved (Go duration)"},
	{"room-lines", "LIVECART_ROOM_LINES", "8", "chat lines a second each viewer receives live in a busy room; the rest are sampled fairly and counted (1 to 1000)"},
	{"demo", "LIVECART_DEMO", "false", "guests on, a seeded stream \"demo\" with three products, and the URLs printed"},
	{"guests", "LIVECART_GUESTS", "false", "allow POST /api/guest (on with --demo)"},
	{"log-level", "LIVECART_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"log-format", "LIVECART_LOG_FORMAT", "auto", "json, text, or auto (text on a terminal, JSON otherwise)"},
}

// EnvNames lists every environment variable livecart reads, for the test
// that keeps deployment files honest.
func EnvNames() []string {
	names := make([]string, 0, len(serveSettings))
	for _, s := range serveSettings {
		names = append(names, s.env)
	}
	return names
}

// ParseServe reads serve's configuration: a flag wins over its environment
// variable, which wins over the default. getenv is os.Getenv in main.
func ParseServe(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("livecart serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	vals := make(map[string]*string, len(serveSettings))
	for _, s := range serveSettings {
		def := s.def
		if v, ok := lookup(getenv, s.env); ok {
			def = v
		}
		p := new(string)
		vals[s.flag] = p
		if s.def == "false" {
			// A boolean flag may be given bare: --demo.
			*p = def
			fs.Var(&boolValue{p: p}, s.flag, fmt.Sprintf("%s (env %s)", s.usage, s.env))
			continue
		}
		fs.StringVar(p, s.flag, def, fmt.Sprintf("%s (env %s)", s.usage, s.env))
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: livecart serve [flags]\n\nRuns the livecart server. Every flag also reads its environment variable; a flag wins.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var c Config
	var err error
	get := func(name string) string { return strings.TrimSpace(*vals[name]) }
	c.Addr = get("addr")
	c.RedisURL = get("redis")
	c.Secret = *vals["secret"]
	c.PublicIP = get("public-ip")
	c.ICEServers = list(get("ice-servers"))
	c.TURNSecret = *vals["turn-secret"]
	c.AllowedOrigins = list(get("allowed-origins"))
	c.TrustedProxies = list(get("trusted-proxies"))
	c.NodeURL = strings.TrimRight(get("node-url"), "/")
	c.LogLevel = get("log-level")
	c.LogFormat = get("log-format")
	if c.UDPPort, err = strconv.Atoi(get("udp-port")); err != nil {
		return Config{}, fmt.Errorf("--udp-port / LIVECART_UDP_PORT: %q is not a port number", get("udp-port"))
	}
	if c.Hold, err = time.ParseDuration(get("hold")); err != nil {
		return Config{}, fmt.Errorf("--hold / LIVECART_HOLD: %q is not a Go duration such as 10m", get("hold"))
	}
	if c.RoomLines, err = strconv.Atoi(get("room-lines")); err != nil {
		return Config{}, fmt.Errorf("--room-lines / LIVECART_ROOM_LINES: %q is not a whole number of lines such as 8", get("room-lines"))
	}
	if c.Demo, err = strconv.ParseBool(get("demo")); err != nil {
		return Config{}, fmt.Errorf("--demo / LIVECART_DEMO: %q is not true or false", get("demo"))
	}
	if c.Guests, err = strconv.ParseBool(get("guests")); err != nil {
		return Config{}, fmt.Errorf("--guests / LIVECART_GUESTS: %q is not true or false", get("guests"))
	}
	if c.Demo {
		c.Guests = true
	}
	return c, c.Validate()
}

// Validate checks the configuration as a whole.
func (c Config) Validate() error {
	var errs []error
	if c.Secret == "" && !c.Demo {
		errs = append(errs, errors.New("LIVECART_SECRET (or --secret) is required: it is the HS256 key that signs and checks every token; only --demo runs without one"))
	}
	if c.Secret != "" && len(c.Secret) < 16 {
		errs = append(errs, errors.New("LIVECART_SECRET is too short: use at least 16 bytes (32 random bytes recommended)"))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr / LIVECART_ADDR: %q is not host:port", c.Addr))
	}
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		errs = append(errs, fmt.Errorf("--udp-port / LIVECART_UDP_PORT: %d is not a port number", c.UDPPort))
	}
	if c.PublicIP != "" && net.ParseIP(c.PublicIP) == nil {
		errs = append(errs, fmt.Errorf("--public-ip / LIVECART_PUBLIC_IP: %q is not an IP address", c.PublicIP))
	}
	for _, s := range c.ICEServers {
		if !strings.HasPrefix(s, "stun:") && !strings.HasPrefix(s, "turn:") && !strings.HasPrefix(s, "turns:") {
			errs = append(errs, fmt.Errorf("--ice-servers / LIVECART_ICE_SERVERS: %q is not a stun:, turn: or turns: URL", s))
		}
	}
	if c.TURNSecret != "" && !slices.ContainsFunc(c.ICEServers, func(s string) bool { return strings.HasPrefix(s, "turn") }) {
		errs = append(errs, errors.New("--turn-secret / LIVECART_TURN_SECRET: set, but --ice-servers / LIVECART_ICE_SERVERS names no turn: server to use it with"))
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("--allowed-origins / LIVECART_ALLOWED_ORIGINS: %q is not an origin such as https://shop.example", o))
		}
	}
	if c.NodeURL != "" {
		if u, err := url.Parse(c.NodeURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--node-url / LIVECART_NODE_URL: %q is not an http(s) base URL such as http://10.0.0.7:8080", c.NodeURL))
		}
	}
	if _, err := trustedProxies(c.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	if c.BodyTimeout < 0 {
		errs = append(errs, fmt.Errorf("body timeout %s is negative", c.BodyTimeout))
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			errs = append(errs, fmt.Errorf("--redis / LIVECART_REDIS_URL: %q is not a redis:// or rediss:// URL", c.RedisURL))
		}
	}
	if c.Hold < time.Second || c.Hold > 24*time.Hour {
		errs = append(errs, fmt.Errorf("--hold / LIVECART_HOLD: %s must be between 1s and 24h", c.Hold))
	}
	if c.RoomLines < 1 || c.RoomLines > 1000 {
		errs = append(errs, fmt.Errorf("--room-lines / LIVECART_ROOM_LINES: %d must be between 1 and 1000", c.RoomLines))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level / LIVECART_LOG_LEVEL: %q is not debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "auto", "json", "text":
	default:
		errs = append(errs, fmt.Errorf("--log-format / LIVECART_LOG_FORMAT: %q is not auto, json or text", c.LogFormat))
	}
	return errors.Join(errs...)
}

// trustedProxies parses --trusted-proxies: each entry an IP address (a
// single host) or a CIDR prefix.
func trustedProxies(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, e := range entries {
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("--trusted-proxies / LIVECART_TRUSTED_PROXIES: %q is not an IP address or a CIDR prefix such as 10.0.0.0/8", e))
			continue
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, errors.Join(errs...)
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, strings.TrimSuffix(p, "/"))
		}
	}
	return out
}

// boolValue is a flag.Value that may be given bare (--demo) or with a value
// (--demo=false), keeping the text for ParseServe to check.
type boolValue struct{ p *string }

func (b *boolValue) String() string {
	if b == nil || b.p == nil {
		return "false"
	}
	return *b.p
}
func (b *boolValue) Set(v string) error { *b.p = v; return nil }
func (b *boolValue) IsBoolFlag() bool   { return true }

// nodeURL is where the other nodes reach this one: --node-url, or
// http://<hostname>:<port of addr>.
func nodeURL(cfg Config, hostname func() (string, error)) string {
	if cfg.NodeURL != "" {
		return cfg.NodeURL
	}
	host, err := hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	_, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil || port == "" {
		port = "8080"
	}
	return "http://" + net.JoinHostPort(host, port)
}
