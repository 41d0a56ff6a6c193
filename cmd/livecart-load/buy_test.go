package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestCheckRun(t *testing.T) {
	c := buyConfig{qty: 1, coupon: "flash10"}
	before := buySnapshot{stock: 10, limit: 2, couponFound: true, maxRed: 5, perBuyer: 1, left: 5}
	for _, tc := range []struct {
		name          string
		after         buySnapshot
		placed, red   []int
		oversold      int64
		overLimit     int
		overMax       int64
		overPerBuyer  int
		redeemedByAPI int64
	}{
		{"within every bound", buySnapshot{stock: 6, limit: 2, orders: 4, units: 4, couponFound: true, maxRed: 5, perBuyer: 1, left: 2},
			[]int{2, 1, 1}, []int{1, 1, 1}, 0, 0, 0, 0, 3},
		{"over each bound", buySnapshot{stock: 0, limit: 2, orders: 12, units: 12, couponFound: true, maxRed: 5, perBuyer: 1, left: 0},
			[]int{3, 1, 6}, []int{2, 1, 3}, 2, 2, 1, 2, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := checkRun(c, before, tc.after, stormResult{placed: tc.placed, redeemed: tc.red})
			if k.oversold != tc.oversold || k.overLimit != tc.overLimit || k.overMax != tc.overMax || k.overPer != tc.overPerBuyer || k.redeemed != tc.redeemedByAPI {
				t.Fatalf("got oversold %d, over limit %d, over max %d, over per_buyer %d, redeemed %d; want %d, %d, %d, %d, %d",
					k.oversold, k.overLimit, k.overMax, k.overPer, k.redeemed, tc.oversold, tc.overLimit, tc.overMax, tc.overPerBuyer, tc.redeemedByAPI)
			}
		})
	}
}

// TestStormRoundRobin: taps take the subs in turn, send the coupon, and
// the tally counts each sub's 201s and the ones that redeemed the coupon.
func TestStormRoundRobin(t *testing.T) {
	var mu sync.Mutex
	perToken := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			SKU    string `json:"sku"`
			Qty    int    `json:"qty"`
			Coupon string `json:"coupon"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		mu.Lock()
		perToken[tok]++
		n := perToken[tok]
		mu.Unlock()
		if r.URL.Path != "/api/streams/s1/buy" || body.SKU != "tee" || body.Coupon != "flash10" || r.Header.Get("Idempotency-Key") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if n > 2 { // a limit of 2 per buyer
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"code":"limit_reached"}`))
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"o","coupon":"FLASH10","discount_cents":290}`))
	}))
	defer srv.Close()
	c := buyConfig{url: srv.URL, stream: "s1", sku: "tee", qty: 1, buyers: 4, taps: 30, coupon: "flash10", timeout: 5e9}
	s := storm(context.Background(), context.Background(), c, []string{"a", "b", "c", "d", "e"})
	if s.results["201"] != 10 || s.results["409 limit_reached"] != 20 {
		t.Fatalf("answers %v, want 10 × 201 and 20 × 409 limit_reached", s.results)
	}
	for i := range 5 {
		if s.placed[i] != 2 || s.redeemed[i] != 2 {
			t.Errorf("sub %d: %d placed, %d redeemed; want 2 and 2", i, s.placed[i], s.redeemed[i])
		}
	}
}
