package stream

import "context"

// How a node keeps its rooms in step with the store: it follows a stream
// to its new origin, lets go of what nobody watches, closes what ended,
// and takes back a stream set offline while its host still publishes
// here. Run calls these from its goroutine.

// followRate is how many times per LeaseEvery Run looks up the origin of
// the streams whose room here waits for a publisher.
const followRate = 8

// followWaiting starts an upstream for every room of this node that waits
// for a publisher (its host's session or its upstream dropped) while its
// stream is live on another node.
func (s *Service) followWaiting(ctx context.Context) {
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	for _, r := range rooms {
		r.mu.Lock()
		waiting := r.pub == nil && !r.closed
		r.mu.Unlock()
		if !waiting {
			continue
		}
		ctx, cancel := context.WithTimeout(ctx, s.cfg.LeaseEvery/followRate)
		st, err := s.store.Get(ctx, r.id)
		cancel()
		if err == nil && st.Status == Live && st.Origin != "" && st.Origin != s.cfg.NodeID {
			s.follow(st)
		}
	}
}

// dropRoom closes a room of this node and forgets it.
func (s *Service) dropRoom(r *room) {
	s.mu.Lock()
	if s.rooms[r.id] == r {
		delete(s.rooms, r.id)
	}
	s.mu.Unlock()
	r.closeAll()
}

// tendRooms keeps this node's rooms in step with the store (all): a room
// whose stream ended closes; a stream set offline while its host still
// publishes here is live again; an edge follows its stream to a new origin,
// lets go of its upstream when the stream is no longer live elsewhere
// (its viewers then wait for the host for the reconnect grace), and of a
// stream nobody has watched here for EdgeLinger.
func (s *Service) tendRooms(ctx context.Context, all []Stream) {
	byID := make(map[string]Stream, len(all))
	for _, st := range all {
		byID[st.ID] = st
	}
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	now := s.now()
	for _, r := range rooms {
		st, ok := byID[r.id]
		if !ok {
			continue
		}
		r.mu.Lock()
		pub, closed, idle := r.pub, r.closed, r.idleLocked(now)
		r.mu.Unlock()
		host := pub != nil && pub.upstream == ""
		switch {
		case closed:
		case st.Status == Ended:
			s.log.Info("stream: ended on another node; closing it here", "stream", r.id)
			s.dropRoom(r)
		case st.Status == Offline && host && pub.connected.Load():
			s.reclaim(ctx, r.id)
		case st.Status != Live || st.Origin == s.cfg.NodeID || st.Origin == "":
			if pub != nil && !host && s.notLiveFrom(ctx, r.id, pub.upstream) {
				pub.gone()
			}
		case host:
			// The host publishes here while the store names another
			// origin: this node keeps relaying its own publisher.
		case idle >= s.cfg.EdgeLinger && !s.dialing(r.id):
			s.dropRoom(r)
		case pub == nil || pub.upstream != st.Origin:
			// all was read a moment ago: follow only what is still so.
			if fresh, err := s.store.Get(ctx, r.id); err == nil && fresh.Status == Live && fresh.Origin == st.Origin {
				s.follow(fresh)
			}
		}
	}
	s.forgetUplinks()
}

// reclaim makes stream id live again on this node, whose host is still
// publishing here, after another node set it offline while this node's
// lease had lapsed (it was cut off from the store for a while).
func (s *Service) reclaim(ctx context.Context, id string) {
	st, err := s.store.Get(ctx, id)
	if err != nil || st.Status != Offline {
		return
	}
	if _, err := s.store.GoLive(ctx, id, s.cfg.NodeID); err != nil {
		return
	}
	s.log.Info("stream: its host still publishes here; live again", "stream", id)
	s.emit(id, Live)
}

// notLiveFrom reports whether the store says, at this moment, that stream
// id is not live on origin (all, in tendRooms, was read a moment ago). A
// store that does not answer says nothing: what relays goes on relaying.
func (s *Service) notLiveFrom(ctx context.Context, id, origin string) bool {
	st, err := s.store.Get(ctx, id)
	return err == nil && (st.Status != Live || st.Origin != origin)
}

// dialing reports whether an upstream of stream id is being opened.
func (s *Service) dialing(id string) bool {
	s.mu.Lock()
	u := s.uplinks[id]
	s.mu.Unlock()
	if u == nil {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.dialing != nil
}

// forgetUplinks drops the uplinks of streams this node no longer relays.
func (s *Service) forgetUplinks() {
	s.mu.Lock()
	ups := make([]*uplink, 0, len(s.uplinks))
	for _, u := range s.uplinks {
		ups = append(ups, u)
	}
	s.mu.Unlock()
	for _, u := range ups {
		u.mu.Lock()
		if u.dialing == nil {
			s.mu.Lock()
			if s.rooms[u.id] == nil && s.uplinks[u.id] == u {
				delete(s.uplinks, u.id)
			}
			s.mu.Unlock()
		}
		u.mu.Unlock()
	}
}
