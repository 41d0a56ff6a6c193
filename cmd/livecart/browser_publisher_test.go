package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/livecart/livecart/web/browsertest"
)

// What the browser tests of the viewer's screens share: the two sizes a
// person looks at them on, a publisher whose picture has a chosen shape,
// and the boxes of what is on screen.

// size is a screen the pages are checked on.
type size struct {
	name          string
	width, height int64
}

var (
	phone   = size{"phone", phoneWidth, phoneHeight}
	desktop = size{"desktop", 1280, 800}
	sizes   = []size{phone, desktop}
)

// openSized opens a tab of the given size on one of livecart's pages and
// waits for the page to start.
func openSized(tb testing.TB, b *browsertest.Browser, name string, sz size, url string) *browsertest.Tab {
	tb.Helper()
	tab := sizedTab(tb, b, name, sz, url)
	tab.WaitFunc(`document.body.dataset.ready === "true"`, name+" ready")
	return tab
}

// sizedTab opens a tab of the given size on url; the scripts given run in
// the page before its own.
func sizedTab(tb testing.TB, b *browsertest.Browser, name string, sz size, url string, scripts ...string) *browsertest.Tab {
	tb.Helper()
	tab := b.NewTab(tb, browsertest.Named(name+"-"+sz.name))
	ctx, cancel := context.WithTimeout(tab.Context(), tab.Timeout)
	defer cancel()
	orientation := chromedp.EmulatePortrait
	if sz.width > sz.height {
		orientation = chromedp.EmulateLandscape
	}
	actions := []chromedp.Action[chromedp.Void]{chromedp.EmulateViewport(sz.width, sz.height, orientation)}
	for _, src := range scripts {
		actions = append(actions, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src})
			return err
		}))
	}
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.Fatalf("%s: %s viewport and scripts: %v", name, sz.name, err)
	}
	tab.Navigate(url)
	return tab
}

// front brings the tab to the front: a tab behind others is not painted,
// so its animations and its lazily loaded images wait for it.
func front(tb testing.TB, tab *browsertest.Tab) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tab.Context(), tab.Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.BringToFront, cdp.Empty{})
		return err
	})); err != nil {
		tb.Fatalf("%s: bring to front: %v", tab.Name(), err)
	}
}

// shot is screen for a tab among several: it brings the tab to the front
// and waits for its animations (a drawer sliding in) to end first.
func shot(tb testing.TB, tab *browsertest.Tab, name string) {
	tb.Helper()
	front(tb, tab)
	tab.WaitFunc(`document.getAnimations().every((a) => a.playState !== "running" || a.effect?.getComputedTiming().iterations === Infinity)`, "animations over before the screenshot")
	tab.WaitFunc(`!document.querySelector('[data-testid="livecart-embed"]')?.shadowRoot?.querySelector('[data-testid="toast"]')`, "the embed's toasts gone before the screenshot")
	screen(tb, tab, name)
}

// canvasPublish is a script that publishes a canvas of w×h pixels (a
// picture that moves, with a product in it) over WHIP with a host token, as
// OBS or a camera app would. It keeps the session in window.__pub.
const canvasPublish = `(async (endpoint, token, w, h) => {
  const c = document.createElement("canvas");
  c.width = w; c.height = h;
  const g = c.getContext("2d");
  const tee = new Image();
  tee.src = "/assets/demo/tee.svg";
  await tee.decode().catch(() => {});
  let n = 0;
  const draw = () => {
    n++;
    const grad = g.createLinearGradient(0, 0, w, h);
    grad.addColorStop(0, "#f6d365");
    grad.addColorStop(1, "#fda085");
    g.fillStyle = grad;
    g.fillRect(0, 0, w, h);
    g.fillStyle = "rgba(255,255,255,.35)";
    g.beginPath();
    g.arc(w / 2, h * 0.42, Math.min(w, h) * 0.34, 0, 2 * Math.PI);
    g.fill();
    const s = Math.min(w, h) * 0.5;
    g.drawImage(tee, w / 2 - s / 2, h * 0.42 - s / 2 + Math.sin(n / 15) * s * 0.04, s, s);
    g.fillStyle = "#3a1c1c";
    g.font = "bold " + Math.round(Math.min(w, h) * 0.06) + "px sans-serif";
    g.textAlign = "center";
    g.fillText("Live from the studio", w / 2, h * 0.82);
    g.font = Math.round(Math.min(w, h) * 0.035) + "px sans-serif";
    g.fillText(w + " × " + h, w / 2, h * 0.88);
  };
  draw();
  const timer = setInterval(draw, 33);
  const stream = c.captureStream(30);
  const publish = async () => {
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    pc.addTransceiver(stream.getVideoTracks()[0], { direction: "sendonly", streams: [stream] });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((ok) => {
      if (pc.iceGatheringState === "complete") return ok();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && ok();
      setTimeout(ok, 3000);
    });
    const res = await fetch(endpoint, { method: "POST", body: pc.localDescription.sdp,
      headers: { "Content-Type": "application/sdp", Authorization: "Bearer " + token } });
    if (res.status !== 201) throw new Error("WHIP " + res.status + " " + (await res.text()));
    const location = new URL(res.headers.get("Location"), endpoint).href;
    await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
    return { pc, location };
  };
  window.__pub = { timer, publish, session: await publish() };
  return true;
})`

// publisher is a host streaming a canvas from its own tab.
type publisher struct {
	tab             *browsertest.Tab
	endpoint, token string
}

