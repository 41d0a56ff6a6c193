package main

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/auth"
)

// TestE2EShutdown is SIGTERM with a show on: the process stops accepting,
// room clients are told 1001 going away, peer connections are closed, and
// it exits 0 within the contract's 10 s.
func TestE2EShutdown(t *testing.T) {
	ts := MustServe(t, nil, e2eMediaArgs...)
	host := ts.e2eToken(t, "host-s", "Sia", auth.Host)
	e2eShow(t, ts.URL, host, "bye", e2eProduct{SKU: "bag", Name: "Bag", PriceCents: 6000, Currency: "EUR", Stock: 3})

	pub := e2ePublish(t, ts.URL, "bye", host, e2eVP8)
	viewer := e2eWatch(t, ts.URL, "bye")
	viewer.waitMedia(t, 20)
	anon, _ := e2eJoin(t, ts.URL, "bye", "")
	staff, _ := e2eJoin(t, ts.URL, "bye", host)

	// The equivalent of SIGTERM (main cancels run's context on it).
	ts.cancel()
	select {
	case code := <-ts.done:
		if code != 0 {
			t.Errorf("livecart serve exited %d after SIGTERM, want 0:\n%s", code, ts.errOut)
		}
		ts.done <- code // for the cleanup's Stop
	case <-time.After(shutdownBudget):
		t.Fatalf("livecart serve did not exit within %s of SIGTERM:\n%s", shutdownBudget, ts.errOut)
	}

	for name, r := range map[string]*e2eRoom{"anonymous": anon, "host": staff} {
		err := r.waitEnd(t, e2eWait)
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
			t.Errorf("the %s room connection ended with %v, want close 1001 going away", name, err)
		}
	}
	gone := []webrtc.PeerConnectionState{webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateDisconnected}
	e2eUntil(t, "the WHEP viewer's connection is closed", func() bool { return viewer.state.any(gone...) })
	e2eUntil(t, "the WHIP publisher's connection is closed", func() bool { return pub.state.any(gone...) })

	// Nothing accepts any more.
	c := &http.Client{Timeout: 5 * time.Second}
	if res, err := c.Get(ts.URL + "/healthz"); err == nil {
		res.Body.Close()
		t.Errorf("GET /healthz after exit = %d, want the connection refused", res.StatusCode)
	}
	t.Logf("peer states: viewer %s; publisher %s", &viewer.state, &pub.state)
}
