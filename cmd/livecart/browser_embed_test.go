package main

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/web/browsertest"
)

// embedRoot is a JavaScript expression for the embed's shadow root on a
// brand's page.
const embedRoot = `document.querySelector('[data-testid="livecart-embed"]').shadowRoot`

// brandPage serves a brand's own shop page that embeds a livecart show with
// one script tag. livecart's address is known only once it runs (it must
// allow the brand's origin), so it is set afterwards.
type brandPage struct {
	mu                     sync.Mutex
	livecart, stream, user string
}

func (p *brandPage) set(livecart, stream, userToken string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.livecart, p.stream, p.user = livecart, stream, userToken
}

func (p *brandPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	lc, stream, user := p.livecart, p.stream, p.user
	p.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sunset Supply Co.</title>
<style>body{margin:0;font-family:Georgia,serif;background:#fbf6ef;color:#2b2118}header{padding:14px 18px;border-bottom:1px solid #e6d9c6}
h1{margin:0;font-size:1.3rem}p{margin:10px 18px}#live{margin:0 12px 16px}</style></head>
<body><header><h1 id="brand">Sunset Supply Co.</h1></header>
<p>Live now: our spring drop, straight from the studio.</p>
<div id="live"></div>
<script src="%s/embed.js" data-stream="%s" data-token="%s" data-target="#live" async></script>
</body></html>`, html.EscapeString(lc), html.EscapeString(stream), html.EscapeString(user))
}

// TestBrowserEmbed puts the embed on a brand's page served from another
// origin (http://localhost:PORT, while livecart is on 127.0.0.1), with that
// origin in --allowed-origins: the show plays there, the pinned card shows,
// and Buy orders through livecart's API by CORS and the room's websocket.
func TestBrowserEmbed(t *testing.T) {
	page := &brandPage{}
	brand := httptest.NewServer(page)
	t.Cleanup(brand.Close)
	// httptest servers listen on 127.0.0.1: "localhost" makes the brand
	// another origin (and another site) than livecart.
	brandOrigin := strings.Replace(brand.URL, "127.0.0.1", "localhost", 1)

	ts := MustServe(t, nil, "--allowed-origins", brandOrigin)
	const id = "brand-live"
	host := ts.Token(t, auth.Principal{Sub: "mia", Name: "Mia", Role: auth.Host})
	newShow(t, ts.URL, host, id, "Spring drop", []product{
		{SKU: "tee-sunset", Name: "Sunset tee", PriceCents: 2900, Stock: 3, Image: ts.URL + "/assets/demo/tee.svg"},
	})
	zoe := ts.Token(t, auth.Principal{Sub: "zoe", Name: "Zoe", Role: auth.Viewer})
	page.set(ts.URL, id, zoe)

	b := browsertest.Start(t)
	studio := openPage(t, b, "studio", withToken(ts.URL+"/studio/"+id, host))
	step(t, "host goes live")
	goLive(t, studio)
	var st struct{ Status string }
	mustAPI(t, "GET", ts.URL+"/api/streams/"+id, "", nil, &st)
	if st.Status != "live" {
		t.Errorf("stream status %q after Go live, want live", st.Status)
	}
	mustAPI(t, "POST", ts.URL+"/api/streams/"+id+"/pin", host, map[string]any{"sku": "tee-sunset"}, nil)

	step(t, "the embed plays on the brand's page")
	shop := openTab(t, b, "brand", brandOrigin+"/")
	var origin string
	shop.Eval(`location.origin`, &origin)
	if strings.HasPrefix(ts.URL, origin) || !strings.HasPrefix(origin, "http://localhost:") {
		t.Fatalf("brand page origin %s: not another origin than livecart's %s", origin, ts.URL)
	}
	shop.WaitFunc(`(() => { const e = document.querySelector('[data-testid="livecart-embed"]'); return !!e && e.parentElement.id === "live" && e.dataset.ready === "true"; })()`, "embed mounted in #live")
	shop.WaitFunc(`document.querySelector('[data-testid="livecart-embed"]').dataset.room === "open"`, "embed room open (websocket from the brand's origin)")
	waitPlaying(t, shop, `document.querySelector('[data-testid="livecart-embed"]').dataset.player`, embedVideo)

	step(t, "the embed shows the pinned card and buys")
	card := embedRoot + `.querySelector('[data-testid="product-card"]')`
	shop.WaitFunc(fmt.Sprintf(`(() => { const c = %s; return !!c && !c.hidden && c.dataset.sku === "tee-sunset" && c.textContent.includes("Sunset tee") && c.textContent.includes("Only 3 left"); })()`, card), "pinned card in the embed")
	shop.Eval(card+`.querySelector('[data-testid="buy"]').click()`, nil)
	shop.WaitFunc(embedRoot+`.querySelector('[data-testid="toasts"]').textContent.includes("Ordered Sunset tee")`, "order confirmed in the embed")
	shop.WaitFunc(card+`.querySelector('[data-testid="card-stock"]').textContent === "Only 2 left"`, "stock drops in the embed")
	orders := streamOrders(t, ts.URL, host, id)
	if len(orders) != 1 || orders[0].User != "zoe" || orders[0].TotalCents != 2900 {
		t.Errorf("stream orders = %+v, want one order by zoe at 2900", orders)
	}
	screen(t, shop, "embed")
	shop.ExpectNoProblems(expectedNoise)

	// Allowing a brand's origin must not lock livecart's own pages out of
	// their room: the studio (same origin as livecart) sees the order live.
	step(t, "livecart's own pages keep their room with --allowed-origins set")
	studio.WaitFunc(`document.body.dataset.room === "open"`, "studio room open (same origin, with --allowed-origins listing only the brand)")
	studio.WaitFunc(`document.querySelectorAll('[data-testid="orders"] [data-testid="order-row"]').length === 1`, "the order in the studio")
	studio.WaitText(testid("order-row"), "1 × Sunset tee")
	studio.ExpectNoProblems(expectedNoise)
}
