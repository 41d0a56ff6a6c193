package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/web/browsertest"
)

// The WHIP and WHEP endpoints as someone else's client sees them: the
// medooze whip-whep library (npm "whip-whep", by an author of RFC 9725),
// kept unmodified in testdata/thirdparty with how it was fetched, publishes
// and plays in headless Chromium from a page on another origin. It posts
// its offer without candidates and trickles them by PATCH, so the trickle
// path and the CORS of POST, PATCH (If-Match) and DELETE are exercised too.
//
// Its restart() (ICE restart by PATCH) is not exercised: whip-whep 1.2.0
// splices the answer's candidates into the remote description with
// candidates.join(), which puts a comma before every candidate but the
// first, and Chromium refuses that description whenever the server sends
// more than one candidate, as livecart does (one per address and
// component).

// request is one fetch a third-party page made, as testdata/thirdparty's
// fetchlog.js records it.
type request struct {
	Method, URL, IfMatch, Body, Error string
	Status                            int
}

// requestsOf returns the fetches the tab's page made so far.
func requestsOf(tb testing.TB, tab *browsertest.Tab) []request {
	tb.Helper()
	var rs []request
	tab.Eval(`window.requests`, &rs)
	return rs
}

// trickleDone is a JavaScript expression true once the library's PATCH
// carrying a=end-of-candidates has been answered.
const trickleDone = `window.requests.some((r) => r.method === "PATCH" && r.body.includes("a=end-of-candidates") && (r.status > 0 || r.error))`

// checkTrickled checks the PATCHes a client sent to its session: at least
// one, each with the session's ICE credentials, all answered 204, some
// carrying candidates and the last ending them. With wantIfMatch, each names an entity-tag
// (which the page could read only if CORS exposes ETag).
func checkTrickled(tb testing.TB, who string, rs []request, session string, wantIfMatch bool) {
	tb.Helper()
	var patches []request
	for _, r := range rs {
		if r.Method == "PATCH" {
			patches = append(patches, r)
		}
	}
	if len(patches) == 0 {
		tb.Errorf("%s sent no PATCH (trickle ICE); requests: %+v", who, rs)
		return
	}
	for _, p := range patches {
		if p.URL != session {
			tb.Errorf("%s: PATCH %s, want the session %s", who, p.URL, session)
		}
		if p.Status != 204 {
			tb.Errorf("%s: PATCH answered %d %s, want 204; fragment:\n%s", who, p.Status, p.Error, p.Body)
		}
		if !strings.Contains(p.Body, "a=ice-ufrag:") || !strings.Contains(p.Body, "a=ice-pwd:") {
			tb.Errorf("%s: PATCH fragment without ICE credentials:\n%s", who, p.Body)
		}
		if wantIfMatch && !strings.HasPrefix(p.IfMatch, `"`) {
			tb.Errorf("%s: PATCH If-Match %q, want the session's entity-tag", who, p.IfMatch)
		}
	}
	if !slices.ContainsFunc(patches, func(p request) bool { return strings.Contains(p.Body, "a=candidate:") }) {
		tb.Errorf("%s trickled no candidate", who)
	}
	if last := patches[len(patches)-1]; !strings.Contains(last.Body, "a=end-of-candidates") {
		tb.Errorf("%s: last PATCH does not end the candidates:\n%s", who, last.Body)
	}
}

// checkDeleted checks that the client's DELETE of its session was answered
// 200.
func checkDeleted(tb testing.TB, who string, rs []request, session string) {
	tb.Helper()
	for _, r := range rs {
		if r.Method == "DELETE" && r.URL == session {
			if r.Status != 200 {
				tb.Errorf("%s: DELETE %s answered %d %s, want 200", who, session, r.Status, r.Error)
			}
			return
		}
	}
	tb.Errorf("%s sent no DELETE of %s; requests: %+v", who, session, rs)
}

