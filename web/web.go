// Package web serves the pages livecart shows people itself: the stream list
// (/), the viewer (/watch/{id}), the viewer's orders (/orders), the host's
// studio (/studio/{id}), the moderator console (/moderate/{id}) and the
// embed script (/embed.js) that puts the player, the product card and Buy
// on a brand's own page.
//
// Everything is embedded in the binary (go:embed) and needs no build step:
// the pages are HTML with plain ES modules and CSS under /assets/. The pages
// talk only to the public API and the live room websocket. The one thing
// the server itself says about a stream is on /watch/{id}: whether it
// exists (404 when not) and the link preview's title, host and picture,
// through Config.Show.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/livecart/livecart/api"
)

//go:embed static
var static embed.FS

// Config is what the pages need to know about the server.
type Config struct {
	// Guests is whether POST /api/guest is served: the pages offer guest
	// sign-in (pick a name) only then.
	Guests bool
	// Show looks a stream up for /watch/{id}: an error whose api code is
	// not_found makes the page a 404; any other error serves the page
	// without a preview (the page asks the API itself). Nil serves every
	// id without a preview. It is called concurrently, once per request.
	Show func(ctx context.Context, id string) (Show, error)
}

// Show is what /watch/{id} says about its stream before any script runs:
// the page's title and the link preview (Open Graph and Twitter card) that
// chat and social apps show when the link is shared.
type Show struct {
	Title string
	// Host names the stream's host.
	Host string
	// Status is "offline", "live" or "ended".
	Status string
	// Image is the show's picture: the pinned product's image, else the
	// first product's. A path ("/assets/…") is made absolute with the
	// request's origin.
	Image string
}

// clientConfig is Config as the pages' JavaScript sees it, inline in each
// page and at /assets/config.json for the embed.
type clientConfig struct {
	Guests bool `json:"guests"`
}

// AssetMaxAge is how long browsers may use an asset without asking again;
// after that they revalidate with its ETag.
const AssetMaxAge = 5 * time.Minute

// PageCSP is the Content-Security-Policy of every page: scripts, styles and
// media from livecart only, connections to livecart and websockets,
// product images from anywhere over https.
const PageCSP = "default-src 'self'; " +
	"script-src 'self'; " +
	"style-src 'self'; " +
	"img-src 'self' data: blob: https:; " +
	"media-src 'self' blob:; " +
	"connect-src 'self' ws: wss:; " +
	"font-src 'self'; " +
	"object-src 'none'; " +
	"base-uri 'none'; " +
	"form-action 'self'; " +
	"frame-ancestors 'none'"

// pages maps a route to its template in static/: the pages that are the
// same for every stream id (a page reads its id from its own path).
var pages = []struct{ pattern, file string }{
	{"GET /{$}", "index.html"},
	{"GET /orders", "orders.html"},
	{"GET /studio/{id}", "studio.html"},
	{"GET /moderate/{id}", "moderate.html"},
}

// Routes registers the pages, /embed.js, /assets/… and /assets/config.json
// on mux. It panics only if the embedded files are broken, which a test of
// this package catches. The handlers are safe for concurrent use.
func Routes(mux api.Router, cfg Config) {
	cc := clientConfig{Guests: cfg.Guests}
	for _, p := range pages {
		mux.Handle(p.pattern, pageHandler(mustRender(p.file, pageData{Config: cc})))
	}
	mux.Handle("GET /watch/{id}", watchHandler(cfg.Show, cc))

	assets := mustLoadAssets()
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", assetHandler(assets)))

	cfgJSON, err := json.Marshal(cc)
	if err != nil {
		panic(fmt.Sprintf("web: encoding config: %v", err))
	}
	mux.Handle("GET /assets/config.json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-cache")
		crossOrigin(h)
		_, _ = w.Write(cfgJSON)
	}))

	embedJS, err := static.ReadFile("static/embed.js")
	if err != nil {
		panic(fmt.Sprintf("web: %v", err))
	}
	mux.Handle("GET /embed.js", assetHandler(map[string]asset{"embed.js": newAsset("embed.js", embedJS)}))
}

// page is a rendered page, identical for every stream id: the page reads its
// stream id from its own path.
type page struct {
	body []byte
	etag string
}

// pageData is what a page's template is executed with: the client
// configuration for its inline JSON and, on /watch/{id}, its show.
type pageData struct {
	Config clientConfig
	Show   showData
}

func mustParse(file string) *template.Template {
	t, err := template.ParseFS(static, "static/"+file)
	if err != nil {
		panic(fmt.Sprintf("web: parsing %s: %v", file, err))
	}
	return t
}

func mustRender(file string, d pageData) page {
	p, err := render(mustParse(file), d)
	if err != nil {
		panic(fmt.Sprintf("web: rendering %s: %v", file, err))
	}
	return p
}

func render(t *template.Template, d pageData) (page, error) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return page{}, err
	}
	return page{body: buf.Bytes(), etag: etagOf(buf.Bytes())}, nil
}

// pageHeaders sets the headers every page answers with.
func pageHeaders(h http.Header, etag string) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", etag)
	h.Set("Content-Security-Policy", PageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	// Demo URLs carry a token in the query until the page removes it:
	// never send it on as a Referer.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Permissions-Policy", "camera=(self), microphone=(self), geolocation=()")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func pageHandler(p page) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pageHeaders(w.Header(), p.etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(p.body))
	})
}

// asset is one embedded static file.
type asset struct {
	data  []byte
	etag  string
	ctype string
}

func newAsset(name string, data []byte) asset {
	ct := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js", ".mjs":
		ct = "text/javascript; charset=utf-8"
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	return asset{data: data, etag: etagOf(data), ctype: ct}
}

func mustLoadAssets() map[string]asset {
	sub, err := fs.Sub(static, "static/assets")
	if err != nil {
		panic(fmt.Sprintf("web: %v", err))
	}
	m := map[string]asset{}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		m[p] = newAsset(p, data)
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("web: loading assets: %v", err))
	}
	return m
}

// assetHandler serves files by the request path (after any prefix is
// stripped) with a short max-age and a content ETag, so that a changed file
// reaches browsers within AssetMaxAge and an unchanged one costs a 304.
//
// Assets are public and carry no credentials, so every origin may read them:
// the embed on a brand's page loads livecart's modules, which browsers fetch
// in CORS mode.
func assetHandler(files map[string]asset) http.Handler {
	cacheControl := fmt.Sprintf("public, max-age=%d", int(AssetMaxAge.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("Cache-Control", cacheControl)
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		crossOrigin(h)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.data))
	})
}

// crossOrigin lets any origin read a public, credential-free response.
func crossOrigin(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
}

func etagOf(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}
