//go:build !linux

package stream

import "net"

// newBatchWriter writes one message at a time where there is no
// sendmmsg; the batching still saves the queueing but not the calls.
func newBatchWriter(pc net.PacketConn) batchWriter { return writeToBatcher{pc} }
