package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

func init() {
	register("room", "live room fan-out: N websocket viewers, viewers and a host posting, delivery per viewer, latency and server cost", runRoom)
}

// roomConfig holds the room mode's flags.
type roomConfig struct {
	urls          []string
	viewers       int
	rate          float64
	senders       int
	hostRate      float64
	questionEvery time.Duration
	budget        int
	token         string
	secret        string
	duration      time.Duration
	slowFrac      float64
	pid           int
	sku           string
	buyRate       float64
	pinEvery      time.Duration
	perAddress    int
	rooms         int
	create        bool
}

func runRoom(ctx context.Context, args []string, stdout io.Writer) error {
	var c roomConfig
	fs := flag.NewFlagSet("room", flag.ContinueOnError)
	wsURL := fs.String("url", "", "room URL, ws://HOST/api/streams/ID/ws (required); several, comma-separated, spread the viewers over them (nodes) and the posters use the first; with --rooms, ID holds {room}")
	fs.IntVar(&c.viewers, "viewers", 1000, "websocket viewers that only read (anonymous)")
	fs.Float64Var(&c.rate, "rate", 10, "chat lines per second: posted by the host when --senders is 0, else by the --senders signed-in viewers together")
	fs.IntVar(&c.senders, "senders", 0, "signed-in viewers that post --rate lines a second between them, in turn (each at most 1 a second: the room's default rate limit); they also read, and check that each of their own lines comes back. Needs --secret")
	fs.Float64Var(&c.hostRate, "host-rate", 1, "with --senders: the host's own chat lines per second (never dropped by a busy room)")
	fs.DurationVar(&c.questionEvery, "question-every", 0, "with --senders: a viewer asks a question at this interval and the host answers it at once (answers are never dropped); 0: never")
	fs.IntVar(&c.budget, "budget", 8, "the server's chat lines per viewer per second (LIVECART_ROOM_LINES), for the report's check")
	fs.StringVar(&c.token, "token", "", "token of a host or moderator of the stream (exempt from rate limits); default: minted with --secret for sub host1")
	fs.StringVar(&c.secret, "secret", os.Getenv("LIVECART_SECRET"), "HS256 secret to mint the senders' (and the host's) tokens (default $LIVECART_SECRET)")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "how long to publish (or, with no lines to post, to stay idle)")
	fs.Float64Var(&c.slowFrac, "slow-fraction", 0, "fraction of viewers that stop reading (0..1)")
	fs.IntVar(&c.pid, "pid", 0, "server process id, to read its CPU and memory from /proc (same machine)")
	fs.StringVar(&c.sku, "sku", "", "product in the stream's lineup, for --buy-rate and --pin-every")
	fs.Float64Var(&c.buyRate, "buy-rate", 0, "buys per second of --sku by the host over HTTP (each an order and a stock event in the room)")
	fs.DurationVar(&c.pinEvery, "pin-every", 0, "pin --sku, then unpin it, alternately at this interval (a card event each); 0: never")
	fs.IntVar(&c.perAddress, "per-address", 60, "connections per source address when the server is on loopback (127.1.x.y), under the server's 64 per client address; 0: the default source")
	fs.IntVar(&c.rooms, "rooms", 1, "streams to spread the viewers over, round-robin: {room} in --url becomes r0, r1, …; the posters use r0")
	fs.BoolVar(&c.create, "create", false, "create the --rooms streams first (POST /api/streams as the host; existing ones are kept)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *wsURL == "" {
		return errors.New("--url is required")
	}
	c.urls = strings.Split(*wsURL, ",")
	if c.rooms > 1 && !strings.Contains(*wsURL, "{room}") {
		return errors.New("--rooms needs {room} in --url")
	}
	if c.token == "" {
		if c.secret == "" {
			return errors.New("give --token, or --secret (or LIVECART_SECRET) to mint one")
		}
		tok, err := floodToken(c.secret, "host1", "host")
		if err != nil {
			return err
		}
		c.token = tok
	}
	if c.senders > 0 {
		if c.secret == "" {
			return errors.New("--senders needs --secret (or LIVECART_SECRET) to mint the senders' tokens")
		}
		if c.rate > float64(c.senders) {
			return fmt.Errorf("--rate %.0f with %d senders: each would post more than once a second (the room's rate limit); give at least %.0f senders", c.rate, c.senders, c.rate)
		}
	}
	if (c.buyRate > 0 || c.pinEvery > 0) && c.sku == "" {
		return errors.New("--buy-rate and --pin-every need --sku")
	}
	raiseFDLimit()
	if c.create {
		if err := createRooms(ctx, c); err != nil {
			return err
		}
	}
	return roomRun(ctx, c, stdout)
}

// roomURL is the URL of the i-th viewer: nodes round-robin, and with
// --rooms its stream, round-robin too.
func (c *roomConfig) roomURL(i int) string {
	return c.nodeRoom(i%len(c.urls), i%max(1, c.rooms))
}