// publishCanvas opens a tab on the server's origin and publishes a w×h
// picture to stream as its host.
func publishCanvas(tb testing.TB, b *browsertest.Browser, base, stream, hostToken string, w, h int) *publisher {
	tb.Helper()
	tab := b.NewTab(tb, browsertest.Named(fmt.Sprintf("publisher-%dx%d", w, h)))
	tab.Navigate(base + "/orders")
	p := &publisher{tab: tab, endpoint: base + "/api/streams/" + stream + "/whip", token: hostToken}
	tab.Eval(fmt.Sprintf(`%s(%q, %q, %d, %d)`, canvasPublish, p.endpoint, hostToken, w, h), nil)
	tab.WaitFunc(`window.__pub.session.pc.connectionState === "connected"`, "publisher connected")
	return p
}

// stop stops publishing as OBS does on "Stop streaming": a DELETE on the
// session. The stream stays live for the reconnect grace.
func (p *publisher) stop(tb testing.TB) {
	tb.Helper()
	p.tab.Eval(fmt.Sprintf(`(async () => {
		const s = window.__pub.session;
		await fetch(s.location, { method: "DELETE", headers: { Authorization: "Bearer " + %q } });
		s.pc.close();
		return true;
	})()`, p.token), nil)
}

// resume publishes again on the same stream.
func (p *publisher) resume(tb testing.TB) {
	tb.Helper()
	p.tab.Eval(`(async () => { window.__pub.session = await window.__pub.publish(); return true; })()`, nil)
	p.tab.WaitFunc(`window.__pub.session.pc.connectionState === "connected"`, "publisher connected again")
}

// box is an element's box on screen, in CSS pixels.
type box struct{ X, Y, W, H float64 }

func (a box) String() string { return fmt.Sprintf("(%.0f,%.0f %.0f×%.0f)", a.X, a.Y, a.W, a.H) }

// overlaps reports whether two boxes share more than a hairline.
func (a box) overlaps(b box) bool {
	const eps = 0.5
	return a.W > 0 && a.H > 0 && b.W > 0 && b.H > 0 &&
		a.X < b.X+b.W-eps && b.X < a.X+a.W-eps && a.Y < b.Y+b.H-eps && b.Y < a.Y+a.H-eps
}

// inside reports whether a lies within b.
func (a box) inside(b box) bool {
	const eps = 0.5
	return a.X >= b.X-eps && a.Y >= b.Y-eps && a.X+a.W <= b.X+b.W+eps && a.Y+a.H <= b.Y+b.H+eps
}

// boxesJS returns, for each CSS selector, the box of the first visible
// element that matches it (in the document or in the embed's shadow root),
// or null. A selector prefixed with "all:" returns the boxes of every
// visible match.
const boxesJS = `((sels) => {
  const visible = (e) => {
    if (!e) return false;
    const cs = getComputedStyle(e);
    if (cs.display === "none" || cs.visibility === "hidden" || Number(cs.opacity) === 0) return false;
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const box = (e) => { const r = e.getBoundingClientRect(); return { X: r.x, Y: r.y, W: r.width, H: r.height }; };
  const out = {};
  for (const sel of sels) {
    if (sel.startsWith("all:")) {
      out[sel] = [...document.querySelectorAll(sel.slice(4))].filter(visible).map(box);
      continue;
    }
    const e = [...document.querySelectorAll(sel)].find(visible);
    out[sel] = e ? box(e) : null;
  }
  return out;
})`

// boxes returns the visible boxes of the selectors (see boxesJS).
func boxes(tb testing.TB, tab *browsertest.Tab, sels ...string) map[string]*box {
	tb.Helper()
	js := "["
	for i, s := range sels {
		if i > 0 {
			js += ","
		}
		js += fmt.Sprintf("%q", s)
	}
	out := map[string]*box{}
	tab.Eval(boxesJS+"("+js+"])", &out)
	return out
}

// allBoxes returns the boxes of every visible element the selector
// matches.
func allBoxes(tb testing.TB, tab *browsertest.Tab, sel string) []box {
	tb.Helper()
	var out map[string][]box
	tab.Eval(fmt.Sprintf(`%s([%q])`, boxesJS, "all:"+sel), &out)
	return out["all:"+sel]
}

// picture is what a video element shows: the decoded frame's size, the
// element's box, its object-fit, and the box of the frame as drawn
// (cropped to the element when it covers it).
type picture struct {
	VideoWidth, VideoHeight float64
	Element, Drawn          box
	Fit                     string
	Viewport                box
}

const pictureJS = `((v) => {
  const r = v.getBoundingClientRect();
  const fit = getComputedStyle(v).objectFit;
  const vw = v.videoWidth, vh = v.videoHeight;
  const s = fit === "cover" ? Math.max(r.width / vw, r.height / vh) : Math.min(r.width / vw, r.height / vh);
  const w = vw * s, h = vh * s;
  let x = r.x + (r.width - w) / 2, y = r.y + (r.height - h) / 2;
  let dw = w, dh = h;
  if (fit === "cover") { x = Math.max(x, r.x); y = Math.max(y, r.y); dw = Math.min(w, r.width); dh = Math.min(h, r.height); }
  return { VideoWidth: vw, VideoHeight: vh, Fit: fit,
    Element: { X: r.x, Y: r.y, W: r.width, H: r.height },
    Drawn: { X: x, Y: y, W: dw, H: dh },
    Viewport: { X: 0, Y: 0, W: innerWidth, H: innerHeight } };
})`

// pictureOf measures the picture of the video element the expression
// names.
func pictureOf(tb testing.TB, tab *browsertest.Tab, video string) picture {
	tb.Helper()
	var p picture
	tab.Eval(pictureJS+"("+video+")", &p)
	return p
}
