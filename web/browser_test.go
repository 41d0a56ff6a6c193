package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/livecart/livecart/web"
	"github.com/livecart/livecart/web/browsertest"
)

// apiNoise accepts the failed loads these tests cause on purpose: they serve
// the pages without the API, so every /api/ request answers 404 (or, cross
// origin, is refused without CORS headers). Anything else — a module that
// fails to load, a CSP violation, an uncaught exception — is a failure.
func apiNoise(p browsertest.Problem) bool {
	if p.Kind != "log" && p.Kind != "console" {
		return false
	}
	s := p.URL + " " + p.Text
	return strings.Contains(s, "/api/") && (p.Source == "network" || strings.Contains(p.Text, "WebSocket") || strings.Contains(p.Text, "CORS") || p.Source == "javascript")
}

// TestPagesInBrowser loads every page in Chromium against the pages alone
// (no API): modules load under the CSP with no error, the structure is
// there, tokens leave the address bar, and unknown streams say so.
func TestPagesInBrowser(t *testing.T) {
	b := browsertest.Start(t)
	srv := newServer(t, web.Config{Guests: true})

	t.Run("index", func(t *testing.T) {
		tab := b.NewTab(t, browsertest.Named("index"))
		tab.Navigate(srv.URL + "/")
		tab.WaitFunc(`document.body.dataset.ready === "true"`, "index ready")
		tab.WaitVisible(`[data-testid="index"]`)
		tab.WaitVisible(`[data-testid="error"]`) // no API here
		tab.Screenshot("index")
		tab.ExpectNoProblems(apiNoise)
	})

	t.Run("watch unknown stream", func(t *testing.T) {
		tab := b.NewTab(t, browsertest.Named("watch"))
		tab.Navigate(srv.URL + "/watch/no-such-show?token=viewer-token")
		tab.WaitFunc(`document.body.dataset.ready === "true"`, "watch ready")
		tab.WaitVisible(`[data-testid="not-found"]`)
		tab.WaitText(`[data-testid="not-found"]`, "Show not found")
		for _, sel := range []string{"video", "chat-list", "composer", "ask-toggle", "reactions", "cart-button", "ticker"} {
			var n int
			tab.Eval(fmt.Sprintf(`document.querySelectorAll('[data-testid=%q]').length`, sel), &n)
			if n != 1 {
				t.Errorf("[data-testid=%s]: %d elements, want 1", sel, n)
			}
		}
		var reacts int
		tab.Eval(`document.querySelectorAll('[data-testid="react"]').length`, &reacts)
		if reacts == 0 {
			t.Error("no reaction buttons")
		}
		var loc struct {
			Search, Stored string
		}
		tab.Eval(`({Search: location.search, Stored: localStorage.getItem("livecart.token.viewer")})`, &loc)
		if loc.Search != "" || loc.Stored != "viewer-token" {
			t.Errorf("token handling: search %q stored %q, want \"\" and viewer-token", loc.Search, loc.Stored)
		}
		tab.Screenshot("not-found")
		tab.ExpectNoProblems(apiNoise)
	})

	for _, p := range []struct{ page, role string }{{"studio", "host"}, {"moderate", "moderator"}} {
		t.Run(p.page+" without token", func(t *testing.T) {
			tab := b.NewTab(t, browsertest.Named(p.page+"-gate"))
			tab.Navigate(srv.URL + "/" + p.page + "/demo")
			tab.WaitFunc(`document.body.dataset.ready === "true"`, p.page+" ready")
			tab.WaitVisible(`[data-testid="need-token"]`)
			tab.WaitText(`[data-testid="need-token"]`, p.role+" token")
			tab.ExpectNoProblems(apiNoise)
		})
		t.Run(p.page+" unknown stream", func(t *testing.T) {
			tab := b.NewTab(t, browsertest.Named(p.page))
			tab.Navigate(srv.URL + "/" + p.page + "/no-such-show?token=staff-token")
			tab.WaitFunc(`document.body.dataset.ready === "true"`, p.page+" ready")
			tab.WaitVisible(`[data-testid="not-found"]`)
			var loc struct{ Search, Stored string }
			tab.Eval(`({Search: location.search, Stored: localStorage.getItem("livecart.token.staff")})`, &loc)
			if loc.Search != "" || loc.Stored != "staff-token" {
				t.Errorf("token handling: search %q stored %q, want \"\" and staff-token", loc.Search, loc.Stored)
			}
			tab.ExpectNoProblems(apiNoise)
		})
	}

	t.Run("orders without a token", func(t *testing.T) {
		tab := b.NewTab(t, browsertest.Named("orders"))
		tab.Navigate(srv.URL + "/orders")
		tab.WaitFunc(`document.body.dataset.ready === "true"`, "orders ready")
		tab.WaitVisible(`[data-testid="need-sign-in"]`)
		tab.WaitText(`[data-testid="need-sign-in"]`, "No orders on this device yet")
		tab.ExpectNoProblems(apiNoise)
	})

	t.Run("every module loads", func(t *testing.T) {
		tab := b.NewTab(t, browsertest.Named("modules"))
		tab.Navigate(srv.URL + "/watch/x")
		tab.WaitFunc(`document.body.dataset.ready === "true"`, "ready")
		var failed []string
		tab.Eval(`(async () => {
			const mods = ["api","bag","card","cart","catalog","chat","coupon","coupondrop","dom","embed-app","funnel","health","lineup","messages","money","myorders","offer","orders","page","player","reactions","retry","room","share","shop","signin","staff","text","ticker","time","toast","token","viewer","webrtc","whip"];
			const bad = [];
			for (const m of mods) { try { await import("/assets/js/" + m + ".js"); } catch (e) { bad.push(m + ": " + e); } }
			return bad;
		})()`, &failed)
		if len(failed) > 0 {
			t.Errorf("modules failed to load: %v", failed)
		}
		tab.ExpectNoProblems(apiNoise)
	})

	t.Run("user text is never markup", func(t *testing.T) {
		tab := b.NewTab(t, browsertest.Named("escape"))
		tab.Navigate(srv.URL + "/watch/x")
		tab.WaitFunc(`document.body.dataset.ready === "true"`, "ready")
		const evil = `<img src=x onerror="window.pwned=1"><b>bold</b>`
		var got struct {
			Imgs, Bolds int
			Texts       []string
			Pwned       bool
			AnswerUnder bool
		}
		tab.Eval(fmt.Sprintf(`(async () => {
			const evil = %q;
			const { ChatList } = await import("/assets/js/chat.js");
			const { ProductCard } = await import("/assets/js/card.js");
			const ol = document.createElement("ol");
			document.body.append(ol);
			const chat = new ChatList(ol);
			const user = { sub: "u1", name: evil, role: "viewer" };
			chat.add({ type: "chat", id: "c1", user, text: evil, ts: "2025-01-01T00:00:00Z" });
			chat.add({ type: "question", id: "q1", user, text: evil });
			chat.add({ type: "answer", id: "a1", question_id: "q1", user: { sub: "h", name: "Host", role: "host" }, text: evil });
			const art = document.createElement("article");
			document.body.append(art);
			new ProductCard(art, {}).set({ sku: "s", name: evil, price_cents: 1999, currency: "EUR", stock: 3, image_url: "javascript:alert(1)", ends_at: null });
			await new Promise(r => setTimeout(r, 300));
			const texts = [...ol.querySelectorAll('[data-testid="chat-text"], [data-testid="chat-user"]'), art.querySelector('[data-testid="card-name"]')].map(e => e.textContent);
			return {
				Imgs: ol.querySelectorAll("img").length + art.querySelectorAll("img").length,
				Bolds: ol.querySelectorAll("b").length + art.querySelectorAll("b").length,
				Texts: texts,
				Pwned: !!window.pwned,
				AnswerUnder: !!ol.querySelector('[data-id="q1"] [data-testid="answers"] [data-id="a1"]'),
			};
		})()`, evil), &got)
		if got.Imgs != 0 || got.Bolds != 0 || got.Pwned {
			t.Errorf("user text became markup: %d img, %d b, pwned=%v", got.Imgs, got.Bolds, got.Pwned)
		}
		n := 0
		for _, s := range got.Texts {
			if strings.Contains(s, evil) {
				n++
			}
		}
		if n < 5 {
			t.Errorf("user text not shown as text: %q", got.Texts)
		}
		if !got.AnswerUnder {
			t.Error("answer not shown under its question")
		}
		tab.ExpectNoProblems(apiNoise)
	})

	t.Run("client logic", func(t *testing.T) {
		tab := b.NewTab(t, browsertest.Named("logic"))
		tab.Navigate(srv.URL + "/watch/x")
		tab.WaitFunc(`document.body.dataset.ready === "true"`, "ready")
		tests := []struct {
			name, expr, want string
		}{
			{"frame lines", `(await import("/assets/js/room.js")).parseFrame('{"type":"chat","id":"1"}\n\nnot json\n{"type":"viewers","count":3}\n').map(m => m.type).join(",")`, "chat,viewers"},
			{"ice links", `JSON.stringify((await import("/assets/js/webrtc.js")).iceServersFromLinks('<stun:stun.example.net>; rel="ice-server", <turn:turn.example.net?transport=udp>; rel="ice-server"; username="u"; credential="p, q"; credential-type="password", <https://x/y>; rel="next"'))`,
				`[{"urls":"stun:stun.example.net"},{"urls":"turn:turn.example.net?transport=udp","username":"u","credential":"p, q"}]`},
			{"money USD", `(await import("/assets/js/money.js")).formatMoney(1999, "USD").replace(/\s/g, "")`, "$19.99"},
			{"money JPY", `(await import("/assets/js/money.js")).formatMoney(1999, "JPY").replace(/\s/g, "")`, "¥1,999"},
			{"parse money", `String((await import("/assets/js/money.js")).parseMoney("12.5", "EUR"))`, "1250"},
			{"countdown", `(await import("/assets/js/time.js")).formatCountdown(3723000)`, "1:02:03"},
			{"elapsed", `[59999, 61000, 3723999].map((await import("/assets/js/time.js")).formatElapsed).join(" ")`, "0:59 1:01 1:02:03"},
			{"plural", `((m) => [0, 1, 2, 1000].map((n) => m.plural(n, "order")).join(", "))(await import("/assets/js/text.js"))`, "0 orders, 1 order, 2 orders, 1,000 orders"},
			{"initial", `(await import("/assets/js/text.js")).initial("  zoë")`, "Z"},
			{"dom re-exports", `(await import("/assets/js/dom.js")).formatMoney === (await import("/assets/js/money.js")).formatMoney && (await import("/assets/js/dom.js")).backoff === (await import("/assets/js/retry.js")).backoff ? "same" : "copies"`, "same"},
			{"views", `((m) => [["offline","idle"],["live","connecting"],["live","offline"],["live","playing"],["live","stalled"],["live","reconnecting"],["ended","stopped"],["not_found","idle"]].map(([s, p]) => m.viewOf(s, p)).join(","))(await import("/assets/js/viewer.js"))`,
				"offline,connecting,connecting,playing,stalled,reconnecting,ended,not_found"},
			{"shapes", `((m) => [[720,1280],[1280,720],[0,0],[500,500]].map(([w, h]) => m.shapeOf(w, h)).join(","))(await import("/assets/js/viewer.js"))`, "portrait,landscape,portrait,portrait"},
			{"health", `JSON.stringify((await import("/assets/js/health.js")).healthText({ bytes: 312500, fps: 29.7, sent: 1000, lost: 10, rtt: 0.0424 }, { bytes: 0, sent: 0, lost: 0 }, 1))`,
				`{"bitrate":"2,500 kbps","fps":"30 fps","loss":"1.0%","rtt":"42 ms"}`},
			{"stock", `[0, 3, 5, 6].map((await import("/assets/js/card.js")).stockText).join("|")`, "Sold out|Only 3 left|Only 5 left|In stock"},
			{"backoff bounds", `(async () => { const { backoff } = await import("/assets/js/retry.js"); for (let i = 0; i < 200; i++) { const n = i % 12, d = backoff(n, 500, 15000), cap = Math.min(15000, 500 * 2 ** n); if (d < cap / 2 || d > cap) return "bad " + n + " " + d; } return "ok"; })()`, "ok"},
			{"stream path escapes", `(await import("/assets/js/page.js")).streamPath("a/b c", "/ws")`, "/api/streams/a%2Fb%20c/ws"},
			{"path id", `(await import("/assets/js/page.js")).streamIdFromPath("/watch/caf%C3%A9")`, "café"},
			{"token claims", `(await import("/assets/js/token.js")).claims("x." + btoa(JSON.stringify({sub:"ana",name:"Ana"})).replace(/=+$/, "") + ".y").name`, "Ana"},
		}
		for _, tt := range tests {
			var got string
			tab.Eval(`(async () => { return `+tt.expr+`; })()`, &got)
			if got != tt.want {
				t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
			}
		}
	})

	t.Run("one tap one order", func(t *testing.T) {
		tab := b.NewTab(t, browsertest.Named("buy"))
		tab.Navigate(srv.URL + "/watch/x")
		tab.WaitFunc(`document.body.dataset.ready === "true"`, "ready")
		// fetch is replaced inside the page to watch what the client sends:
		// the first attempt fails on the network, the retry succeeds.
		var got struct {
			Calls       int
			Keys        []string
			Second      string
			Third       int
			ThirdKeyNew bool
		}
		tab.Eval(`(async () => {
			const { Api } = await import("/assets/js/api.js");
			const { oneTap } = await import("/assets/js/card.js");
			const keys = [];
			let calls = 0;
			const real = window.fetch;
			window.fetch = async (url, init) => {
				calls++;
				keys.push(init.headers["Idempotency-Key"]);
				await new Promise(r => setTimeout(r, 50));
				if (calls === 1) throw new TypeError("network down");
				return new Response(JSON.stringify({ id: "o1", total_cents: 100, currency: "USD" }), { status: 201, headers: { "Content-Type": "application/json" } });
			};
			try {
				const api = new Api({ token: "t" });
				const tap = oneTap((sku) => api.once("POST", "/api/streams/x/buy", { sku, qty: 1 }), 200);
				const first = tap("s1");
				const second = await tap("s1"); // a double tap: ignored
				await first;
				const afterPair = calls;
				await new Promise(r => setTimeout(r, 300));
				await tap("s1"); // a later tap is a new purchase
				return { Calls: afterPair, Keys: keys, Second: String(second), Third: calls, ThirdKeyNew: keys[2] !== keys[0] };
			} finally { window.fetch = real; }
		})()`, &got)
		if got.Calls != 2 || len(got.Keys) < 2 || got.Keys[0] == "" || got.Keys[0] != got.Keys[1] {
			t.Errorf("double tap: %d requests with keys %q; want 2 (one retry) with one key", got.Calls, got.Keys)
		}
		if got.Second != "undefined" {
			t.Errorf("second tap of a double tap did something: %q", got.Second)
		}
		if got.Third != 3 || !got.ThirdKeyNew {
			t.Errorf("a later tap: calls %d, new key %v; want 3 and a new key", got.Third, got.ThirdKeyNew)
		}
	})

	t.Run("embed from another origin", func(t *testing.T) {
		brand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><html><head><title>Brand</title></head><body>
<h1 id="brand">Brand shop</h1>
<script src="%s/embed.js" data-stream="demo" data-target="#slot"></script>
<div id="slot"></div>
</body></html>`, srv.URL)
		}))
		t.Cleanup(brand.Close)
		// httptest servers share 127.0.0.1: make the brand another site.
		brandURL := strings.Replace(brand.URL, "127.0.0.1", "localhost", 1)

		tab := b.NewTab(t, browsertest.Named("embed"))
		tab.Navigate(brandURL + "/")
		tab.WaitFunc(`(() => { const e = document.querySelector('[data-testid="livecart-embed"]'); return e && e.shadowRoot && e.shadowRoot.querySelector('[data-testid="embed"]') && e.dataset.ready === "true"; })()`, "embed mounted")
		var got struct {
			InSlot bool
			Radius string
			Video  bool
			Card   bool
			Origin string
		}
		tab.Eval(`(() => {
			const host = document.querySelector('[data-testid="livecart-embed"]');
			const root = host.shadowRoot;
			return {
				InSlot: host.parentElement.id === "slot",
				Radius: getComputedStyle(root.querySelector(".lc")).borderTopLeftRadius,
				Video: !!root.querySelector('[data-testid="video"]'),
				Card: !!root.querySelector('[data-testid="product-card"]'),
				Origin: location.origin,
			};
		})()`, &got)
		if !got.InSlot || !got.Video || !got.Card {
			t.Errorf("embed structure: %+v", got)
		}
		if got.Radius != "16px" {
			t.Errorf("embed stylesheet not applied (border radius %q): CSS must load by absolute URL", got.Radius)
		}
		if strings.HasPrefix(srv.URL, got.Origin) {
			t.Errorf("brand page origin %s is livecart's: not a cross-origin test", got.Origin)
		}
		tab.Screenshot("embed")
		tab.ExpectNoProblems(apiNoise)
	})
}
