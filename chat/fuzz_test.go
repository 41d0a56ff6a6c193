package chat

import (
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/livecart/livecart/auth"
)

// FuzzClientFrame sends arbitrary client frames through a real room
// connection. Whatever a frame holds, nothing panics, the sender gets
// answers or a close, and the room still carries a fresh client's line to
// another.
//
// role picks the sender: anonymous, a viewer, the stream's moderator or its
// host (its high bit sends the frame as binary). None is an admin, so the
// admin that posts the sentinel line cannot be silenced by any of them.
func FuzzClientFrame(f *testing.F) {
	seeds := []struct {
		role  uint8
		frame string
	}{
		{1, `{"type":"chat","text":"hello"}`},
		{1, `{"type":"question","text":"what size?"}` + "\n" + `{"type":"chat","text":"two"}` + "\n\n"},
		{1, `{"type":"react","emoji":"❤️"}`},
		{0, `{"type":"chat","text":"anonymous"}`},
		{2, `{"type":"mute","sub":"ana","seconds":60}`},
		{2, `{"type":"ban","sub":"boss"}`},
		{3, `{"type":"mute","sub":"boss","seconds":2592000}`},
		{3, `{"type":"slow","seconds":3600}` + "\n" + `{"type":"slow","seconds":0}`},
		{3, `{"type":"pin","sku":"mug"}`},
		{3, `{"type":"answer","question_id":"q","text":"a"}`},
		{2, `{"type":"delete","id":""}`},
		{2, `{"type":"approve","id":"x"}` + "\n" + `{"type":"drop","id":"y"}` + "\n" + `{"type":"unban","sub":"ana"}`},
		{3, `{"type":"mute","sub":"ana","seconds":1e400}`},
		{3, `{"type":"mute","sub":"ana","seconds":-9223372036854775808}`},
		{3, `{"type":"slow","seconds":99999999999999999999999}`},
		{1, `{"type":"chat","text":"x","extra":` + strings.Repeat("[", 500) + strings.Repeat("]", 500) + `}`},
		{1, strings.Repeat(`{"a":`, 300) + `1` + strings.Repeat(`}`, 300)},
		{1, "{\"type\":\"chat\",\"text\":\"\xff\xfe\"}"},
		{1, `{"type":"chat","text":"\ud800"}`},
		{1, `{"type":"chat","text":"a\u0000b"}`},
		{1, "{\"type\":\"chat\",\"text\":\"raw\x01control\"}"},
		{1, `{"type":"chat","type":"question","text":"dup"}`},
		{1, `null`},
		{1, `[]`},
		{1, `"chat"`},
		{1, `{"type":`},
		{1, strings.Repeat("{}\n", 20)},
		{0x81, `{"type":"chat","text":"binary"}`},
		{1, `{"type":"chat","text":"` + strings.Repeat("é", 501) + `"}`},
		{1, `{"type":"chat","text":"` + strings.Repeat("a", 5000) + `"}`},
		{1, ""},
	}
	for _, s := range seeds {
		f.Add(s.role, []byte(s.frame))
	}
	rm := mustRoom(f, nil, Config{MaxConnsPerClient: 1 << 20})
	tokens := []string{
		"",
		mustToken(f, auth.Viewer, "ana", ""),
		mustToken(f, auth.Moderator, "mo", "s1"),
		mustToken(f, auth.Host, "host1", ""),
	}
	admin := mustToken(f, auth.Admin, "boss", "")
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, role uint8, frame []byte) {
		i := n.Add(1)
		c := rm.dial(t, "s1", tokens[int(role&0x7f)%len(tokens)], nil)
		mt := websocket.TextMessage
		if role&0x80 != 0 {
			mt = websocket.BinaryMessage
		}
		probe := "probe-" + strconv.FormatInt(i, 10)
		_ = c.conn.SetWriteDeadline(time.Now().Add(wait))
		if c.conn.WriteMessage(mt, frame) == nil {
			_ = c.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"`+probe+`"}`))
		}
		// The sender is answered up to the probe, or closed.
		deadline := time.NewTimer(wait)
		defer deadline.Stop()
	answered:
		for {
			select {
			case m := <-c.msgs:
				if m.str("type") == "error" && strings.Contains(m.str("message"), probe) {
					break answered
				}
			case <-c.closed:
				break answered
			case <-deadline.C:
				t.Fatalf("no answer to the probe after frame %q", frame)
			}
		}
		// The room still works: a fresh client's line reaches another.
		sentinel := "sentinel " + strconv.FormatInt(i, 10)
		watcher := rm.dial(t, "s1", "", nil)
		poster := rm.dial(t, "s1", admin, nil)
		poster.send(map[string]any{"type": "chat", "text": sentinel})
		watcher.expectWhere("chat", func(m msg) bool { return m.str("text") == sentinel })
		if p := rm.panicked(); len(p) > 0 {
			t.Fatalf("frame %q: a handler panicked: %s", frame, p[0])
		}
		c.conn.Close()
		watcher.conn.Close()
		poster.conn.Close()
	})
}
