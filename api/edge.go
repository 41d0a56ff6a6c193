package api

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
)

// The edge is what every request passes before it reaches a route. Each
// piece below is a middleware that cmd/livecart composes; all are safe for
// concurrent use.

// Limits on a request's head. Go's http.Server refuses heads over its
// MaxHeaderBytes with a text/plain 431 before any handler runs, so the
// server sets that higher and LimitHead answers in problem+json below it.
const (
	// MaxURL bounds the request target (path and query), in bytes.
	MaxURL = 8 << 10
	// MaxHeader bounds the request's header fields, in bytes, counted as
	// they are sent ("Name: value\r\n").
	MaxHeader = 16 << 10
)

// LimitHead answers a request whose target is longer than maxURL bytes with
// 414 and one whose header fields total more than maxHeader bytes with 431,
// both problem+json, and passes the others to next. A bound <= 0 is not
// checked.
func LimitHead(next http.Handler, maxURL, maxHeader int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if maxURL > 0 && len(r.RequestURI) > maxURL {
			WriteError(w, r, nil, Errorf(URITooLong, "the request target is %d bytes; the limit is %d", len(r.RequestURI), maxURL))
			return
		}
		if maxHeader > 0 {
			if n := headerSize(r); n > maxHeader {
				WriteError(w, r, nil, Errorf(HeaderTooLarge, "the request header fields are %d bytes; the limit is %d", n, maxHeader))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// headerSize is the size of r's header fields as sent on HTTP/1.1.
func headerSize(r *http.Request) int {
	n := len("Host: \r\n") + len(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(": \r\n") + len(v)
		}
	}
	return n
}

// BodyDeadline gives a request's body d, from the moment the request
// reaches it, to arrive whole: it sets the connection's read deadline, and
// a body read that runs past it fails, which ReadBody, ReadJSON and
// DecodeJSON answer with 408. The deadline is lifted once the body has been
// read, so a handler may run longer than d, and it never applies to
// requests without a body (a websocket upgrade clears it anyway when it
// takes the connection over). d <= 0 sets no deadline.
func BodyDeadline(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d <= 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
			next.ServeHTTP(w, r) // a connection without deadlines
			return
		}
		r2 := r.WithContext(r.Context())
		r2.Body = &deadlineBody{ReadCloser: r.Body, lift: func() { _ = rc.SetReadDeadline(time.Time{}) }}
		next.ServeHTTP(w, r2)
	})
}

// deadlineBody lifts the read deadline once the body has been read to its
// end. After a failed read the deadline stays, so that net/http, which
// tries to drain an unread body before answering, gives up at once and
// closes the connection after the answer.
type deadlineBody struct {
	io.ReadCloser
	lift   func()
	lifted bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.lifted {
		b.lifted = true
		b.lift()
	}
	return n, err
}

// Admit bounds the requests in flight with g, per client address (ClientOf)
// and in all: over a bound it answers 429 rate_limited or 503 unavailable,
// with Retry-After, and next does not run. Requests for which exempt
// reports true (long-lived connections with gates of their own, health
// probes) are not counted. A nil g admits everything.
func Admit(next http.Handler, g *Gate, exempt func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g == nil || (exempt != nil && exempt(r)) {
			next.ServeHTTP(w, r)
			return
		}
		release, err := g.Enter(ClientOf(r))
		if err != nil {
			// The refused request's body is not read: closing the
			// connection lets the answer leave now, where net/http would
			// first wait for the rest of an unread body (a slow one
			// included), holding the connection.
			if r.ContentLength != 0 {
				w.Header().Set("Connection", "close")
			}
			WriteError(w, r, nil, err)
			return
		}
		defer release()
		next.ServeHTTP(w, r)
	})
}

// Mux is what Routes serves: an *http.ServeMux, or a type that embeds one.
type Mux interface {
	http.Handler
	Handler(r *http.Request) (h http.Handler, pattern string)
}

