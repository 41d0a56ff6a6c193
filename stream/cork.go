package stream

import (
	"net/netip"

	"github.com/pion/webrtc/v3"
)

// corker is a media socket that can batch the datagrams to one peer
// (sendto_linux.go): corkFor registers the peer at to and returns its
// cork, or nil when datagrams to it cannot be batched.
type corker interface {
	corkFor(to netip.AddrPort) *cork
	// batchStats reports the system calls that sent several datagrams
	// at once, and those datagrams.
	batchStats() (batches, datagrams uint64)
}

// iceTransport is pc's ICE transport, nil before it has one.
func iceTransport(pc *webrtc.PeerConnection) *webrtc.ICETransport {
	sctp := pc.SCTP()
	if sctp == nil || sctp.Transport() == nil {
		return nil
	}
	return sctp.Transport().ICETransport()
}

// selectedPeer is the address pc's media goes to, once ICE has chosen a
// pair.
func selectedPeer(pc *webrtc.PeerConnection) (netip.AddrPort, bool) {
	t := iceTransport(pc)
	if t == nil {
		return netip.AddrPort{}, false
	}
	pair, err := t.GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Remote == nil {
		return netip.AddrPort{}, false
	}
	a, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, pair.Remote.Port), true
}

// recork gives v's writers the cork of the peer its media goes to now:
// at connect, and again whenever ICE selects another pair (a restart).
func (v *viewer) recork() {
	c := v.s.corks
	if c == nil {
		return
	}
	var k *cork
	if to, ok := selectedPeer(v.pc); ok {
		k = c.corkFor(to)
	}
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		k.uncork()
		return
	}
	old := v.cork
	v.cork = k
	v.mu.Unlock()
	for _, d := range v.downs {
		d.cork.Store(k)
	}
	old.uncork()
}

// watchPeer re-corks v whenever ICE selects another pair.
func (v *viewer) watchPeer() {
	if t := iceTransport(v.pc); t != nil && v.s.corks != nil {
		t.OnSelectedCandidatePairChange(func(*webrtc.ICECandidatePair) { v.recork() })
	}
}
