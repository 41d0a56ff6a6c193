package stream

import (
	"net"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// newBatchWriter sends with sendmmsg through x/net: ipv4 for an IPv4
// socket, ipv6 for an IPv6 one (a dual-stack socket bound to "::" takes
// IPv4 destinations too: Linux accepts an AF_INET address on it).
func newBatchWriter(pc net.PacketConn) batchWriter {
	u, ok := pc.(*net.UDPConn)
	if !ok {
		return writeToBatcher{pc}
	}
	if la, ok := u.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() != nil {
		return ipv4.NewPacketConn(u)
	}
	return ipv6.NewPacketConn(u)
}
