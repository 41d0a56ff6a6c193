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

// admit takes a pending slot for a session offered by client before its
// PeerConnection is built. It returns the release of the slot, which is
// safe to call any number of times from any goroutine (the first call
// frees the slot), or an *api.Error: 429 rate_limited when client holds
// its bound, 503 unavailable when the node holds its own, both with
// Retry-After.
func (s *Service) admit(client string) (release func(), err error) {
	leave, err := s.pending.Enter(client)
	if err != nil {
		s.m.refused.WithLabelValues(string(api.CodeOf(err))).Inc()
		return nil, err
	}
	s.m.pending.Inc()
	var once sync.Once
	return func() {
		once.Do(func() {
			leave()
			s.m.pending.Dec()
		})
	}, nil
}
