package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// MaxBody is the default limit on a JSON request body.
const MaxBody = 64 << 10

// strict are the options every request body is decoded with: object keys
// match struct tags exactly (case-sensitive), a key that names no field is
// refused, a key may appear once per object, and strings must be valid
// UTF-8 with no lone surrogate escapes (\ud800). These are the defaults of
// encoding/json/v2, spelled out so that no package default changes them.
var strict = jsonv2.JoinOptions(
	jsonv2.RejectUnknownMembers(true),
	jsonv2.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
)

// DecodeJSON reads r's body, at most max bytes (MaxBody when max <= 0), into
// v with the rules of Unmarshal. Errors carry code BadRequest and a detail
// that names the problem; a Content-Type other than application/json (none
// is taken as JSON) is UnsupportedMediaType (415), a body over the limit is
// TooLarge (413) and a body that does not arrive before the connection's
// read deadline is RequestTimeout (408). It is safe for concurrent use.
func DecodeJSON(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	_, err := ReadJSON(w, r, max, v)
	return err
}

// ReadJSON is DecodeJSON that also returns the body's bytes, for callers
// that fingerprint a request (idempotency keys). When v is nil the body is
// only read and, when it is not empty, checked to be one well-formed JSON
// value under the same rules.
func ReadJSON(w http.ResponseWriter, r *http.Request, max int64, v any) (raw []byte, err error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return nil, Errorf(UnsupportedMediaType, "Content-Type must be application/json, not %q", ct)
	}
	data, err := ReadBody(w, r, max)
	if err != nil {
		return nil, err
	}
	if v == nil {
		if len(bytes.TrimSpace(data)) == 0 {
			return data, nil
		}
		var val jsontext.Value
		if err := Unmarshal(data, &val); err != nil {
			return nil, err
		}
		return data, nil
	}
	if err := Unmarshal(data, v); err != nil {
		return nil, err
	}
	return data, nil
}

// ReadBody reads r's whole body, at most max bytes (MaxBody when max <= 0),
// whatever its type (an SDP offer, a JSON document). A body over the limit
// is TooLarge (413); one that does not arrive before the connection's read
// deadline (set by the server's edge) is RequestTimeout (408); any other
// failure to read it is BadRequest.
func ReadBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if max <= 0 {
		max = MaxBody
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		return nil, bodyError(err, max)
	}
	return data, nil
}

// bodyError classifies a failure to read a request body.
func bodyError(err error, max int64) error {
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		return Errorf(TooLarge, "request body is larger than %d bytes", max)
	case errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return New(RequestTimeout, "the request body did not arrive in time")
	}
	return Errorf(BadRequest, "reading request body: %v", err)
}

// Unmarshal decodes exactly one JSON value from data into v, strictly:
// object keys are case-sensitive and name a field of v's type, no key is
// repeated within an object, strings are valid UTF-8 without lone surrogate
// escapes, and nothing but white space follows the value. An empty body is
// an error too. Errors carry code BadRequest.
//
// Types decode as with encoding/json: `json:"…"` tags, pointers for optional
// fields, RFC 3339 times and json.RawMessage all work unchanged.
func Unmarshal(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return New(BadRequest, "request body is empty; a JSON object is expected")
	}
	dec := jsontext.NewDecoder(bytes.NewReader(data), strict)
	if err := jsonv2.UnmarshalDecode(dec, v, strict); err != nil {
		return Errorf(BadRequest, "invalid JSON body: %s", describeJSONError(err))
	}
	if _, err := dec.ReadValue(); err != io.EOF {
		return New(BadRequest, "invalid JSON body: unexpected data after the JSON value")
	}
	return nil
}

// describeJSONError words a decoding error for the client. It does not use
// the decoder's own messages, whose wording varies from run to run.
func describeJSONError(err error) string {
	var sem *jsonv2.SemanticError
	if errors.As(err, &sem) {
		var syn *jsontext.SyntacticError
		if errors.As(sem.Err, &syn) {
			return describeSyntax(syn)
		}
		where := fieldName(sem.JSONPointer)
		switch {
		case errors.Is(sem.Err, jsonv2.ErrUnknownName):
			return fmt.Sprintf("unknown field %q", where)
		case sem.GoType != nil && sem.JSONKind != 0:
			what := "the body"
			if where != "" {
				what = fmt.Sprintf("field %q", where)
			}
			return fmt.Sprintf("%s must be %s, not %s", what, goKind(sem.GoType), jsonKind(sem.JSONKind))
		case where != "":
			return fmt.Sprintf("field %q is invalid", where)
		}
		return "the body does not have the expected shape"
	}
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		return describeSyntax(syn)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return "the body is not valid JSON"
}

func describeSyntax(syn *jsontext.SyntacticError) string {
	switch {
	case errors.Is(syn.Err, jsontext.ErrDuplicateName):
		return fmt.Sprintf("duplicate field %q", fieldName(syn.JSONPointer))
	case errors.Is(syn.Err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	msg := strings.TrimPrefix(syn.Err.Error(), "jsontext: ")
	return fmt.Sprintf("syntax error at byte %d: %s", syn.ByteOffset, msg)
}

// fieldName writes a JSON pointer as a client reads a field path:
// "/items/0/qty" becomes "items.0.qty".
func fieldName(p jsontext.Pointer) string {
	var parts []string
	for tok := range p.Tokens() {
		parts = append(parts, tok)
	}
	return strings.Join(parts, ".")
}

func goKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map:
		return "an object"
	case reflect.Struct:
		if t.PkgPath() == "time" && t.Name() == "Time" {
			return "an RFC 3339 time"
		}
		return "an object"
	}
	return "a " + t.Kind().String()
}

func jsonKind(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "that value"
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

// PageLimit reads ?limit= of a list request: 1 to MaxPageLimit, default
// DefaultPageLimit; anything else is a BadRequest.
func PageLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return DefaultPageLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxPageLimit {
		return 0, Errorf(BadRequest, "limit must be an integer from 1 to %d", MaxPageLimit)
	}
	return n, nil
}

// The bounds of ?limit= on list requests.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 100
)
