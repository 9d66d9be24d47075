package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"

	"coffer/internal/errs"
	"coffer/internal/idem"
)

type recorder struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.buf.Write(b)
	return r.ResponseWriter.Write(b)
}

// idempotent runs h at most once per Idempotency-Key: a retry of the same
// request gets the first answer again; the same key on a different request
// is refused. A server error releases the key for a retry unless the
// request had already changed the books (see idem.Store.Abort).
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, o *orgReq, h orgHandler) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 || !printableASCII(key) {
		writeJSONError(w, r, s.log, errs.Errorf(errs.EINVALID, "Idempotency-Key must be 1 to 255 visible ASCII characters."))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeJSONError(w, r, s.log, jsonError(err))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	hh := sha256.New()
	hh.Write([]byte(r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery + "\n" + r.Header.Get("Content-Type") + "\n"))
	hh.Write(body)
	hash := hh.Sum(nil)
	ctx := r.Context()
	prev, claim, err := s.idem.Begin(ctx, o.Org.ID, o.User.ID, key, hash, s.auth.Now())
	if err != nil {
		writeJSONError(w, r, s.log, err)
		return
	}
	if claim == nil {
		switch {
		case !bytes.Equal(prev.Hash, hash):
			writeJSONError(w, r, s.log, errs.Errorf(errs.ECONFLICT, "This Idempotency-Key was already used for a different request."))
		case prev.Lost:
			// No Retry-After: sending it again cannot help, and must not
			// apply it twice.
			writeJSONError(w, r, s.log, errs.Errorf(errs.ECONFLICT, "This request may have been applied, but the server handling it stopped before answering. Look at the books for its result instead of sending it again."))
		case prev.Status == 0:
			w.Header().Set("Retry-After", "1")
			writeJSONError(w, r, s.log, errs.Errorf(errs.ECONFLICT, "A request with this Idempotency-Key is still being processed."))
		default:
			w.Header().Set("Content-Type", prev.ContentType)
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(prev.Status)
			w.Write(prev.Body)
		}
		return
	}
	rec := &recorder{ResponseWriter: w}
	h(rec, r.WithContext(idem.WithClaim(ctx, claim)), o)
	// The answer is kept even if the client has gone: that is the retry
	// this mechanism exists for.
	done := context.WithoutCancel(ctx)
	if rec.status >= 500 || rec.status == 0 {
		if err := s.idem.Abort(done, claim); err != nil {
			s.log.Error("abort idempotency key", logKeyRequestID, requestID(r), logKeyErr, err)
		}
		return
	}
	a := &idem.Answer{Hash: hash, Status: rec.status, ContentType: w.Header().Get("Content-Type"), Body: rec.buf.Bytes()}
	if err := s.idem.Finish(done, claim, a); err != nil {
		s.log.Error("store idempotent answer", logKeyRequestID, requestID(r), logKeyErr, err)
	}
}

func printableASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
