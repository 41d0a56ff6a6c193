package web

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/livecart/livecart/api"
)

// showLookupTimeout bounds the stream lookup of one /watch/{id} request: a
// slow store makes the page come without its preview rather than late.
const showLookupTimeout = 2 * time.Second

// showData is a show as watch.html renders it.
type showData struct {
	// Found: the stream exists and its preview is known. NotFound: it does
	// not exist (the page is a 404). Neither: nothing is known yet (no
	// lookup, or it failed), and the page finds out itself.
	Found, NotFound bool
	Title, Host     string
	Description     string
	// Image and URL are absolute.
	Image, ImageAlt string
	URL             string
}

// PageTitle is the document's <title>.
func (s showData) PageTitle() string {
	switch {
	case s.NotFound:
		return "Show not found · livecart"
	case s.Found && s.Title != "":
		return s.Title + " · livecart"
	default:
		return "Live · livecart"
	}
}

// newShowData words the preview of a show found at page (an absolute URL).
func newShowData(s Show, page *url.URL) showData {
	d := showData{Found: true, Title: s.Title, Host: s.Host, URL: page.String()}
	if d.Title == "" {
		d.Title = "A live show"
	}
	switch s.Status {
	case "live":
		d.Description = "Live now"
	case "ended":
		d.Description = "Ended: shop the products of the show"
	default:
		d.Description = "Live shopping show"
	}
	if s.Host != "" {
		d.Description += " with " + s.Host
	}
	d.Description += " on livecart."
	if img := absolute(page, s.Image); img != "" {
		d.Image = img
		d.ImageAlt = d.Title
	}
	return d
}

// absolute resolves ref against base and keeps it only when it is http(s).
func absolute(base *url.URL, ref string) string {
	if ref == "" {
		return ""
	}
	u, err := base.Parse(ref)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

// pageURL is the address the request reached this page at, without its
// query: the link a shared preview points to. Behind a proxy that
// terminates TLS, X-Forwarded-Proto says https.
func pageURL(r *http.Request) *url.URL {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if p, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ","); strings.EqualFold(strings.TrimSpace(p), "https") {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path}
}

// watchHandler serves /watch/{id}: with a Show lookup, the show's preview
// tags, and a 404 (the same page, saying "not found") for a stream that
// does not exist.
func watchHandler(lookup func(context.Context, string) (Show, error), cc clientConfig) http.Handler {
	t := mustParse("watch.html")
	plain := mustRender("watch.html", pageData{Config: cc})
	notFound := mustRender("watch.html", pageData{Config: cc, Show: showData{NotFound: true}})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lookup == nil {
			pageHeaders(w.Header(), plain.etag)
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(plain.body))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), showLookupTimeout)
		s, err := lookup(ctx, r.PathValue("id"))
		cancel()
		p := plain
		switch {
		case api.CodeOf(err) == api.NotFound:
			pageHeaders(w.Header(), notFound.etag)
			w.WriteHeader(http.StatusNotFound)
			if r.Method != http.MethodHead {
				_, _ = w.Write(notFound.body)
			}
			return
		case err != nil:
			// No preview: the page asks the API itself and says what it
			// finds (the API logs the store's failure).
		default:
			rendered, rerr := render(t, pageData{Config: cc, Show: newShowData(s, pageURL(r))})
			if rerr == nil {
				p = rendered
			}
		}
		pageHeaders(w.Header(), p.etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(p.body))
	})
}
