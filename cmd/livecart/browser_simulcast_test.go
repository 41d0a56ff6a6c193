package main

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/web/browsertest"
)

// pcSpy runs in a page before its own scripts: it keeps every
// RTCPeerConnection the page makes in window.__pcs, so that a test can
// count them and read their descriptions and stats.
const pcSpy = `(() => {
  const Native = window.RTCPeerConnection;
  if (!Native || window.__pcs) return;
  window.__pcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__pcs.push(this);
    }
  };
})();`

// spiedTab opens a tab of the given size on one of livecart's pages with
// pcSpy in it, and waits for the page to start.
func spiedTab(tb testing.TB, b *browsertest.Browser, name string, sz size, url string) *browsertest.Tab {
	tb.Helper()
	tab := sizedTab(tb, b, name, sz, url, pcSpy)
	tab.WaitFunc(`document.body.dataset.ready === "true"`, name+" ready")
	return tab
}

// sentLayer is what the studio's browser says of one simulcast layer it
// sends (an outbound-rtp entry of its WHIP connection's stats).
type sentLayer struct {
	Rid           string
	Width, Height int
	Frames        int
	Bytes         int
	Active        bool
	Limit         string // qualityLimitationReason
	Encoder       string
	FPS           float64
}

func (l sentLayer) String() string {
	return fmt.Sprintf("rid %q %dx%d active=%v frames=%d bytes=%d fps=%.0f limit=%q encoder=%q", l.Rid, l.Width, l.Height, l.Active, l.Frames, l.Bytes, l.FPS, l.Limit, l.Encoder)
}

// sentLayersJS reads the video layers of the page's newest peer connection.
const sentLayersJS = `(async () => {
  const pc = window.__pcs.at(-1);
  const out = [];
  if (!pc) return out;
  (await pc.getStats()).forEach((r) => {
    if (r.type === "outbound-rtp" && r.kind === "video") out.push({
      Rid: r.rid || "", Width: r.frameWidth || 0, Height: r.frameHeight || 0, Frames: r.framesEncoded || 0,
      Bytes: r.bytesSent || 0, Active: r.active !== false, Limit: r.qualityLimitationReason || "",
      Encoder: r.encoderImplementation || "", FPS: r.framesPerSecond || 0,
    });
  });
  return out.sort((a, b) => a.Width - b.Width);
})()`

func sentLayers(tb testing.TB, studio *browsertest.Tab) []sentLayer {
	tb.Helper()
	var ls []sentLayer
	studio.Eval(sentLayersJS, &ls)
	return ls
}

// sending returns the layers that carry pictures, narrowest first.
func sending(ls []sentLayer) []sentLayer {
	var out []sentLayer
	for _, l := range ls {
		if l.Active && l.Width > 0 && l.Frames > 0 {
			out = append(out, l)
		}
	}
	return out
}

// layerSwitchesMetric is the server's livecart_stream_layer_switches_total,
// all directions.
func layerSwitchesMetric(tb testing.TB, base string) float64 {
	tb.Helper()
	code, body := get(tb, base+"/metrics")
	if code != 200 {
		tb.Fatalf("GET /metrics = %d", code)
	}
	var n float64
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "livecart_stream_layer_switches_total{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			tb.Fatalf("/metrics: %q: %v", line, err)
		}
		n += v
	}
	return n
}

// pollUntil polls cond every 100 ms until it holds; after a minute it fails
// the test with what it was waiting for and explain().
func pollUntil(tb testing.TB, what string, cond func() bool, explain func() string) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting until %s\n%s", what, explain())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var simulcastLine = regexp.MustCompile(`(?m)^a=simulcast:send ([^\r\n ]+)`)

