package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

func init() {
	register("firstframe", "first decoded frame: headless Chromium opens /watch/{id} again and again; time until the video's first frame", runFirstFrame)
}

// ffHook runs in each viewer tab before the page's own scripts: it registers
// requestVideoFrameCallback on the page's video as soon as the element
// exists, and keeps the time of the first frame (ms since navigation start).
const ffHook = `(() => {
  window.__ff = null;
  const arm = () => {
    const v = document.querySelector("video");
    if (!v) return false;
    v.requestVideoFrameCallback((now, md) => {
      window.__ff = { now, presented: md.presentationTime, w: md.width, h: md.height };
    });
    return true;
  };
  if (!arm()) {
    const mo = new MutationObserver(() => { if (arm()) mo.disconnect(); });
    mo.observe(document, { childList: true, subtree: true });
  }
})();`

// ffPublish publishes the fake camera (and microphone) from a page of the
// server's origin over WHIP, preferring one video codec, at a bitrate.
const ffPublish = `(async (endpoint, token, codec, bitrate) => {
  const s = await navigator.mediaDevices.getUserMedia({
    video: { width: 1280, height: 720, frameRate: 30 }, audio: true });
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  for (const t of s.getTracks()) {
    const tr = pc.addTransceiver(t, { direction: "sendonly", streams: [s] });
    if (t.kind === "video") {
      const all = RTCRtpSender.getCapabilities("video").codecs;
      const want = all.filter((c) => c.mimeType.toLowerCase() === "video/" + codec);
      if (want.length) tr.setCodecPreferences(want.concat(all.filter((c) => !want.includes(c))));
    }
  }
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await new Promise((ok) => {
    if (pc.iceGatheringState === "complete") return ok();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && ok();
    setTimeout(ok, 3000);
  });
  const res = await fetch(endpoint, { method: "POST", body: pc.localDescription.sdp,
    headers: { "Content-Type": "application/sdp", Authorization: "Bearer " + token } });
  if (res.status !== 201) throw new Error("WHIP " + res.status + " " + (await res.text()));
  await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
  for (const snd of pc.getSenders()) {
    if (snd.track && snd.track.kind === "video") {
      const p = snd.getParameters();
      if (p.encodings && p.encodings[0]) { p.encodings[0].maxBitrate = bitrate; await snd.setParameters(p); }
    }
  }
  window.__pub = pc;
  return true;
})`

// ffPubCodec reads the codec the publisher sends, once media flows.
const ffPubCodec = `(async () => {
  const st = await window.__pub.getStats();
  let codec = "", bytes = 0;
  st.forEach((r) => { if (r.type === "outbound-rtp" && r.kind === "video") { bytes = r.bytesSent;
    const c = st.get(r.codecId); if (c) codec = c.mimeType; } });
  return codec + " " + bytes;
})()`

type ffResult struct {
	Now       float64 `json:"now"`
	Presented float64 `json:"presented"`
	W         int     `json:"w"`
	H         int     `json:"h"`
	WHEPStart float64 `json:"whepStart"`
	WHEPEnd   float64 `json:"whepEnd"`
	DCL       float64 `json:"dcl"`
}

