package main

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/web/browsertest"
)

// The screens of the home page, the studio, the moderator console and the
// embed, on a phone and a desktop, checked as a host, a moderator and a
// brand would look at them. With LIVECART_SCREENS_DIR set, every screen is
// written there too (the README's screens):
//
//	LIVECART_SCREENS_DIR=$PWD/docs/screens go test -count=1 -run 'TestBrowser(Home|Studio|EmbedEvents|VideoShape|ViewerVisit|ViewerShop)$' ./cmd/livecart/

// TestBrowserHome: live shows first, with their host and a picture (the
// pinned product's, else the first product's, else the host's initial),
// "Offline" for shows without their host (never "Soon"), and the ended
// shows apart and last, offering their products.
func TestBrowserHome(t *testing.T) {
	ts := MustServe(t, nil)
	b := browsertest.Start(t)
	mia := ts.Token(t, auth.Principal{Sub: "mia", Name: "Mia", Role: auth.Host})
	leo := ts.Token(t, auth.Principal{Sub: "leo", Name: "Leo", Role: auth.Host})
	zoe := ts.Token(t, auth.Principal{Sub: "zoe", Name: "Zoe", Role: auth.Host})
	newShow(t, ts.URL, leo, "cap-drop", "Caps for the summer", []product{
		{SKU: "cap-home", Name: "Night cap", PriceCents: 2400, Stock: 5, Image: ts.URL + "/assets/demo/cap.svg"},
	})
	newShow(t, ts.URL, mia, "winter-sale", "Winter sale", []product{
		{SKU: "mug-home", Name: "Lagoon enamel mug", PriceCents: 1800, Stock: 20, Image: ts.URL + "/assets/demo/mug.svg"},
	})
	mustAPI(t, "POST", ts.URL+"/api/streams/winter-sale/end", mia, map[string]any{}, nil)
	newShow(t, ts.URL, zoe, "zoe-talks", "Ask me anything", nil)
	newShow(t, ts.URL, mia, "spring-live", "Spring drop, live", []product{
		{SKU: "mug-spring", Name: "Lagoon enamel mug", PriceCents: 1800, Stock: 20, Image: ts.URL + "/assets/demo/mug.svg"},
		{SKU: "tee-spring", Name: "Sunset tee", PriceCents: 2900, Stock: 9, Image: ts.URL + "/assets/demo/tee.svg"},
	})
	mustAPI(t, "POST", ts.URL+"/api/streams/spring-live/pin", mia, map[string]any{"sku": "tee-spring"}, nil)
	publishCanvas(t, b, ts.URL, "spring-live", mia, 720, 1280)

	for _, sz := range sizes {
		home := openSized(t, b, "home", sz, ts.URL+"/")
		home.WaitFunc(`document.querySelectorAll('[data-testid="stream-list"] [data-testid="stream-card"]').length === 3`, "three shows on")
		home.WaitFunc(`document.querySelectorAll('[data-testid="ended-list"] [data-testid="stream-card"]').length === 1`, "one ended show apart")
		front(t, home)
		home.WaitFunc(`[...document.querySelectorAll('img[data-testid="stream-picture"]')].every((i) => i.complete)`, "the pictures loaded")
		var cards []struct {
			ID, Status, Label, Host, Picture, Text string
			Loaded                                 bool
		}
		home.Eval(`[...document.querySelectorAll('[data-testid="stream-card"]')].map((c) => {
			const pic = c.querySelector('[data-testid="stream-picture"]');
			return { ID: c.dataset.id, Status: c.dataset.status, Label: c.querySelector('[data-testid="stream-status"]').textContent,
				Host: c.querySelector('[data-testid="stream-host"]')?.textContent || "",
				Picture: pic.tagName === "IMG" ? pic.getAttribute("src") : "initial " + pic.textContent,
				Loaded: pic.tagName !== "IMG" || (pic.complete && pic.naturalWidth > 0), Text: c.textContent };
		})`, &cards)
		// In the order they are shown: live, then the two offline ones
		// (in either order), then the ended one.
		want := []struct{ id, label, host, picture string }{
			{"spring-live", "LIVE", "with mia", ts.URL + "/assets/demo/tee.svg"},
			{"cap-drop", "Offline", "with leo", ts.URL + "/assets/demo/cap.svg"},
			{"zoe-talks", "Offline", "with zoe", "initial Z"},
			{"winter-sale", "Ended", "with mia", ts.URL + "/assets/demo/mug.svg"},
		}
		if len(cards) != len(want) {
			t.Fatalf("%s: %d cards, want %d: %+v", sz.name, len(cards), len(want), cards)
		}
		if cards[1].ID == "zoe-talks" {
			cards[1], cards[2] = cards[2], cards[1]
		}
		for i, w := range want {
			c := cards[i]
			if c.ID != w.id || c.Label != w.label || c.Host != w.host || c.Picture != w.picture || !c.Loaded {
				t.Errorf("%s: card %d = %+v, want %s labelled %q, %q, picture %s (loaded)", sz.name, i, c, w.id, w.label, w.host, w.picture)
			}
			if strings.Contains(c.Text, "Soon") {
				t.Errorf("%s: card %s says Soon", sz.name, c.ID)
			}
		}
		if !strings.Contains(cards[3].Text, "Shop 1 product") {
			t.Errorf("%s: the ended show's card %q does not offer its products", sz.name, cards[3].Text)
		}
		bx := boxes(t, home, testid("stream-list"), testid("ended-shows"))
		if bx[testid("ended-shows")] == nil || bx[testid("stream-list")] == nil || bx[testid("ended-shows")].Y < bx[testid("stream-list")].Y+bx[testid("stream-list")].H {
			t.Errorf("%s: ended shows %v are not below the others %v", sz.name, bx[testid("ended-shows")], bx[testid("stream-list")])
		}
		shot(t, home, "home-"+sz.name)
		home.ExpectNoProblems()
	}
}

