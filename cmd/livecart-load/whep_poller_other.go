//go:build !linux

package main

import (
	"errors"
	"net"
	"time"

	"github.com/pion/transport/v2"
)

// lightPoller reads light viewers' sockets with epoll and recvmmsg, which
// only Linux has (whep_poller_linux.go).
type lightPoller struct{}

func newLightPoller(time.Duration) (*lightPoller, error) {
	return nil, errors.New("light viewers need Linux")
}

func (p *lightPoller) close() {}

func (p *lightPoller) listen(string, *net.UDPAddr, *whepViewer) (transport.UDPConn, error) {
	return nil, errors.New("light viewers need Linux")
}
