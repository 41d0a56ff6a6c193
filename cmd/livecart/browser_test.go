package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/web/browsertest"
)

// The browser journeys of a live show, end to end: `livecart serve`
// in-process, the real pages in Debian's headless Chromium (its fake camera
// stands in for the host's), every step done the way a person does it — taps
// and typing on the pages — and checked on every screen that should change.
//
// Screenshots of each screen are test artifacts (browsertest.ArtifactDir).
// With LIVECART_SCREENS_DIR set, the README's screens are written there too:
//
//	LIVECART_SCREENS_DIR=$PWD/docs/screens go test -count=1 -run 'TestBrowser(Journey|Embed)$' ./cmd/livecart/

// phone is the viewport every journey tab uses: the pages are phone-first, and
// the README's screens are phone-sized.
const phoneWidth, phoneHeight = 390, 844

// product is what a test puts in the catalog.
type product struct {
	SKU, Name   string
	PriceCents  int
	Stock       int
	Image       string // absolute URL, or "" for none
	Description string
}

// apiCall sends one JSON request with a bearer token and returns the status
// and body.
func apiCall(tb testing.TB, method, url, token string, body any, header ...string) (int, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// mustAPI is apiCall failing the test unless the status is 2xx; it decodes
// the body into out (which may be nil).
func mustAPI(tb testing.TB, method, url, token string, body, out any) {
	tb.Helper()
	code, b := apiCall(tb, method, url, token, body)
	if code < 200 || code > 299 {
		tb.Fatalf("%s %s = %d %s, want 2xx", method, url, code, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			tb.Fatalf("%s %s: decoding %s: %v", method, url, b, err)
		}
	}
}

// newShow creates the stream id (as the host) with the products as its
// lineup, through the HTTP API as the contract describes it.
func newShow(tb testing.TB, base, hostToken, id, title string, products []product) {
	tb.Helper()
	skus := make([]string, 0, len(products))
	for _, p := range products {
		body := map[string]any{"name": p.Name, "price_cents": p.PriceCents, "currency": "EUR", "stock": p.Stock, "description": p.Description}
		if p.Image != "" {
			body["image_url"] = p.Image
		}
		mustAPI(tb, "PUT", base+"/api/products/"+p.SKU, hostToken, body, nil)
		skus = append(skus, p.SKU)
	}
	var created struct{ ID string }
	mustAPI(tb, "POST", base+"/api/streams", hostToken, map[string]any{"id": id, "title": title}, &created)
	if created.ID != id {
		tb.Fatalf("POST /api/streams: id %q, want %q", created.ID, id)
	}
	mustAPI(tb, "PUT", base+"/api/streams/"+id+"/lineup", hostToken, map[string]any{"skus": skus}, nil)
}

// streamOrders returns the stream's orders as its host sees them.
func streamOrders(tb testing.TB, base, hostToken, id string) []struct {
	ID, User, Status string
	TotalCents       int `json:"total_cents"`
	Items            []struct {
		SKU string
		Qty int
	}
} {
	tb.Helper()
	var page struct {
		Items []struct {
			ID, User, Status string
			TotalCents       int `json:"total_cents"`
			Items            []struct {
				SKU string
				Qty int
			}
		}
	}
	mustAPI(tb, "GET", base+"/api/streams/"+id+"/orders", hostToken, nil, &page)
	return page.Items
}

// openTab opens a phone-sized tab on url.
func openTab(tb testing.TB, b *browsertest.Browser, name, url string) *browsertest.Tab {
	tb.Helper()
	tab := b.NewTab(tb, browsertest.Named(name))
	ctx, cancel := context.WithTimeout(tab.Context(), tab.Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulatePortrait)); err != nil {
		tb.Fatalf("%s: phone viewport: %v", name, err)
	}
	tab.Navigate(url)
	return tab
}

// openPage opens one of livecart's pages and waits for it to start.
func openPage(tb testing.TB, b *browsertest.Browser, name, url string) *browsertest.Tab {
	tb.Helper()
	tab := openTab(tb, b, name, url)
	tab.WaitFunc(`document.body.dataset.ready === "true"`, name+" ready")
	return tab
}

