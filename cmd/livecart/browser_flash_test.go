package main

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/web/browsertest"
)

// flashOrder is an order as the flash-sale journey checks it.
type flashOrder struct {
	ID            string
	User          string
	Status        string
	Coupon        string
	TotalCents    int `json:"total_cents"`
	DiscountCents int `json:"discount_cents"`
	Items         []struct {
		SKU, Name string
		Qty       int
	}
}

// myOrders returns the orders of the token's viewer, newest first.
func myOrders(tb testing.TB, base, token string) []flashOrder {
	tb.Helper()
	var page struct{ Items []flashOrder }
	mustAPI(tb, "GET", base+"/api/orders", token, nil, &page)
	return page.Items
}

// flashNoise accepts, besides expectedNoise, the refusals the flash journey
// causes on purpose: a buy over the per-person limit answers 409.
func flashNoise(p browsertest.Problem) bool {
	if expectedNoise(p) {
		return true
	}
	return p.Kind == "log" && p.Source == "network" && strings.Contains(p.URL, "/buy") && strings.Contains(p.Text, "409")
}

// TestBrowserFlashJourney is a flash sale, end to end: a tee in sizes S, M
// and L (two of M, one per person) pinned in a show; the host drops a
// coupon from the studio's form; Ana picks M, applies the coupon and buys it
// at a discount; Ben buys the other M and is stopped at the limit when he
// tries for an S; Cleo, finding M sold out, joins its waitlist (her place
// survives a reload); the host cancels Ana's order and Cleo gets the held
// unit offered on her screen and buys it with one tap; the studio's funnel
// counts the orders and shows a conversion.
func TestBrowserFlashJourney(t *testing.T) {
	ts := MustServe(t, nil)
	b := browsertest.Start(t)
	const id = "flash-friday"
	host := ts.Token(t, auth.Principal{Sub: "mia", Name: "Mia", Role: auth.Host})
	ana := ts.Token(t, auth.Principal{Sub: "ana", Name: "Ana", Role: auth.Viewer})
	ben := ts.Token(t, auth.Principal{Sub: "ben", Name: "Ben", Role: auth.Viewer})
	cleo := ts.Token(t, auth.Principal{Sub: "cleo", Name: "Cleo", Role: auth.Viewer})

	step(t, "the host sets up the show through the API")
	mustAPI(t, "PUT", ts.URL+"/api/products/tee", host, map[string]any{
		"name": "Sunset tee", "price_cents": 2500, "currency": "EUR", "image_url": ts.URL + "/assets/demo/tee.svg",
		"limit_per_buyer": 1,
		"variants": []map[string]any{
			{"sku": "tee-s", "label": "S", "stock": 5},
			{"sku": "tee-m", "label": "M", "stock": 2},
			{"sku": "tee-l", "label": "L", "stock": 5},
		},
	}, nil)
	mustAPI(t, "POST", ts.URL+"/api/streams", host, map[string]any{"id": id, "title": "Flash Friday"}, nil)
	mustAPI(t, "PUT", ts.URL+"/api/streams/"+id+"/lineup", host, map[string]any{"skus": []string{"tee"}}, nil)
	mustAPI(t, "POST", ts.URL+"/api/streams/"+id+"/pin", host, map[string]any{"sku": "tee"}, nil)

	studio := openPage(t, b, "studio", withToken(ts.URL+"/studio/"+id, host))
	studio.WaitFunc(`document.body.dataset.room === "open"`, "studio room open")

	step(t, "the host drops a coupon from the studio")
	{
		studio.Type(testid("coupon-code"), "flash20")
		studio.Type(testid("coupon-value"), "20")
		studio.SetValue(testid("coupon-max"), "10")
		studio.SetValue(testid("coupon-per-buyer"), "1")
		studio.SetValue(testid("coupon-minutes"), "30")
		studio.Click(testid("coupon-drop"))
		row := testid("coupon-row", `[data-code="FLASH20"]`)
		studio.WaitText(row, "20% off")
		studio.WaitText(row, "10 left")
		studio.WaitText(testid("coupon-count"), "1")
		scrollTo(studio, "coupons-panel")
		flashScreen(t, studio, "flash-coupon")
		var coupons struct {
			Items []struct {
				Code           string
				PercentOff     int    `json:"percent_off"`
				MaxRedemptions int    `json:"max_redemptions"`
				PerBuyer       int    `json:"per_buyer"`
				EndsAt         string `json:"ends_at"`
			}
		}
		mustAPI(t, "GET", ts.URL+"/api/streams/"+id+"/coupons", "", nil, &coupons)
		if len(coupons.Items) != 1 || coupons.Items[0].Code != "FLASH20" || coupons.Items[0].PercentOff != 20 || coupons.Items[0].MaxRedemptions != 10 || coupons.Items[0].PerBuyer != 1 || coupons.Items[0].EndsAt == "" {
			t.Errorf("coupons after the studio's form = %+v, want FLASH20, 20%% off, 10 uses, 1 per buyer, an end", coupons.Items)
		}
	}

	card := testid("product-card")
	chip := func(sku string) string { return card + " " + testid("variant", fmt.Sprintf(`[data-sku=%q]`, sku)) }

	viewerA := openPage(t, b, "viewer-ana", withToken(ts.URL+"/watch/"+id, ana))
	step(t, "Ana picks M, applies the coupon and buys at a discount")
	{
		viewerA.WaitFunc(`document.body.dataset.room === "open"`, "room open")
		viewerA.WaitVisible(card + `[data-sku="tee"]`)
		viewerA.WaitText(testid("card-limit"), "Limit 1 per person")
		viewerA.WaitVisible(chip("tee-m"))
		viewerA.WaitText(testid("coupon", `[data-code="FLASH20"]`), "20% off")
		viewerA.WaitText(testid("coupon-left"), "10 left")

		// No size chosen: Buy asks for one and orders nothing.
		viewerA.Click(card + " " + testid("buy"))
		viewerA.WaitVisible(testid("variant-hint"))

		viewerA.Click(chip("tee-m"))
		viewerA.WaitFunc(`document.querySelector('[data-testid="product-card"]').dataset.chosen === "tee-m"`, "M chosen")
		viewerA.WaitText(testid("card-price"), "25.00")
		viewerA.WaitText(testid("card-stock"), "Only 2 left")
		viewerA.Click(testid("coupon-apply"))
		viewerA.WaitFunc(`document.querySelector('[data-testid="coupon-apply"]').getAttribute("aria-pressed") === "true"`, "coupon applied")
		flashScreen(t, viewerA, "flash-watch")
		viewerA.Click(card + " " + testid("buy"))
		viewerA.WaitText(testid("toast"), "Ordered Sunset tee (M)")
		viewerA.WaitText(testid("toast"), "saved")
		viewerA.WaitText(testid("coupon-left"), "9 left")
		studio.WaitText(testid("coupon-row", `[data-code="FLASH20"]`), "9 left")
	}
	orders := myOrders(t, ts.URL, ana)
	if len(orders) != 1 || orders[0].DiscountCents <= 0 || orders[0].Coupon != "FLASH20" || orders[0].TotalCents != 2500-orders[0].DiscountCents ||
		len(orders[0].Items) != 1 || orders[0].Items[0].SKU != "tee-m" || orders[0].Items[0].Name != "Sunset tee (M)" {
		t.Fatalf("Ana's orders = %+v, want one of tee-m (Sunset tee (M)) with FLASH20, a discount and total 2500 - discount", orders)
	}
	anaOrder := orders[0].ID

	viewerB := openPage(t, b, "viewer-ben", withToken(ts.URL+"/watch/"+id, ben))
	step(t, "Ben buys the last M, then is stopped at the limit")
	{
		viewerB.WaitFunc(`document.body.dataset.room === "open"`, "room open")
		viewerB.WaitVisible(chip("tee-m"))
		viewerB.Click(chip("tee-m"))
		viewerB.WaitText(testid("card-stock"), "Only 1 left")
		viewerB.Click(card + " " + testid("buy"))
		viewerB.WaitText(testid("toast"), "Ordered Sunset tee (M)")
		// The limit counts every size of the tee together.
		viewerB.Click(chip("tee-s"))
		viewerB.WaitFunc(`document.querySelector('[data-testid="buy"]').dataset.state === "idle"`, "Buy ready for S")
		viewerB.Click(card + " " + testid("buy"))
		viewerB.WaitText(testid("toast"), "You've reached the limit for this item (1 per person)")
		for _, v := range []*browsertest.Tab{viewerA, viewerB} {
			v.WaitFunc(`document.querySelector('[data-testid="variant"][data-sku="tee-m"]').dataset.soldOut === "true"`, "M sold out on "+v.Name())
		}
		studio.WaitText(testid("lineup-variant", `[data-sku="tee-m"] `)+testid("lineup-variant-stock"), "0")
	}
	if o := myOrders(t, ts.URL, ben); len(o) != 1 || o[0].Items[0].SKU != "tee-m" || o[0].DiscountCents != 0 {
		t.Errorf("Ben's orders = %+v, want one of tee-m without a discount", o)
	}

	viewerC := openPage(t, b, "viewer-cleo", withToken(ts.URL+"/watch/"+id, cleo))
	step(t, "Cleo joins the waitlist for M")
	{
		viewerC.WaitFunc(`document.body.dataset.room === "open"`, "room open")
		viewerC.WaitVisible(chip("tee-m"))
		viewerC.Click(chip("tee-m"))
		viewerC.WaitText(card+" "+testid("buy"), "Join waitlist")
		viewerC.Click(card + " " + testid("buy"))
		viewerC.WaitText(card+" "+testid("buy"), "You're #1 in line")
		viewerC.WaitVisible(testid("waitlist-leave"))

		// Her place is the server's: a reload shows it again.
		viewerC.Navigate(withToken(ts.URL+"/watch/"+id, cleo))
		viewerC.WaitFunc(`document.body.dataset.ready === "true" && document.body.dataset.room === "open"`, "reloaded, room open")
		viewerC.WaitVisible(chip("tee-m"))
		viewerC.Click(chip("tee-m"))
		viewerC.WaitText(card+" "+testid("buy"), "You're #1 in line")
		var w struct {
			Items []struct {
				SKU      string
				Position int
			}
		}
		mustAPI(t, "GET", ts.URL+"/api/streams/"+id+"/waitlist", cleo, nil, &w)
		if len(w.Items) != 1 || w.Items[0].SKU != "tee-m" || w.Items[0].Position != 1 {
			t.Errorf("Cleo's waitlist = %+v, want tee-m at 1", w.Items)
		}
	}

	step(t, "the host cancels Ana's order and Cleo buys the unit held for her")
	{
		mustAPI(t, "POST", ts.URL+"/api/orders/"+anaOrder+"/cancel", host, nil, nil)
		offer := testid("offer", `[data-sku="tee-m"]`)
		viewerC.WaitVisible(offer)
		viewerC.WaitText(offer, "One is held for you — 0:")
		viewerC.WaitText(offer, "Sunset tee (M)")
		flashScreen(t, viewerC, "flash-offer")
		viewerC.Click(offer + " " + testid("offer-buy"))
		viewerC.WaitText(testid("toast"), "Ordered Sunset tee (M)")
		viewerC.WaitGone(offer)
		if o := myOrders(t, ts.URL, cleo); len(o) != 1 || o[0].Status != "placed" || o[0].Items[0].SKU != "tee-m" {
			t.Errorf("Cleo's orders = %+v, want one placed order of tee-m", o)
		}
	}

	step(t, "the studio's funnel counts the show")
	{
		var stats struct {
			Viewers    int
			Orders     int
			Conversion float64
		}
		mustAPI(t, "GET", ts.URL+"/api/streams/"+id+"/stats", host, nil, &stats)
		if stats.Orders < 2 || stats.Viewers < 3 || stats.Conversion <= 0 {
			t.Errorf("stats = %+v, want at least 2 orders, 3 unique viewers and a conversion", stats)
		}
		// The funnel polls: wait for the poll that shows what the API said.
		want := map[string]string{
			"funnel-orders":     fmt.Sprint(stats.Orders),
			"funnel-viewers":    fmt.Sprint(stats.Viewers),
			"funnel-conversion": fmt.Sprintf("%.1f%%", math.Round(stats.Conversion*1000)/10),
		}
		var conds []string
		for cell, text := range want {
			conds = append(conds, fmt.Sprintf(`document.querySelector('[data-testid=%q]').textContent === %q`, cell, text))
		}
		studio.WaitFunc(strings.Join(conds, " && "), fmt.Sprintf("the funnel shows %v", want))
		studio.WaitVisible(testid("funnel-product", `[data-sku="tee"]`))
		t.Logf("funnel: %d orders, %d unique viewers, conversion %s", stats.Orders, stats.Viewers, want["funnel-conversion"])
		scrollTo(studio, "funnel")
		flashScreen(t, studio, "flash-funnel")
	}

	step(t, "the unit held for Cleo, then sold to her, was never on sale to others")
	{
		var p struct {
			Variants []struct {
				SKU   string
				Stock int
			}
		}
		mustAPI(t, "GET", ts.URL+"/api/products/tee", "", nil, &p)
		for _, v := range p.Variants {
			if v.SKU == "tee-m" && v.Stock != 0 {
				t.Errorf("GET /api/products/tee: tee-m stock %d, want 0", v.Stock)
			}
		}
		// The room's "stock" messages must say so too: a card that still
		// offers M would send people into out_of_stock.
		for _, v := range []*browsertest.Tab{viewerA, viewerB} {
			v.WaitFunc(`document.querySelector('[data-testid="variant"][data-sku="tee-m"]').dataset.soldOut === "true"`, "M sold out again on "+v.Name())
		}
	}

	for _, tab := range []*browsertest.Tab{studio, viewerA, viewerB, viewerC} {
		tab.ExpectNoProblems(flashNoise)
	}
}

// scrollTo scrolls a staff page so that the panel with the data-testid is
// at the top, under the page's sticky header.
func scrollTo(tab *browsertest.Tab, panel string) {
	tab.Eval(fmt.Sprintf(`(() => { const p = document.querySelector('[data-testid=%q]'); window.scrollTo(0, p.getBoundingClientRect().top + window.scrollY - document.querySelector("header").offsetHeight - 8); })()`, panel), nil)
}

// flashScreen is screen once the page's animations (a card sliding in) are
// over.
func flashScreen(tb testing.TB, tab *browsertest.Tab, name string) {
	tb.Helper()
	tab.WaitFunc(`document.getAnimations().every((a) => a.playState !== "running")`, "animations over before the screenshot")
	screen(tb, tab, name)
}
