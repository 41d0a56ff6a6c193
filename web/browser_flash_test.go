package web_test

import (
	"encoding/json"
	"testing"

	"github.com/livecart/livecart/web"
	"github.com/livecart/livecart/web/browsertest"
)

// TestFlashSaleInBrowser drives the flash-sale parts of the pages in
// Chromium against the pages alone (no API): the card's variant picker and
// waitlist states, the coupon banner, the offer panel, the studio's coupon
// form and funnel, and what the shared shop sends to the API, with fetch
// replaced inside the page.
func TestFlashSaleInBrowser(t *testing.T) {
	b := browsertest.Start(t)
	srv := newServer(t, web.Config{Guests: true})

	t.Run("wording", func(t *testing.T) {
		tab := b.NewTab(t, browsertest.Named("flash-logic"))
		tab.Navigate(srv.URL + "/watch/x")
		tab.WaitFunc(`document.body.dataset.ready === "true"`, "ready")
		tab.Eval(`(async () => { window.couponLeft = (await import("/assets/js/coupon.js")).couponLeft; })()`, nil)
		tests := []struct {
			name, expr, want string
		}{
			{"limit reached", `(await import("/assets/js/messages.js")).messageOf({ code: "limit_reached" }, { limit: 2 })`, "You've reached the limit for this item (2 per person)"},
			{"limit reached, limit unknown", `(await import("/assets/js/messages.js")).messageOf({ code: "limit_reached" })`, "You've reached the limit for this item."},
			{"coupon refused", `(async () => { const { ApiError } = await import("/assets/js/api.js"); return (await import("/assets/js/messages.js")).messageOf(new ApiError(422, "coupon_invalid", "this code is used up")); })()`, "That code doesn't work: this code is used up"},
			{"limit text", `(await import("/assets/js/card.js")).limitText(1) + "|" + (await import("/assets/js/card.js")).limitText(undefined)`, "Limit 1 per person|"},
			{"place text", `(await import("/assets/js/card.js")).placeText(3)`, "You're #3 in line"},
			{"percent off", `(await import("/assets/js/coupon.js")).couponValue({ percent_off: 20 }, "EUR")`, "20% off"},
			{"amount off", `(await import("/assets/js/coupon.js")).couponValue({ amount_off_cents: 500 }, "EUR").replace(/\s/g, "")`, "€5.00off"},
			{"left", `[12, 0].map((left) => window.couponLeft({ left })).join("|")`, "12 left|Used up"},
			{"conversion", `(await import("/assets/js/funnel.js")).percent(0.3333) + "|" + (await import("/assets/js/funnel.js")).percent(1)`, "33.3%|100.0%"},
			{"order with discount", `(await import("/assets/js/shop.js")).orderText("Tee (M)", { total_cents: 2000, discount_cents: 500, currency: "EUR", coupon: "FLASH20" }).replace(/\s/g, " ")`, "Ordered Tee (M) · €20.00 · saved €5.00 with FLASH20"},
			{"order without discount", `(await import("/assets/js/shop.js")).orderText("Mug", { total_cents: 1800, discount_cents: 0, currency: "EUR" })`, "Ordered Mug · €18.00"},
			{"variant names", `(async () => { const { Catalog } = await import("/assets/js/catalog.js"); const c = new Catalog(); c.remember([{ sku: "tee", name: "Tee", price_cents: 2500, currency: "EUR", limit_per_buyer: 1, variants: [{ sku: "tee-m", label: "M", stock: 2, price_cents: 2700 }] }]); c.setStock("tee-m", 1); return [c.nameOf("tee-m"), c.nameOf("tee"), c.limitOf("tee-m"), c.regularPrice("tee", "tee-m"), c.productOf("tee-m").stock, c.currency()].join("|"); })()`, "Tee (M)|Tee|1|2700|1|EUR"},
			{"coupon body, percent", `JSON.stringify((await import("/assets/js/coupondrop.js")).couponBody({ code: " flash20 ", kind: "percent", value: "20", max: "10", perBuyer: "1", minutes: "5", skus: ["tee"] }, { currency: "EUR", now: 0 }))`,
				`{"code":"FLASH20","percent_off":20,"max_redemptions":10,"per_buyer":1,"ends_at":"1970-01-01T00:05:00.000Z","skus":["tee"]}`},
			{"coupon body, amount", `JSON.stringify((await import("/assets/js/coupondrop.js")).couponBody({ code: "FIVE", kind: "amount", value: "5", max: "3", perBuyer: "", minutes: "", skus: [] }, { currency: "EUR" }))`,
				`{"code":"FIVE","amount_off_cents":500,"max_redemptions":3}`},
			{"coupon body, bad code", `(async () => { try { (await import("/assets/js/coupondrop.js")).couponBody({ code: "a!", kind: "percent", value: "10", max: "1" }); return "accepted"; } catch (e) { return e.message; } })()`, "The code is 3 to 32 letters, digits, - or _."},
			{"coupon body, bad percent", `(async () => { try { (await import("/assets/js/coupondrop.js")).couponBody({ code: "ABC", kind: "percent", value: "120", max: "1" }); return "accepted"; } catch (e) { return e.message; } })()`, "The percent off is a whole number from 1 to 100."},
		}
		for _, tt := range tests {
			var got string
			tab.Eval(`(async () => { return `+tt.expr+`; })()`, &got)
			if got != tt.want {
				t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
			}
		}
		tab.ExpectNoProblems(apiNoise)
	})

	t.Run("variant card", func(t *testing.T) {
		tab := b.NewTab(t, browsertest.Named("flash-card"))
		tab.Navigate(srv.URL + "/watch/x")
		tab.WaitFunc(`document.body.dataset.ready === "true"`, "ready")
		var got struct {
			Chips                  []string
			PriceBefore, PriceM    string
			Limit                  string
			Hint                   bool
			CallsBeforePick        int
			Calls                  []string
			StockM, ButtonSoldOut  string
			ChipSoldOut, AddOff    bool
			ButtonWaiting          string
			LeaveShown, AddHidden  bool
			ButtonHeld             string
			OtherVariantKeepsPlace string
			Kept                   string
			Reset                  string
		}
		tab.Eval(`(async () => {
			const { ProductCard } = await import("/assets/js/card.js");
			const art = document.createElement("article");
			document.body.append(art);
			const calls = [];
			const card = new ProductCard(art, {
				onBuy: (s) => calls.push("buy " + s), onAdd: (s) => calls.push("add " + s),
				onJoin: (s) => calls.push("join " + s), onLeave: (s) => calls.push("leave " + s),
				regularPrice: (sku, v) => (v === "tee-m" ? 2700 : 2500),
			});
			const q = (id) => art.querySelector('[data-testid="' + id + '"]');
			const chip = (s) => art.querySelector('[data-testid="variant"][data-sku="' + s + '"]');
			card.set({ sku: "tee", name: "Tee", price_cents: 2500, currency: "EUR", stock: 8, limit_per_buyer: 1, variants: [
				{ sku: "tee-s", label: "S", stock: 5, price_cents: 2500 },
				{ sku: "tee-m", label: "M", stock: 2, price_cents: 2200 },
				{ sku: "tee-l", label: "L", stock: 0, price_cents: 2500 },
			] });
			const out = { Chips: [...art.querySelectorAll('[data-testid="variant"]')].map((c) => c.textContent + (c.classList.contains("sold-out") ? "×" : "")) };
			out.PriceBefore = q("card-price").textContent.replace(/\s/g, " ");
			out.Limit = q("card-limit").textContent;
			q("buy").click();
			q("add-to-cart").click();
			out.CallsBeforePick = calls.length;
			out.Hint = !q("variant-hint").hidden;
			chip("tee-m").click();
			out.PriceM = q("card-price").textContent.replace(/\s/g, " ") + " was " + (q("card-was").hidden ? "-" : q("card-was").textContent.replace(/\s/g, " "));
			q("buy").click();
			q("add-to-cart").click();
			card.setStock("tee-m", 0);
			out.StockM = q("card-stock").textContent;
			out.ButtonSoldOut = q("buy").textContent;
			out.ChipSoldOut = chip("tee-m").classList.contains("sold-out");
			out.AddOff = q("add-to-cart").disabled;
			q("buy").click();
			card.setPlace("tee-m", 2);
			out.ButtonWaiting = q("buy").textContent;
			out.LeaveShown = !q("waitlist-leave").hidden;
			out.AddHidden = q("add-to-cart").hidden;
			q("buy").click(); // waiting: nothing
			q("waitlist-leave").click();
			card.setOffer("tee-m", true);
			out.ButtonHeld = q("buy").textContent;
			card.setOffer("tee-m", false);
			chip("tee-s").click();
			out.OtherVariantKeepsPlace = q("buy").textContent;
			chip("tee-m").click();
			// The same product again (a new live price): the choice stays.
			card.set({ sku: "tee", name: "Tee", price_cents: 2000, currency: "EUR", stock: 5, variants: [
				{ sku: "tee-s", label: "S", stock: 5, price_cents: 2000 }, { sku: "tee-m", label: "M", stock: 0, price_cents: 2000 }] });
			out.Kept = art.dataset.chosen + " " + q("buy").textContent;
			card.set({ sku: "mug", name: "Mug", price_cents: 1800, currency: "EUR", stock: 0 });
			out.Reset = (art.dataset.chosen || "none") + " " + q("buy").textContent + " " + !!q("variant-picker");
			out.Calls = calls;
			return out;
		})()`, &got)
		checks := []struct {
			what      string
			got, want any
		}{
			{"chips", got.Chips, []string{"S", "M", "L×"}},
			{"price with no variant chosen", got.PriceBefore, "from €22.00"},
			{"limit", got.Limit, "Limit 1 per person"},
			{"taps before choosing", got.CallsBeforePick, 0},
			{"hint before choosing", got.Hint, true},
			{"price of M", got.PriceM, "€22.00 was €27.00"},
			{"stock of M sold out", got.StockM, "Sold out"},
			{"button of a sold-out variant", got.ButtonSoldOut, "Join waitlist"},
			{"M chip sold out", got.ChipSoldOut, true},
			{"+Cart of a sold-out variant disabled", got.AddOff, true},
			{"button in line", got.ButtonWaiting, "You're #2 in line"},
			{"Leave shown in line", got.LeaveShown, true},
			{"+Cart hidden in line", got.AddHidden, true},
			{"button with a held unit", got.ButtonHeld, "Buy now · held"},
			{"another variant", got.OtherVariantKeepsPlace, "Buy now"},
			{"choice kept for the same product", got.Kept, "tee-m You're #2 in line"},
			{"another product resets the choice", got.Reset, "none Join waitlist false"},
		}
		for _, c := range checks {
			if !equalJSON(t, c.got, c.want) {
				t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
			}
		}
		wantCalls := []string{"buy tee-m", "add tee-m", "join tee-m", "leave tee-m"}
		if !equalJSON(t, got.Calls, wantCalls) {
			t.Errorf("taps: got %q, want %q", got.Calls, wantCalls)
		}
		tab.ExpectNoProblems(apiNoise)
	})

	t.Run("coupon banner and offer panel", func(t *testing.T) {
		tab := b.NewTab(t, browsertest.Named("flash-banner"))
		tab.Navigate(srv.URL + "/watch/x")
		tab.WaitFunc(`document.body.dataset.ready === "true"`, "ready")
		var got struct {
			Banner, Applied, AfterUsedUp string
			Changes                      []any
			Offer                        string
			OfferGone                    bool
			Bought                       string
		}
		tab.Eval(`(async () => {
			const { CouponBanner } = await import("/assets/js/coupon.js");
			const { OfferPanel } = await import("/assets/js/offer.js");
			const box = document.createElement("div");
			document.body.append(box);
			const changes = [];
			const banner = new CouponBanner(box, { currency: () => "EUR", onChange: (c) => changes.push(c) });
			const endsAt = new Date(Date.now() + 125000).toISOString();
			banner.update({ type: "coupon", code: "flash20", percent_off: 20, left: 12, ends_at: endsAt });
			const text = () => ["coupon-code", "coupon-value", "coupon-left", "coupon-countdown", "coupon-apply"].map((id) => box.querySelector('[data-testid="' + id + '"]').textContent).join(" ");
			const out = { Banner: text() };
			box.querySelector('[data-testid="coupon-apply"]').click();
			out.Applied = banner.applied + " " + box.querySelector('[data-testid="coupon-apply"]').textContent;
			banner.update({ type: "coupon", code: "FLASH20", left: 0 });
			out.AfterUsedUp = text() + " applied=" + banner.applied + " disabled=" + box.querySelector('[data-testid="coupon-apply"]').disabled;
			out.Changes = changes;
			const panel = document.createElement("div");
			document.body.append(panel);
			let bought = "";
			const offers = new OfferPanel(panel, { nameOf: (s) => "Tee (M)", onBuy: (s) => (bought = s) });
			offers.set("tee-m", new Date(Date.now() + 59000).toISOString());
			out.Offer = ["offer-title", "offer-name", "offer-buy"].map((id) => panel.querySelector('[data-testid="' + id + '"]').textContent).join(" ");
			panel.querySelector('[data-testid="offer-buy"]').click();
			out.Bought = bought;
			offers.set("tee-m", null);
			out.OfferGone = panel.hidden && !panel.querySelector('[data-testid="offer"]');
			return out;
		})()`, &got)
		if want := "FLASH20 20% off 12 left 2:05 Apply"; got.Banner != want {
			t.Errorf("banner: got %q, want %q", got.Banner, want)
		}
		if got.Applied != "FLASH20 Applied ✓" {
			t.Errorf("applied: got %q", got.Applied)
		}
		if want := "FLASH20 20% off Used up 2:05 Apply applied=null disabled=true"; got.AfterUsedUp != want {
			t.Errorf("used up: got %q, want %q", got.AfterUsedUp, want)
		}
		if !equalJSON(t, got.Changes, []any{"FLASH20", nil}) {
			t.Errorf("applied codes seen: %v, want [FLASH20 null]", got.Changes)
		}
		if want := "One is held for you — 0:59 Tee (M) Buy now"; got.Offer != want {
			t.Errorf("offer: got %q, want %q", got.Offer, want)
		}
		if got.Bought != "tee-m" || !got.OfferGone {
			t.Errorf("offer buy %q, gone %v; want tee-m and gone", got.Bought, got.OfferGone)
		}
		tab.ExpectNoProblems(apiNoise)
	})

	t.Run("the shop sends what the API takes", func(t *testing.T) {
		tab := b.NewTab(t, browsertest.Named("flash-shop"))
		tab.Navigate(srv.URL + "/watch/x")
		tab.WaitFunc(`document.body.dataset.ready === "true"`, "ready")
		var got struct {
			Requests []string
			Toasts   []string
			Applied  string
			Place    string
		}
		tab.Eval(`(async () => {
			const { Api } = await import("/assets/js/api.js");
			const { ProductCard } = await import("/assets/js/card.js");
			const { Catalog } = await import("/assets/js/catalog.js");
			const { CouponBanner } = await import("/assets/js/coupon.js");
			const { Shop } = await import("/assets/js/shop.js");
			const reqs = [];
			const answers = [
				[201, { id: "o1", total_cents: 2000, discount_cents: 500, currency: "EUR", coupon: "FLASH20" }],
				[409, { code: "limit_reached", detail: "over the limit", status: 409 }],
				[201, { stream: "x", sku: "tee-m", position: 3 }],
				[204, null],
			];
			const real = window.fetch;
			window.fetch = async (url, init) => {
				reqs.push(init.method + " " + new URL(url, location.href).pathname + new URL(url, location.href).search + " " + (init.body || "") + (init.headers["Idempotency-Key"] ? " +key" : ""));
				const [status, body] = answers.shift();
				return new Response(body ? JSON.stringify(body) : null, { status, headers: { "Content-Type": status >= 400 ? "application/problem+json" : "application/json" } });
			};
			try {
				const catalog = new Catalog();
				catalog.remember([{ sku: "tee", name: "Tee", price_cents: 2500, currency: "EUR", limit_per_buyer: 1, variants: [{ sku: "tee-m", label: "M", stock: 2 }] }]);
				const art = document.createElement("article");
				document.body.append(art);
				const card = new ProductCard(art, {});
				card.set(catalog.cardOf("tee"));
				const box = document.createElement("div");
				document.body.append(box);
				const coupons = new CouponBanner(box, {});
				coupons.update({ code: "FLASH20", percent_off: 20, left: 5 });
				coupons.apply("FLASH20");
				const toasts = [];
				const shop = new Shop({ api: new Api({ token: "t" }), streamId: "x", card, coupons, catalog, signIn: async () => {}, say: (s, k) => toasts.push(k + ": " + s.replace(/\s/g, " ")) });
				await shop.order("tee-m", { withCoupon: true, show: () => {} });
				const applied = String(coupons.applied);
				await shop.order("tee-m", { withCoupon: true, show: () => {} });
				await shop.joinLine("tee-m");
				const place = card.places.get("tee-m");
				await shop.leave("tee-m");
				clearTimeout(shop.placesTimer);
				return { Requests: reqs, Toasts: toasts, Applied: applied, Place: String(place) + "/" + String(card.places.get("tee-m")) };
			} finally { window.fetch = real; }
		})()`, &got)
		wantReqs := []string{
			`POST /api/streams/x/buy {"sku":"tee-m","qty":1,"coupon":"FLASH20"} +key`,
			`POST /api/streams/x/buy {"sku":"tee-m","qty":1} +key`,
			`POST /api/streams/x/waitlist {"sku":"tee-m"}`,
			`DELETE /api/streams/x/waitlist {"sku":"tee-m"}`,
		}
		if !equalJSON(t, got.Requests, wantReqs) {
			t.Errorf("requests:\n got %q\nwant %q", got.Requests, wantReqs)
		}
		wantToasts := []string{
			"ok: Ordered Tee (M) · €20.00 · saved €5.00 with FLASH20",
			"error: You've reached the limit for this item (1 per person)",
			"ok: You're #3 in line for Tee (M)",
			"info: You left the line for Tee (M)",
		}
		if !equalJSON(t, got.Toasts, wantToasts) {
			t.Errorf("toasts:\n got %q\nwant %q", got.Toasts, wantToasts)
		}
		if got.Applied != "null" {
			t.Errorf("coupon after a discounted order: %q, want none applied", got.Applied)
		}
		if got.Place != "3/undefined" {
			t.Errorf("place after join/leave: %q, want 3/undefined", got.Place)
		}
		tab.ExpectNoProblems(apiNoise)
	})

	t.Run("studio coupons and funnel", func(t *testing.T) {
		tab := b.NewTab(t, browsertest.Named("flash-studio"))
		tab.Navigate(srv.URL + "/studio/x")
		tab.WaitFunc(`document.body.dataset.ready === "true"`, "ready")
		var got struct {
			Cells    map[string]string
			Rows     []string
			Coupon   string
			Products []string
		}
		tab.Eval(`(async () => {
			const { Funnel } = await import("/assets/js/funnel.js");
			const { CouponDrop } = await import("/assets/js/coupondrop.js");
			const q = (id) => document.querySelector('[data-testid="' + id + '"]');
			const f = new Funnel(q("funnel"), { api: null, streamId: "x" });
			f.render({ viewers: 40, peak_viewers: 31, card_views: 35, carts: 9, orders: 6, units: 7, revenue_cents: 15400, currency: "EUR", conversion: 0.15,
				products: [{ sku: "tee", name: "Tee", card_views: 35, carts: 9, orders: 6, units: 7, revenue_cents: 15400 }] });
			const cells = {};
			for (const id of ["viewers", "peak", "card-views", "carts", "orders", "units", "revenue", "conversion"]) cells[id] = q("funnel-" + id).textContent.replace(/\s/g, "");
			const rows = [...document.querySelectorAll('[data-testid="funnel-product"]')].map((r) => [...r.children].map((c) => c.textContent.replace(/\s/g, "")).join("|"));
			const lineup = { currency: () => "EUR", nameOf: (s) => s };
			const drop = new CouponDrop(q("coupons-panel"), { api: null, streamId: "x", lineup });
			drop.setProducts([{ sku: "tee", name: "Tee" }, { sku: "mug", name: "Mug" }]);
			drop.update({ code: "FLASH20", percent_off: 20, max_redemptions: 10, per_buyer: 1, left: 10, ends_at: null, skus: [] });
			drop.update({ type: "coupon", code: "FLASH20", left: 9 });
			const coupon = [...q("coupon-row").querySelectorAll(".top > *, .muted")].map((e) => e.textContent).join(" ") + " | live " + q("coupon-count").textContent;
			const products = [...document.querySelectorAll('[data-testid="coupon-sku"]')].map((i) => i.value);
			return { Cells: cells, Rows: rows, Coupon: coupon, Products: products };
		})()`, &got)
		want := map[string]string{"viewers": "40", "peak": "31", "card-views": "35", "carts": "9", "orders": "6", "units": "7", "revenue": "€154.00", "conversion": "15.0%"}
		if !equalJSON(t, got.Cells, want) {
			t.Errorf("funnel: got %v, want %v", got.Cells, want)
		}
		if !equalJSON(t, got.Rows, []string{"Tee|35|9|6|7|€154.00"}) {
			t.Errorf("funnel products: got %q", got.Rows)
		}
		if want := "FLASH20 20% off 9 left of 10 1 per person · whole lineup · no end | live 1"; got.Coupon != want {
			t.Errorf("coupon row: got %q, want %q", got.Coupon, want)
		}
		if !equalJSON(t, got.Products, []string{"tee", "mug"}) {
			t.Errorf("coupon products: got %q", got.Products)
		}
		tab.ExpectNoProblems(apiNoise)
	})
}

// equalJSON reports whether got and want encode to the same JSON.
func equalJSON(tb testing.TB, got, want any) bool {
	tb.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		tb.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		tb.Fatal(err)
	}
	return string(g) == string(w)
}