// videoCodecs returns the codecs of an SDP's video section, in the order
// of its m= line (rtx, red and the like left out).
func videoCodecs(sdp string) []string {
	names := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^a=rtpmap:(\d+) ([^/\r\n]+)/`).FindAllStringSubmatch(sdp, -1) {
		names[m[1]] = m[2]
	}
	m := regexp.MustCompile(`(?m)^m=video \d+ \S+ ([\d ]+)`).FindStringSubmatch(sdp)
	if m == nil {
		return nil
	}
	var out []string
	for _, pt := range strings.Fields(m[1]) {
		switch n := names[pt]; n {
		case "", "rtx", "red", "ulpfec", "flexfec-03":
		default:
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// TestBrowserSimulcast: the host goes live from the studio with its
// Simulcast option (on by default), so the camera (Chromium's fake one, at
// the studio's 720×1280) goes out in three layers, in VP8. A viewer's
// quality picker then moves the picture between them — Auto climbs to the
// widest, then Low and High, and back to Auto — on the one peer connection the
// page made, each choice taking the picture to that layer's size as the
// studio sends it; a request that fails changes nothing; a connection
// made again asks for the chosen layer (?layer=). With the option off,
// the studio sends one layer, which the viewer plays.
func TestBrowserSimulcast(t *testing.T) {
	ts := MustServe(t, nil)
	b := browsertest.Start(t)
	const id = "simulcast-show"
	host := ts.Token(t, auth.Principal{Sub: "mia", Name: "Mia", Role: auth.Host})
	newShow(t, ts.URL, host, id, "Three qualities with Mia", []product{
		{SKU: "tee-simulcast", Name: "Sunset tee", PriceCents: 2900, Stock: 9, Image: ts.URL + "/assets/demo/tee.svg"},
	})
	switchesBefore := layerSwitchesMetric(t, ts.URL)

	studio := spiedTab(t, b, "studio", desktop, withToken(ts.URL+"/studio/"+id, host))
	studio.WaitFunc(`document.body.dataset.room === "open"`, "studio room open")

	step(t, "the studio offers simulcast, on by default")
	studio.WaitVisible(testid("simulcast"))
	studio.WaitText(testid("simulcast-option"), "Simulcast (three qualities)")
	if !evalBool(t, studio, `(() => { const c = document.querySelector('[data-testid="simulcast"]'); return c.checked && !c.disabled && c.labels.length === 1; })()`) {
		t.Fatal("the Simulcast option is not a checked, enabled and labelled checkbox in this Chromium")
	}

	step(t, "the host goes live in three layers")
	goLive(t, studio)
	if !evalBool(t, studio, `document.querySelector('[data-testid="simulcast"]').disabled`) {
		t.Error("the Simulcast option can be changed while live")
	}
	if !evalBool(t, studio, `document.body.dataset.simulcast === "on"`) {
		t.Error(`the studio went live without simulcast (body data-simulcast not "on")`)
	}
	var camera struct{ Width, Height int }
	studio.Eval(`(() => { const v = document.querySelector('[data-testid="preview"]'); return { Width: v.videoWidth, Height: v.videoHeight }; })()`, &camera)
	t.Logf("studio camera: %dx%d", camera.Width, camera.Height)
	var offer string
	studio.Eval(`window.__pcs.at(-1).localDescription.sdp`, &offer)
	m := simulcastLine.FindStringSubmatch(offer)
	if m == nil || len(strings.Split(m[1], ";")) != 3 || strings.Count(offer, "a=rid:") != 3 {
		t.Fatalf("the studio's WHIP offer has no a=simulcast:send with three rids:\n%s", offer)
	}
	t.Logf("the studio's offer: a=simulcast:send %s", m[1])

	// The studio prefers VP8, then H264, and leaves VP9 and AV1 out.
	codecs := videoCodecs(offer)
	t.Logf("the studio's offer: video codecs %v", codecs)
	if len(codecs) == 0 || codecs[0] != "VP8" || slices.Contains(codecs, "VP9") || slices.Contains(codecs, "AV1") {
		t.Errorf("the studio's offer lists video codecs %v, want VP8 first and neither VP9 nor AV1", codecs)
	}
	// Chromium sends as many layers as the picture's size allows, in
	// pixels: three from 720p (1280×720 or 720×1280), two from 640×480.
	var layers []sentLayer
	pollUntil(t, "the studio's Chromium sends three layers", func() bool {
		layers = sending(sentLayers(t, studio))
		return len(layers) == 3 && layers[0].Width < layers[1].Width && layers[1].Width < layers[2].Width
	}, func() string {
		var s []string
		for _, l := range sentLayers(t, studio) {
			s = append(s, l.String())
		}
		return "outbound-rtp video of the studio's WHIP connection:\n\t" + strings.Join(s, "\n\t")
	})
	for _, l := range layers {
		t.Logf("studio sends %s", l)
	}
	shot(t, studio, "studio-simulcast")
	lowW, highW := layers[0].Width, layers[len(layers)-1].Width
	// widthOf returns the width the studio sends now in its narrowest
	// (low) or widest (high) layer: Chromium may scale the layers down
	// when its encoder runs short of CPU, and the picture follows.
	widthOf := func(which string) int {
		ls := sending(sentLayers(t, studio))
		if len(ls) == 0 {
			return -1
		}
		if which == "low" {
			return ls[0].Width
		}
		return ls[len(ls)-1].Width
	}

	viewer := spiedTab(t, b, "viewer", phone, ts.URL+"/watch/"+id)
	front(t, viewer)
	waitPlaying(t, viewer, `document.body.dataset.player`, pageVideo)

	step(t, "the viewer's quality picker starts on Auto")
	viewer.WaitVisible(testid("quality"))
	for _, sel := range []string{testid("quality-auto"), testid("quality-high"), testid("quality-low")} {
		viewer.WaitVisible(sel)
	}
	var label string
	viewer.Eval(`document.querySelector('[data-testid="quality"]').getAttribute("aria-label")`, &label)
	if label == "" {
		t.Error("the quality picker has no aria-label")
	}
	// chosen: the picker shows layer as the one choice, and the video
	// says it (data-layer).
	chosen := func(layer string) string {
		return fmt.Sprintf(`document.querySelector('[data-testid="quality-%s"]').getAttribute("aria-pressed") === "true" && [...document.querySelectorAll('[data-testid="quality"] button')].filter((b) => b.getAttribute("aria-pressed") === "true").length === 1 && %s.dataset.layer === %q`, layer, pageVideo, layer)
	}
	viewer.WaitFunc(chosen("auto"), "Auto chosen")
	videoWidth := func() int {
		var w int
		viewer.Eval(pageVideo+`.videoWidth`, &w)
		return w
	}
	explain := func() string {
		var s []string
		for _, l := range sentLayers(t, studio) {
			s = append(s, l.String())
		}
		return fmt.Sprintf("viewer's videoWidth %d; studio sends:\n\t%s", videoWidth(), strings.Join(s, "\n\t"))
	}
	// Automatic starts on the lowest layer and, on a clean link, climbs
	// one layer at a time to the widest.
	step(t, "Auto climbs to the studio's widest layer")
	pollUntil(t, "Auto plays the studio's widest layer", func() bool {
		w := videoWidth()
		return w > 0 && w == widthOf("high")
	}, explain)
	widths := []int{videoWidth()}
	t.Logf("Auto: videoWidth %d", widths[0])

	for _, sw := range []struct{ layer, want string }{{"low", "narrowest"}, {"high", "widest"}} {
		step(t, fmt.Sprintf("%s: the studio's %s layer, on the same connection", sw.layer, sw.want))
		before := videoWidth()
		viewer.Click(testid("quality-" + sw.layer))
		viewer.WaitFunc(chosen(sw.layer), sw.layer+" chosen")
		pollUntil(t, "the picture is the studio's "+sw.want+" layer", func() bool {
			w := videoWidth()
			return w > 0 && w == widthOf(sw.layer)
		}, explain)
		w := videoWidth()
		t.Logf("%s: videoWidth %d (was %d)", sw.layer, w, before)
		if w == widths[len(widths)-1] {
			t.Errorf("choosing %s left videoWidth at %d", sw.layer, w)
		}
		widths = append(widths, w)
	}
	if lowGot, highGot := widths[1], widths[2]; 2*lowGot > highGot {
		t.Errorf("videoWidth Low %d, High %d: want Low at most half of High (the studio sent %d and %d)", lowGot, highGot, lowW, highW)
	}

	step(t, "a request for a quality that fails leaves the quality as it was")
	viewer.Eval(`(() => {
		window.__fetch = window.fetch;
		window.__refused = 0;
		window.fetch = (url, init) => String(url).endsWith("/layer") ? (window.__refused++, Promise.reject(new TypeError("Failed to fetch"))) : window.__fetch(url, init);
		return true;
	})()`, nil)
	viewer.Click(testid("quality-low"))
	viewer.WaitFunc(`window.__refused === 1 && !document.querySelector('[data-testid="quality"]').hasAttribute("aria-busy")`, "the refused request settled")
	if !evalBool(t, viewer, chosen("high")) {
		t.Error("after a failed request for Low the picker does not show High any more")
	}
	if w := videoWidth(); w != widths[len(widths)-1] {
		t.Errorf("after a failed request for Low videoWidth is %d, want %d", w, widths[len(widths)-1])
	}
	viewer.Eval(`(() => { window.fetch = window.__fetch; return true; })()`, nil)

	step(t, "back to Auto")
	viewer.Click(testid("quality-auto"))
	viewer.WaitFunc(chosen("auto"), "Auto chosen again")

	step(t, "one peer connection throughout; the server switched layers")
	var pcs struct {
		N     int
		State string
		WHEP  int
	}
	viewer.Eval(`({ N: window.__pcs.length, State: window.__pcs.at(-1)?.connectionState ?? "",
		WHEP: performance.getEntriesByType("resource").filter((e) => /\/whep(\?|$)/.test(e.name)).length })`, &pcs)
	if pcs.N != 1 || pcs.State != "connected" || pcs.WHEP != 1 {
		t.Errorf("the viewer made %d RTCPeerConnections (the last one %s) and %d WHEP offers, want 1 connected one from 1 offer", pcs.N, pcs.State, pcs.WHEP)
	}
	var layersSaid string
	viewer.Eval(pageVideo+`.dataset.layers || ""`, &layersSaid)
	if layersSaid != "3" {
		t.Errorf("the layer resource says the stream has %q layers, want 3", layersSaid)
	}
	if n := layerSwitchesMetric(t, ts.URL) - switchesBefore; n < 3 {
		t.Errorf("livecart_stream_layer_switches_total moved by %v, want at least 3 (High, Low, High)", n)
	}

	step(t, "a new connection asks for the chosen quality")
	viewer.Click(testid("quality-high"))
	viewer.WaitFunc(chosen("high"), "High chosen")
	pollUntil(t, "the picture is the studio's widest layer", func() bool { return videoWidth() == widthOf("high") }, explain)
	// The server drops the viewer's session (as a restarted node would):
	// the page connects again on its own, asking for High at once.
	var dropped string
	viewer.Eval(`(async () => {
		const layer = performance.getEntriesByType("resource").map((e) => e.name).filter((n) => n.endsWith("/layer")).at(-1);
		const session = layer.replace(/\/layer$/, "");
		await fetch(session, { method: "DELETE" });
		return session;
	})()`, &dropped)
	viewer.WaitFunc(`window.__pcs.length === 2`, "a new peer connection")
	waitPlaying(t, viewer, `document.body.dataset.player`, pageVideo)
	var offers []string
	viewer.Eval(`performance.getEntriesByType("resource").map((e) => e.name).filter((n) => /\/whep(\?|$)/.test(n))`, &offers)
	if len(offers) != 2 || !strings.HasSuffix(offers[1], "/whep?layer=high") {
		t.Errorf("WHEP offers %v, want the second one to ask for ?layer=high", offers)
	}
	viewer.WaitFunc(chosen("high"), "High still chosen")
	pollUntil(t, "the new connection plays the widest layer", func() bool { return videoWidth() == widthOf("high") }, explain)
	shot(t, viewer, "watch-quality-high")

	step(t, "without simulcast the studio sends one layer, and the viewer plays it")
	studio.Click(testid("stop-live"))
	studio.WaitFunc(`document.body.dataset.publish === "stopped"`, "publishing stopped")
	studio.WaitFunc(`!document.querySelector('[data-testid="simulcast"]').disabled`, "the option can be changed again")
	studio.Click(testid("simulcast"))
	studio.WaitFunc(`!document.querySelector('[data-testid="simulcast"]').checked`, "simulcast off")
	studio.Click(testid("go-live"))
	studio.WaitFunc(`document.body.dataset.publish === "live" && document.body.dataset.simulcast === "off"`, "live again, without simulcast")
	studio.Eval(`window.__pcs.at(-1).localDescription.sdp`, &offer)
	if strings.Contains(offer, "a=simulcast") || strings.Contains(offer, "a=rid:") {
		t.Errorf("with Simulcast off the studio's offer still has simulcast:\n%s", offer)
	}
	pollUntil(t, "the studio sends one layer", func() bool { ls := sentLayers(t, studio); return len(ls) == 1 && ls[0].Frames > 0 }, explain)
	single := sentLayers(t, studio)[0]
	t.Logf("studio sends %s", single)
	pollUntil(t, "the viewer plays the one layer", func() bool {
		ls := sentLayers(t, studio)
		return len(ls) == 1 && videoWidth() == ls[0].Width
	}, explain)

	// The player hangs up the dropped session as it connects again: the
	// server no longer has it.
	viewer.ExpectNoProblems(func(p browsertest.Problem) bool {
		return p.Kind == "log" && p.Source == "network" && p.URL == dropped && strings.Contains(p.Text, "404")
	})
	studio.ExpectNoProblems()
}