// nodeRoom is the URL of stream r (with --rooms) on the n-th node.
func (c *roomConfig) nodeRoom(n, r int) string {
	return strings.ReplaceAll(c.urls[n], "{room}", "r"+strconv.Itoa(r))
}

// dialer returns the dialer of the i-th connection: from its own loopback
// source address when the server is on loopback, so that no address holds
// more than --per-address connections.
func (c *roomConfig) dialer(i int) *websocket.Dialer {
	d := &websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	u, err := url.Parse(c.urls[0])
	if err != nil || c.perAddress <= 0 {
		return d
	}
	ip, err := netip.ParseAddr(u.Hostname())
	if err != nil || !ip.IsLoopback() || !ip.Is4() {
		return d
	}
	nd := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(roomSource(i, c.perAddress), 0)), Timeout: 10 * time.Second}
	d.NetDialContext = nd.DialContext
	return d
}

// roomSource is the loopback source address of the i-th connection when
// each address holds at most per: 127.1.0.1, 127.1.0.2, … (250 a block).
func roomSource(i, per int) netip.Addr {
	n := i / per
	return netip.AddrFrom4([4]byte{127, 1, byte(n / 250), byte(1 + n%250)})
}

// createRooms creates the streams of --rooms (or the one of --url) as the
// host; a stream that exists already is kept.
func createRooms(ctx context.Context, c roomConfig) error {
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range max(1, c.rooms) {
		u, err := url.Parse(c.nodeRoom(0, i))
		if err != nil {
			return err
		}
		id := strings.TrimSuffix(strings.TrimPrefix(u.Path, "/api/streams/"), "/ws")
		u.Scheme = strings.Replace(strings.Replace(u.Scheme, "wss", "https", 1), "ws", "http", 1)
		u.Path, u.RawQuery = "/api/streams", ""
		body, _ := json.Marshal(map[string]string{"id": id, "title": "room " + id})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(string(body)))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("creating stream %s: %w", id, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusConflict {
			return fmt.Errorf("creating stream %s: %s", id, res.Status)
		}
	}
	return nil
}

func roomRun(ctx context.Context, c roomConfig, stdout io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := newRoomStats()
	before, _ := procStat(c.pid)
	goroutines0 := roomMetric(c.urls, "go_goroutines")
	mem0 := roomMemory(c.urls)
	var wg sync.WaitGroup
	nslow := int(float64(c.viewers) * c.slowFrac)
	connected := 0
	for i := range c.viewers {
		conn, _, err := c.dialer(i).DialContext(ctx, c.roomURL(i), nil)
		if err != nil {
			fmt.Fprintf(stdout, "viewer %d: %v (continuing with %d)\n", i, err, connected)
			break
		}
		connected++
		if i < nslow {
			wg.Go(func() { idleRoom(ctx, conn) })
			continue
		}
		v := st.newViewer()
		wg.Go(func() { v.read(ctx, conn, st) })
	}
	afterConnect, _ := procStat(c.pid)
	goroutines1 := roomMetric(c.urls, "go_goroutines")
	mem1 := roomMemory(c.urls)
	fmt.Fprintf(stdout, "%d viewers connected (%d not reading) to %d room(s)\n", connected, nslow, max(1, c.rooms))

	selfStart := procSelf()
	drops0 := roomMetric(c.urls, "livecart_room_slow_drops_total")
	written0 := roomMetric(c.urls, "livecart_room_messages_sent_total")
	frames0 := roomMetric(c.urls, "livecart_room_frames_sent_total")
	posters, err := newRoomPosters(ctx, c, st, &wg)
	if err != nil {
		return err
	}
	var buys roomBuys
	if c.buyRate > 0 {
		bctx, stopBuys := context.WithTimeout(ctx, c.duration)
		defer stopBuys()
		wg.Go(func() { buys.run(bctx, c.roomURL(0), c.token, c.sku, c.buyRate) })
	}
	if err := posters.run(ctx, c); err != nil {
		return err
	}
	// Give the last lines a moment to arrive, then stop.
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
	}
	elapsed := time.Since(st.start)
	after, _ := procStat(c.pid)
	self := procSelf() - selfStart
	drops := roomMetric(c.urls, "livecart_room_slow_drops_total") - drops0
	written := roomMetric(c.urls, "livecart_room_messages_sent_total") - written0
	frames := roomMetric(c.urls, "livecart_room_frames_sent_total") - frames0
	cancel()
	wg.Wait()

	posted := posters.counts()
	st.report(stdout, c, posted, elapsed)
	if c.buyRate > 0 || c.pinEvery > 0 {
		fmt.Fprintf(stdout, "events: %d pins/unpins, %d buys placed (%d failed); %d product/stock/order messages delivered\n",
			posters.pins, buys.ok.Load(), buys.failed.Load(), st.events.Load())
	}
	fmt.Fprintf(stdout, "servers' /metrics: %d messages in %d frames written to websockets, %d slow-reader drops (1013); goroutines %d before, %d with the viewers; load tool CPU: %.1f%% of one core\n",
		written, frames, drops, goroutines0, goroutines1, 100*self/elapsed.Seconds())
	if c.pid > 0 && before.ok && after.ok {
		cpu := after.cpuSeconds - afterConnect.cpuSeconds
		fmt.Fprintf(stdout, "server CPU: %.2f core-seconds in %v (%.1f%% of one core)", cpu, elapsed.Round(time.Millisecond), 100*cpu/elapsed.Seconds())
		if all := st.lines.Load() + st.events.Load(); all > 0 {
			fmt.Fprintf(stdout, "; %.2f core-seconds per million deliveries (chat lines, questions, answers and events)", cpu/float64(all)*1e6)
		}
		fmt.Fprintln(stdout)
		if connected > 0 && mem0.ok && mem1.ok {
			per := func(a, b int64) float64 { return float64(b-a) / 1024 / float64(connected) }
			fmt.Fprintf(stdout, "server Go memory per connection (/metrics, after a GC cycle or more): heap in use %.1f KiB, goroutine stacks %.1f KiB\n",
				per(mem0.heap, mem1.heap), per(mem0.stack, mem1.stack))
		}
		if connected > 0 {
			fmt.Fprintf(stdout, "server RSS: %.1f MiB before, %.1f MiB with viewers: %.1f KiB per connection; %.1f MiB at the end (%.1f KiB per connection)\n",
				float64(before.rss)/(1<<20), float64(afterConnect.rss)/(1<<20),
				float64(afterConnect.rss-before.rss)/1024/float64(connected),
				float64(after.rss)/(1<<20), float64(after.rss-before.rss)/1024/float64(connected))
		}
	}
	return nil
}

