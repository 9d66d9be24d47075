package web

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"time"

	"coffer/internal/errs"
)

// exportHoldBytes is how much of an export is held back before the answer
// is committed. The first tables (the organisation, its chart, tax rates
// and contacts, the only sealed values) usually fit, so a contact whose
// bank details do not open still gets a clean error answer instead of a
// truncated download; past this the export streams.
const exportHoldBytes = 1 << 20

// heldWriter holds the start of an answer in memory and commits the
// headers only once that is full or the answer is complete.
type heldWriter struct {
	w         http.ResponseWriter
	buf       bytes.Buffer
	committed bool
}

func (h *heldWriter) Write(p []byte) (int, error) {
	if h.committed {
		return h.w.Write(p)
	}
	h.buf.Write(p)
	if h.buf.Len() < exportHoldBytes {
		return len(p), nil
	}
	return len(p), h.commit()
}

func (h *heldWriter) commit() error {
	h.committed = true
	h.w.WriteHeader(http.StatusOK)
	_, err := h.w.Write(h.buf.Bytes())
	h.buf = bytes.Buffer{}
	return err
}

// streamExport sends the organisation's full export as a download.
func (s *Server) streamExport(w http.ResponseWriter, r *http.Request, o *orgReq, format string) {
	if !slices.Contains([]string{"zip", "json"}, format) {
		s.renderAnyError(w, r, errs.Errorf(errs.EINVALID, "Unknown export format %q: use zip or json.", clip(format, 20)))
		return
	}
	ctype := "application/zip"
	if format == "json" {
		ctype = "application/json"
	}
	name := "coffer-export-" + strconv.FormatInt(o.Org.ID, 10) + "-" + s.members.Now().UTC().Format("2006-01-02") + "." + format
	// A whole organisation's books may take longer than the server's
	// write timeout on a slow link; this download alone gets more time.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(30 * time.Minute)); err != nil {
		s.log.Warn("extend export deadline", logKeyRequestID, requestID(r), logKeyErr, err)
	}
	h := &heldWriter{w: w}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	_, err := s.members.Export(r.Context(), o.Actor(), o.Org, format, h)
	if err != nil {
		if !h.committed {
			w.Header().Del("Content-Disposition")
			s.renderAnyError(w, r, err)
			return
		}
		// Half an export is already out: break the connection so the
		// client sees a failed download, never a short file that looks
		// whole.
		s.log.Error("export failed after streaming began", logKeyRequestID, requestID(r), logKeyErr, err)
		panic(http.ErrAbortHandler)
	}
	if !h.committed {
		w.Header().Set("Content-Length", strconv.Itoa(h.buf.Len()))
		if err := h.commit(); err != nil {
			s.log.Warn("export write", logKeyRequestID, requestID(r), logKeyErr, err)
		}
	}
}
