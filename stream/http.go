package stream

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
)

// MaxSDP bounds a WHIP or WHEP offer.
const MaxSDP = 64 << 10

// MaxTitle bounds a stream title, in bytes.
const MaxTitle = 200

// Routes registers the stream registry's and the media endpoints on mux,
// answering a stream as its View. RoutesWith registers the same endpoints
// answering a stream as its caller completes it.
func (s *Service) Routes(mux api.Router) {
	RoutesWith(mux, s, func(_ context.Context, v View) (View, error) { return v, nil })
}

// RoutesWith registers the stream registry's and the media endpoints of s
// on mux. The registry's answers that carry streams — POST /api/streams,
// GET /api/streams (each item), GET /api/streams/{id} and POST
// /api/streams/{id}/end — carry show(ctx, v) of each stream's View v
// instead of v: the caller completes a stream with what other parts know
// of it (livecart: the shop's pinned card and lineup), which this package
// never sees. show is called on the request's goroutine, concurrently
// with other requests, once for each stream answered and after the
// request's change is made; its error is the request's answer (with its
// api code), the change staying made.
func RoutesWith[T any](mux api.Router, s *Service, show func(context.Context, View) (T, error)) {
	reg := registry[T]{s: s, show: show}
	mux.HandleFunc("POST /api/streams", reg.handleCreate)
	mux.HandleFunc("GET /api/streams", reg.handleList)
	mux.HandleFunc("GET /api/streams/{id}", reg.handleGet)
	mux.HandleFunc("POST /api/streams/{id}/end", reg.handleEnd)

	mux.HandleFunc("POST /api/streams/{id}/whip", s.handleWHIP)
	mux.HandleFunc("OPTIONS /api/streams/{id}/whip", s.handleOptions)
	mux.HandleFunc("DELETE /api/streams/{id}/whip/{session}", s.handleWHIPDelete)
	mux.HandleFunc("PATCH /api/streams/{id}/whip/{session}", s.handleWHIPPatch)
	mux.HandleFunc("OPTIONS /api/streams/{id}/whip/{session}", s.handleResourceOptions)

	mux.HandleFunc("POST /api/streams/{id}/whep", s.handleWHEP)
	mux.HandleFunc("OPTIONS /api/streams/{id}/whep", s.handleOptions)
	mux.HandleFunc("DELETE /api/streams/{id}/whep/{session}", s.handleWHEPDelete)
	mux.HandleFunc("PATCH /api/streams/{id}/whep/{session}", s.handleWHEPPatch)
	mux.HandleFunc("OPTIONS /api/streams/{id}/whep/{session}", s.handleResourceOptions)
	mux.HandleFunc("POST /api/streams/{id}/whep/{session}/layer", s.handleWHEPLayer)
	mux.HandleFunc("OPTIONS /api/streams/{id}/whep/{session}/layer", s.handleLayerOptions)

	// Between nodes: an edge relays a stream from its origin (node.go).
	mux.HandleFunc("POST /api/streams/{id}/relay", s.handleRelay)
	mux.HandleFunc("DELETE /api/streams/{id}/relay/{session}", s.handleRelayDelete)
}

func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	api.WriteError(w, r, s.log, err)
}

// registry serves the stream registry's endpoints, answering each stream
// as show makes it of its View.
type registry[T any] struct {
	s    *Service
	show func(context.Context, View) (T, error)
}