// TestBrowserThirdParty publishes Chromium's fake camera with the
// library's WHIPClient to a livecart stream as its host, plays it in
// another tab with its WHEPClient into a <video>, checks the picture moves,
// and stops both, each through the library and from a page whose origin
// is not livecart's.
func TestBrowserThirdParty(t *testing.T) {
	pages := httptest.NewServer(http.FileServer(http.Dir(filepath.Join("testdata", "thirdparty"))))
	t.Cleanup(pages.Close)
	// httptest servers listen on 127.0.0.1: "localhost" makes the pages
	// another origin than livecart. WHIP answers CORS for allowed origins
	// only; WHEP for every origin.
	origin := strings.Replace(pages.URL, "127.0.0.1", "localhost", 1)
	ts := MustServe(t, map[string]string{"LIVECART_ALLOWED_ORIGINS": origin})

	const id = "third-party"
	host := ts.Token(t, auth.Principal{Sub: "mia", Name: "Mia", Role: auth.Host})
	newShow(t, ts.URL, host, id, "Played by whip-whep", nil)
	b := browsertest.Start(t)

	step(t, "the library's WHIPClient publishes the camera")
	pub := openPage(t, b, "whip-client", origin+"/publish.html")
	var whipSession string
	pub.Eval(fmt.Sprintf(`window.publish(%q, %q)`, ts.URL+"/api/streams/"+id+"/whip", host), &whipSession)
	if want := ts.URL + "/api/streams/" + id + "/whip/"; !strings.HasPrefix(whipSession, want) {
		t.Fatalf("WHIP session %q, want one under %s", whipSession, want)
	}
	pub.WaitFunc(`window.session.pc.connectionState === "connected"`, "publisher connected")
	pub.WaitFunc(trickleDone, "publisher's candidates trickled")
	var st struct{ Status string }
	mustAPI(t, "GET", ts.URL+"/api/streams/"+id, "", nil, &st)
	if st.Status != "live" {
		t.Errorf("GET /api/streams/%s status %q while the library publishes, want live", id, st.Status)
	}

	step(t, "the library's WHEPClient plays it")
	player := openPage(t, b, "whep-client", origin+"/play.html")
	var whepSession string
	player.Eval(fmt.Sprintf(`window.play(%q)`, ts.URL+"/api/streams/"+id+"/whep"), &whepSession)
	if want := ts.URL + "/api/streams/" + id + "/whep/"; !strings.HasPrefix(whepSession, want) {
		t.Fatalf("WHEP session %q, want one under %s", whepSession, want)
	}
	player.WaitFunc(`window.session.pc.connectionState === "connected"`, "player connected")
	front(t, player)
	const video = `document.getElementById("video")`
	player.WaitFunc(fmt.Sprintf(`(() => { const v = %s; return v.videoWidth > 0 && v.videoHeight > 0 && v.currentTime > 0; })()`, video), "video has frames")
	var t0 float64
	var n0 int
	player.Eval(video+`.currentTime`, &t0)
	player.Eval(`window.presented`, &n0)
	player.WaitFunc(fmt.Sprintf(`%s.currentTime > %f + 0.5 && window.presented > %d + 10`, video, t0, n0), "video advancing, frames presented")
	player.WaitFunc(trickleDone, "player's candidates trickled")

	checkTrickled(t, "WHIPClient", requestsOf(t, pub), whipSession, true)
	// WHEPClient does not keep the ETag of its session: its PATCHes carry
	// no If-Match, which RFC 9725 allows.
	checkTrickled(t, "WHEPClient", requestsOf(t, player), whepSession, false)

	step(t, "both stop")
	player.Eval(`window.session.whep.stop().then(() => true)`, nil)
	pub.Eval(`window.session.whip.stop().then(() => true)`, nil)
	checkDeleted(t, "WHEPClient", requestsOf(t, player), whepSession)
	checkDeleted(t, "WHIPClient", requestsOf(t, pub), whipSession)

	pub.ExpectNoProblems()
	player.ExpectNoProblems()
}
