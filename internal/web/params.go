package web

import (
	"net/http"
	"net/url"
	"strconv"

	"coffer/internal/errs"
)

// pathID reads a positive record id from the path value name; anything
// else names no record, so it is "not found".
func pathID(r *http.Request, name, what string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.Errorf(errs.ENOTFOUND, "%s not found.", what)
	}
	return id, nil
}

// queryInt reads an optional whole-number query parameter (0 if absent).
func queryInt(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, errs.Errorf(errs.EINVALID, "%s must be a whole number, not %q.", name, clip(v, 20))
	}
	return n, nil
}

// cutPage cuts a list read with limit+1 rows back to limit and reports
// whether more rows follow.
func cutPage[T any](list []T, limit int) ([]T, bool) {
	if len(list) > limit {
		return list[:limit], true
	}
	return list, false
}

// pageLink is the path of another page of a list: the query values of q
// named by keep that are set, and the offset unless it is 0.
func pageLink(path string, q url.Values, offset int, keep ...string) string {
	v := url.Values{}
	for _, k := range keep {
		if q.Get(k) != "" {
			v.Set(k, q.Get(k))
		}
	}
	if offset > 0 {
		v.Set("offset", strconv.Itoa(offset))
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// clip shortens user input quoted back in an error message to n
// characters, marking a shortened one with "…".
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// optID is an optional reference for JSON: 0 (none) becomes null.
func optID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}