// Routes serves mux, answering what it does not route in problem+json: a
// path it does not know is a 404 not_found, and a method that the path does
// not take is a 405 with Allow (code bad_request), except for a CORS
// preflight, which gets 204 with Allow so that the CORS headers set before
// it stand. A path under /api/ that only a page pattern outside /api/
// matches (a catch-all "GET /") is a 404 problem too.
func Routes(mux Mux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		switch {
		case pattern == "":
			var rec headRecorder
			h.ServeHTTP(&rec, r)
			switch rec.code {
			case http.StatusNotFound:
				WriteError(w, r, nil, Errorf(NotFound, "no endpoint %s %s", r.Method, r.URL.Path))
				return
			case http.StatusMethodNotAllowed:
				allow := rec.Header().Get("Allow")
				if strings.HasPrefix(r.URL.Path, "/api/") {
					// Only API routes speak for an API path, not a page
					// catch-all such as "GET /".
					if allow = apiMethods(mux, r, allow); allow == "" {
						WriteError(w, r, nil, Errorf(NotFound, "no endpoint %s %s", r.Method, r.URL.Path))
						return
					}
				}
				w.Header().Set("Allow", allow)
				if IsPreflight(r) {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				WriteError(w, r, nil, Errorf(MethodNotAllowed, "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
				return
			}
		case strings.HasPrefix(r.URL.Path, "/api/") && !strings.HasPrefix(patternPath(pattern), "/api/"):
			WriteError(w, r, nil, Errorf(NotFound, "no endpoint %s %s", r.Method, r.URL.Path))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// apiMethods returns those of the methods in allow (an Allow header) for
// which mux routes r's path to a pattern under /api/.
func apiMethods(mux Mux, r *http.Request, allow string) string {
	var keep []string
	for m := range strings.SplitSeq(allow, ",") {
		m = strings.TrimSpace(m)
		probe := r.WithContext(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && strings.HasPrefix(patternPath(pattern), "/api/") {
			keep = append(keep, m)
		}
	}
	return strings.Join(keep, ", ")
}

// patternPath is the path part of a ServeMux pattern "[METHOD ][HOST]/PATH".
func patternPath(p string) string {
	if _, rest, ok := strings.Cut(p, " "); ok {
		p = strings.TrimLeft(rest, " \t")
	}
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[i:]
	}
	return p
}

// headRecorder keeps the status and header a handler answers, and discards
// its body.
type headRecorder struct {
	header http.Header
	code   int
}

func (h *headRecorder) Header() http.Header {
	if h.header == nil {
		h.header = http.Header{}
	}
	return h.header
}

func (h *headRecorder) WriteHeader(code int) {
	if h.code == 0 {
		h.code = code
	}
}

func (h *headRecorder) Write(p []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return len(p), nil
}

// IsPreflight reports whether r is a CORS preflight request.
func IsPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// Recover answers a request whose handler panicked with a 500 problem+json
// (when nothing was written yet) and logs the panic with its stack on log.
// http.ErrAbortHandler passes through, as net/http expects.
func Recover(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g := &panicGuard{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			if log != nil {
				log.LogAttrs(r.Context(), slog.LevelError, "handler panic",
					slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
			}
			if g.wrote {
				panic(http.ErrAbortHandler) // a partial answer: cut the connection
			}
			WriteError(w, r, nil, New(Internal, "internal error"))
		}()
		next.ServeHTTP(g, r)
	})
}

// panicGuard notes whether the handler has begun its answer. It passes
// Flush and Hijack through so that streaming and websockets work behind it,
// and Unwrap lets http.ResponseController reach the connection.
type panicGuard struct {
	http.ResponseWriter
	wrote bool
}

func (g *panicGuard) WriteHeader(code int) {
	if code >= 200 {
		g.wrote = true
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *panicGuard) Write(p []byte) (int, error) {
	g.wrote = true
	return g.ResponseWriter.Write(p)
}

func (g *panicGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }

func (g *panicGuard) Flush() {
	g.wrote = true
	_ = http.NewResponseController(g.ResponseWriter).Flush()
}

func (g *panicGuard) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	g.wrote = true
	return http.NewResponseController(g.ResponseWriter).Hijack()
}
