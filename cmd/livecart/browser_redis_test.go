package main

import (
	"fmt"
	"testing"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/redistest"
	"github.com/livecart/livecart/web/browsertest"
)

// serveNode starts a node on redisURL at a port known in advance, so that
// its --node-url (where the other nodes reach it) is its real address.
func serveNode(tb testing.TB, redisURL string) *testServer {
	tb.Helper()
	port := freeTCPPort(tb)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return MustServe(tb, nil, "--redis", redisURL, "--addr", addr, "--node-url", "http://"+addr)
}

// TestBrowserTwoNodes runs the show on two livecart nodes sharing one Redis,
// with no routing proxy in front: the host publishes to node A from its
// studio; Ana watches on node A, Ben on node B, which relays the video
// from node A (its edge upstream). Both play, both see the pinned card, Ben
// buys on node B and the order reaches the studio on node A, the stock
// drops on both cards, and chat crosses the nodes both ways.
func TestBrowserTwoNodes(t *testing.T) {
	rs := redistest.Start(t)
	nodeA := serveNode(t, rs.URL())
	nodeB := serveNode(t, rs.URL())

	const id = "two-nodes"
	host := nodeA.Token(t, auth.Principal{Sub: "mia", Name: "Mia", Role: auth.Host})
	newShow(t, nodeA.URL, host, id, "Spring drop on two nodes", []product{
		{SKU: "mug-lagoon", Name: "Lagoon enamel mug", PriceCents: 1800, Stock: 4},
	})
	ana := nodeA.Token(t, auth.Principal{Sub: "ana", Name: "Ana", Role: auth.Viewer})
	ben := nodeB.Token(t, auth.Principal{Sub: "ben", Name: "Ben", Role: auth.Viewer})

	b := browsertest.Start(t)
	step(t, "host goes live on node A")
	studio := openPage(t, b, "studio-A", withToken(nodeA.URL+"/studio/"+id, host))
	studio.WaitFunc(`document.body.dataset.room === "open"`, "studio room open")
	goLive(t, studio)
	studio.WaitFunc(`document.body.dataset.status === "live"`, "the studio's room says live")
	var st struct{ Status string }
	mustAPI(t, "GET", nodeB.URL+"/api/streams/"+id, "", nil, &st)
	if st.Status != "live" {
		t.Errorf("node B: stream status %q, want live (the stream store is shared)", st.Status)
	}

	step(t, "viewers on both nodes play")
	viewerA := openPage(t, b, "viewer-A", withToken(nodeA.URL+"/watch/"+id, ana))
	viewerB := openPage(t, b, "viewer-B", withToken(nodeB.URL+"/watch/"+id, ben))
	for _, v := range []*browsertest.Tab{viewerA, viewerB} {
		v.WaitFunc(`document.body.dataset.room === "open"`, "room open")
		waitPlaying(t, v, `document.body.dataset.player`, pageVideo)
	}

	if got := hopMetric(t, &nodeProc{URL: nodeB.URL}, "livecart_stream_upstreams"); got != "1" {
		t.Errorf("node B holds %q upstreams, want 1 (it relays node A's video to Ben)", got)
	}

	step(t, "the pin reaches both nodes")
	studio.Click(testid("lineup-item", `[data-sku="mug-lagoon"] `) + testid("pin"))
	for _, v := range []*browsertest.Tab{viewerA, viewerB} {
		v.WaitVisible(testid("product-card", `[data-sku="mug-lagoon"]`))
		v.WaitText(testid("card-name"), "Lagoon enamel mug")
		v.WaitText(testid("card-stock"), "Only 4 left")
	}

	step(t, "Ben buys on node B")
	viewerB.Click(testid("product-card") + " " + testid("buy"))
	viewerB.WaitText(testid("toast"), "Ordered Lagoon enamel mug")
	for _, v := range []*browsertest.Tab{viewerA, viewerB} {
		v.WaitText(testid("card-stock"), "Only 3 left")
	}
	viewerA.WaitText(testid("ticker"), "Ben")
	studio.WaitFunc(`document.querySelectorAll('[data-testid="orders"] [data-testid="order-row"]').length === 1`, "Ben's order in the studio on node A")
	studio.WaitText(testid("order-row"), "1 × Lagoon enamel mug")
	studio.WaitText(testid("lineup-item", `[data-sku="mug-lagoon"] `)+testid("lineup-stock"), "3")

	step(t, "chat crosses the nodes")
	viewerA.Type(testid("chat-input"), "Hello from node A")
	viewerA.Click(testid("chat-send"))
	viewerB.Type(testid("chat-input"), "Hello from node B")
	viewerB.Click(testid("chat-send"))
	for _, tab := range []*browsertest.Tab{viewerA, viewerB, studio} {
		tab.WaitText(testid("chat-list")+" "+testid("chat-line"), "Hello from node A")
		tab.WaitText(testid("chat-list")+" "+testid("chat-line"), "Hello from node B")
	}

	noProblems(studio, viewerA, viewerB)
}
