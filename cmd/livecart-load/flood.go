package main

import (
	"bufio"
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
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pion/webrtc/v3"
)

func init() {
	register("flood", "admission under a flood: unconnected WHEP sessions and slow request bodies from many addresses, with one real viewer and one buyer", runFlood)
}

// floodConfig holds the flood mode's flags.
type floodConfig struct {
	base, stream, sku, secret string
	whepFlood, sources, conc  int
	slowBodies                int
	slowEvery, floodRetry     time.Duration
	viewerAfter, buyEvery     time.Duration
	duration                  time.Duration
	pid                       int
	setup                     bool
}

// floodBodyLen is the declared Content-Length of a slow body.
const floodBodyLen = 64

func runFlood(ctx context.Context, args []string, stdout io.Writer) error {
	var c floodConfig
	fs := flag.NewFlagSet("flood", flag.ContinueOnError)
	fs.StringVar(&c.base, "base", "http://127.0.0.1:8080", "livecart base URL")
	fs.StringVar(&c.stream, "whep-stream", "flood", "stream id: published by the tool's own WHIP publisher, watched by the viewer, bought from by the buyer")
	fs.StringVar(&c.sku, "sku", "flood-tee", "product the buyer buys (created with 10⁹ units and put in the lineup unless --setup=false)")
	fs.StringVar(&c.secret, "secret", os.Getenv("LIVECART_SECRET"), "HS256 secret to mint the host's and the viewers' tokens (default $LIVECART_SECRET)")
	fs.IntVar(&c.whepFlood, "whep-flood", 1000, "WHEP sessions the attackers open and never connect")
	fs.IntVar(&c.sources, "sources", 50, "attacking source addresses, 127.0.0.2 onwards, round-robin (1..253); the viewer and the buyer use 127.0.0.1")
	fs.IntVar(&c.conc, "flood-conc", 200, "WHEP offers in flight at once")
	fs.DurationVar(&c.floodRetry, "flood-retry", 0, "wait before offering again after a 429 or 503 (0: as Retry-After says)")
	fs.IntVar(&c.slowBodies, "slow-bodies", 2000, "connections that send a buy head and then its body one byte at a time")
	fs.DurationVar(&c.slowEvery, "slow-every", 4*time.Second, "interval between a slow body's bytes")
	fs.DurationVar(&c.viewerAfter, "viewer-after", 2*time.Second, "the real viewer joins this long after the flood began")
	fs.DurationVar(&c.buyEvery, "buy-every", 100*time.Millisecond, "the buyer taps once per interval (fresh Idempotency-Key each)")
	fs.DurationVar(&c.duration, "duration", 40*time.Second, "how long the flood lasts")
	fs.IntVar(&c.pid, "pid", 0, "server process id, to sample its open fds and RSS from /proc (same machine)")
	fs.BoolVar(&c.setup, "setup", true, "create the stream and the product and set the lineup first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case c.secret == "":
		return errors.New("give --secret (or LIVECART_SECRET)")
	case c.sources < 1 || c.sources > 253:
		return errors.New("--sources must be 1..253")
	case c.whepFlood < 0 || c.slowBodies < 0 || c.conc < 1:
		return errors.New("--whep-flood and --slow-bodies must not be negative, --flood-conc must be positive")
	}
	c.base = strings.TrimRight(c.base, "/")
	raiseFDLimit()
	host, err := floodToken(c.secret, "flood-host", "host")
	if err != nil {
		return err
	}
	viewerTok, err := floodToken(c.secret, "flood-viewer-"+newKey()[:8], "viewer")
	if err != nil {
		return err
	}
	if c.setup {
		if err := floodSetup(ctx, c, host); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	answers := &whepAnswers{base: http.DefaultTransport, codes: map[int]int{}}
	prevTransport := http.DefaultClient.Transport
	http.DefaultClient.Transport = answers // the viewer's WHEP POSTs go through http.DefaultClient
	defer func() { http.DefaultClient.Transport = prevTransport }()

	viewAPI, err := whepAPI(false)
	if err != nil {
		return err
	}
	pubAPI, err := whepAPI(true)
	if err != nil {
		return err
	}
	pub, err := whepPublish(ctx, pubAPI, whepFlags{whip: c.base + "/api/streams/" + c.stream + "/whip", token: host,
		bitrate: 2_500_000, keyInterval: 2 * time.Second})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	defer func() { pub.stop(context.Background()) }()
	offer, err := floodOffer(ctx, viewAPI)
	if err != nil {
		return fmt.Errorf("attackers' offer: %w", err)
	}
	time.Sleep(time.Second) // let the stream settle

	r := &floodRun{cfg: c, start: time.Now()}
	r.samples = append(r.samples, r.sample(ctx)) // before the flood
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { r.whepFlood(runCtx, offer) })
	for i := range c.slowBodies {
		wg.Go(func() { r.slowBody(runCtx, i, viewerTok) })
	}
	wg.Go(func() { r.buy(runCtx, viewerTok) })
	wg.Go(func() { r.sampleEvery(runCtx, time.Second) })
	var viewer *whepViewer
	wg.Go(func() {
		select {
		case <-time.After(c.viewerAfter):
		case <-runCtx.Done():
			return
		}
		r.viewer.started = time.Since(r.start)
		v, err := whepWatch(runCtx, viewAPI, c.base+"/api/streams/"+c.stream+"/whep")
		if err != nil {
			r.viewer.err = err.Error()
			return
		}
		r.viewer.answered = time.Since(r.start) - r.viewer.started
		viewer = v
	})
	floodSleep(ctx, c.duration)
	r.final = r.sample(ctx) // at the end, the flood still on
	cancel()
	wg.Wait()
	r.viewer.answers = answers.snapshot()
	if viewer != nil {
		t := viewer.totals()
		r.viewer.received, r.viewer.spanned = int(t.videoPackets), int(t.videoExpected)
		viewer.mu.Lock()
		r.viewer.firstKey = viewer.firstKey
		if viewer.maxGap > 0 {
			r.viewer.maxGap, r.viewer.gapAt = viewer.maxGap, viewer.gapAt.Sub(r.start)
		}
		viewer.mu.Unlock()
		viewer.close()
	}
	floodReport(stdout, r)
	return nil
}