// withToken appends ?token= to a page URL.
func withToken(u, token string) string { return u + "?token=" + url.QueryEscape(token) }

// testid is the CSS selector of a data-testid, optionally refined
// (`testid("lineup-item", "[data-sku=x]")`).
func testid(id string, more ...string) string {
	return fmt.Sprintf(`[data-testid=%q]`, id) + strings.Join(more, "")
}

// goLive starts the studio's (fake) camera and publishes it with the Go live
// button, as a host does.
func goLive(tb testing.TB, studio *browsertest.Tab) {
	tb.Helper()
	studio.Click(testid("camera-start"))
	studio.WaitFunc(`document.body.dataset.camera === "on"`, "camera on")
	studio.WaitFunc(`(() => { const v = document.querySelector('[data-testid="preview"]'); return v.videoWidth > 0 && v.currentTime > 0; })()`, "camera preview playing")
	studio.Click(testid("go-live"))
	studio.WaitFunc(`document.body.dataset.publish === "live"`, "publishing (WHIP) live")
	studio.WaitText(testid("publish-state"), "LIVE")
}

// videoJS is a JavaScript expression for the video element of a page or of
// the embed's shadow root.
const (
	pageVideo  = `document.querySelector('[data-testid="video"]')`
	embedVideo = `document.querySelector('[data-testid="livecart-embed"]').shadowRoot.querySelector('[data-testid="video"]')`
)

// waitPlaying waits until the player says playing, the video has a picture
// (videoWidth > 0) and its currentTime advances.
func waitPlaying(tb testing.TB, tab *browsertest.Tab, state, video string) {
	tb.Helper()
	tab.WaitFunc(state+` === "playing"`, "player playing")
	tab.WaitFunc(fmt.Sprintf(`(() => { const v = %s; return !!v && v.videoWidth > 0 && v.videoHeight > 0 && v.currentTime > 0; })()`, video), "video has frames")
	var t0 float64
	tab.Eval(video+`.currentTime`, &t0)
	tab.WaitFunc(fmt.Sprintf(`%s.currentTime > %f + 0.5`, video, t0), "video currentTime advancing")
}

// screen saves a screenshot artifact and, with LIVECART_SCREENS_DIR set,
// copies it there as name.png. It first waits for the toasts to fade, so
// that they do not cover the screen.
func screen(tb testing.TB, tab *browsertest.Tab, name string) {
	tb.Helper()
	tab.WaitFunc(`document.querySelectorAll('[data-testid="toast"]').length === 0`, "toasts gone before the screenshot")
	path := tab.Screenshot(name)
	dir := os.Getenv("LIVECART_SCREENS_DIR")
	if dir == "" || path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644)
	}
	if err != nil {
		tb.Errorf("screen %s: %v", name, err)
	}
}

// expectedNoise accepts the failed loads a journey causes on purpose: a
// player that starts before the host is live gets 404 stream_offline from
// WHEP and retries.
func expectedNoise(p browsertest.Problem) bool {
	return p.Kind == "log" && p.Source == "network" && strings.Contains(p.URL, "/whep") && strings.Contains(p.Text, "404")
}

func noProblems(tabs ...*browsertest.Tab) {
	for _, tab := range tabs {
		tab.ExpectNoProblems(expectedNoise)
	}
}

