package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"coffer/internal/errs"
)

// respondTestBody is the shape decodeJSON is asked for in these tests: a
// string, a number, a list and a nested object, like the real requests.
type respondTestBody struct {
	Email string            `json:"email"`
	Count int               `json:"count"`
	Tags  []string          `json:"tags"`
	Inner *respondTestInner `json:"inner"`
}

type respondTestInner struct {
	OK bool `json:"ok"`
}

// respondTestRequest builds a POST whose body has no declared length when
// streamed is set, as with chunked transfer encoding, so that only the
// MaxBytesReader can stop it.
func respondTestRequest(contentType string, body []byte, streamed bool) *http.Request {
	var rd io.Reader = bytes.NewReader(body)
	if streamed {
		rd = io.MultiReader(rd)
	}
	r := httptest.NewRequest(http.MethodPost, "/api/v1/login", rd)
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

// decodeThroughLimit runs decodeJSON behind the production body limit, the
// way every API handler sees a body, and returns what it decoded or the
// error.
func decodeThroughLimit(r *http.Request) (*respondTestBody, *httptest.ResponseRecorder, error) {
	var got *respondTestBody
	var gotErr error
	called := false
	h := limitBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called = true
		got, gotErr = decodeJSON[respondTestBody](r)
		if gotErr != nil {
			writeJSONError(w, r, nil, gotErr)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if !called {
		// limitBody answered itself, from the declared length.
		return nil, rec, errs.Errorf(errs.ETOOLARGE, "refused by limitBody")
	}
	return got, rec, gotErr
}

func TestDecodeJSON(t *testing.T) {
	const ct = "application/json"
	big := `{"email":"` + strings.Repeat("a", maxBodyBytes) + `"}`
	exactly := `{}` + strings.Repeat(" ", maxBodyBytes-2)
	tests := []struct {
		name        string
		contentType string
		body        string
		streamed    bool
		wantCode    string // "" for success
		wantMsg     string
	}{
		{"object", ct, `{"email":"a@example.com","count":2,"tags":["x"],"inner":{"ok":true}}`, false, "", ""},
		{"empty object", ct, `{}`, false, "", ""},
		{"surrounding whitespace", ct, " \n\t{}\r\n ", false, "", ""},
		{"charset parameter", "application/json; charset=utf-8", `{}`, false, "", ""},
		{"media type in upper case", "Application/JSON", `{}`, false, "", ""},
		{"exactly the limit", ct, exactly, true, "", ""},

		{"no content type", "", `{}`, false, errs.EUNSUPPORTED, "application/json"},
		{"form", "application/x-www-form-urlencoded", `email=a`, false, errs.EUNSUPPORTED, "application/json"},
		{"text", "text/plain", `{}`, false, errs.EUNSUPPORTED, ""},
		{"json suffix type", "application/problem+json", `{}`, false, errs.EUNSUPPORTED, ""},
		{"malformed content type", "application/json; =", `{}`, false, errs.EUNSUPPORTED, ""},

		{"empty body", ct, ``, false, errs.EINVALID, "empty"},
		{"only whitespace", ct, "  \n", false, errs.EINVALID, "empty"},
		{"truncated", ct, `{"email":`, false, errs.EINVALID, "not valid JSON"},
		{"syntax error", ct, `{"email" "a"}`, false, errs.EINVALID, "not valid JSON"},
		{"single quotes", ct, `{'email':'a'}`, false, errs.EINVALID, "not valid JSON"},
		{"array", ct, `[]`, false, errs.EINVALID, "must be a JSON object"},
		{"string", ct, `"hello"`, false, errs.EINVALID, "must be a JSON object"},
		{"number", ct, `42`, false, errs.EINVALID, "must be a JSON object"},
		{"null", ct, `null`, false, errs.EINVALID, "must be a JSON object"},
		{"wrong type named plainly", ct, `{"count":"two"}`, false, errs.EINVALID, "must be a number"},
		{"wrong field type", ct, `{"count":"two"}`, false, errs.EINVALID, `"count"`},
		{"wrong nested type", ct, `{"inner":{"ok":"yes"}}`, false, errs.EINVALID, `"inner.ok"`},
		{"number overflow", ct, `{"count":1e400}`, false, errs.EINVALID, `"count"`},
		{"unknown field", ct, `{"email":"a","admin":true}`, false, errs.EINVALID, `Unknown field "admin"`},
		{"two objects", ct, `{}{}`, false, errs.EINVALID, "exactly one JSON object"},
		{"two objects with space", ct, `{} {"email":"a"}`, false, errs.EINVALID, "exactly one JSON object"},
		{"trailing garbage", ct, `{}x`, false, errs.EINVALID, ""},
		{"trailing bracket", ct, `{}]`, false, errs.EINVALID, ""},
		{"deep nesting", ct, `{"inner":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, false, errs.EINVALID, ""},
		{"NUL byte", ct, "{\x00}", false, errs.EINVALID, "not valid JSON"},

		{"declared too large", ct, big, false, errs.ETOOLARGE, ""},
		{"streamed too large", ct, big, true, errs.ETOOLARGE, strconv.Itoa(maxBodyBytes)},
		{"limit reached in trailing space", ct, exactly + " ", true, errs.ETOOLARGE, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rec, err := decodeThroughLimit(respondTestRequest(tt.contentType, []byte(tt.body), tt.streamed))
			if tt.wantCode == "" {
				if err != nil || got == nil {
					t.Fatalf("decodeJSON = %v, %v; want success", got, err)
				}
				return
			}
			if got != nil {
				t.Fatalf("decoded %+v, want an error", got)
			}
			if code := errs.Code(err); code != tt.wantCode {
				t.Fatalf("error = %v (code %q), want code %q", err, code, tt.wantCode)
			}
			if !strings.Contains(errs.Message(err), tt.wantMsg) {
				t.Errorf("message %q lacks %q", errs.Message(err), tt.wantMsg)
			}
			// And the client sees that code with its status.
			var resp map[string]apiError
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatalf("response %q: %v", rec.Body.String(), err)
			}
			if rec.Code != statusByCode[tt.wantCode] || resp["error"].Code != tt.wantCode {
				t.Fatalf("response %d %+v, want %d %q", rec.Code, resp["error"], statusByCode[tt.wantCode], tt.wantCode)
			}
		})
	}
}

// TestDecodeJSON_Decoded checks the values, not just the absence of error.
func TestDecodeJSON_Decoded(t *testing.T) {
	r := respondTestRequest("application/json", []byte(`{"email":"a@example.com","count":2,"tags":["x","y"],"inner":{"ok":true}}`), false)
	got, err := decodeJSON[respondTestBody](r)
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != "a@example.com" || got.Count != 2 || len(got.Tags) != 2 || got.Inner == nil || !got.Inner.OK {
		t.Fatalf("decoded %+v", got)
	}
}

// errsCodes reads every E* constant of package errs from its source, so a
// code added there without a status here fails this test.
func errsCodes(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../errs/errs.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "E") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				codes[name.Name] = v
			}
		}
	}
	if len(codes) < 10 {
		t.Fatalf("found only %d error codes in errs.go: %v", len(codes), codes)
	}
	return codes
}

func TestStatusByCode_CoversEveryCode(t *testing.T) {
	codes := errsCodes(t)
	values := map[string]bool{}
	for name, code := range codes {
		values[code] = true
		status, ok := statusByCode[code]
		if !ok {
			t.Errorf("errs.%s (%q) has no HTTP status", name, code)
			continue
		}
		if status < 400 || status > 599 {
			t.Errorf("errs.%s maps to %d, not an error status", name, status)
		}
		// describe reports the same code and status, except that every 500
		// is reported as internal.
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		gotStatus, gotCode, msg := describe(nil, r, errs.Errorf(code, "message for %s", name))
		if gotStatus != status {
			t.Errorf("describe(%s) status %d, want %d", name, gotStatus, status)
		}
		if status != http.StatusInternalServerError && (gotCode != code || msg != "message for "+name) {
			t.Errorf("describe(%s) = %q, %q", name, gotCode, msg)
		}
	}
	for code := range statusByCode {
		if !values[code] {
			t.Errorf("statusByCode has %q, which errs does not define", code)
		}
	}
}

func TestDescribe_InternalErrorsLeakNothing(t *testing.T) {
	for _, err := range []error{
		errors.New("open /var/lib/coffer/coffer.db: secret detail"),
		fmt.Errorf("wrapped: %w", errors.New("secret detail")),
		errs.Errorf(errs.EINTERNAL, "secret detail"),
		errs.Errorf("not_a_code", "secret detail"),
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		status, code, msg := describe(nil, r, err)
		if status != http.StatusInternalServerError || code != errs.EINTERNAL || strings.Contains(msg, "secret") {
			t.Errorf("describe(%v) = %d, %q, %q", err, status, code, msg)
		}
	}
}

// FuzzDecodeJSON: whatever the body, decodeJSON does not panic, and every
// refusal is a client error with a code and a message, never internal.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"email":"a@example.com","count":2,"tags":["x"],"inner":{"ok":true}}`,
		``, ` `, `null`, `[]`, `"x"`, `1`, `{"count":"x"}`, `{"inner":{"ok":1}}`, `{"x":1}`,
		`{}{}`, `{} x`, `{"email":"\ud800"}`, "{\"email\":\"\xff\"}", `{"count":1e999}`,
		`{"tags":[` + strings.Repeat(`"a",`, 50) + `"a"]}`, strings.Repeat("[", 100),
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, small bool) {
		var rd io.Reader = io.MultiReader(bytes.NewReader(body))
		r := httptest.NewRequest(http.MethodPost, "/api/v1/login", rd)
		r.Header.Set("Content-Type", "application/json")
		limit := int64(maxBodyBytes)
		if small {
			// A small limit makes the too-large path reachable by the fuzzer.
			limit = 16
		}
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, limit)
		v, err := decodeJSON[respondTestBody](r)
		if err == nil {
			if v == nil {
				t.Fatal("nil value without an error")
			}
			return
		}
		if v != nil {
			t.Fatalf("value %+v with error %v", v, err)
		}
		e := errs.As(err)
		if e == nil {
			t.Fatalf("error %v is not an *errs.Error", err)
		}
		switch e.Code {
		case errs.EINVALID, errs.ETOOLARGE:
		default:
			t.Fatalf("code %q for body %q: %v", e.Code, body, err)
		}
		if e.Message == "" || !utf8Valid(e.Message) {
			t.Fatalf("message %q", e.Message)
		}
		if status, _, _ := describe(nil, r, err); status >= 500 {
			t.Fatalf("status %d for body %q", status, body)
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
