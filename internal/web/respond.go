package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"coffer/internal/errs"
)

var statusByCode = map[string]int{
	errs.EINVALID:      http.StatusBadRequest,
	errs.EUNAUTHORIZED: http.StatusUnauthorized,
	errs.EFORBIDDEN:    http.StatusForbidden,
	errs.ESTEPUP:       http.StatusForbidden,
	errs.ENOTFOUND:     http.StatusNotFound,
	errs.EMETHOD:       http.StatusMethodNotAllowed,
	errs.ECONFLICT:     http.StatusConflict,
	errs.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	errs.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	errs.ERATELIMIT:    http.StatusTooManyRequests,
	errs.EINTERNAL:     http.StatusInternalServerError,
	errs.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// describe returns the status, code and safe message for err, logging
// internal errors once, under the request's ID, which the client also sees.
func describe(log *slog.Logger, r *http.Request, err error) (status int, code, message string) {
	code = errs.Code(err)
	status, ok := statusByCode[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	message = errs.Message(err)
	if status == http.StatusInternalServerError {
		id := requestID(r)
		if log != nil {
			log.Error("internal error", logKeyRequestID, id, logKeyErr, err)
		}
		message = "An internal error occurred. Reference: " + id
		code = errs.EINTERNAL
	}
	return status, code, message
}

func setRetryAfter(w http.ResponseWriter, err error) {
	if e := errs.As(err); e != nil && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSONError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, code, message := describe(log, r, err)
	setRetryAfter(w, err)
	writeJSON(w, status, map[string]apiError{"error": {Code: code, Message: message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}

// decodeJSON reads exactly one JSON object of type T from the body: the
// right content type, no unknown fields, nothing after it, within the size
// limit. Every failure is a 4xx with a message saying what was wrong.
func decodeJSON[T any](r *http.Request) (*T, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, errs.Errorf(errs.EUNSUPPORTED, "Send the request body as application/json.")
	}
	var raw json.RawMessage
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&raw); err != nil {
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, jsonError(err)
		}
		return nil, errs.Errorf(errs.EINVALID, "The request body must hold exactly one JSON object.")
	}
	// null would decode into a zero value without complaint.
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errs.Errorf(errs.EINVALID, "The request body must be a JSON object.")
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	var v T
	if err := strict.Decode(&v); err != nil {
		return nil, jsonError(err)
	}
	return &v, nil
}

func jsonError(err error) error {
	var tooLarge *http.MaxBytesError
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		return errs.Errorf(errs.ETOOLARGE, "The request body is larger than %d bytes.", tooLarge.Limit)
	case errors.Is(err, io.EOF):
		return errs.Errorf(errs.EINVALID, "The request body is empty; send a JSON object.")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return errs.Errorf(errs.EINVALID, "The request body is not valid JSON.")
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return errs.Errorf(errs.EINVALID, "The request body must be a JSON object.")
		}
		return errs.Errorf(errs.EINVALID, "Field %q must be %s.", field, jsonKind(typeErr.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errs.Errorf(errs.EINVALID, "Unknown field %s.", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return errs.Errorf(errs.EINVALID, "The request body could not be read as JSON.")
	}
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}
