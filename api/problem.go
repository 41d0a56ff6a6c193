// Package api is livecart's HTTP edge shared by every capability: the error
// codes of the public contract, problem+json responses (RFC 9457), strict
// JSON request bodies, text field checks, list pages, the origin policy, and
// the middleware every request passes before its route (client addresses,
// admission, head limits, the body deadline, 404 and 405).
//
// Domain packages express failures as errors that carry a Code (sentinels
// made with New, or errors made with Errorf, wrapped with %w as they travel);
// only WriteError decides the HTTP status and the text a client sees.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// Code is a machine-readable error code of the public contract (section 3).
type Code string

// The contract's error codes.
const (
	BadRequest          Code = "bad_request"
	Unauthorized        Code = "unauthorized"
	Forbidden           Code = "forbidden"
	NotFound            Code = "not_found"
	StreamOffline       Code = "stream_offline"
	OutOfStock          Code = "out_of_stock"
	NotInLineup         Code = "not_in_lineup"
	IdempotencyMismatch Code = "idempotency_mismatch"
	Conflict            Code = "conflict"
	RateLimited         Code = "rate_limited"
	Unavailable         Code = "unavailable"
	// LimitReached: a per-buyer limit (409).
	LimitReached Code = "limit_reached"
	// CouponInvalid: an unknown, expired or used-up coupon (422).
	CouponInvalid Code = "coupon_invalid"
	// Internal is not in the contract's list: it answers an error that no
	// package classified, which is a bug, and is logged as one.
	Internal Code = "internal"
	// TooLarge answers a request body over its limit with 413; its code on
	// the wire is bad_request.
	TooLarge Code = "too_large"
	// MethodNotAllowed answers 405; its code on the wire is bad_request.
	MethodNotAllowed Code = "method_not_allowed"
	// RequestTimeout answers a request whose body did not arrive in time
	// with 408; its code on the wire is bad_request.
	RequestTimeout Code = "request_timeout"
	// URITooLong answers a request target over the server's limit with 414;
	// its code on the wire is bad_request.
	URITooLong Code = "uri_too_long"
	// UnsupportedMediaType answers a body of a type the endpoint does not
	// take with 415; its code on the wire is bad_request.
	UnsupportedMediaType Code = "unsupported_media_type"
	// HeaderTooLarge answers request headers over the server's limit with
	// 431; its code on the wire is bad_request.
	HeaderTooLarge Code = "header_too_large"
	// PreconditionFailed answers a request whose If-Match names a version
	// of the resource that is not the current one (a WHIP or WHEP PATCH
	// for an earlier ICE session) with 412; its code on the wire is
	// bad_request.
	PreconditionFailed Code = "precondition_failed"
)

// Status is the HTTP status that answers an error with this code.
func (c Code) Status() int {
	switch c {
	case BadRequest:
		return http.StatusBadRequest
	case Unauthorized:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case NotFound, StreamOffline:
		return http.StatusNotFound
	case OutOfStock, Conflict, LimitReached:
		return http.StatusConflict
	case NotInLineup, IdempotencyMismatch, CouponInvalid:
		return http.StatusUnprocessableEntity
	case RateLimited:
		return http.StatusTooManyRequests
	case Unavailable:
		return http.StatusServiceUnavailable
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case RequestTimeout:
		return http.StatusRequestTimeout
	case URITooLong:
		return http.StatusRequestURITooLong
	case HeaderTooLarge:
		return http.StatusRequestHeaderFieldsTooLarge
	case UnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case PreconditionFailed:
		return http.StatusPreconditionFailed
	default:
		return http.StatusInternalServerError
	}
}

// wire is the code a client sees.
func (c Code) wire() Code {
	switch c {
	case TooLarge, MethodNotAllowed, RequestTimeout, URITooLong, HeaderTooLarge, UnsupportedMediaType, PreconditionFailed:
		return BadRequest
	}
	return c
}

// Error is an error with a contract code and a message meant for the client.
// It is immutable and safe to share; sentinels are *Error values.
type Error struct {
	Code    Code
	Message string
	// RetryAfter, when set, is sent as the Retry-After header (seconds).
	RetryAfter int
	err        error
}

// New returns an error with a code and a client-facing message, for use as a
// package sentinel: var ErrOutOfStock = api.New(api.OutOfStock, "out of stock").
func New(code Code, msg string) *Error { return &Error{Code: code, Message: msg} }

// Errorf returns an error with a code and a formatted client-facing message.
// A %w verb wraps another error, which errors.Is and errors.As then see.
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), err: errors.Unwrap(err)}
}

// Unavailablef wraps a store failure as a 503 unavailable with Retry-After.
func Unavailablef(err error, format string, args ...any) *Error {
	return &Error{Code: Unavailable, Message: fmt.Sprintf(format, args...), RetryAfter: 1, err: err}
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the error this one wraps, if any.
func (e *Error) Unwrap() error { return e.err }

// CodeOf reports the code of the first *Error in err's chain, Internal when
// there is none, and "" for a nil error.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Unavailable
	}
	return Internal
}

// Problem is the RFC 9457 body of every error response.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   Code   `json:"code"`
}

// ProblemOf turns any error into the problem a client sees. Unclassified
// errors become a 500 whose detail hides the internal message.
func ProblemOf(err error) Problem {
	code := CodeOf(err)
	status := code.Status()
	detail := "internal error"
	var e *Error
	if errors.As(err, &e) {
		detail = e.Message
	} else if code == Unavailable {
		detail = "the store did not answer in time"
	}
	return Problem{
		Type:   "https://livecart.dev/problems/" + string(code.wire()),
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Code:   code.wire(),
	}
}

// unavailableLog spaces the log lines of 503 answers.
var unavailableLog = rate.Sometimes{Interval: time.Second}

// WriteError answers err as application/problem+json. Unclassified errors are
// logged on log (which may be nil) since they are bugs or outages.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p := ProblemOf(err)
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	} else if p.Code == Unavailable {
		w.Header().Set("Retry-After", "1")
	}
	switch {
	case log == nil || p.Status < 500:
	case p.Code == Unavailable:
		// A store outage or a node at its bound answers many requests
		// alike: one line a second says so without flooding the log.
		unavailableLog.Do(func() {
			log.LogAttrs(r.Context(), slog.LevelWarn, "answering 503 unavailable (logged at most once a second)",
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("err", err.Error()))
		})
	default:
		log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", p.Status), slog.String("err", err.Error()))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = encode(w, p)
}
