//go:build !linux

package stream

import (
	"errors"
	"net"
)

// receiveBuffer is not read outside Linux.
func receiveBuffer(*net.UDPConn) (int, error) {
	return 0, errors.ErrUnsupported
}

// parallelSends leaves the media socket as it is outside Linux.
func parallelSends(c net.PacketConn) net.PacketConn { return c }

// cork batches nothing outside Linux.
type cork struct{}

func (*cork) hold()    {}
func (*cork) release() {}
func (*cork) uncork()  {}
