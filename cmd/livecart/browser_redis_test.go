package main

import (
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/redistest"
	"github.com/livecart/livecart/web/browsertest"
)

// isMedia reports whether a request is WHEP signalling: the offer
// (/api/streams/{id}/whep) or a session (/api/streams/{id}/whep/{session}).
func isMedia(path string) bool {
	rest, ok := strings.CutPrefix(path, "/api/streams/")
	if !ok {
		return false
	}
	parts := strings.Split(rest, "/")
	return len(parts) >= 2 && parts[1] == "whep"
}

// mediaRouter is the load balancer in front of a node as a multi-node
// deployment needs it: everything goes to the node (pages, API, the room's
// websocket), except WHEP signalling, which goes to the node the host
// publishes to — the only node that relays the stream's media. The Host
// header is kept, as load balancers do, so the node sees the page's own
// origin.
// It counts what it routed: WHEP offers to the media node, room websockets
// to the page's node.
type router struct {
	*httptest.Server
	whep, rooms atomic.Int64
}

func mediaRouter(tb testing.TB, node, media string) *router {
	tb.Helper()
	nodeURL, err := url.Parse(node)
	if err != nil {
		tb.Fatal(err)
	}
	mediaURL, err := url.Parse(media)
	if err != nil {
		tb.Fatal(err)
	}
	rt := &router{}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		if isMedia(pr.In.URL.Path) {
			pr.SetURL(mediaURL)
			if pr.In.Method == "POST" {
				rt.whep.Add(1)
			}
		} else {
			pr.SetURL(nodeURL)
			if strings.HasSuffix(pr.In.URL.Path, "/ws") {
				rt.rooms.Add(1)
			}
		}
		pr.Out.Host = pr.In.Host
		pr.SetXForwarded()
	}}
	rt.Server = httptest.NewServer(proxy)
	tb.Cleanup(rt.Close)
	return rt
}

// TestBrowserTwoNodes runs the show on two livecart nodes sharing one Redis:
// the host publishes to node A from its studio; Ana watches on node A, Ben on
// node B. Both play, both see the pinned card, Ben buys on node B and the
// order reaches the studio on node A, the stock drops on both cards, and chat
// crosses the nodes both ways.
//
// Video is relayed only by the node the host publishes to, and the pages
// send WHEP to their own origin (the player's endpoint is
// /api/streams/{id}/whep on the page's host; nothing on the page can aim it
// at another node). So Ben's page is served through mediaRouter: his room
// and API calls go to node B, his WHEP to node A — what a deployment's load
// balancer has to do. Opened on node B directly, the page would wait for the
// host for ever (node B answers WHEP with 404 stream_offline while the
// stream is live); the test checks that limitation too, so that it is
// noticed when it changes.
func TestBrowserTwoNodes(t *testing.T) {
	rs := redistest.Start(t)
	nodeA := MustServe(t, nil, "--redis", rs.URL())
	nodeB := MustServe(t, nil, "--redis", rs.URL())
	lb := mediaRouter(t, nodeB.URL, nodeA.URL)

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
	viewerB := openPage(t, b, "viewer-B", withToken(lb.URL+"/watch/"+id, ben))
	for _, v := range []*browsertest.Tab{viewerA, viewerB} {
		v.WaitFunc(`document.body.dataset.room === "open"`, "room open")
		waitPlaying(t, v, `document.body.dataset.player`, pageVideo)
	}

	if lb.whep.Load() == 0 || lb.rooms.Load() == 0 {
		t.Errorf("Ben's page: %d WHEP offers routed to node A, %d room websockets to node B; want both > 0", lb.whep.Load(), lb.rooms.Load())
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

	step(t, "the limitation: node B does not relay node A's video")
	direct := openPage(t, b, "viewer-B-direct", nodeB.URL+"/watch/"+id)
	direct.WaitFunc(`document.body.dataset.room === "open" && document.body.dataset.status === "live"`, "room open on node B, stream live")
	direct.WaitFunc(`document.body.dataset.player === "offline"`, "a page served by node B waits for the host (its WHEP goes to node B)")
	whep404 := false
	for _, p := range direct.Problems() {
		whep404 = whep404 || expectedNoise(p) && strings.HasPrefix(p.URL, nodeB.URL)
	}
	if !whep404 {
		t.Errorf("the page on node B did not get 404 from node B's WHEP: %v", direct.Problems())
	}
	t.Logf("limitation: a /watch page served by node B sends WHEP to node B, which answers 404 stream_offline while the host publishes to node A")

	noProblems(studio, viewerA, viewerB, direct)
}
