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
	"net/url"
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

// buyConfig holds the buy mode's flags.
type buyConfig struct {
	url, stream, sku   string
	qty, buyers, taps  int
	subs               int
	coupon             string
	duration, timeout  time.Duration
	secret, tokensFile string

	// --setup and --check act as a host.
	setup, check        bool
	hostSecret, hostSub string
	limit, stock        int
	price               int64
	maxRedemptions      int64
	perBuyer            int64
}

func runBuy(ctx context.Context, args []string, stdout io.Writer) error {
	var c buyConfig
	fs := flag.NewFlagSet("buy", flag.ContinueOnError)
	fs.StringVar(&c.url, "url", "http://localhost:8080", "livecart base URL")
	fs.StringVar(&c.stream, "stream", "demo", "stream id")
	fs.StringVar(&c.sku, "sku", "", "product sku to buy (required)")
	fs.IntVar(&c.qty, "qty", 1, "units per tap")
	fs.IntVar(&c.buyers, "buyers", 50, "concurrent buyers (taps in flight at once)")
	fs.IntVar(&c.subs, "subs", 0, "distinct viewer tokens to mint, used round-robin across taps (0: as many as --buyers)")
	fs.StringVar(&c.coupon, "coupon", "", "coupon code sent with every tap (\"coupon\" in the body)")
	fs.IntVar(&c.taps, "taps", 0, "stop after this many taps in all (0: run for --duration)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to tap when --taps is 0")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.StringVar(&c.secret, "token-secret", os.Getenv("LIVECART_SECRET"), "HS256 secret to mint viewer tokens (default $LIVECART_SECRET)")
	fs.StringVar(&c.tokensFile, "tokens-file", "", "file of viewer tokens, one a line, used round-robin instead of minting")
	fs.BoolVar(&c.setup, "setup", false, "as a host, first create the stream (if absent), the product (--stock, --limit), put it in the lineup and create --coupon")
	fs.BoolVar(&c.check, "check", false, "as a host, read the stream's stats, its coupons and the product's stock before and after the run and report what the bounds allowed")
	fs.StringVar(&c.hostSecret, "host-secret", "", "HS256 secret to mint the host's token for --setup and --check (default: --token-secret)")
	fs.StringVar(&c.hostSub, "host-sub", "load-host", "the host's sub for --setup and --check (the stream's owner)")
	fs.IntVar(&c.limit, "limit", 1000, "--setup: the product's limit_per_buyer (0: none)")
	fs.IntVar(&c.stock, "stock", 1_000_000_000, "--setup: the product's stock")
	fs.Int64Var(&c.price, "price", 2900, "--setup: the product's price_cents")
	fs.Int64Var(&c.maxRedemptions, "max-redemptions", 1_000_000_000, "--setup: the coupon's max_redemptions")
	fs.Int64Var(&c.perBuyer, "per-buyer", 1000, "--setup: the coupon's per_buyer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.subs == 0 {
		c.subs = c.buyers
	}
	if c.sku == "" || c.buyers < 1 || c.qty < 1 || c.subs < 1 {
		return errors.New("--sku is required; --buyers, --subs and --qty must be positive")
	}
	tokens, err := buyTokens(c)
	if err != nil {
		return err
	}
	c.subs = len(tokens)
	var host *hostAPI
	if c.setup || c.check {
		if host, err = newHostAPI(c); err != nil {
			return err
		}
	}
	if c.setup {
		if err := host.setup(ctx, c, stdout); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	var before buySnapshot
	if c.check {
		if before, err = host.snapshot(ctx, c); err != nil {
			return fmt.Errorf("check: %w", err)
		}
	}
	stop := ctx
	if c.taps == 0 {
		var cancel context.CancelFunc
		stop, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	s := storm(ctx, stop, c, tokens)
	report(stdout, c, s.elapsed, s.lat, s.results)
	if c.check {
		after, err := host.snapshot(ctx, c)
		if err != nil {
			return fmt.Errorf("check: %w", err)
		}
		reportCheck(stdout, c, before, after, s)
	}
	return nil
}

// stormResult is what a storm saw: every tap's latency, the answers by
// code, and per token the 201s it got and how many of them redeemed the
// coupon.
type stormResult struct {
	elapsed  time.Duration
	lat      []time.Duration
	results  map[string]int
	placed   []int
	redeemed []int
}

// storm runs c.buyers tappers until stop ends or c.taps taps were sent;
// each tap takes the next token round-robin. A tap sent before stop ended
// is waited for, so that every order placed is in the tally; ctx ending
// abandons the taps in flight.
func storm(ctx, stop context.Context, c buyConfig, tokens []string) stormResult {
	client := &http.Client{Timeout: c.timeout, Transport: &http.Transport{MaxIdleConnsPerHost: c.buyers, MaxConnsPerHost: c.buyers}}
	endpoint := strings.TrimRight(c.url, "/") + "/api/streams/" + url.PathEscape(c.stream) + "/buy"
	payload := map[string]any{"sku": c.sku, "qty": c.qty}
	if c.coupon != "" {
		payload["coupon"] = c.coupon
	}
	body, _ := json.Marshal(payload)
	// An order that redeemed the coupon names it, upper case, as the server keeps codes.
	couponMark := []byte(`"coupon":"` + strings.ToUpper(strings.TrimSpace(c.coupon)) + `"`)

	var (
		left, next atomic.Int64
		mu         sync.Mutex
		placed     = make([]atomic.Int32, len(tokens))
		redeemed   = make([]atomic.Int32, len(tokens))
		out        = stormResult{results: map[string]int{}}
	)
	left.Store(int64(c.taps))
	start := time.Now()
	var wg sync.WaitGroup
	for range c.buyers {
		wg.Go(func() {
			var mine []time.Duration
			mres := map[string]int{}
			for stop.Err() == nil {
				if c.taps > 0 && left.Add(-1) < 0 {
					break
				}
				ti := int((next.Add(1) - 1) % int64(len(tokens)))
				t0 := time.Now()
				res, order := tapOrder(ctx, client, endpoint, tokens[ti], body)
				if res == "" {
					break // interrupted
				}
				mine = append(mine, time.Since(t0))
				mres[res]++
				if order != nil {
					placed[ti].Add(1)
					if c.coupon != "" && bytes.Contains(order, couponMark) {
						redeemed[ti].Add(1)
					}
				}
			}
			mu.Lock()
			out.lat = append(out.lat, mine...)
			for k, v := range mres {
				out.results[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	out.elapsed = time.Since(start)
	out.placed = make([]int, len(tokens))
	out.redeemed = make([]int, len(tokens))
	for i := range tokens {
		out.placed[i] = int(placed[i].Load())
		out.redeemed[i] = int(redeemed[i].Load())
	}
	return out
}

// tap sends one buy and returns "201" or "status code" (e.g. "409
// out_of_stock"), "error: …" for transport failures, "" when ctx ended.
func tap(ctx context.Context, client *http.Client, endpoint, token string, body []byte) string {
	res, _ := tapOrder(ctx, client, endpoint, token, body)
	return res
}

// tapOrder is tap that also returns the body of a 2xx answer (the order).
func tapOrder(ctx context.Context, client *http.Client, endpoint, token string, body []byte) (string, []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return "error: " + err.Error(), nil
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", newKey())
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", nil
		}
		return "error: " + shortErr(err), nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 300 {
		return fmt.Sprint(resp.StatusCode), data
	}
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(data, &p)
	return fmt.Sprintf("%d %s", resp.StatusCode, p.Code), nil
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

// buyTokens reads --tokens-file or mints --subs viewer tokens, each for a
// sub of its own.
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
	toks := make([]string, c.subs)
	for i := range toks {
		t, err := mintToken(c.secret, fmt.Sprintf("load-%s-%d", run, i), fmt.Sprintf("Buyer %d", i), "viewer")
		if err != nil {
			return nil, err
		}
		toks[i] = t
	}
	return toks, nil
}

// mintToken signs a token for sub with role, valid for two hours.
func mintToken(secret, sub, name, role string) (string, error) {
	claims := jwt.MapClaims{"sub": sub, "name": name, "role": role, "exp": time.Now().Add(2 * time.Hour).Unix()}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
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
	what := c.sku
	if c.coupon != "" {
		what += " with coupon " + c.coupon
	}
	fmt.Fprintf(w, "buy storm: %d buyers, %d subs, %s in %s of %s\n", c.buyers, c.subs, what, c.stream, c.url)
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

// hostAPI calls the shop's API as the stream's host.
type hostAPI struct {
	base, token string
	client      *http.Client
}

func newHostAPI(c buyConfig) (*hostAPI, error) {
	secret := c.hostSecret
	if secret == "" {
		secret = c.secret
	}
	if secret == "" {
		return nil, errors.New("--setup and --check need --host-secret or --token-secret (or LIVECART_SECRET)")
	}
	tok, err := mintToken(secret, c.hostSub, "Load host", "host")
	if err != nil {
		return nil, err
	}
	return &hostAPI{base: strings.TrimRight(c.url, "/"), token: tok, client: &http.Client{Timeout: c.timeout}}, nil
}

// do sends body (JSON unless nil) to path and decodes a 2xx answer into
// out (unless nil); it returns the status, and an error for a transport
// failure or an answer outside 2xx and ok.
func (h *hostAPI) do(ctx context.Context, method, path string, body, out any, ok ...int) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := h.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode >= 300 {
		if slices.Contains(ok, res.StatusCode) {
			return res.StatusCode, nil
		}
		return res.StatusCode, fmt.Errorf("%s %s: %s %s", method, path, res.Status, strings.TrimSpace(string(data)))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return res.StatusCode, nil
}

// setup creates the stream (a 409 for one that exists is fine), writes the
// product with --stock and --limit, adds it to the lineup when it is not
// in it, and creates the coupon (10 % off the product) when --coupon is
// given and the stream does not have it yet.
func (h *hostAPI) setup(ctx context.Context, c buyConfig, w io.Writer) error {
	st := "/api/streams/" + url.PathEscape(c.stream)
	if _, err := h.do(ctx, http.MethodPost, "/api/streams", map[string]string{"id": c.stream, "title": "buy storm"}, nil, http.StatusConflict); err != nil {
		return err
	}
	prod := map[string]any{"name": "Flash " + c.sku, "price_cents": c.price, "currency": "EUR", "stock": c.stock}
	if c.limit > 0 {
		prod["limit_per_buyer"] = c.limit
	}
	if _, err := h.do(ctx, http.MethodPut, "/api/products/"+url.PathEscape(c.sku), prod, nil); err != nil {
		return err
	}
	var view struct {
		Lineup []struct {
			SKU string `json:"sku"`
		} `json:"lineup"`
	}
	if _, err := h.do(ctx, http.MethodGet, st, nil, &view); err != nil {
		return err
	}
	skus := []string{}
	for _, p := range view.Lineup {
		skus = append(skus, p.SKU)
	}
	if !slices.Contains(skus, c.sku) {
		if _, err := h.do(ctx, http.MethodPut, st+"/lineup", map[string]any{"skus": append(skus, c.sku)}, nil); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "setup      stream %s, product %s: stock %d, limit_per_buyer %d (0: none), in the lineup\n", c.stream, c.sku, c.stock, c.limit)
	if c.coupon == "" {
		return nil
	}
	cp := map[string]any{"code": c.coupon, "percent_off": 10, "max_redemptions": c.maxRedemptions, "per_buyer": c.perBuyer, "skus": []string{c.sku}}
	code, err := h.do(ctx, http.MethodPost, st+"/coupons", cp, nil, http.StatusConflict)
	if err != nil {
		return err
	}
	if code == http.StatusConflict {
		fmt.Fprintf(w, "setup      coupon %s exists already: kept as it is\n", c.coupon)
	} else {
		fmt.Fprintf(w, "setup      coupon %s: 10 %% off %s, max_redemptions %d, per_buyer %d\n", c.coupon, c.sku, c.maxRedemptions, c.perBuyer)
	}
	return nil
}

// buySnapshot is what the server says at one moment: the product's stock
// and limit, the stream's (or, when listed, the product's) orders and
// units, and the coupon's bounds and what is left of it.
type buySnapshot struct {
	stock, limit     int
	orders, units    int64
	couponFound      bool
	maxRed, perBuyer int64
	left             int64
}

func (h *hostAPI) snapshot(ctx context.Context, c buyConfig) (buySnapshot, error) {
	var s buySnapshot
	st := "/api/streams/" + url.PathEscape(c.stream)
	var prod struct {
		Stock int `json:"stock"`
		Limit int `json:"limit_per_buyer"`
	}
	if _, err := h.do(ctx, http.MethodGet, "/api/products/"+url.PathEscape(c.sku), nil, &prod); err != nil {
		return s, err
	}
	s.stock, s.limit = prod.Stock, prod.Limit
	var stats struct {
		Orders   int64 `json:"orders"`
		Units    int64 `json:"units"`
		Products []struct {
			SKU    string `json:"sku"`
			Orders int64  `json:"orders"`
			Units  int64  `json:"units"`
		} `json:"products"`
	}
	if _, err := h.do(ctx, http.MethodGet, st+"/stats", nil, &stats); err != nil {
		return s, err
	}
	s.orders, s.units = stats.Orders, stats.Units
	for _, p := range stats.Products {
		if p.SKU == c.sku {
			s.orders, s.units = p.Orders, p.Units
		}
	}
	if c.coupon == "" {
		return s, nil
	}
	var coupons struct {
		Items []struct {
			Code           string `json:"code"`
			MaxRedemptions int64  `json:"max_redemptions"`
			PerBuyer       int64  `json:"per_buyer"`
			Left           int64  `json:"left"`
		} `json:"items"`
	}
	if _, err := h.do(ctx, http.MethodGet, st+"/coupons", nil, &coupons); err != nil {
		return s, err
	}
	for _, cp := range coupons.Items {
		if strings.EqualFold(cp.Code, strings.TrimSpace(c.coupon)) {
			s.couponFound, s.maxRed, s.perBuyer, s.left = true, cp.MaxRedemptions, cp.PerBuyer, cp.Left
		}
	}
	return s, nil
}

// buyCheck is what a run did against the bounds, from the server's
// figures before and after it and the tool's own tally.
type buyCheck struct {
	orders, units        int64 // the server's, during the run
	toolOrders           int   // 201s the tool got
	toolUnits            int
	taken                int   // stock before − after
	oversold             int64 // units ordered beyond the stock there was
	maxPerSub, overLimit int   // most units one sub got; subs over the limit
	redeemed, toolRed    int64 // the coupon's redemptions: server, tool
	overMax              int64 // redemptions beyond max_redemptions
	maxRedSub, overPer   int   // most redemptions by one sub; subs over per_buyer
}

func checkRun(c buyConfig, before, after buySnapshot, s stormResult) buyCheck {
	k := buyCheck{orders: after.orders - before.orders, units: after.units - before.units, taken: before.stock - after.stock}
	for i, n := range s.placed {
		k.toolOrders += n
		k.toolUnits += n * c.qty
		k.maxPerSub = max(k.maxPerSub, n*c.qty)
		if after.limit > 0 && n*c.qty > after.limit {
			k.overLimit++
		}
		r := s.redeemed[i]
		k.toolRed += int64(r)
		k.maxRedSub = max(k.maxRedSub, r)
		if after.couponFound && int64(r) > after.perBuyer {
			k.overPer++
		}
	}
	k.oversold = max(0, max(k.units, int64(k.toolUnits))-int64(before.stock))
	if after.couponFound {
		usedBefore := before.maxRed - before.left
		if !before.couponFound {
			usedBefore = 0
		}
		k.redeemed = (after.maxRed - after.left) - usedBefore
		k.overMax = max(0, usedBefore+k.toolRed-after.maxRed)
	}
	return k
}

func reportCheck(w io.Writer, c buyConfig, before, after buySnapshot, s stormResult) {
	k := checkRun(c, before, after, s)
	fmt.Fprintf(w, "check      (GET %s/stats, /coupons and /api/products/%s, before and after the run)\n", c.stream, c.sku)
	fmt.Fprintf(w, "  orders placed   %d (the tool got %d × 201)\n", k.orders, k.toolOrders)
	fmt.Fprintf(w, "  units           %d (the tool's 201s: %d)\n", k.units, k.toolUnits)
	fmt.Fprintf(w, "  stock           %d before, %d left, %d taken; oversold %d\n", before.stock, after.stock, k.taken, k.oversold)
	limit := "none"
	if after.limit > 0 {
		limit = fmt.Sprint(after.limit)
	}
	fmt.Fprintf(w, "  per buyer       at most %d units per sub (limit %s); subs over the limit %d\n", k.maxPerSub, limit, k.overLimit)
	if c.coupon == "" {
		return
	}
	if !after.couponFound {
		fmt.Fprintf(w, "  coupon          %s: not in the stream's coupons\n", c.coupon)
		return
	}
	fmt.Fprintf(w, "  coupon %-8s redeemed %d in the run (the tool's 201s with it: %d), %d of max %d used, %d left; over max %d\n",
		strings.ToUpper(c.coupon), k.redeemed, k.toolRed, after.maxRed-after.left, after.maxRed, after.left, k.overMax)
	fmt.Fprintf(w, "  coupon per sub  at most %d (per_buyer %d); subs over it %d\n", k.maxRedSub, after.perBuyer, k.overPer)
}
