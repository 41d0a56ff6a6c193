package stream

import (
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// The media socket gets the receive buffer it asks for, as far as the
// kernel allows (net.core.rmem_max).
func TestMediaReceiveBuffer(t *testing.T) {
	uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	before, err := receiveBuffer(uc)
	if err != nil {
		t.Fatal(err)
	}
	sizeReceiveBuffer(slog.New(slog.DiscardHandler), uc)
	got, err := receiveBuffer(uc)
	if err != nil {
		t.Fatal(err)
	}
	want := mediaReceiveBuffer
	if b, err := os.ReadFile("/proc/sys/net/core/rmem_max"); err == nil {
		if max, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && max < want {
			want = max
		}
	}
	if got < want {
		t.Errorf("receive buffer %d bytes after sizing (%d before), want at least %d", got, before, want)
	}
}
