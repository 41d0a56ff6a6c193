package main

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/web/browsertest"
)

// The viewer's screens as a shopper meets them, on a phone (390×844) and a
// desktop (1280×800). Each test names the point of the walk-through it
// checks: what a person sees (text, what is visible, boxes that must not
// cover one another), never how the page is built.

// TestBrowserVideoShape (7): a portrait publisher fills a phone's screen and
// the height of a desktop's picture area; a landscape one (OBS, GStreamer)
// is letterboxed whole, under the top bar on a phone, and with the card and
// the chat beside it on a desktop.
func TestBrowserVideoShape(t *testing.T) {
	ts := MustServe(t, nil)
	b := browsertest.Start(t)
	host := ts.Token(t, auth.Principal{Sub: "mia", Name: "Mia", Role: auth.Host})
	shapes := []struct {
		id   string
		w, h int
	}{{"portrait-show", 720, 1280}, {"landscape-show", 1280, 720}}
	for _, sh := range shapes {
		newShow(t, ts.URL, host, sh.id, fmt.Sprintf("A %d×%d show", sh.w, sh.h), []product{
			{SKU: "tee-" + sh.id, Name: "Sunset tee", PriceCents: 2900, Stock: 9, Image: ts.URL + "/assets/demo/tee.svg"},
		})
		mustAPI(t, "POST", ts.URL+"/api/streams/"+sh.id+"/pin", host, map[string]any{"sku": "tee-" + sh.id}, nil)
		publishCanvas(t, b, ts.URL, sh.id, host, sh.w, sh.h)
	}

	for _, sh := range shapes {
		wantRatio := float64(sh.w) / float64(sh.h)
		landscape := sh.w > sh.h
		for _, sz := range sizes {
			tab := openSized(t, b, "viewer-"+sh.id, sz, ts.URL+"/watch/"+sh.id)
			waitPlaying(t, tab, `document.body.dataset.player`, pageVideo)
			wantShape := "portrait"
			if landscape {
				wantShape = "landscape"
			}
			tab.WaitFunc(fmt.Sprintf(`document.body.dataset.shape === %q`, wantShape), "the page knows the picture's shape")
			tab.WaitVisible(testid("product-card"))
			p := pictureOf(t, tab, pageVideo)
			what := fmt.Sprintf("%s on a %s", sh.id, sz.name)
			if got := p.VideoWidth / p.VideoHeight; math.Abs(got-wantRatio) > 0.02 {
				t.Errorf("%s: videoWidth×videoHeight %v×%v (ratio %.3f), want the publisher's ratio %.3f", what, p.VideoWidth, p.VideoHeight, got, wantRatio)
			}
			bx := boxes(t, tab, testid("topbar"), testid("product-card"), testid("chat-list"), testid("composer"), testid("side"))
			switch {
			case !landscape && sz == phone:
				// Portrait on a phone: the picture fills the screen.
				if p.Fit != "cover" || !p.Viewport.inside(p.Drawn) {
					t.Errorf("%s: picture %s (object-fit %s) does not fill the screen %s", what, p.Drawn, p.Fit, p.Viewport)
				}
			case !landscape:
				// Portrait on a desktop: whole, as tall as the screen, with
				// the shop and chat beside it.
				if p.Fit != "contain" || math.Abs(p.Drawn.H-p.Viewport.H) > 1 {
					t.Errorf("%s: picture %s (object-fit %s), want it whole and as tall as the screen %s", what, p.Drawn, p.Fit, p.Viewport)
				}
			default:
				// Landscape: whole (letterboxed), never cropped.
				if p.Fit != "contain" || !p.Drawn.inside(p.Viewport) || math.Abs(p.Drawn.W/p.Drawn.H-wantRatio) > 0.02 {
					t.Errorf("%s: picture %s (object-fit %s), want all of it on screen %s at ratio %.3f", what, p.Drawn, p.Fit, p.Viewport, wantRatio)
				}
				if sz == phone {
					if bx[testid("topbar")] != nil && p.Drawn.overlaps(*bx[testid("topbar")]) {
						t.Errorf("%s: the top bar %s covers the picture %s", what, bx[testid("topbar")], p.Drawn)
					}
					if math.Abs(p.Drawn.W-p.Viewport.W) > 1 {
						t.Errorf("%s: picture %s, want it as wide as the screen %s", what, p.Drawn, p.Viewport)
					}
				} else if p.Drawn.W < p.Viewport.W/2 {
					t.Errorf("%s: picture %s, want it to take most of the screen %s", what, p.Drawn, p.Viewport)
				}
			}
			if sz == desktop || landscape {
				// The card, the chat and the composer are beside or below
				// the picture, not over it.
				for _, sel := range []string{testid("product-card"), testid("chat-list"), testid("composer")} {
					if bx[sel] == nil && sel != testid("chat-list") {
						t.Errorf("%s: %s not visible", what, sel)
					} else if bx[sel] != nil && bx[sel].overlaps(p.Drawn) {
						t.Errorf("%s: %s %s covers the picture %s", what, sel, bx[sel], p.Drawn)
					}
				}
			}
			if sz == desktop {
				side := bx[testid("side")]
				if side == nil || side.X < p.Drawn.X+p.Drawn.W-0.5 {
					t.Errorf("%s: the shop and chat column %v is not beside the picture %s", what, side, p.Drawn)
				}
			}
			shot(t, tab, fmt.Sprintf("watch-%s-%s", wantShape, sz.name))
			tab.ExpectNoProblems()
		}
	}
}