// floodRun is one run's shared state. Its counters are updated by the
// attackers, the buyer and the sampler concurrently.
type floodRun struct {
	cfg   floodConfig
	start time.Time

	offers     floodCounts  // answers to the attackers' WHEP POSTs
	placed     atomic.Int64 // attackers' sessions answered 201
	refused    atomic.Int64 // attackers' POSTs answered 429 or 503
	lastPlaced atomic.Int64 // ns from start to the latest 201 an attacker got
	slowOpen   atomic.Int64

	mu      sync.Mutex
	ends    []floodEnd // how each slow body ended
	buyLat  []time.Duration
	buyAt   []time.Duration // when each tap began, from start
	buyRes  map[string]int
	samples []floodSample

	final  floodSample
	viewer floodViewer
}

// floodEnd is how one slow body ended: "408", "429", another status,
// "closed" (by the server without an answer), "open" (still open at the
// end of the run) or "dial error"; after is from its head being sent.
type floodEnd struct {
	kind  string
	after time.Duration
}

// floodViewer is what the real viewer saw. Durations are zero when the
// event did not happen.
type floodViewer struct {
	started  time.Duration // its first WHEP POST, from the start of the flood
	answered time.Duration // from started to the 201 (refusals and waits included)
	answers  map[int]int   // its WHEP POSTs by status
	firstKey time.Duration // from started to its first keyframe packet
	received int           // video packets
	spanned  int           // video sequence numbers spanned
	maxGap   time.Duration // longest time between two video packets
	gapAt    time.Duration // when that gap ended, from the start of the flood
	err      string
}

