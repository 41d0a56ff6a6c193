package chat

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/livecart/livecart/auth"
)

// User is who wrote a line, as the server knows it (never the client's word).
type User struct {
	Sub  string    `json:"sub"`
	Name string    `json:"name"`
	Role auth.Role `json:"role"`
}

func userOf(p *auth.Principal) *User {
	if p == nil {
		return nil
	}
	return &User{Sub: p.Sub, Name: p.Name, Role: p.Role}
}

// Server-to-client message types.
const (
	typeWelcome   = "welcome"
	typeChat      = "chat"
	typeQuestion  = "question"
	typeAnswer    = "answer"
	typeDeleted   = "deleted"
	typeProduct   = "product"
	typeStock     = "stock"
	typeOrder     = "order"
	typeViewers   = "viewers"
	typeReactions = "reactions"
	typeStream    = "stream"
	typeMuted     = "muted"
	typeBanned    = "banned"
	typeError     = "error"
	typeHeld      = "held"
	typeResolved  = "resolved"
	typeSlow      = "slow"
	typeOffer     = "offer"
	typeCoupon    = "coupon"
	typeSkipped   = "skipped"
)

// Error codes of error messages.
const (
	codeUnauthorized = "unauthorized"
	codeForbidden    = "forbidden"
	codeTooLong      = "too_long"
	codeRateLimited  = "rate_limited"
	codeMuted        = "muted"
	codeBanned       = "banned"
	codeBadMessage   = "bad_message"
	codeNotFound     = "not_found"
	codeUnavailable  = "unavailable"
)

// line is a chat, question or answer.
type line struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	QuestionID string `json:"question_id,omitempty"`
	User       User   `json:"user"`
	Text       string `json:"text"`
	TS         string `json:"ts"`
}

// heldLine is a line held for review, as moderators (and its author) see it.
type heldLine struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	QuestionID string `json:"question_id,omitempty"`
	User       User   `json:"user"`
	Text       string `json:"text"`
	TS         string `json:"ts"`
}

type deletedMsg struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type productMsg struct {
	Type string          `json:"type"`
	Card json.RawMessage `json:"card"`
}

type stockMsg struct {
	Type  string `json:"type"`
	SKU   string `json:"sku"`
	Stock int    `json:"stock"`
}

type orderMsg struct {
	Type  string `json:"type"`
	SKU   string `json:"sku"`
	Qty   int    `json:"qty"`
	Buyer string `json:"buyer"`
}

type viewersMsg struct {
	Type  string `json:"type"`
	Count int    `json:"count"`
}

type reactionsMsg struct {
	Type   string         `json:"type"`
	Counts map[string]int `json:"counts"`
}

type streamMsg struct {
	Type   string `json:"type"`
	Status string `json:"status"`
}

type untilMsg struct {
	Type  string  `json:"type"`
	Until *string `json:"until"`
}

type errorMsg struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type resolvedMsg struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	Action string `json:"action"`
}

type slowMsg struct {
	Type    string `json:"type"`
	Seconds int    `json:"seconds"`
}

type welcomeMsg struct {
	Type      string            `json:"type"`
	You       *User             `json:"you"`
	Stream    json.RawMessage   `json:"stream"`
	History   []json.RawMessage `json:"history"`
	Pinned    json.RawMessage   `json:"pinned"`
	Recovered bool              `json:"recovered"`
	Offset    uint64            `json:"offset"`
	Epoch     string            `json:"epoch"`
	Viewers   int               `json:"viewers"`
	Slow      int               `json:"slow"`
	Held      []json.RawMessage `json:"held,omitempty"`
}

// clientMsg is any client-to-server message; unknown fields are ignored.
type clientMsg struct {
	Type       string  `json:"type"`
	Text       *string `json:"text"`
	Emoji      string  `json:"emoji"`
	QuestionID string  `json:"question_id"`
	ID         string  `json:"id"`
	Sub        string  `json:"sub"`
	Seconds    *int    `json:"seconds"`
	SKU        *string `json:"sku"`
}

// encode marshals v as one line of JSON (no HTML escaping, no newline).
// The values encoded here cannot fail to marshal; a failure yields an
// error message so that nothing panics.
func encode(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`{"type":"error","code":"bad_message","message":"internal encoding error"}`)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func errorFrame(code, msg string) []byte {
	return encode(errorMsg{Type: typeError, Code: code, Message: msg})
}

// timestamp formats t as the contract's RFC 3339 (milliseconds, UTC).
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func untilFrame(typ string, until time.Time) []byte {
	m := untilMsg{Type: typ}
	if !until.IsZero() {
		s := timestamp(until)
		m.Until = &s
	}
	return encode(m)
}

func itoa(n int) string { return strconv.Itoa(n) }