// TestBrowserStudio: before the show the revenue is in the lineup's
// currency and there is no End show; live, the studio shows how long the
// show has run and its stream health (bitrate, frame rate, packet loss,
// round trip, the server's viewer count), and End show; orders are counted
// in words ("1 order", "2 orders"); an answered question folds away below
// the open ones; the moderator console; and without a token the page
// explains itself and takes a pasted token.
func TestBrowserStudio(t *testing.T) {
	ts := MustServe(t, nil)
	b := browsertest.Start(t)
	const id = "studio-show"
	hostP := auth.Principal{Sub: "mia", Name: "Mia", Role: auth.Host}
	host := ts.Token(t, hostP)
	newShow(t, ts.URL, host, id, "Studio night", []product{
		{SKU: "tee-studio", Name: "Sunset tee", PriceCents: 2900, Stock: 20, Image: ts.URL + "/assets/demo/tee.svg"},
		{SKU: "mug-studio", Name: "Lagoon enamel mug", PriceCents: 1800, Stock: 20, Image: ts.URL + "/assets/demo/mug.svg"},
	})
	mustAPI(t, "POST", ts.URL+"/api/streams/"+id+"/pin", host, map[string]any{"sku": "tee-studio"}, nil)

	step(t, "a studio without a token explains itself and takes one")
	for _, sz := range sizes {
		gate := openSized(t, b, "studio-gate", sz, ts.URL+"/studio/"+id)
		gate.WaitVisible(testid("need-token"))
		gate.WaitVisible(testid("token-input"))
		gate.WaitText(testid("need-token"), "host token")
		gate.WaitText(testid("title"), "Studio · "+id)
		for _, sel := range []string{testid("status"), testid("viewers-pill"), testid("watch-link"), testid("studio")} {
			if evalBool(t, gate, visible(sel)) {
				t.Errorf("%s: %s shown on the studio's gate", sz.name, sel)
			}
		}
		var watch string
		gate.Eval(`document.querySelector('[data-testid="gate-watch"]').getAttribute("href")`, &watch)
		if watch != "/watch/"+id {
			t.Errorf("%s: the gate's link to the show is %q, want /watch/%s", sz.name, watch, id)
		}
		shot(t, gate, "studio-gate-"+sz.name)
		if sz == phone {
			gate.Type(testid("token-input"), host)
			gate.Click(testid("token-open"))
			// The page reloads with the token: wait across the reload.
			e2eUntil(t, "the studio opens with the pasted token", func() bool {
				var ok bool
				return gate.TryEval(`document.body.dataset.ready === "true" && !document.querySelector('[data-testid="studio"]').hidden`, &ok) == nil && ok
			})
			gate.WaitText(testid("title"), "Studio night")
		}
		gate.ExpectNoProblems()
	}

	var studios []*browsertest.Tab
	for _, sz := range sizes {
		s := openSized(t, b, "studio", sz, withToken(ts.URL+"/studio/"+id, host))
		s.WaitFunc(`document.body.dataset.room === "open"`, "studio room open")
		studios = append(studios, s)
	}

	step(t, "before the show: the lineup's currency, no End show")
	for _, s := range studios {
		s.WaitText(testid("revenue"), "€0.00")
		s.WaitText(testid("order-count-label"), "orders")
		s.WaitText(testid("order-count"), "0")
		if evalBool(t, s, visible(testid("end-show"))) || evalBool(t, s, visible(testid("elapsed"))) {
			t.Errorf("%s: End show or an elapsed time before the show is live", s.Name())
		}
	}

	ana := ts.Token(t, auth.Principal{Sub: "ana", Name: "Ana", Role: auth.Viewer})
	viewer := openSized(t, b, "viewer", phone, withToken(ts.URL+"/watch/"+id, ana))
	moderator := openSized(t, b, "moderator", phone, withToken(ts.URL+"/moderate/"+id, ts.Token(t, auth.Principal{Sub: "noor", Name: "Noor", Role: auth.Moderator, Stream: id})))
	for i, s := range studios {
		step(t, sizes[i].name+" studio goes live: elapsed time, health, End show")
		goLive(t, s)
		s.WaitFunc(`document.body.dataset.status === "live"`, "live")
		s.WaitVisible(testid("end-show"))
		s.WaitVisible(testid("elapsed"))
		s.WaitFunc(`/^Live 0:0[2-9]$/.test(document.querySelector('[data-testid="elapsed"]').textContent)`, "elapsed time counting")
		s.WaitFunc(`/^[1-9][\d,]* kbps$/.test(document.querySelector('[data-testid="health-bitrate"]').textContent)`, "outgoing bitrate")
		s.WaitFunc(`/^[1-9]\d* fps$/.test(document.querySelector('[data-testid="health-fps"]').textContent)`, "frame rate")
		s.WaitFunc(`/^\d+\.\d%$/.test(document.querySelector('[data-testid="health-loss"]').textContent)`, "packet loss")
		s.WaitFunc(`/^\d+ ms$/.test(document.querySelector('[data-testid="health-rtt"]').textContent)`, "round trip")
		s.WaitFunc(`/^\d+$/.test(document.querySelector('[data-testid="health-viewers"]').textContent)`, "the server's viewer count")
		if i == 0 {
			waitPlaying(t, viewer, `document.body.dataset.player`, pageVideo)
			step(t, "orders are counted in words, revenue in euros")
			viewer.Click(testid("product-card") + " " + testid("buy"))
			viewer.WaitText(testid("toast"), "Ordered Sunset tee")
			for _, st := range studios {
				st.WaitText(testid("order-count"), "1")
				st.WaitText(testid("order-count-label"), "order")
				st.WaitText(testid("revenue"), "€29.00")
			}
			if txt := studios[0].Text(testid("order-count-label")); txt != "order" {
				t.Errorf("with one order the studio says %q, want \"order\"", txt)
			}
			// A second purchase: a tap once the first one is confirmed.
			viewer.WaitFunc(`document.querySelector('[data-testid="product-card"] [data-testid="buy"]').textContent === "Buy now"`, "Buy now again")
			viewer.Click(testid("product-card") + " " + testid("buy"))
			for _, st := range studios {
				st.WaitText(testid("order-count"), "2")
				st.WaitFunc(`document.querySelector('[data-testid="order-count-label"]').textContent === "orders"`, "two orders")
				st.WaitText(testid("revenue"), "€58.00")
			}

			step(t, "an answered question folds away")
			for _, q := range []string{"Does the tee run large?", "Is the mug dishwasher safe?"} {
				viewer.Click(testid("ask-toggle"))
				viewer.Type(testid("chat-input"), q)
				viewer.Click(testid("chat-send"))
				s.WaitText(testid("questions"), q)
			}
			s.WaitText(testid("open-questions"), "2")
			var qid string
			s.Eval(`[...document.querySelectorAll('[data-testid="questions"] [data-testid="question"]')].find((e) => e.textContent.includes("run large")).dataset.id`, &qid)
			q := testid("questions") + fmt.Sprintf(` [data-id=%q] `, qid)
			s.Type(q+testid("answer-input"), "Boxy fit: take your usual size.")
			s.Click(q + testid("answer-send"))
			s.WaitText(q+testid("answers"), "Boxy fit")
			s.WaitText(testid("open-questions"), "1")
			s.WaitFunc(fmt.Sprintf(`!%s`, visible(q+testid("answer-input"))), "the answered question's answer box folded away")
			var order struct{ Answered, Open float64 }
			s.Eval(fmt.Sprintf(`(() => { const qs = document.querySelectorAll('[data-testid="questions"] [data-testid="question"]');
				const a = [...qs].find((e) => e.dataset.id === %q), o = [...qs].find((e) => e.dataset.id !== %q);
				return { Answered: a.getBoundingClientRect().top, Open: o.getBoundingClientRect().top }; })()`, qid, qid), &order)
			if order.Answered <= order.Open {
				t.Errorf("the answered question (y %.0f) is not below the open one (y %.0f)", order.Answered, order.Open)
			}
			moderator.WaitText(testid("question-queue"), "dishwasher")
			shot(t, moderator, "moderate-phone")
		}
		s.Eval(`window.scrollTo(0, 0)`, nil)
		shot(t, s, "studio-"+sizes[i].name)
		s.Eval(`(() => { const p = document.querySelector('[data-testid="lineup"]').closest(".panel"); window.scrollTo(0, p.getBoundingClientRect().top + window.scrollY - document.querySelector("header").offsetHeight - 8); })()`, nil)
		shot(t, s, "studio-shop-"+sizes[i].name)
		s.Eval(`window.scrollTo(0, 0)`, nil)
		if i == 0 {
			s.Click(testid("stop-live"))
			s.WaitFunc(`document.body.dataset.publish === "stopped"`, "the phone studio stops publishing")
		}
	}
	modDesktop := openSized(t, b, "moderator", desktop, withToken(ts.URL+"/moderate/"+id, ts.Token(t, auth.Principal{Sub: "noor", Name: "Noor", Role: auth.Moderator, Stream: id})))
	modDesktop.WaitText(testid("question-queue"), "dishwasher")
	shot(t, modDesktop, "moderate-desktop")

	step(t, "End show (two taps): ended, and no End show any more")
	s := studios[1]
	s.Click(testid("end-show"))
	s.WaitText(testid("end-show"), "Tap again")
	s.Click(testid("end-show"))
	for _, st := range studios {
		st.WaitFunc(`document.body.dataset.status === "ended"`, "ended")
		st.WaitGone(testid("end-show"))
		st.WaitGone(testid("elapsed"))
	}
	for _, tab := range append(studios, viewer, moderator, modDesktop) {
		tab.ExpectNoProblems(expectedNoise)
	}
}

