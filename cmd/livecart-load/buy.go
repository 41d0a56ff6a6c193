package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func init() {
	register("buy", "buy storm: N buyers tap POST /api/streams/{id}/buy, each tap with a fresh Idempotency-Key", runBuy)
}

type buyConfig struct {
	url, stream, sku   string
	qty, buyers, taps  int
	duration, timeout  time.Duration
	secret, tokensFile string
}

func runBuy(ctx context.Context, args []string, stdout io.Writer) error {
	var c buyConfig
	fs := flag.NewFlagSet("buy", flag.ContinueOnError)
	fs.StringVar(&c.url, "url", "http://localhost:8080", "livecart base URL")
	fs.StringVar(&c.stream, "stream", "demo", "stream id")
	fs.StringVar(&c.sku, "sku", "", "product sku to buy (required)")
	fs.IntVar(&c.qty, "qty", 1, "units per tap")
	fs.IntVar(&c.buyers, "buyers", 50, "concurrent buyers, each a viewer of its own")
	fs.IntVar(&c.taps, "taps", 0, "stop after this many taps in all (0: run for --duration)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to tap when --taps is 0")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.StringVar(&c.secret, "token-secret", os.Getenv("LIVECART_SECRET"), "HS256 secret to mint viewer tokens (default $LIVECART_SECRET)")
	fs.StringVar(&c.tokensFile, "tokens-file", "", "file of tokens, one a line, used round-robin instead of minting")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.sku == "" || c.buyers < 1 || c.qty < 1 {
		return errors.New("--sku is required; --buyers and --qty must be positive")
	}
	tokens, err := buyTokens(c)
	if err != nil {
		return err
	}
	if c.taps == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	client := &http.Client{Timeout: c.timeout, Transport: &http.Transport{MaxIdleConnsPerHost: c.buyers, MaxConnsPerHost: c.buyers}}
	endpoint := strings.TrimRight(c.url, "/") + "/api/streams/" + c.stream + "/buy"
	body, _ := json.Marshal(map[string]any{"sku": c.sku, "qty": c.qty})

	var (
		left    atomic.Int64
		mu      sync.Mutex
		lat     []time.Duration
		results = map[string]int{}
	)
	left.Store(int64(c.taps))
	start := time.Now()
	var wg sync.WaitGroup
	for i := range c.buyers {
		wg.Go(func() {
			token := tokens[i%len(tokens)]
			var mine []time.Duration
			mres := map[string]int{}
			for ctx.Err() == nil {
				if c.taps > 0 && left.Add(-1) < 0 {
					break
				}
				t0 := time.Now()
				res := tap(ctx, client, endpoint, token, body)
				if res == "" {
					break // cancelled at the end of the run
				}
				mine = append(mine, time.Since(t0))
				mres[res]++
			}
			mu.Lock()
			lat = append(lat, mine...)
			for k, v := range mres {
				results[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	report(stdout, c, time.Since(start), lat, results)
	return nil
}

// tap sends one buy and returns "201" or "status code" (e.g. "409
// out_of_stock"), "error: …" for transport failures, "" when ctx ended.
func tap(ctx context.Context, client *http.Client, endpoint, token string, body []byte) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return "error: " + err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", newKey())
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ""
		}
		return "error: " + shortErr(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 300 {
		return fmt.Sprint(resp.StatusCode)
	}
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(data, &p)
	return fmt.Sprintf("%d %s", resp.StatusCode, p.Code)
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// buyTokens reads --tokens-file or mints one viewer token per buyer.
func buyTokens(c buyConfig) ([]string, error) {
	if c.tokensFile != "" {
		f, err := os.Open(c.tokensFile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		var toks []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if t := strings.TrimSpace(sc.Text()); t != "" {
				toks = append(toks, t)
			}
		}
		if len(toks) == 0 {
			return nil, fmt.Errorf("%s holds no tokens", c.tokensFile)
		}
		return toks, sc.Err()
	}
	if c.secret == "" {
		return nil, errors.New("give --token-secret (or LIVECART_SECRET) or --tokens-file")
	}
	run := newKey()[:8]
	toks := make([]string, c.buyers)
	for i := range toks {
		claims := jwt.MapClaims{
			"sub": fmt.Sprintf("load-%s-%d", run, i), "name": fmt.Sprintf("Buyer %d", i),
			"role": "viewer", "exp": time.Now().Add(2 * time.Hour).Unix(),
		}
		t, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(c.secret))
		if err != nil {
			return nil, err
		}
		toks[i] = t
	}
	return toks, nil
}

func report(w io.Writer, c buyConfig, elapsed time.Duration, lat []time.Duration, results map[string]int) {
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	secs := elapsed.Seconds()
	fmt.Fprintf(w, "buy storm: %d buyers, %s in %s of %s\n", c.buyers, c.sku, c.stream, c.url)
	fmt.Fprintf(w, "taps       %d in %.2fs (%.0f taps/s)\n", len(lat), secs, float64(len(lat))/secs)
	fmt.Fprintf(w, "buys       %d (%.0f buys/s)\n", results["201"], float64(results["201"])/secs)
	fmt.Fprintf(w, "latency    p50 %s  p99 %s  max %s\n", pct(0.50), pct(0.99), pct(1))
	keys := make([]string, 0, len(results))
	for k := range results {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %-28s %d\n", k, results[k])
	}
}
