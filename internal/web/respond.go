package web

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
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
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	var v T
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, jsonError(err)
		}
		return nil, errs.Errorf(errs.EINVALID, "The request body must hold exactly one JSON object.")
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
		return errs.Errorf(errs.EINVALID, "Field %q must be a %s.", field, typeErr.Type.String())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errs.Errorf(errs.EINVALID, "Unknown field %s.", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return errs.Errorf(errs.EINVALID, "The request body could not be read as JSON.")
	}
}
