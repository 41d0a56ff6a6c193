package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/redistest"
)

// Several livecart nodes as several real processes of the binary, sharing
// one redis-server.

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// livecartBinary builds cmd/livecart once per test run and returns its path.
func livecartBinary(tb testing.TB) string {
	tb.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "livecart-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "livecart")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return binPath
}

// nodeProc is one livecart process.
type nodeProc struct {
	URL string
	cmd *exec.Cmd
	log *syncBuffer
}

func freeTCPPort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNode starts `livecart serve` on a free port against redisURL and
// waits until it is ready; the process is killed at cleanup.
func startNode(tb testing.TB, redisURL string, args ...string) *nodeProc {
	tb.Helper()
	port := freeTCPPort(tb)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	full := append([]string{"serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--udp-port", "0",
		"--redis", redisURL, "--node-url", url}, args...)
	cmd := exec.Command(livecartBinary(tb), full...)
	cmd.Env = append(os.Environ(), "LIVECART_SECRET="+testSecret, "LIVECART_LOG_FORMAT=text")
	n := &nodeProc{URL: url, cmd: cmd, log: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = n.log, n.log
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	e2eUntil(tb, "node "+url+" ready", func() bool {
		res, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	return n
}

// kill ends the node at once (SIGKILL), as a crash would.
func (n *nodeProc) kill(tb testing.TB) {
	tb.Helper()
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	_ = n.cmd.Wait()
}

// stop asks the node to shut down (SIGTERM) and waits for it.
func (n *nodeProc) stop(tb testing.TB) {
	tb.Helper()
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	_ = n.cmd.Wait()
}

// A stream whose origin node is killed, or stopped, is offline on every
// other node within 10 s, and the room there is told; a host who publishes
// again, to another node, makes it live again.
func TestE2ENodeLeases(t *testing.T) {
	rs := redistest.Start(t)
	a := startNode(t, rs.URL())
	b := startNode(t, rs.URL())
	c := startNode(t, rs.URL())
	signer, _ := auth.NewSigner([]byte(testSecret), nil)
	host, _ := signer.Issue(auth.Principal{Sub: "host-l", Name: "Lea", Role: auth.Host}, time.Hour)

	for i, origin := range []*nodeProc{a, b} {
		id := fmt.Sprint("lease-", i)
		e2eMust(t, 201, "POST", origin.URL+"/api/streams", host, map[string]any{"id": id, "title": "Lease"}, nil)
		pub := e2ePublish(t, origin.URL, id, host, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96})
		defer pub.close()
		e2eUntil(t, id+" live on the third node", func() bool { return e2eGetStream(t, c.URL, id).Status == "live" })
		// GET on any node counts the WHEP viewers of every node.
		v := e2eWatch(t, origin.URL, id)
		e2eUntil(t, id+"'s WHEP viewer counted on the third node", func() bool { return e2eGetStream(t, c.URL, id).Viewers == 1 })
		v.close()
		room, _ := e2eJoin(t, c.URL, id, "")
		start := time.Now()
		if i == 0 {
			a.kill(t)
		} else {
			b.stop(t)
		}
		room.wait(t, 0, "stream", func(m e2eMsg) bool { return m.str("status") == "offline" })
		if got := e2eGetStream(t, c.URL, id).Status; got != "offline" {
			t.Fatalf("%s on the third node: %s after its origin stopped, want offline", id, got)
		}
		t.Logf("%s offline on the third node %s after its origin stopped", id, time.Since(start).Round(time.Millisecond))
	}

	// The host publishes again, to the surviving node: live again.
	pub := e2ePublish(t, c.URL, "lease-0", host, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96})
	defer pub.close()
	e2eUntil(t, "lease-0 live again", func() bool { return e2eGetStream(t, c.URL, "lease-0").Status == "live" })
	if bytes.Contains([]byte(c.log.String()), []byte("panic")) {
		t.Errorf("node C logged a panic:\n%s", c.log)
	}
}