// idleRoom holds a connection open without reading it.
func idleRoom(ctx context.Context, conn *websocket.Conn) {
	<-ctx.Done()
	conn.Close()
}

func withToken(u, token string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := p.Query()
	q.Set("token", token)
	p.RawQuery = q.Encode()
	return p.String()
}

// raiseFDLimit lifts the open-files soft limit to the hard limit, for
// thousands of connections.
func raiseFDLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

type procSample struct {
	ok         bool
	cpuSeconds float64
	rss        int64
}

// procStat reads a process's CPU time (user+system) and RSS from /proc.
func procStat(pid int) (procSample, error) {
	if pid <= 0 {
		return procSample{}, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procSample{}, err
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 22 {
		return procSample{}, errors.New("short /proc stat")
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	rssPages, _ := strconv.ParseInt(f[21], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return procSample{ok: true, cpuSeconds: (utime + stime) / clkTck, rss: rssPages * int64(os.Getpagesize())}, nil
}

// roomBuys places buys at a steady rate over HTTP, for the order and stock
// events they send to the room.
type roomBuys struct{ ok, failed atomic.Int64 }

func (b *roomBuys) run(ctx context.Context, wsURL, token, sku string, rate float64) {
	base := strings.Replace(strings.Replace(wsURL, "ws://", "http://", 1), "wss://", "https://", 1)
	endpoint := strings.TrimSuffix(base[:strings.LastIndex(base, "/ws")], "/") + "/buy"
	body, _ := json.Marshal(map[string]any{"sku": sku, "qty": 1})
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		inflight.Go(func() {
			if tap(ctx, client, endpoint, token, body) == "201" {
				b.ok.Add(1)
			} else if ctx.Err() == nil {
				b.failed.Add(1)
			}
		})
	}
}

// roomMetric sums a metric over the nodes of the room URLs (-1 when a
// node's /metrics cannot be read).
func roomMetric(wsURLs []string, name string) int64 {
	var sum int64
	for _, u := range wsURLs {
		p, err := url.Parse(u)
		if err != nil {
			return -1
		}
		p.Scheme = strings.Replace(strings.Replace(p.Scheme, "wss", "https", 1), "ws", "http", 1)
		p.Path, p.RawQuery = "/metrics", ""
		res, err := http.Get(p.String())
		if err != nil {
			return -1
		}
		data, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for line := range strings.SplitSeq(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, name+" "); ok {
				n, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
				sum += int64(n)
			}
		}
	}
	return sum
}

// roomMem is the Go memory of the servers, from /metrics.
type roomMem struct {
	ok          bool
	heap, stack int64
}

func roomMemory(urls []string) roomMem {
	h := roomMetric(urls, "go_memstats_heap_inuse_bytes")
	s := roomMetric(urls, "go_memstats_stack_inuse_bytes")
	return roomMem{ok: h > 0 && s > 0, heap: h, stack: s}
}

// procSelf is this process's CPU time (user+system) in seconds.
func procSelf() float64 {
	s, _ := procStat(os.Getpid())
	return s.cpuSeconds
}