// floodSample is the server's state at one moment. Unknown values are -1.
type floodSample struct {
	at         time.Duration
	goroutines int
	pending    int // livecart_stream_pending_sessions
	fds        int
	rss        int64
	placed     int64
	refused    int64
	slowOpen   int64
}

// floodCounts counts outcomes by name. It is safe for concurrent use.
type floodCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *floodCounts) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[k]++
}

func (c *floodCounts) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.n))
	for k, v := range c.n {
		m[k] = v
	}
	return m
}

// floodSource is the source address of the i-th attacking offer or
// connection when k addresses are used: 127.0.0.2 to 127.0.0.(k+1),
// round-robin. Any 127.0.0.0/8 address is local on Linux; 127.0.0.1 is left
// to the real viewer and buyer, so their own per-address bounds are theirs.
func floodSource(i, k int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i%k)})
}

// floodDialer dials from src.
func floodDialer(src netip.Addr) *net.Dialer {
	return &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: 10 * time.Second}
}

// floodOffer returns the SDP of a complete viewer offer (ICE candidates
// gathered) from a PeerConnection that is closed at once: every attacker
// posts this text, and nothing answers the server's connectivity checks.
func floodOffer(ctx context.Context, api *webrtc.API) (string, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", err
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return "", err
		}
	}
	return completeOffer(ctx, pc)
}

// whepFlood places cfg.whepFlood sessions, cfg.conc offers at a time, the
// i-th from floodSource(i): each offer is posted again after a 429 or 503
// until it is answered 201 or the run ends.
func (r *floodRun) whepFlood(ctx context.Context, offer string) {
	endpoint := r.cfg.base + "/api/streams/" + r.cfg.stream + "/whep"
	clients := make([]*http.Client, r.cfg.sources)
	for k := range clients {
		clients[k] = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
			DialContext: floodDialer(floodSource(k, r.cfg.sources)).DialContext, MaxIdleConnsPerHost: r.cfg.conc,
		}}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(r.cfg.conc, r.cfg.whepFlood) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= r.cfg.whepFlood {
					return
				}
				r.placeOne(ctx, clients[i%r.cfg.sources], endpoint, offer)
			}
		})
	}
	wg.Wait()
}

func (r *floodRun) placeOne(ctx context.Context, client *http.Client, endpoint, offer string) {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(offer))
		req.Header.Set("Content-Type", "application/sdp")
		res, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				r.offers.add("error")
				floodSleep(ctx, 200*time.Millisecond)
			}
			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		r.offers.add(strconv.Itoa(res.StatusCode))
		switch res.StatusCode {
		case http.StatusCreated:
			r.placed.Add(1)
			r.lastPlaced.Store(int64(time.Since(r.start)))
			return
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			r.refused.Add(1)
			wait := r.cfg.floodRetry
			if wait == 0 {
				wait = time.Second
				if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
					wait = time.Duration(s) * time.Second
				}
			}
			floodSleep(ctx, wait)
		default:
			return
		}
	}
}

func floodSleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// floodSlowHead is the head of a buy whose body is sent one byte at a
// time, and the body: the buy as JSON, padded with spaces to floodBodyLen
// bytes.
func floodSlowHead(u *url.URL, stream, sku, token string) (head, body []byte, err error) {
	b, _ := json.Marshal(map[string]any{"sku": sku, "qty": 1})
	if len(b) > floodBodyLen {
		return nil, nil, fmt.Errorf("sku %q is too long for a %d-byte body", sku, floodBodyLen)
	}
	body = append(b, strings.Repeat(" ", floodBodyLen-len(b))...)
	head = fmt.Appendf(nil, "POST /api/streams/%s/buy HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nIdempotency-Key: %s\r\nContent-Length: %d\r\n\r\n",
		url.PathEscape(stream), u.Host, token, newKey(), floodBodyLen)
	return head, body, nil
}

