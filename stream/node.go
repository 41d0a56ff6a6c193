package stream

import (
	"net/http"

	"github.com/livecart/livecart/api"
)

// The origin's side of a cascade: an edge node asks for a stream's media
// at POST /api/streams/{id}/relay with a node token (auth.IssueNode), as a
// WHEP client would, and gets one session fed from the room's relay tracks
// like a viewer's: started on a keyframe, its NACKs answered from the
// shared packet cache, its keyframe requests passed on to the publisher
// (rate-limited). A node session is not a viewer: it is not counted in
// viewers, takes no pending slot, and has its own metric
// (livecart_stream_edge_sessions).

// handleRelay is POST /api/streams/{id}/relay, for nodes only.
func (s *Service) handleRelay(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	node, err := s.cfg.Signer.RequireNode(r, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.store.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	offer, err := watchOffer(w, r, st)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, answer, err := s.join(r.Context(), id, "", node, offer, layerHigh)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("stream: an edge node relays this stream", "stream", id, "edge", node)
	s.writeSDP(w, "/api/streams/"+id+"/relay/"+v.id, answer, "")
}

// handleRelayDelete is DELETE on a node session: the edge lets it go.
func (s *Service) handleRelayDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.cfg.Signer.RequireNode(r, id); err != nil {
		s.fail(w, r, err)
		return
	}
	var v *viewer
	if rm := s.room(id); rm != nil {
		rm.mu.Lock()
		v = rm.edges[r.PathValue("session")]
		rm.mu.Unlock()
	}
	if v == nil {
		s.fail(w, r, api.New(api.NotFound, "no such node session"))
		return
	}
	v.close()
	w.WriteHeader(http.StatusOK)
}
