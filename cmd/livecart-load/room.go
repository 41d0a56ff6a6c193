package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

func init() {
	register("room", "live room fan-out: N websocket viewers, one sender, latency and server cost", runRoom)
}

// roomStats is what the viewers measure, shared by their goroutines.
type roomStats struct {
	delivered atomic.Int64
	events    atomic.Int64 // product, stock and order messages
	dropped   atomic.Int64 // viewers closed by the server
	mu        sync.Mutex
	latencies []time.Duration // sampled publish-to-receive
}

func runRoom(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("room", flag.ContinueOnError)
	wsURL := fs.String("url", "", "room URL, ws://HOST/api/streams/ID/ws (required); several, comma-separated, spread the viewers over them (nodes) and the sender uses the first")
	viewers := fs.Int("viewers", 1000, "websocket viewers")
	rate := fs.Float64("rate", 10, "chat lines per second published by the sender")
	token := fs.String("token", "", "token of a host or moderator of the stream, for the sender (exempt from rate limits)")
	duration := fs.Duration("duration", 30*time.Second, "how long to publish")
	slowFrac := fs.Float64("slow-fraction", 0, "fraction of viewers that stop reading (0..1)")
	pid := fs.Int("pid", 0, "server process id, to read its CPU and memory from /proc (same machine)")
	sku := fs.String("sku", "", "product in the stream's lineup, for --buy-rate and --pin-every")
	buyRate := fs.Float64("buy-rate", 0, "buys per second of --sku by the sender over HTTP (each an order and a stock event in the room)")
	pinEvery := fs.Duration("pin-every", 0, "pin --sku, then unpin it, alternately at this interval (a card event each); 0: never")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *wsURL == "" || *token == "" {
		return errors.New("--url and --token are required")
	}
	if (*buyRate > 0 || *pinEvery > 0) && *sku == "" {
		return errors.New("--buy-rate and --pin-every need --sku")
	}
	urls := strings.Split(*wsURL, ",")
	raiseFDLimit()
	st := &roomStats{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	before, _ := procStat(*pid)
	var wg sync.WaitGroup
	nslow := int(float64(*viewers) * *slowFrac)
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	connected := 0
	for i := range *viewers {
		conn, _, err := d.DialContext(ctx, urls[i%len(urls)], nil)
		if err != nil {
			fmt.Fprintf(stdout, "viewer %d: %v (continuing with %d)\n", i, err, connected)
			break
		}
		connected++
		slow := i < nslow
		wg.Go(func() { viewRoom(ctx, conn, slow, st) })
	}
	afterConnect, _ := procStat(*pid)
	fmt.Fprintf(stdout, "%d viewers connected (%d not reading)\n", connected, nslow)

	selfStart := procSelf()
	drops0 := roomMetric(urls, "livecart_room_slow_drops_total")
	sent0 := roomMetric(urls, "livecart_room_messages_sent_total")
	sender, _, err := d.DialContext(ctx, withToken(urls[0], *token), nil)
	if err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	defer sender.Close()
	go func() { // the sender's own messages are read and dropped
		for {
			if _, _, err := sender.ReadMessage(); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
	sent, pins := 0, 0
	var pinC <-chan time.Time
	if *pinEvery > 0 {
		pt := time.NewTicker(*pinEvery)
		defer pt.Stop()
		pinC = pt.C
	}
	var buys roomBuys
	if *buyRate > 0 {
		bctx, stopBuys := context.WithTimeout(ctx, *duration)
		defer stopBuys()
		wg.Go(func() { buys.run(bctx, urls[0], *token, *sku, *buyRate) })
	}
	end := time.After(*duration)
publish:
	for {
		select {
		case <-ctx.Done():
			break publish
		case <-end:
			break publish
		case <-pinC:
			pin := ""
			if pins%2 == 0 {
				pin = *sku
			}
			pins++
			msg, _ := json.Marshal(map[string]string{"type": "pin", "sku": pin})
			_ = sender.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := sender.WriteMessage(websocket.TextMessage, msg); err != nil {
				return fmt.Errorf("sender: %w", err)
			}
		case <-tick.C:
			msg, _ := json.Marshal(map[string]string{"type": "chat", "text": "t=" + strconv.FormatInt(time.Now().UnixNano(), 10)})
			_ = sender.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := sender.WriteMessage(websocket.TextMessage, msg); err != nil {
				return fmt.Errorf("sender: %w", err)
			}
			sent++
		}
	}
	tick.Stop()
	// Give the last lines a moment to arrive, then stop.
	drain := time.NewTimer(2 * time.Second)
	select {
	case <-drain.C:
	case <-ctx.Done():
	}
	elapsed := time.Since(start)
	after, _ := procStat(*pid)
	self := procSelf() - selfStart
	drops := roomMetric(urls, "livecart_room_slow_drops_total") - drops0
	written := roomMetric(urls, "livecart_room_messages_sent_total") - sent0
	cancel()
	wg.Wait()

	n := st.delivered.Load()
	fmt.Fprintf(stdout, "published %d lines in %v; %d deliveries (%.0f/s); %d viewers dropped by the server\n",
		sent, elapsed.Round(time.Millisecond), n, float64(n)/elapsed.Seconds(), st.dropped.Load())
	st.mu.Lock()
	lat := slices.Clone(st.latencies)
	st.mu.Unlock()
	if len(lat) > 0 {
		slices.Sort(lat)
		fmt.Fprintf(stdout, "publish-to-receive: p50 %v  p99 %v  max %v (%d samples)\n",
			pct(lat, 0.50), pct(lat, 0.99), lat[len(lat)-1], len(lat))
	}
	if *buyRate > 0 || *pinEvery > 0 {
		fmt.Fprintf(stdout, "events: %d pins/unpins, %d buys placed (%d failed); %d product/stock/order messages delivered\n",
			pins, buys.ok.Load(), buys.failed.Load(), st.events.Load())
	}
	fmt.Fprintf(stdout, "servers' /metrics: %d messages written to websockets, %d slow-reader drops (1013); load tool CPU: %.1f%% of one core\n",
		written, drops, 100*self/elapsed.Seconds())
	if *pid > 0 && before.ok && after.ok {
		cpu := after.cpuSeconds - afterConnect.cpuSeconds
		if all := n + st.events.Load(); all > 0 {
			fmt.Fprintf(stdout, "server CPU: %.2f core-seconds while publishing; %.2f core-seconds per million deliveries (chat lines and events)\n", cpu, cpu/float64(all)*1e6)
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

// viewRoom reads one viewer's frames, counting chat lines and sampling the
// latency of 1 in 16; a slow viewer reads nothing.
func viewRoom(ctx context.Context, conn *websocket.Conn, slow bool, st *roomStats) {
	defer conn.Close()
	go func() { <-ctx.Done(); conn.Close() }()
	if slow {
		<-ctx.Done()
		return
	}
	var seen int
	var lat []time.Duration // merged into st at the end, not locked per sample
	defer func() {
		st.mu.Lock()
		st.latencies = append(st.latencies, lat...)
		st.mu.Unlock()
	}()
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ctx.Err() == nil {
				st.dropped.Add(1)
			}
			return
		}
		now := time.Now().UnixNano()
		for line := range bytes.SplitSeq(data, []byte{'\n'}) {
			i := bytes.Index(line, []byte(`"text":"t=`))
			if i < 0 || !bytes.Contains(line, []byte(`"type":"chat"`)) {
				if bytes.Contains(line, []byte(`"type":"stock"`)) || bytes.Contains(line, []byte(`"type":"order"`)) ||
					bytes.Contains(line, []byte(`"type":"product"`)) {
					st.events.Add(1)
				}
				continue
			}
			st.delivered.Add(1)
			seen++
			if seen%16 != 0 {
				continue
			}
			rest := line[i+len(`"text":"t=`):]
			if j := bytes.IndexByte(rest, '"'); j > 0 {
				if ts, err := strconv.ParseInt(string(rest[:j]), 10, 64); err == nil {
					lat = append(lat, time.Duration(now-ts))
				}
			}
		}
	}
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

func pct(sorted []time.Duration, p float64) time.Duration {
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
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

// roomMetric sums a counter over the nodes of the room URLs (-1 when a
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

// procSelf is this process's CPU time (user+system) in seconds.
func procSelf() float64 {
	s, _ := procStat(os.Getpid())
	return s.cpuSeconds
}