// slowBody opens the i-th slow connection from floodSource(i), sends a
// buy's head and then its body one byte every cfg.slowEvery, and records
// how the connection ended.
func (r *floodRun) slowBody(ctx context.Context, i int, token string) {
	u, _ := url.Parse(r.cfg.base)
	end := func(kind string, after time.Duration) {
		r.mu.Lock()
		r.ends = append(r.ends, floodEnd{kind, after})
		r.mu.Unlock()
	}
	head, body, err := floodSlowHead(u, r.cfg.stream, r.cfg.sku, token)
	if err != nil {
		end("dial error", 0)
		return
	}
	conn, err := floodDialer(floodSource(i, r.cfg.sources)).DialContext(ctx, "tcp", u.Host)
	if err != nil {
		end("dial error", 0)
		return
	}
	defer conn.Close()
	if _, err := conn.Write(head); err != nil {
		end("closed", 0)
		return
	}
	sent := time.Now()
	r.slowOpen.Add(1)
	defer r.slowOpen.Add(-1)
	answer := make(chan string, 1)
	go func() {
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answer <- "closed"
			return
		}
		res.Body.Close()
		answer <- strconv.Itoa(res.StatusCode)
	}()
	tick := time.NewTicker(r.cfg.slowEvery)
	defer tick.Stop()
	for n := 0; ; {
		select {
		case kind := <-answer:
			end(kind, time.Since(sent))
			return
		case <-ctx.Done():
			end("open", time.Since(sent))
			conn.Close()
			<-answer
			return
		case <-tick.C:
			if n < len(body) {
				_, _ = conn.Write(body[n : n+1]) // a failed write shows as the reader's end
				n++
			}
		}
	}
}

// buy taps the buy button once per cfg.buyEvery from 127.0.0.1, one tap at
// a time, and records each tap's latency and answer.
func (r *floodRun) buy(ctx context.Context, token string) {
	endpoint := r.cfg.base + "/api/streams/" + r.cfg.stream + "/buy"
	body, _ := json.Marshal(map[string]any{"sku": r.cfg.sku, "qty": 1})
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(r.cfg.buyEvery)
	defer tick.Stop()
	var lat, at []time.Duration
	res := map[string]int{}
	for {
		t0 := time.Now()
		s := tap(ctx, client, endpoint, token, body)
		if s == "" {
			break
		}
		lat, at = append(lat, time.Since(t0)), append(at, t0.Sub(r.start))
		res[s]++
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	r.mu.Lock()
	r.buyLat, r.buyAt, r.buyRes = lat, at, res
	r.mu.Unlock()
}

func (r *floodRun) sampleEvery(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s := r.sample(ctx)
		r.mu.Lock()
		r.samples = append(r.samples, s)
		r.mu.Unlock()
	}
}

// sample reads the server's goroutines (and pending sessions, where it
// exports them) from /metrics and its open fds and RSS from /proc.
func (r *floodRun) sample(ctx context.Context) floodSample {
	s := floodSample{at: time.Since(r.start), goroutines: -1, pending: -1, fds: -1, rss: -1,
		placed: r.placed.Load(), refused: r.refused.Load(), slowOpen: r.slowOpen.Load()}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if m, err := floodMetrics(sctx, r.cfg.base); err == nil {
		if v, ok := m["go_goroutines"]; ok {
			s.goroutines = int(v)
		}
		if v, ok := m["livecart_stream_pending_sessions"]; ok {
			s.pending = int(v)
		}
	}
	if r.cfg.pid > 0 {
		if fds, err := os.ReadDir("/proc/" + strconv.Itoa(r.cfg.pid) + "/fd"); err == nil {
			s.fds = len(fds)
		}
		if rss := whepRSS(r.cfg.pid); rss > 0 {
			s.rss = rss
		}
	}
	return s
}

// floodMetrics reads the unlabelled gauges and counters of base's /metrics.
func floodMetrics(ctx context.Context, base string) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			m[name] = v
		}
	}
	return m, sc.Err()
}

// floodToken mints a token for sub with role, valid for four hours.
func floodToken(secret, sub, role string) (string, error) {
	claims := jwt.MapClaims{"sub": sub, "role": role, "exp": time.Now().Add(4 * time.Hour).Unix()}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}