func runFirstFrame(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("firstframe", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "livecart base URL")
	stream := fs.String("stream", "demo", "stream id")
	token := fs.String("token", "", "host token: publish the stream from a Chromium tab's fake camera first (empty: the stream is already live)")
	codec := fs.String("codec", "h264", "video codec the Chromium publisher prefers (h264, vp8, vp9, av1)")
	bitrate := fs.Int("bitrate", 2_500_000, "the Chromium publisher's maximum video bitrate, bit/s")
	joins := fs.Int("joins", 10, "viewer page loads, one after another, each in a fresh browser context")
	pause := fs.Duration("pause", 2*time.Second, "wait between two page loads")
	timeout := fs.Duration("timeout", 20*time.Second, "give up on one page load after this long")
	warmup := fs.Duration("warmup", 10*time.Second, "wait after publishing before the first page load, for the encoder to ramp up")
	chromium := fs.String("chromium", "/usr/bin/chromium", "Chromium binary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *joins < 1 {
		return errors.New("--joins must be positive")
	}
	*base = strings.TrimRight(*base, "/")
	dir, err := os.MkdirTemp("", "livecart-firstframe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(*chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(dir),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil {
		return fmt.Errorf("starting %s: %w", *chromium, err)
	}

	if *token != "" {
		// The publisher tab stays open for the whole run.
		pctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
		defer cancel()
		call := fmt.Sprintf("%s(%q, %q, %q, %d)", ffPublish, *base+"/api/streams/"+*stream+"/whip", *token, *codec, *bitrate)
		if err := chromedp.Do(pctx, chromedp.Navigate(*base+"/healthz")); err != nil {
			return fmt.Errorf("publisher tab: %w", err)
		}
		if _, err := chromedp.Run(pctx, chromedp.Evaluate[bool](call, chromedp.EvalAwaitPromise)); err != nil {
			return fmt.Errorf("publishing from Chromium: %w", err)
		}
		time.Sleep(*warmup)
		info, _ := chromedp.Run(pctx, chromedp.Evaluate[string](ffPubCodec, chromedp.EvalAwaitPromise))
		fmt.Fprintf(stdout, "publisher: Chromium fake camera 1280x720, video %s bytes sent in the %s warm-up\n", info, *warmup)
	}

	var total, fromWHEP []time.Duration
	failed := 0
	for i := range *joins {
		if ctx.Err() != nil {
			break
		}
		r, err := ffJoin(bctx, *base+"/watch/"+*stream, *timeout)
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "join %d: %v\n", i+1, err)
		} else {
			t := time.Duration(r.Now * float64(time.Millisecond))
			w := time.Duration((r.Now - r.WHEPStart) * float64(time.Millisecond))
			total, fromWHEP = append(total, t), append(fromWHEP, w)
			fmt.Fprintf(stdout, "join %d: first frame %dx%d %s after navigation (DOMContentLoaded at %s, WHEP POST at %s), %s after the WHEP POST (answer after %s)\n",
				i+1, r.W, r.H, t.Round(time.Millisecond), ffMS(r.DCL), ffMS(r.WHEPStart), w.Round(time.Millisecond),
				time.Duration((r.WHEPEnd-r.WHEPStart)*float64(time.Millisecond)).Round(time.Millisecond))
		}
		select {
		case <-time.After(*pause):
		case <-ctx.Done():
		}
	}
	fmt.Fprintf(stdout, "first decoded frame (%d joins, %d failed): from navigation p50 %s p99 %s max %s; from the WHEP POST p50 %s p99 %s max %s\n",
		len(total), failed, ffPct(total, 50), ffPct(total, 99), ffPct(total, 100), ffPct(fromWHEP, 50), ffPct(fromWHEP, 99), ffPct(fromWHEP, 100))
	return nil
}

// ffJoin opens the viewer page in a fresh browser context and waits for the
// video's first frame.
func ffJoin(bctx context.Context, pageURL string, timeout time.Duration) (ffResult, error) {
	tctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	defer cancel()
	wctx, wcancel := context.WithTimeout(tctx, timeout)
	defer wcancel()
	if err := chromedp.Do(wctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: ffHook})
		return err
	})); err != nil {
		return ffResult{}, err
	}
	if err := chromedp.Do(wctx, chromedp.Navigate(pageURL)); err != nil {
		return ffResult{}, err
	}
	raw, err := chromedp.Run(wctx, chromedp.Poll[string](`window.__ff && JSON.stringify(Object.assign({}, window.__ff, (() => {
			const e = performance.getEntriesByType("resource").find((r) => r.name.endsWith("/whep"));
			const n = performance.getEntriesByType("navigation")[0];
			return Object.assign(e ? { whepStart: e.startTime, whepEnd: e.responseEnd } : {}, { dcl: n ? n.domContentLoadedEventEnd : 0 });
		})()))`, chromedp.WithPollingInterval(5*time.Millisecond)))
	if err != nil {
		return ffResult{}, fmt.Errorf("no frame: %w", err)
	}
	var r ffResult
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return ffResult{}, err
	}
	return r, nil
}

func ffMS(ms float64) time.Duration {
	return time.Duration(ms * float64(time.Millisecond)).Round(time.Millisecond)
}

func ffPct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(max((len(s)*p+99)/100-1, 0), len(s)-1)].Round(time.Millisecond).String()
}
