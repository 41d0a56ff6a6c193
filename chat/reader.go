package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/livecart/livecart/api"
)

// Malformed input: this many bad messages within badWindow close the
// connection with 1008.
const (
	badLimit  = 10
	badWindow = 10 * time.Second
)

// Reactions: at most this many emoji code points, and per connection at
// most reactRate taps a second (more are ignored, silently).
const (
	maxEmoji  = 8
	reactRate = 20
)

// opTimeout bounds one broker or pinner call made for a client message.
const opTimeout = 3 * time.Second

// readLoop reads the client's frames until it goes away, answering each
// line. It runs on the HTTP handler's goroutine.
func (c *client) readLoop() {
	defer close(c.readDone)
	cfg := &c.rooms.cfg
	// Frames up to MaxFrame are read; larger ones, up to 16×, are answered
	// too_long and skipped; beyond that gorilla closes with 1009.
	c.conn.SetReadLimit(int64(cfg.MaxFrame) * 16)
	extend := func() { _ = c.conn.SetReadDeadline(time.Now().Add(cfg.PongTimeout)) }
	extend()
	c.conn.SetPongHandler(func(string) error { extend(); return nil })
	c.answerControl()
	reacts := rate.NewLimiter(reactRate, reactRate)
	for {
		mt, rd, err := c.conn.NextReader()
		if err != nil {
			return
		}
		extend()
		// A frame is read into a buffer of the rooms' pool: an idle
		// connection holds none.
		buf := c.rooms.readBuf()
		stop := c.readFrame(mt, rd, *buf, reacts)
		c.rooms.readBufs.Put(buf)
		if stop {
			return
		}
	}
}

// readFrame reads one frame of type mt from rd into buf and answers each
// of its lines. It reports whether the connection is to stop reading.
func (c *client) readFrame(mt int, rd io.Reader, buf []byte, reacts *rate.Limiter) bool {
	limit := c.rooms.cfg.MaxFrame
	n, err := io.ReadFull(rd, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return true
	}
	if n > limit {
		if _, err := io.Copy(io.Discard, rd); err != nil {
			return true
		}
		c.send(errorFrame(codeTooLong, "frames are at most "+itoa(limit)+" bytes"))
		return false
	}
	if mt != websocket.TextMessage {
		c.reply(c.malformed("frames must be text"))
		return false
	}
	for ln := range bytes.SplitSeq(buf[:n], newline) {
		if len(bytes.TrimSpace(ln)) == 0 {
			continue
		}
		c.reply(c.handle(ln, reacts))
		if c.closing() {
			return true
		}
	}
	return false
}

func (c *client) reply(data []byte) {
	if data != nil {
		c.send(data)
	}
}

func (c *client) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode != 0
}

// malformed counts a bad message and returns its error frame; the tenth
// within badWindow closes the connection with 1008 instead.
func (c *client) malformed(why string) []byte {
	now := c.rooms.cfg.Now()
	keep := c.bad[:0]
	for _, t := range c.bad {
		if now.Sub(t) < badWindow {
			keep = append(keep, t)
		}
	}
	c.bad = append(keep, now)
	if len(c.bad) >= badLimit {
		c.send(errorFrame(codeBadMessage, why))
		c.close(closePolicy, "too many malformed messages", true)
		return nil
	}
	return errorFrame(codeBadMessage, why)
}

// clientLine are the options a client line is decoded with: object keys
// match exactly (case-sensitive) and appear once, strings are valid UTF-8
// without lone surrogate escapes (\ud800 is refused, not replaced), and
// unknown members are ignored (contract section 6).
var clientLine = jsonv2.JoinOptions(
	jsonv2.RejectUnknownMembers(false),
	jsonv2.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
)

// decodeLine decodes one client line into m; the error is the reason to
// give the client.
func decodeLine(ln []byte, m *clientMsg) error {
	if !utf8.Valid(ln) {
		return errors.New("messages must be valid UTF-8")
	}
	err := jsonv2.Unmarshal(ln, m, clientLine)
	if err == nil {
		return nil
	}
	var sem *jsonv2.SemanticError
	var syn *jsontext.SyntacticError
	switch {
	case errors.Is(err, jsontext.ErrDuplicateName):
		return errors.New("each line must be a JSON object without repeated keys")
	case errors.As(err, &syn):
		return errors.New("each line must be one JSON object with valid UTF-8 strings (error at byte " + strconv.FormatInt(syn.ByteOffset, 10) + ")")
	case errors.As(err, &sem) && sem.JSONPointer != "":
		return errors.New("field " + quote(strings.TrimPrefix(string(sem.JSONPointer), "/")) + " has the wrong type")
	}
	return errors.New("each line must be a JSON object")
}

// handle answers one client line; it returns the reply frame, if any.
func (c *client) handle(ln []byte, reacts *rate.Limiter) []byte {
	var m clientMsg
	if err := decodeLine(ln, &m); err != nil {
		return c.malformed(err.Error())
	}
	sku := ""
	if m.SKU != nil {
		sku = *m.SKU
	}
	for _, f := range [...]struct{ name, v string }{{"question_id", m.QuestionID}, {"id", m.ID}, {"sub", m.Sub}, {"sku", sku}} {
		if err := api.Text(f.name, f.v, 0); err != nil {
			return c.malformed(api.ProblemOf(err).Detail)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	switch m.Type {
	case typeChat, typeQuestion:
		return c.post(ctx, m.Type, m.Text, "")
	case typeAnswer:
		if !c.mod {
			return c.denied()
		}
		if m.QuestionID == "" {
			return c.malformed("answer needs question_id")
		}
		return c.post(ctx, typeAnswer, m.Text, m.QuestionID)
	case "react":
		e := strings.TrimSpace(m.Emoji)
		if e == "" || utf8.RuneCountInString(e) > maxEmoji || api.Text("emoji", e, 0) != nil {
			return c.malformed("react needs emoji: a short string")
		}
		if reacts.AllowN(c.rooms.cfg.Now(), 1) {
			c.hub.react(e)
		}
		return nil
	case "delete", "mute", "ban", "unban", "slow", "pin", "approve", "drop":
		if !c.mod {
			return c.denied()
		}
		return c.moderate(ctx, &m)
	case "":
		return c.malformed("type is required")
	}
	return c.malformed("unknown type " + quote(m.Type))
}

func (c *client) denied() []byte {
	if c.p == nil {
		return errorFrame(codeUnauthorized, "sign in (a token) to do this")
	}
	return errorFrame(codeForbidden, "only this stream's host, its moderators or an admin may do this")
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}