// floodSetup creates the stream (or finds it there) and the product with
// 10⁹ units, and puts the product in the stream's lineup, as the host.
func floodSetup(ctx context.Context, c floodConfig, host string) error {
	steps := []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/api/streams", map[string]string{"id": c.stream, "title": "flood"}},
		{http.MethodPut, "/api/products/" + url.PathEscape(c.sku), map[string]any{"name": "Tee", "price_cents": 2900, "currency": "EUR", "stock": 1_000_000_000}},
		{http.MethodPut, "/api/streams/" + url.PathEscape(c.stream) + "/lineup", map[string]any{"skus": []string{c.sku}}},
	}
	for i, st := range steps {
		b, _ := json.Marshal(st.body)
		req, _ := http.NewRequestWithContext(ctx, st.method, c.base+st.path, strings.NewReader(string(b)))
		req.Header.Set("Authorization", "Bearer "+host)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
		res.Body.Close()
		if res.StatusCode >= 300 && !(i == 0 && res.StatusCode == http.StatusConflict) {
			return fmt.Errorf("%s %s: %s %s", st.method, st.path, res.Status, strings.TrimSpace(string(msg)))
		}
	}
	return nil
}

// whepAnswers counts the answers to WHEP offers (POSTs to …/whep) sent
// through it. It is safe for concurrent use.
type whepAnswers struct {
	base  http.RoundTripper
	mu    sync.Mutex
	codes map[int]int
}

// RoundTrip implements http.RoundTripper.
func (a *whepAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := a.base.RoundTrip(req)
	if err == nil && req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/whep") {
		a.mu.Lock()
		a.codes[res.StatusCode]++
		a.mu.Unlock()
	}
	return res, err
}

func (a *whepAnswers) snapshot() map[int]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[int]int, len(a.codes))
	for k, v := range a.codes {
		m[k] = v
	}
	return m
}