// eventsBrandPage is a brand's page that embeds a show and records the
// embed's events, as the brand's analytics would listen to them.
type eventsBrandPage struct {
	mu                     sync.Mutex
	livecart, stream, user string
}

func (p *eventsBrandPage) set(livecart, stream, user string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.livecart, p.stream, p.user = livecart, stream, user
}

func (p *eventsBrandPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	lc, stream, user := p.livecart, p.stream, p.user
	p.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sunset Supply Co.</title>
<style>body{margin:0;font-family:Georgia,serif;background:#fbf6ef;color:#2b2118}header{padding:14px 18px;border-bottom:1px solid #e6d9c6}
h1{margin:0;font-size:1.3rem}p{margin:10px 18px}#live{margin:0 12px 16px;max-width:380px}</style>
<script>
window.analytics = [];
for (const name of ["play", "buy", "add-to-cart", "question"]) {
  document.addEventListener("livecart:" + name, (e) => window.analytics.push({ name: e.type, detail: e.detail }));
}
</script></head>
<body><header><h1 id="brand">Sunset Supply Co.</h1></header>
<p>Live now: our spring drop, straight from the studio.</p>
<div id="live"></div>
<script src="%s/embed.js" data-stream="%s" data-token="%s" data-target="#live" async></script>
</body></html>`, html.EscapeString(lc), html.EscapeString(stream), html.EscapeString(user))
}

// TestBrowserEmbedEvents: on a brand's page (another origin) the embed
// loads everything from livecart by absolute URL — a product image saved as
// a path ("/assets/demo/mug.svg", as the demo has them) shows — and tells
// the page play, buy, add to cart and question as CustomEvents.
func TestBrowserEmbedEvents(t *testing.T) {
	page := &eventsBrandPage{}
	brand := httptest.NewServer(page)
	t.Cleanup(brand.Close)
	brandOrigin := strings.Replace(brand.URL, "127.0.0.1", "localhost", 1)
	ts := MustServe(t, nil, "--allowed-origins", brandOrigin)
	b := browsertest.Start(t)
	const id = "brand-events"
	host := ts.Token(t, auth.Principal{Sub: "mia", Name: "Mia", Role: auth.Host})
	newShow(t, ts.URL, host, id, "Spring drop", []product{
		{SKU: "mug-brand", Name: "Lagoon enamel mug", PriceCents: 1800, Stock: 9, Image: "/assets/demo/mug.svg"},
	})
	mustAPI(t, "POST", ts.URL+"/api/streams/"+id+"/pin", host, map[string]any{"sku": "mug-brand"}, nil)
	page.set(ts.URL, id, ts.Token(t, auth.Principal{Sub: "zoe", Name: "Zoe", Role: auth.Viewer}))
	publishCanvas(t, b, ts.URL, id, host, 720, 1280)
	room, _ := e2eJoin(t, ts.URL, id, host)

	for n, sz := range sizes {
		shop := sizedTab(t, b, "brand", sz, brandOrigin+"/")
		embed := `document.querySelector('[data-testid="livecart-embed"]')`
		shop.WaitFunc(embed+` && `+embed+`.dataset.ready === "true" && `+embed+`.dataset.room === "open"`, "embed ready")
		waitPlaying(t, shop, embed+`.dataset.player`, embedVideo)
		card := embedRoot + `.querySelector('[data-testid="product-card"]')`
		shop.WaitFunc(card+` && !`+card+`.hidden`, "the card in the embed")
		var img struct {
			Src    string
			Loaded bool
		}
		front(t, shop)
		shop.WaitFunc(card+`.querySelector("img.thumb").complete`, "the card's image loaded")
		shop.Eval(`(() => { const i = `+card+`.querySelector("img.thumb"); return { Src: i.src, Loaded: i.naturalWidth > 0 }; })()`, &img)
		if img.Src != ts.URL+"/assets/demo/mug.svg" || !img.Loaded {
			t.Errorf("%s: the card's image is %+v, want %s/assets/demo/mug.svg, loaded", sz.name, img, ts.URL)
		}

		mark := room.mark()
		shop.Eval(card+`.querySelector('[data-testid="buy"]').click()`, nil)
		shop.WaitFunc(embedRoot+`.querySelector('[data-testid="toasts"]').textContent.includes("Ordered Lagoon enamel mug")`, "order confirmed")
		shop.Eval(card+`.querySelector('[data-testid="add-to-cart"]').click()`, nil)
		shop.WaitFunc(embedRoot+`.querySelector('[data-testid="toasts"]').textContent.includes("Added Lagoon enamel mug")`, "added to the cart")
		question := fmt.Sprintf("Is the mug dishwasher safe? (%s)", sz.name)
		shop.Eval(fmt.Sprintf(`(() => { const r = %s; r.querySelector('[data-testid="ask-input"]').value = %q; r.querySelector('[data-testid="ask-send"]').click(); return true; })()`, embedRoot, question), nil)
		room.wait(t, mark, "question", func(m e2eMsg) bool { return m.str("text") == question })

		shop.WaitFunc(`["livecart:play", "livecart:buy", "livecart:add-to-cart", "livecart:question"].every((n) => window.analytics.some((e) => e.name === n))`, "the brand's page heard every event")
		var events []struct {
			Name   string
			Detail map[string]any
		}
		shop.Eval(`window.analytics`, &events)
		seen := map[string]map[string]any{}
		for _, e := range events {
			seen[e.Name] = e.Detail
		}
		if d := seen["livecart:buy"]; d["sku"] != "mug-brand" || d["stream"] != id || d["total_cents"] != float64(1800) || d["currency"] != "EUR" || !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(fmt.Sprint(d["order_id"])) {
			t.Errorf("%s: livecart:buy detail %v", sz.name, d)
		}
		if d := seen["livecart:add-to-cart"]; d["sku"] != "mug-brand" || d["qty"] != float64(1) || d["quantity_in_cart"] != float64(n+1) {
			t.Errorf("%s: livecart:add-to-cart detail %v", sz.name, d)
		}
		if d := seen["livecart:question"]; d["text"] != question || d["stream"] != id {
			t.Errorf("%s: livecart:question detail %v", sz.name, d)
		}
		if d := seen["livecart:play"]; d["stream"] != id {
			t.Errorf("%s: livecart:play detail %v", sz.name, d)
		}
		shot(t, shop, "embed-"+sz.name)
		shop.ExpectNoProblems()
	}
}