// TestBrowserJourney is a whole show on one node: the host goes live from
// /studio, two viewers play it on /watch, the host pins a product, a viewer
// buys it with one tap (the order in the studio, the stock on both cards), a
// question is answered from /moderate, and a line deleted there disappears
// from every screen.
func TestBrowserJourney(t *testing.T) {
	ts := MustServe(t, nil)
	b := browsertest.Start(t)
	const id = "spring-drop"
	host := ts.Token(t, auth.Principal{Sub: "mia", Name: "Mia", Role: auth.Host})
	newShow(t, ts.URL, host, id, "Spring drop with Mia", []product{
		{SKU: "tee-sunset", Name: "Sunset tee", PriceCents: 2900, Stock: 3, Image: ts.URL + "/assets/demo/tee.svg", Description: "Heavy cotton, boxy fit."},
		{SKU: "mug-lagoon", Name: "Lagoon enamel mug", PriceCents: 1800, Stock: 20, Image: ts.URL + "/assets/demo/mug.svg"},
	})
	mod := ts.Token(t, auth.Principal{Sub: "noor", Name: "Noor", Role: auth.Moderator, Stream: id})
	ana := ts.Token(t, auth.Principal{Sub: "ana", Name: "Ana", Role: auth.Viewer})
	ben := ts.Token(t, auth.Principal{Sub: "ben", Name: "Ben", Role: auth.Viewer})

	studio := openPage(t, b, "studio", withToken(ts.URL+"/studio/"+id, host))
	// Ana arrives before the show starts: her page waits, then plays when
	// the room says the stream is live.
	viewer1 := openPage(t, b, "viewer-ana", withToken(ts.URL+"/watch/"+id, ana))
	viewer1.WaitFunc(`document.body.dataset.player === "offline"`, "player waiting for the host")
	viewer1.WaitText(testid("player-state"), "Waiting for the host")

	step(t, "host goes live from the studio")
	{
		studio.WaitFunc(`document.body.dataset.room === "open"`, "studio room open")
		goLive(t, studio)
		studio.WaitFunc(`document.body.dataset.status === "live"`, "the studio's room says live")
		var s struct{ Status string }
		mustAPI(t, "GET", ts.URL+"/api/streams/"+id, "", nil, &s)
		if s.Status != "live" {
			t.Errorf("GET /api/streams/%s status %q after Go live, want live", id, s.Status)
		}
	}

	var viewer2 *browsertest.Tab
	step(t, "viewers play the show")
	{
		viewer2 = openPage(t, b, "viewer-ben", withToken(ts.URL+"/watch/"+id, ben))
		for _, v := range []*browsertest.Tab{viewer1, viewer2} {
			waitPlaying(t, v, `document.body.dataset.player`, pageVideo)
			v.WaitVisible(testid("live-badge"))
			v.WaitFunc(`document.body.dataset.room === "open"`, "room open")
		}
		studio.WaitFunc(`Number(document.querySelector('[data-testid="viewers"]').textContent) >= 2`, "studio counts the viewers")
	}

	step(t, "host pins a product and viewers see the card")
	{
		studio.Click(testid("lineup-item", `[data-sku="tee-sunset"] `) + testid("pin"))
		studio.WaitFunc(`document.querySelector('[data-testid="lineup-item"][data-sku="tee-sunset"]').dataset.pinned === "true"`, "studio marks the pinned product")
		studio.WaitText(testid("pinned-label"), "Sunset tee")
		for _, v := range []*browsertest.Tab{viewer1, viewer2} {
			v.WaitVisible(testid("product-card", `[data-sku="tee-sunset"]`))
			v.WaitText(testid("card-name"), "Sunset tee")
			v.WaitText(testid("card-stock"), "Only 3 left")
			v.WaitVisible(testid("buy"))
		}
	}

	step(t, "a viewer buys with one tap")
	{
		viewer1.Click(testid("product-card") + " " + testid("buy"))
		viewer1.WaitText(testid("toast"), "Ordered Sunset tee")
		studio.WaitFunc(`document.querySelectorAll('[data-testid="orders"] [data-testid="order-row"]').length === 1`, "the order in the studio")
		studio.WaitText(testid("order-row"), "1 × Sunset tee")
		studio.WaitText(testid("order-count"), "1")
		studio.WaitText(testid("revenue"), "29.00")
		studio.WaitText(testid("lineup-item", `[data-sku="tee-sunset"] `)+testid("lineup-stock"), "2")
		for _, v := range []*browsertest.Tab{viewer1, viewer2} {
			v.WaitText(testid("card-stock"), "Only 2 left")
		}
		// Ben sees the order ticker of Ana's purchase.
		viewer2.WaitText(testid("ticker"), "Ana")
		orders := streamOrders(t, ts.URL, host, id)
		if len(orders) != 1 || orders[0].User != "ana" || orders[0].TotalCents != 2900 || len(orders[0].Items) != 1 || orders[0].Items[0].SKU != "tee-sunset" || orders[0].Items[0].Qty != 1 {
			t.Errorf("stream orders = %+v, want one order by ana of 1 tee-sunset at 2900", orders)
		}
		studio.Eval(`(() => { const p = document.querySelector('[data-testid="lineup"]').closest(".panel"); window.scrollTo(0, p.getBoundingClientRect().top + window.scrollY - document.querySelector("header").offsetHeight - 8); })()`, nil)
		screen(t, studio, "studio-shop")
		studio.Eval(`window.scrollTo(0, 0)`, nil)
		screen(t, studio, "studio")
	}

	moderator := openPage(t, b, "moderator", withToken(ts.URL+"/moderate/"+id, mod))
	moderator.WaitFunc(`document.body.dataset.room === "open"`, "moderator room open")

	const line = "Love the colour of this one!"
	var lineID string
	step(t, "chat reaches every screen")
	{
		viewer1.Type(testid("chat-input"), line)
		viewer1.Click(testid("chat-send"))
		for _, tab := range []*browsertest.Tab{viewer1, viewer2, studio, moderator} {
			tab.WaitText(testid("chat-list")+" "+testid("chat-line"), line)
		}
		moderator.Eval(fmt.Sprintf(`[...document.querySelectorAll('[data-testid="chat-list"] [data-testid="chat-line"]')].find(e => e.textContent.includes(%q)).dataset.id`, line), &lineID)
		if lineID == "" {
			t.Fatal("the chat line has no data-id on /moderate")
		}
	}

	const question = "Does the tee run large?"
	const answer = "It's a boxy fit: take your usual size."
	step(t, "a question is answered from the moderator console")
	{
		viewer2.Click(testid("ask-toggle"))
		viewer2.Type(testid("chat-input"), question)
		viewer2.Click(testid("chat-send"))
		moderator.WaitText(testid("question-queue")+" "+testid("question"), question)
		moderator.WaitText(testid("queue-count"), "1")
		studio.WaitText(testid("questions")+" "+testid("question"), question)
		screen(t, moderator, "moderate")

		var qid string
		moderator.Eval(fmt.Sprintf(`[...document.querySelectorAll('[data-testid="question-queue"] [data-testid="question"]')].find(e => e.textContent.includes(%q)).dataset.id`, question), &qid)
		q := testid("question-queue") + fmt.Sprintf(` [data-id=%q] `, qid)
		moderator.Type(q+testid("answer-input"), answer)
		moderator.Click(q + testid("answer-send"))
		for _, v := range []*browsertest.Tab{viewer2, viewer1} {
			sel := testid("chat-list") + fmt.Sprintf(` [data-id=%q] `, qid) + testid("answers") + " " + testid("answer")
			v.WaitText(sel, answer)
		}
		// Answered, it leaves the queue.
		moderator.WaitFunc(fmt.Sprintf(`!document.querySelector('[data-testid="question-queue"] [data-id=%q]')`, qid), "answered question leaves the queue")
		screen(t, viewer2, "watch")
	}

	step(t, "a line deleted by the moderator disappears everywhere")
	{
		if lineID == "" {
			t.Fatal("no chat line to delete")
		}
		sel := testid("chat-list") + fmt.Sprintf(` [data-id=%q]`, lineID)
		moderator.Click(sel + " " + testid("delete"))
		for _, tab := range []*browsertest.Tab{moderator, viewer1, viewer2, studio} {
			tab.WaitFunc(fmt.Sprintf(`!document.querySelector(%q)`, sel), "deleted line gone on "+tab.Name())
		}
		// Still gone for someone who joins later.
		late := openPage(t, b, "viewer-late", ts.URL+"/watch/"+id)
		late.WaitFunc(`document.body.dataset.room === "open"`, "late viewer room open")
		late.WaitText(testid("chat-list")+" "+testid("question"), question)
		var n int
		late.Eval(fmt.Sprintf(`document.querySelectorAll(%q).length`, sel), &n)
		if n != 0 {
			t.Errorf("a late joiner still sees the deleted line")
		}
	}

	noProblems(studio, viewer1, viewer2, moderator)
}

// step names the next part of a journey in the test's log. The journeys are
// not split into subtests: a tab reports failures on the test that opened
// it, and the tabs live through the whole show.
func step(tb testing.TB, name string) {
	tb.Helper()
	tb.Logf("step: %s", name)
}