// floodReport writes the run's report: the attack, the real viewer and
// buyer, the server's resources (max and at the end) and a timeline.
func floodReport(w io.Writer, r *floodRun) {
	c := r.cfg
	last := floodSource(c.sources-1, c.sources)
	fmt.Fprintf(w, "flood of %s for %s: %d WHEP offers (%d at a time) and %d slow bodies (1 byte every %s) from %d source addresses (127.0.0.2–%s)\n",
		c.base, c.duration, c.whepFlood, min(c.conc, c.whepFlood), c.slowBodies, c.slowEvery, c.sources, last)

	offers := r.offers.snapshot()
	placed := "never"
	if r.placed.Load() > 0 {
		placed = "latest at " + floodDur(time.Duration(r.lastPlaced.Load()))
	}
	fmt.Fprintf(w, "WHEP flood:   %d sessions placed of %d (%s); POSTs answered %s\n",
		r.placed.Load(), c.whepFlood, placed, floodKinds(offers, []string{"201", "429", "503"}))

	byKind := map[string][]time.Duration{}
	for _, e := range r.ends {
		byKind[e.kind] = append(byKind[e.kind], e.after)
	}
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "slow bodies:  %d", len(r.ends))
	if len(kinds) == 0 {
		fmt.Fprint(w, " (none)")
	}
	for _, k := range kinds {
		ds := byKind[k]
		fmt.Fprintf(w, "; %s × %d after %s / %s / %s (min/p50/max)", k, len(ds), whepPct(ds, 0), whepPct(ds, 50), whepPct(ds, 100))
	}
	fmt.Fprintln(w)

	v := r.viewer
	switch {
	case v.started == 0:
		fmt.Fprintln(w, "real viewer:  did not start")
	case v.answered == 0:
		fmt.Fprintf(w, "real viewer:  offered at %s, never answered 201 (%s): %s\n", floodDur(v.started), floodCodes(v.answers), v.err)
	default:
		loss := "-"
		if v.spanned > 0 {
			loss = fmt.Sprintf("%.3f%%", 100*float64(max(0, v.spanned-v.received))/float64(v.spanned))
		}
		key := "never"
		if v.firstKey > 0 {
			key = floodDur(v.firstKey)
		}
		fmt.Fprintf(w, "real viewer:  offered at %s; 201 after %s (WHEP POSTs %s); first keyframe after %s; %d video packets, loss %s; longest video gap %s, ended at %s\n",
			floodDur(v.started), floodDur(v.answered), floodCodes(v.answers), key, v.received, loss, floodDur(v.maxGap), floodDur(v.gapAt))
	}

	lat := append([]time.Duration(nil), r.buyLat...)
	res := map[string]int{}
	for k, n := range r.buyRes {
		res[k] = n
	}
	fmt.Fprintf(w, "real buyer:   %d taps, one per %s: p50 %s, p99 %s, max %s; answers %s\n",
		len(lat), c.buyEvery, whepPctFine(lat, 50), whepPctFine(lat, 99), whepPctFine(lat, 100), floodKinds(res, []string{"201"}))

	mx := floodSample{goroutines: -1, pending: -1, fds: -1, rss: -1}
	all := append(r.samples[:len(r.samples):len(r.samples)], r.final)
	for _, s := range all {
		mx.goroutines, mx.pending = max(mx.goroutines, s.goroutines), max(mx.pending, s.pending)
		mx.fds, mx.rss = max(mx.fds, s.fds), max(mx.rss, s.rss)
	}
	f := r.final
	var before floodSample
	if len(r.samples) > 0 {
		before = r.samples[0]
	}
	fmt.Fprintf(w, "server:       before / max / at the end: goroutines %s / %s / %s; fds %s / %s / %s; RSS MiB %s / %s / %s; pending WebRTC sessions max %s\n",
		floodInt(before.goroutines), floodInt(mx.goroutines), floodInt(f.goroutines),
		floodInt(before.fds), floodInt(mx.fds), floodInt(f.fds),
		floodMiB(before.rss), floodMiB(mx.rss), floodMiB(f.rss), floodInt(mx.pending))
	fmt.Fprintln(w, "timeline:     t  goroutines  pending   fds    RSS  placed  refused  slow-open  buy max")
	var from time.Duration
	for i, s := range all {
		last := i == len(all)-1
		if !last && (i%5 != 0 || all[len(all)-1].at-s.at < time.Second/2) {
			continue
		}
		fmt.Fprintf(w, "          %5s  %10s  %7s  %5s  %5s  %6d  %7d  %9d  %7s\n", floodDur(s.at.Round(time.Second)),
			floodInt(s.goroutines), floodInt(s.pending), floodInt(s.fds), floodMiB(s.rss), s.placed, s.refused, s.slowOpen,
			floodWindowMax(r.buyAt, r.buyLat, from, s.at))
		from = s.at
	}
}

// floodWindowMax is the longest of lat whose at lies in (from, to], "-"
// when none does.
func floodWindowMax(at, lat []time.Duration, from, to time.Duration) string {
	var m time.Duration
	n := 0
	for i := range at {
		if at[i] > from && at[i] <= to {
			m, n = max(m, lat[i]), n+1
		}
	}
	if n == 0 {
		return "-"
	}
	return floodDur(m)
}

// floodKinds lists counts by name: the names in first, in that order and
// even when zero, then the others in sorted order.
func floodKinds(m map[string]int, first []string) string {
	var parts []string
	for _, k := range first {
		parts = append(parts, fmt.Sprintf("%s × %d", k, m[k]))
	}
	var rest []string
	for k := range m {
		if !strings.Contains(" "+strings.Join(first, " ")+" ", " "+k+" ") {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		parts = append(parts, fmt.Sprintf("%s × %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func floodCodes(m map[int]int) string {
	s := make(map[string]int, len(m))
	for k, v := range m {
		s[strconv.Itoa(k)] = v
	}
	return floodKinds(s, nil)
}

func floodDur(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

func floodInt(n int) string {
	if n < 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func floodMiB(b int64) string {
	if b < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(b)/(1<<20))
}