type createRequest struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// handleCreate is POST /api/streams.
func (g registry[T]) handleCreate(w http.ResponseWriter, r *http.Request) {
	s := g.s
	p, err := s.cfg.Signer.Require(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := auth.Check(p, auth.Create, auth.Resource{}); err != nil {
		s.fail(w, r, err)
		return
	}
	var req createRequest
	if err := api.DecodeJSON(w, r, 0, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	req.Title = strings.TrimSpace(req.Title)
	switch {
	case req.Title == "":
		s.fail(w, r, api.New(api.BadRequest, "title is required"))
		return
	case len(req.Title) > MaxTitle:
		s.fail(w, r, api.Errorf(api.BadRequest, "title is longer than %d bytes", MaxTitle))
		return
	}
	if err := api.Name("title", req.Title, 0); err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.Create(r.Context(), req.ID, req.Title, auth.OwnerOf(p))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	shown, err := g.show(r.Context(), v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/streams/"+v.ID)
	api.WriteJSON(w, http.StatusCreated, shown)
}

// handleGet is GET /api/streams/{id}.
func (g registry[T]) handleGet(w http.ResponseWriter, r *http.Request) {
	v, err := g.s.View(r.Context(), r.PathValue("id"))
	if err != nil {
		g.s.fail(w, r, err)
		return
	}
	shown, err := g.show(r.Context(), v)
	if err != nil {
		g.s.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, shown)
}

// checkOwn checks that r comes from stream id's host (or an admin).
func (s *Service) checkOwn(r *http.Request, id string) error {
	p, err := s.cfg.Signer.Require(r)
	if err != nil {
		return err
	}
	owner, err := s.StreamOwner(r.Context(), id)
	if err != nil {
		return err
	}
	return auth.Check(p, auth.Own, auth.On(id, owner))
}

// handleEnd is POST /api/streams/{id}/end.
func (g registry[T]) handleEnd(w http.ResponseWriter, r *http.Request) {
	s, id := g.s, r.PathValue("id")
	if err := s.checkOwn(r, id); err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.End(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	shown, err := g.show(r.Context(), v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, shown)
}

// handleList is GET /api/streams: live first, then offline, then ended;
// newest first within each; ?limit= (api.PageLimit: 1-100, default 50) and
// ?cursor=.
func (g registry[T]) handleList(w http.ResponseWriter, r *http.Request) {
	s, q := g.s, r.URL.Query()
	limit, err := api.PageLimit(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var after *listKey
	if c := q.Get("cursor"); c != "" {
		k, err := parseCursor(c)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		after = &k
	}
	all, err := s.store.List(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, next := paginate(all, after, limit)
	shown := make([]T, 0, len(page))
	for _, st := range page {
		sh, err := g.show(r.Context(), s.view(r.Context(), st))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		shown = append(shown, sh)
	}
	api.WriteJSON(w, http.StatusOK, api.NewPage(shown, next))
}

// listKey orders the stream list.
type listKey struct {
	rank    int
	created int64 // Unix ms
	id      string
}

func keyOf(st Stream) listKey {
	rank := 1
	switch st.Status {
	case Live:
		rank = 0
	case Ended:
		rank = 2
	}
	return listKey{rank: rank, created: st.CreatedAt.UnixMilli(), id: st.ID}
}

func (a listKey) less(b listKey) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	if a.created != b.created {
		return a.created > b.created
	}
	return a.id < b.id
}

// paginate sorts all and returns the page after the cursor key, with the
// cursor of the next page ("" on the last).
func paginate(all []Stream, after *listKey, limit int) ([]Stream, string) {
	sort.Slice(all, func(i, j int) bool { return keyOf(all[i]).less(keyOf(all[j])) })
	start := 0
	if after != nil {
		start = sort.Search(len(all), func(i int) bool { return after.less(keyOf(all[i])) })
	}
	end := min(start+limit, len(all))
	page := all[start:end]
	if end == len(all) || len(page) == 0 {
		return page, ""
	}
	k := keyOf(page[len(page)-1])
	raw := fmt.Sprintf("%d|%d|%s", k.rank, k.created, k.id)
	return page, base64.RawURLEncoding.EncodeToString([]byte(raw))
}

var errCursor = api.New(api.BadRequest, "invalid cursor")

func parseCursor(c string) (listKey, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return listKey{}, errCursor
	}
	parts := strings.SplitN(string(raw), "|", 3)
	if len(parts) != 3 {
		return listKey{}, errCursor
	}
	rank, err1 := strconv.Atoi(parts[0])
	created, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return listKey{}, errCursor
	}
	return listKey{rank: rank, created: created, id: parts[2]}, nil
}

// watchOffer reads the SDP offer of r, a viewer's or an edge's, for
// stream st: an ended stream is offline for good.
func watchOffer(w http.ResponseWriter, r *http.Request, st Stream) (string, error) {
	if st.Status == Ended {
		return "", api.Errorf(api.StreamOffline, "this stream has ended: %w", ErrOffline)
	}
	return readSDP(w, r)
}

// readSDP reads an application/sdp body of at most MaxSDP bytes.
func readSDP(w http.ResponseWriter, r *http.Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/sdp" {
		return "", api.Errorf(api.UnsupportedMediaType, "Content-Type must be application/sdp, not %q", ct)
	}
	b, err := api.ReadBody(w, r, MaxSDP)
	if err != nil {
		return "", err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return "", api.New(api.BadRequest, "the body is empty; an SDP offer is expected")
	}
	return string(b), nil
}

// writeSDP answers 201 with the SDP answer, its resource and the ICE
// servers, whose TURN credentials (with a TURN secret) are made for user,
// the session's principal ("" when anonymous).
func (s *Service) writeSDP(w http.ResponseWriter, location, answer, user string) {
	h := w.Header()
	h.Set("Content-Type", "application/sdp")
	h.Set("Location", location)
	h.Set("Cache-Control", "no-store")
	for _, l := range s.ice.links(user, s.now()) {
		h.Add("Link", l)
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// handleOptions answers OPTIONS on a WHIP or WHEP endpoint, with the ICE
// servers as WHIP allows, and Accept-Patch: the sessions it makes take
// trickle ICE and ICE restarts, so that a client need not wait for all its
// candidates before its offer. A token, when the request carries one that
// verifies, names the user of the TURN credentials; OPTIONS needs none.
// It answers CORS preflights too (the CORS layer adds its headers).
func (s *Service) handleOptions(w http.ResponseWriter, r *http.Request) {
	user := ""
	if p, err := s.cfg.Signer.Identify(r); err == nil && p != nil {
		user = p.Sub
	}
	h := w.Header()
	h.Set("Accept-Post", "application/sdp")
	h.Set("Accept-Patch", SDPFragType)
	h.Set("Allow", "OPTIONS, POST")
	h.Set("Cache-Control", "no-store")
	for _, l := range s.ice.links(user, s.now()) {
		h.Add("Link", l)
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleResourceOptions answers OPTIONS on a WHIP or WHEP session: PATCH
// (trickle ICE, ICE restart) and DELETE. It answers CORS preflights too.
func (s *Service) handleResourceOptions(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Allow", "OPTIONS, PATCH, DELETE")
	h.Set("Accept-Patch", SDPFragType)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// handleLayerOptions answers OPTIONS on a WHEP session's layer resource,
// CORS preflights included.
func (s *Service) handleLayerOptions(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Allow", "OPTIONS, POST")
	h.Set("Accept-Post", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// handleWHIPDelete is DELETE on a WHIP resource: the host stops
// publishing. Viewers wait ReconnectGrace for a new publisher.
func (s *Service) handleWHIPDelete(w http.ResponseWriter, r *http.Request) {
	pub, err := s.ownWHIPSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pub.gone()
	w.WriteHeader(http.StatusOK)
}
