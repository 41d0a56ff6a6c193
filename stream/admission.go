package stream

import (
	"sync"

	"github.com/livecart/livecart/api"
)

// Admission of WebRTC sessions.
//
// A WHIP or WHEP session costs a PeerConnection from its 201 on: an ICE
// agent, its goroutines and buffers. Until the peer connects nothing but a
// timer (Config.ConnectTimeout) releases it, so sessions that are answered
// but not yet connected ("pending") are bounded per client address
// (Config.MaxPendingPerClient) and per node (Config.MaxPending). A session
// leaves the bound when its peer connects (ICE and DTLS up: it is then a
// publisher or a viewer, bounded by other means) or when it closes, fails,
// is deleted or times out.

// Defaults of the admission bounds.
const (
	defaultMaxPendingPerClient = 16
	defaultMaxPending          = 500
)

// When the node holds its bound, the oldest pending session of another
// client is closed to make room: sessions that never connect cannot keep a
// node full against a viewer who would connect in a second, whatever the
// number of addresses they come from. A session that connects leaves the
// queue at once; one that is still pending after being the oldest of a
// full node was not going to connect soon.

// pendingQueue is the order in which sessions became pending, oldest
// first, with the way to close each. Its lock is its own.
type pendingQueue struct {
	mu    sync.Mutex
	queue []*pendingSlot
}

// pendingSlot is one pending session's place.
type pendingSlot struct {
	client string
	mu     sync.Mutex
	evict  func() // closes the session; nil until set
	done   bool
}

// setEvict tells the slot how to close its session.
func (p *pendingSlot) setEvict(f func()) {
	p.mu.Lock()
	p.evict = f
	p.mu.Unlock()
}

func (q *pendingQueue) push(p *pendingSlot) {
	q.mu.Lock()
	q.queue = append(q.queue, p)
	q.mu.Unlock()
}

// remove takes p out of the queue.
func (q *pendingQueue) remove(p *pendingSlot) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, x := range q.queue {
		if x == p {
			q.queue = append(q.queue[:i], q.queue[i+1:]...)
			return
		}
	}
}

// oldestOf returns the close function of the oldest pending session not
// from client, taking it out of the queue; nil when there is none.
func (q *pendingQueue) oldestOf(client string) func() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, x := range q.queue {
		x.mu.Lock()
		f := x.evict
		x.mu.Unlock()
		if x.client != client && f != nil {
			q.queue = append(q.queue[:i], q.queue[i+1:]...)
			return f
		}
	}
	return nil
}

// admit takes a pending slot for a session offered by client before its
// PeerConnection is built; the caller tells the slot how to close the
// session (setEvict) once it exists. It returns the slot and its release,
// which is safe to call any number of times from any goroutine (the first
// call frees the slot), or an *api.Error: 429 rate_limited when client
// holds its bound, 503 unavailable when the node holds its own and no
// other client's session could be closed to make room; both with
// Retry-After.
func (s *Service) admit(client string) (slot *pendingSlot, release func(), err error) {
	leave, err := s.pending.Enter(client)
	if api.CodeOf(err) == api.Unavailable {
		if evict := s.queue.oldestOf(client); evict != nil {
			evict()
			s.m.evicted.Inc()
			leave, err = s.pending.Enter(client)
		}
	}
	if err != nil {
		s.m.refused.WithLabelValues(string(api.CodeOf(err))).Inc()
		return nil, nil, err
	}
	s.m.pending.Inc()
	slot = &pendingSlot{client: client}
	s.queue.push(slot)
	var once sync.Once
	return slot, func() {
		once.Do(func() {
			s.queue.remove(slot)
			leave()
			s.m.pending.Dec()
		})
	}, nil
}