// whepRequests is a JavaScript expression for the number of WHEP requests
// the page has made.
const whepRequests = `performance.getEntriesByType("resource").filter((e) => e.name.includes("/whep")).length`

// visible is a JavaScript expression: whether the element the selector
// names is on screen.
func visible(sel string) string {
	return fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; const r = e.getBoundingClientRect(); return !e.closest("[hidden]") && r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== "hidden"; })()`, sel)
}

// TestBrowserViewerVisit (4, 5, 6) walks one show as a viewer meets it, on a
// phone and a desktop at once: before the host is live the page shows the
// host and the lineup and sends no WHEP offer; live, it plays; when the
// host's stream stops, it says the host is reconnecting and drops the LIVE
// badge, and plays on when they are back; ended, it sells nothing on the
// card, closes the chat and offers other shows. No request fails along the
// way.
func TestBrowserViewerVisit(t *testing.T) {
	ts := MustServe(t, nil)
	b := browsertest.Start(t)
	const id = "evening-drop"
	host := ts.Token(t, auth.Principal{Sub: "mia", Name: "Mia", Role: auth.Host})
	newShow(t, ts.URL, host, id, "Evening drop with Mia", []product{
		{SKU: "tee-evening", Name: "Sunset tee", PriceCents: 2900, Stock: 9, Image: ts.URL + "/assets/demo/tee.svg", Description: "Heavy cotton, boxy fit."},
		{SKU: "mug-evening", Name: "Lagoon enamel mug", PriceCents: 1800, Stock: 20, Image: ts.URL + "/assets/demo/mug.svg"},
		{SKU: "cap-evening", Name: "Night cap", PriceCents: 2400, Stock: 5, Image: ts.URL + "/assets/demo/cap.svg"},
	})
	mustAPI(t, "POST", ts.URL+"/api/streams/"+id+"/pin", host, map[string]any{"sku": "tee-evening"}, nil)
	newShow(t, ts.URL, host, "morning-coffee", "Morning coffee", []product{
		{SKU: "mug-morning", Name: "Lagoon enamel mug", PriceCents: 1800, Stock: 20, Image: ts.URL + "/assets/demo/mug.svg"},
	})
	ana := ts.Token(t, auth.Principal{Sub: "ana", Name: "Ana", Role: auth.Viewer})

	var tabs []*browsertest.Tab
	for _, sz := range sizes {
		tabs = append(tabs, openSized(t, b, "viewer", sz, withToken(ts.URL+"/watch/"+id, ana)))
	}

	step(t, "offline: the host, the lineup, and no WHEP offers")
	for i, v := range tabs {
		v.WaitFunc(`document.body.dataset.view === "offline" && document.body.dataset.room === "open"`, "the page says the show is offline")
		v.WaitFunc(visible(testid("offline-panel")), "offline panel shown")
		v.WaitText(testid("offline-title"), "mia isn't live yet")
		v.WaitFunc(`document.querySelectorAll('[data-testid="offline-product"]').length === 3`, "the lineup on the offline panel")
		v.WaitText(testid("offline-lineup"), "Lagoon enamel mug")
		v.WaitText(testid("offline-shop"), "Browse the 3 products")
		v.WaitText(testid("host"), "with mia")
		if evalBool(t, v, visible(testid("live-badge"))) {
			t.Errorf("%s: LIVE badge shown while the show is offline", v.Name())
		}
		shot(t, v, "watch-offline-"+sizes[i].name)
	}
	// The room says "offline": a player that offered anyway would have sent
	// its first offers (and retries) by now.
	time.Sleep(3 * time.Second)
	for _, v := range tabs {
		var n int
		v.Eval(whepRequests, &n)
		if n != 0 {
			t.Errorf("%s: %d WHEP requests while the room says the show is offline, want 0", v.Name(), n)
		}
	}

	step(t, "live: the picture, the LIVE badge")
	pub := publishCanvas(t, b, ts.URL, id, host, 720, 1280)
	for _, v := range tabs {
		waitPlaying(t, v, `document.body.dataset.player`, pageVideo)
		v.WaitFunc(`document.body.dataset.view === "playing"`, "playing")
		v.WaitVisible(testid("live-badge"))
		v.WaitGone(testid("offline-panel"))
		v.WaitVisible(testid("product-card", `[data-sku="tee-evening"]`))
	}

	step(t, "the host's stream stops: the host is reconnecting")
	pub.stop(t)
	for i, v := range tabs {
		v.WaitFunc(`document.body.dataset.view === "stalled"`, "the page notices the picture stopped")
		v.WaitFunc(visible(testid("player-state")), "a line over the video")
		v.WaitText(testid("player-state"), "The host is reconnecting")
		v.WaitGone(testid("live-badge"))
		shot(t, v, "watch-reconnecting-"+sizes[i].name)
	}

	step(t, "the host is back: playing again on the same connection")
	pub.resume(t)
	for _, v := range tabs {
		v.WaitFunc(`document.body.dataset.view === "playing"`, "playing again")
		v.WaitVisible(testid("live-badge"))
		v.WaitGone(testid("player-state"))
	}

	step(t, "ended: nothing to buy on the card, chat closed, other shows")
	mustAPI(t, "POST", ts.URL+"/api/streams/"+id+"/end", host, map[string]any{}, nil)
	for i, v := range tabs {
		v.WaitFunc(`document.body.dataset.view === "ended"`, "the page says the show ended")
		v.WaitFunc(visible(testid("ended-panel")), "ended panel shown")
		v.WaitText(testid("ended-panel"), "This show has ended")
		v.WaitGone(testid("product-card"))
		v.WaitGone(testid("live-badge"))
		v.WaitFunc(`document.querySelector('[data-testid="chat-input"]').disabled`, "chat closed")
		v.WaitText(testid("notice"), "chat is closed")
		v.WaitText(testid("other-shows")+" "+testid("other-show"), "Morning coffee")
		var buys int
		v.Eval(`[...document.querySelectorAll('.stage [data-testid="buy"]')].filter((b) => b.getBoundingClientRect().width > 0 && !b.closest("[hidden]")).length`, &buys)
		if buys != 0 {
			t.Errorf("%s: %d Buy buttons on the stage of an ended show, want 0", v.Name(), buys)
		}
		shot(t, v, "watch-ended-"+sizes[i].name)
	}
	for _, v := range tabs {
		v.ExpectNoProblems()
	}
	pub.tab.ExpectNoProblems()
}

// evalBool evaluates a JavaScript expression to a boolean.
func evalBool(tb testing.TB, tab *browsertest.Tab, expr string) bool {
	tb.Helper()
	var v bool
	tab.Eval(expr, &v)
	return v
}

// coveredByToasts returns what the toasts on screen cover: one another, or
// an element among sels.
func coveredByToasts(tb testing.TB, tab *browsertest.Tab, sels ...string) []string {
	tb.Helper()
	bx := boxes(tb, tab, sels...)
	toasts := allBoxes(tb, tab, testid("toast"))
	var out []string
	for i, a := range toasts {
		for j, b := range toasts {
			if i < j && a.overlaps(b) {
				out = append(out, fmt.Sprintf("toast %d %s and toast %d %s", i, a, j, b))
			}
		}
		for _, sel := range sels {
			if b := bx[sel]; b != nil && a.overlaps(*b) {
				out = append(out, fmt.Sprintf("a toast %s covers %s %s", a, sel, b))
			}
		}
	}
	return out
}

// TestBrowserViewerShop (1, 2, 3, 8, 9) shops a live show on a phone and on
// a desktop: the bag lists the whole lineup and buys or adds to the cart
// from it; the toasts of Buy and + Cart cover neither the top bar, the card
// nor each other; the cart drawer lists the viewer's orders of the show,
// and one is cancelled there; /orders lists them all; Share offers the
// show's link (the system sheet, else the clipboard, else the link shown);
// chat stays readable over the picture; the link's preview tags name the
// show, its host and its picture; an unknown show is a 404 page.
func TestBrowserViewerShop(t *testing.T) {
	ts := MustServe(t, nil)
	b := browsertest.Start(t)
	const id = "shop-night"
	const title = "Shop night with Mia"
	host := ts.Token(t, auth.Principal{Sub: "mia", Name: "Mia", Role: auth.Host})
	newShow(t, ts.URL, host, id, title, []product{
		{SKU: "tee-night", Name: "Sunset tee", PriceCents: 2900, Stock: 20, Image: ts.URL + "/assets/demo/tee.svg", Description: "Heavy cotton, boxy fit."},
		{SKU: "mug-night", Name: "Lagoon enamel mug", PriceCents: 1800, Stock: 20, Image: ts.URL + "/assets/demo/mug.svg", Description: "350 ml, camp-fire proof."},
		{SKU: "cap-night", Name: "Night cap", PriceCents: 2400, Stock: 20, Image: ts.URL + "/assets/demo/cap.svg", Description: "Six panels, one size."},
	})
	mustAPI(t, "POST", ts.URL+"/api/streams/"+id+"/pin", host, map[string]any{"sku": "tee-night"}, nil)
	publishCanvas(t, b, ts.URL, id, host, 720, 1280)

	step(t, "the link's preview and an unknown show")
	{
		code, page := apiCall(t, "GET", ts.URL+"/watch/"+id, "", nil)
		html := string(page)
		for _, want := range []string{
			`<meta property="og:title" content="` + title + `">`,
			`<meta property="og:image" content="` + ts.URL + `/assets/demo/tee.svg">`,
			`<meta property="og:url" content="` + ts.URL + `/watch/` + id + `">`,
			`<meta name="twitter:card" content="summary_large_image">`,
			`with mia`,
		} {
			if code != 200 || !strings.Contains(html, want) {
				t.Errorf("GET /watch/%s = %d, lacks %s", id, code, want)
			}
		}
		code, page = apiCall(t, "GET", ts.URL+"/watch/nope", "", nil)
		if code != 404 || !strings.Contains(string(page), "Show not found") || !strings.Contains(string(page), `<script type="module" src="/assets/js/watch.js">`) {
			t.Errorf("GET /watch/nope = %d, want 404 and the page saying the show is not found", code)
		}
	}

	viewers := map[string]string{phone.name: "ana", desktop.name: "ben"}
	for _, sz := range sizes {
		sub := viewers[sz.name]
		tok := ts.Token(t, auth.Principal{Sub: sub, Name: strings.ToUpper(sub[:1]) + sub[1:], Role: auth.Viewer})
		v := openSized(t, b, "viewer-"+sub, sz, withToken(ts.URL+"/watch/"+id, tok))
		waitPlaying(t, v, `document.body.dataset.player`, pageVideo)
		v.WaitVisible(testid("product-card", `[data-sku="tee-night"]`))
		topbar := []string{testid("back"), testid("title"), testid("host"), testid("live-badge"), testid("viewers"), testid("share"), testid("cart-button")}
		shop := append(topbar, testid("product-card"), testid("bag-button"), testid("composer"))

		step(t, sz.name+": the bag lists the lineup; buy and add to cart from it")
		v.Click(testid("bag-button"))
		v.WaitVisible(testid("bag"))
		v.WaitFunc(`document.querySelectorAll('[data-testid="bag-item"]').length === 3`, "three products in the bag")
		for _, name := range []string{"Sunset tee", "Lagoon enamel mug", "Night cap", "€18.00", "350 ml, camp-fire proof."} {
			v.WaitText(testid("bag"), name)
		}
		v.WaitText(testid("bag-item", `[data-pinned="true"]`), "On now")
		shot(t, v, "watch-bag-"+sz.name)
		mug := testid("bag-item", `[data-sku="mug-night"] `)
		v.Click(mug + testid("buy"))
		v.WaitText(testid("toast"), "Ordered Lagoon enamel mug")
		v.WaitText(mug+testid("buy"), "Ordered ✓")
		v.Click(testid("bag-item", `[data-sku="cap-night"] `) + testid("add-to-cart"))
		v.WaitText(testid("toast"), "Added Night cap to your cart")
		v.WaitText(testid("cart-count"), "1")
		if c := coveredByToasts(t, v, append(topbar, testid("bag-items"))...); len(c) > 0 {
			t.Errorf("%s, bag open: %v", sz.name, c)
		}
		v.Click(testid("bag-close"))
		v.WaitGone(testid("bag"))

		step(t, sz.name+": Buy and + Cart on the card; the toasts cover nothing")
		v.WaitFunc(`document.querySelectorAll('[data-testid="toast"]').length === 0`, "earlier toasts gone")
		v.Click(testid("product-card") + " " + testid("buy"))
		v.WaitText(testid("toast"), "Ordered Sunset tee")
		if c := coveredByToasts(t, v, shop...); len(c) > 0 {
			t.Errorf("%s, after Buy: %v", sz.name, c)
		}
		v.Click(testid("product-card") + " " + testid("add-to-cart"))
		v.WaitText(testid("toast"), "Added Sunset tee to your cart")
		v.WaitText(testid("cart-count"), "2")
		if c := coveredByToasts(t, v, shop...); len(c) > 0 {
			t.Errorf("%s, after + Cart: %v", sz.name, c)
		}

		step(t, sz.name+": chat stays readable over the picture")
		v.Type(testid("chat-input"), "Is the mug dishwasher safe?")
		v.Click(testid("chat-send"))
		v.WaitText(testid("chat-list")+" "+testid("chat-line"), "dishwasher")
		var backdrop struct {
			Alpha   float64
			OnVideo bool
		}
		// A line's backdrop: its own background, or the column's when the
		// chat is beside the picture (desktop).
		v.Eval(`(() => {
			const line = document.querySelector('[data-testid="chat-list"] [data-testid="chat-line"]');
			const alpha = (c) => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return 0; const p = m[1].split(",").map(Number); return p.length > 3 ? p[3] : 1; };
			const v = document.querySelector('[data-testid="video"]').getBoundingClientRect(), r = line.getBoundingClientRect();
			const onVideo = r.left < v.right && v.left < r.right && r.top < v.bottom && v.top < r.bottom;
			const own = alpha(getComputedStyle(line).backgroundColor);
			const column = alpha(getComputedStyle(document.querySelector('[data-testid="side"]')).backgroundColor);
			return { Alpha: onVideo ? own : Math.max(own, column), OnVideo: onVideo };
		})()`, &backdrop)
		if backdrop.Alpha < 0.5 {
			t.Errorf("%s: a chat line's backdrop has alpha %.2f (over the picture: %v), want at least 0.5", sz.name, backdrop.Alpha, backdrop.OnVideo)
		}
		shot(t, v, "watch-live-"+sz.name)

		step(t, sz.name+": my orders of the show in the cart drawer; cancel one")
		v.Click(testid("cart-button"))
		v.WaitVisible(testid("cart-drawer"))
		v.WaitFunc(`document.querySelectorAll('[data-testid="cart-drawer"] [data-testid="my-order"]').length === 2`, "two orders in the drawer")
		v.WaitText(testid("my-order")+" "+testid("my-order-items"), "1 × Sunset tee") // newest first
		v.WaitText(testid("cart-items"), "Night cap")
		var mugID string
		v.Eval(`[...document.querySelectorAll('[data-testid="my-order"]')].find((o) => o.textContent.includes("Lagoon enamel mug")).dataset.id`, &mugID)
		row := testid("my-order", fmt.Sprintf(`[data-id=%q] `, mugID))
		shot(t, v, "watch-orders-"+sz.name)
		v.Click(row + testid("order-cancel"))
		v.WaitText(row+testid("order-cancel"), "Tap again to cancel")
		v.Click(row + testid("order-cancel"))
		v.WaitText(row+testid("my-order-status"), "Cancelled")
		v.WaitText(testid("toast"), "Order cancelled")
		for _, o := range myOrders(t, ts.URL, tok) {
			if o.ID == mugID && o.Status != "cancelled" {
				t.Errorf("%s: the mug order is %q after Cancel, want cancelled", sz.name, o.Status)
			}
		}
		v.Click(testid("cart-close"))

		step(t, sz.name+": share the show")
		shareURL := ts.URL + "/watch/" + id
		var shared struct{ Title, URL string }
		v.Eval(`(() => { window.__shared = null; navigator.share = async (d) => { window.__shared = d; }; return true; })()`, nil)
		v.Click(testid("share"))
		v.WaitFunc(`!!window.__shared`, "the system share sheet offered")
		v.Eval(`({ Title: window.__shared.title, URL: window.__shared.url })`, &shared)
		if shared.Title != title || shared.URL != shareURL {
			t.Errorf("%s: shared %+v, want the show's title %q and link %q (no token)", sz.name, shared, title, shareURL)
		}
		// No share sheet in this browser, and the clipboard refused: the
		// link is shown to copy.
		v.Eval(`(() => { delete navigator.share; navigator.share = undefined; Object.defineProperty(navigator, "clipboard", { value: { writeText: () => Promise.reject(new Error("denied")) }, configurable: true }); return true; })()`, nil)
		v.Click(testid("share"))
		v.WaitVisible(testid("share-sheet"))
		var shown string
		v.Eval(`document.querySelector('[data-testid="share-url"]').value`, &shown)
		if shown != shareURL {
			t.Errorf("%s: the share sheet shows %q, want %q", sz.name, shown, shareURL)
		}
		shot(t, v, "watch-share-"+sz.name)
		v.Click(testid("share-close"))
		// With a clipboard: copied, and said so.
		v.Eval(`(() => { Object.defineProperty(navigator, "clipboard", { value: { writeText: (t) => { window.__copied = t; return Promise.resolve(); } }, configurable: true }); return true; })()`, nil)
		v.Click(testid("share"))
		v.WaitText(testid("toast"), "Link copied")
		v.WaitFunc(fmt.Sprintf(`window.__copied === %q`, shareURL), "the link in the clipboard")

		step(t, sz.name+": /orders lists my orders with their show")
		v.Navigate(ts.URL + "/orders")
		v.WaitFunc(`document.body.dataset.ready === "true"`, "orders page ready")
		v.WaitFunc(`document.querySelectorAll('[data-testid="my-order"]').length === 2`, "two orders on /orders")
		v.WaitText(testid("my-orders"), title)
		v.WaitText(testid("my-order", fmt.Sprintf(`[data-id=%q] `, mugID))+testid("my-order-status"), "Cancelled")
		v.WaitText(testid("my-order", `[data-status="placed"] `)+testid("order-cancel"), "Cancel")
		shot(t, v, "orders-"+sz.name)

		step(t, sz.name+": an unknown show")
		v.Navigate(ts.URL + "/watch/nope")
		v.WaitFunc(`document.body.dataset.ready === "true"`, "not-found page ready")
		v.WaitVisible(testid("not-found"))
		v.WaitText(testid("not-found"), "Show not found")
		v.WaitFunc(`document.title.startsWith("Show not found")`, "the page's title says so")
		shot(t, v, "watch-not-found-"+sz.name)
		// The 404 of the page itself is the one expected failure.
		v.ExpectNoProblems(func(p browsertest.Problem) bool {
			return p.Kind == "log" && p.Source == "network" && strings.Contains(p.URL, "/watch/nope") && strings.Contains(p.Text, "404")
		})
	}
}
