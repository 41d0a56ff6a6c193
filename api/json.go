package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// MaxBody is the default limit on a JSON request body.
const MaxBody = 64 << 10

// DecodeJSON reads r's body, at most max bytes (MaxBody when max <= 0), into
// v. Unknown fields, trailing data, wrong types and bodies over the limit are
// errors with code BadRequest (TooLarge for the limit) and a detail that
// names the problem.
func DecodeJSON(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	if max <= 0 {
		max = MaxBody
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return Errorf(BadRequest, "Content-Type must be application/json, not %q", ct)
	}
	body := http.MaxBytesReader(w, r.Body, max)
	data, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return Errorf(TooLarge, "request body is larger than %d bytes", max)
		}
		return Errorf(BadRequest, "reading request body: %v", err)
	}
	return Unmarshal(data, v)
}

// Unmarshal decodes one JSON value from data into v with the rules of
// DecodeJSON (unknown fields and trailing data rejected).
func Unmarshal(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return New(BadRequest, "request body is empty; a JSON object is expected")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(BadRequest, "invalid JSON body: %s", describeJSONError(err))
	}
	if dec.More() {
		return New(BadRequest, "invalid JSON body: unexpected data after the JSON value")
	}
	return nil
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be %s, not %s", typ.Field, typ.Type, typ.Value)
		}
		return fmt.Sprintf("expected %s, not %s", typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	// encoding/json words unknown fields as `json: unknown field "x"`.
	return strings.TrimPrefix(err.Error(), "json: ")
}

// WriteJSON answers v as application/json with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = encode(w, v)
}

func encode(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// Page is the shape of every list response: {"items":[…],"next":cursor|null}.
type Page[T any] struct {
	Items []T     `json:"items"`
	Next  *string `json:"next"`
}

// NewPage returns a page of items; an empty next means there is no more.
// A nil slice is answered as [] so that clients never see null items.
func NewPage[T any](items []T, next string) Page[T] {
	if items == nil {
		items = []T{}
	}
	p := Page[T]{Items: items}
	if next != "" {
		p.Next = &next
	}
	return p
}
