// Package errs holds Coffer's one domain error type. Domains return *Error
// with a code; the web layer maps codes to HTTP statuses and renders the
// message, so a rule is phrased once, where it is enforced.
package errs

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to exactly one HTTP status in the web layer.
const (
	EINVALID      = "invalid"                // 400 (422 for validation is not used: one status keeps clients simple)
	EUNAUTHORIZED = "unauthorized"           // 401
	EFORBIDDEN    = "forbidden"              // 403
	ESTEPUP       = "step_up_required"       // 403, the client should ask for a fresh second factor
	ENOTFOUND     = "not_found"              // 404
	EMETHOD       = "method_not_allowed"     // 405
	ECONFLICT     = "conflict"               // 409
	ETOOLARGE     = "too_large"              // 413
	EUNSUPPORTED  = "unsupported_media_type" // 415
	ERATELIMIT    = "rate_limited"           // 429
	EINTERNAL     = "internal"               // 500
	EUNAVAILABLE  = "unavailable"            // 503, retry later
)

// Error is an application error: Code is machine-readable, Message is safe to
// show to the user. RetryAfter, when set, tells the client when to try again.
type Error struct {
	Code       string
	Message    string
	RetryAfter int // seconds; 0 means not given
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Code returns the code of the first *Error in err's chain, EINTERNAL for any
// other non-nil error, and "" for nil.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// Message returns the user-facing message of err; internal errors get a
// generic one so that no detail leaks to a client.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error occurred."
}

// As returns the first *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
