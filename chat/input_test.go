package chat

import (
	"testing"

	"github.com/livecart/livecart/auth"
)

// Text is refused, never repaired: control characters (escaped or not) and
// invalid UTF-8 (raw bytes or a lone surrogate escape) are bad_message.
// Keys are case-sensitive and appear once; unknown fields are ignored.
func TestStrictInput(t *testing.T) {
	rm := mustRoom(t, nil, Config{})
	ana := rm.dial(t, "s1", mustToken(t, auth.Viewer, "ana", ""), nil)
	host := rm.dial(t, "s1", mustToken(t, auth.Host, "host1", ""), nil)
	watcher := rm.dial(t, "s1", "", nil)
	ana.send(`{"type":"question","text":"which colours?"}`)
	q := host.expect("question")

	cases := []struct {
		name string
		who  *wsc
		line string
	}{
		{"NUL escape", ana, `{"type":"chat","text":"a\u0000b"}`},
		{"escape character", ana, `{"type":"chat","text":"\u001b[31mred"}`},
		{"newline escape", ana, `{"type":"question","text":"two\nlines"}`},
		{"tab escape", ana, `{"type":"chat","text":"a\tb"}`},
		{"DEL", ana, `{"type":"chat","text":"a\u007fb"}`},
		{"C1 control", ana, `{"type":"chat","text":"a\u0085b"}`},
		{"line separator", ana, `{"type":"chat","text":"a\u2028b"}`},
		{"lone high surrogate", ana, `{"type":"chat","text":"a\ud800b"}`},
		{"lone low surrogate", ana, `{"type":"chat","text":"\udc00"}`},
		{"reversed surrogates", ana, `{"type":"chat","text":"\udc00\ud800"}`},
		{"raw invalid UTF-8", ana, "{\"type\":\"chat\",\"text\":\"ok \xc3\x28\"}"},
		{"raw invalid UTF-8 in an unknown field", ana, "{\"type\":\"chat\",\"text\":\"ok\",\"x\":\"\xff\"}"},
		{"trailing control after spaces", ana, `{"type":"chat","text":"fine   \u0000"}`},
		{"answer with a control character", host, `{"type":"answer","question_id":"` + q.str("id") + `","text":"red\u0007"}`},
		{"key in another case", ana, `{"Type":"chat","text":"hi"}`},
		{"text key in another case", ana, `{"type":"chat","Text":"hi"}`},
		{"repeated key", ana, `{"type":"chat","text":"one","text":"two"}`},
		{"control character in a sub", host, `{"type":"mute","sub":"ana\u0000","seconds":5}`},
		{"control character in an id", host, `{"type":"delete","id":"x\ny"}`},
		{"huge seconds", host, `{"type":"mute","sub":"ana","seconds":1e400}`},
		{"fractional seconds", host, `{"type":"slow","seconds":1.5}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.who.send(tc.line)
			tc.who.expectError(codeBadMessage)
		})
		rm.clock.Advance(2 * badWindow) // keep the malformed count low
	}
	// Nothing of it reached the room; valid text with unknown fields,
	// emoji and non-Latin scripts does.
	ana.send(`{"type":"chat","text":"añ 🎉 日本 \ufffd","extra":{"nested":[1,{"x":null}]},"user":"forged"}`)
	if m := watcher.expect("chat"); m.str("text") != "añ 🎉 日本 \ufffd" || m.obj("user").str("sub") != "ana" {
		t.Errorf("first line to reach the room = %v", m)
	}
}
