package s3target_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"coffer/internal/backup/s3target"
)

// brokenS3 is a real HTTP server on loopback standing in for a failing S3
// endpoint: it answers that the bucket exists (so New succeeds, as it would
// before the store broke) when bucketOK, and then answers every other
// request with 500, or never answers.
func brokenS3(t *testing.T, mode string, bucketOK bool) string {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		if bucketOK && r.URL.Query().Has("location") {
			w.Header().Set("Content-Type", "application/xml")
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">us-east-1</LocationConstraint>`)
			return
		}
		if bucketOK && r.Method == http.MethodHead && strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 0 {
			return // HEAD /bucket: it exists
		}
		switch mode {
		case "500":
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`)
		case "hang":
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return strings.TrimPrefix(srv.URL, "http://")
}

func brokenOptions(endpoint string) s3target.Options {
	return s3target.Options{
		Endpoint: endpoint, Bucket: "coffer", Prefix: "p",
		AccessKey: "access", SecretKey: "secret-key-never-shown", Retries: 2,
	}
}

// TestBrokenEndpoint: every method against an endpoint that answers 500 or
// never answers returns, within the caller's deadline (or the target's own
// timeout when the caller set none), an error that names the target and
// says what went wrong.
func TestBrokenEndpoint(t *testing.T) {
	ops := []struct {
		name string
		call func(ctx context.Context, tgt *s3target.Target) error
	}{
		{"Put", func(ctx context.Context, tgt *s3target.Target) error {
			return tgt.Put(ctx, "b/data.enc", strings.NewReader("data"), 4)
		}},
		{"PutStream", func(ctx context.Context, tgt *s3target.Target) error {
			return tgt.Put(ctx, "b/data.enc", strings.NewReader("data"), -1)
		}},
		{"Get", func(ctx context.Context, tgt *s3target.Target) error {
			rc, err := tgt.Get(ctx, "b/data.enc")
			if err == nil {
				rc.Close()
			}
			return err
		}},
		{"List", func(ctx context.Context, tgt *s3target.Target) error {
			_, err := tgt.List(ctx, "")
			return err
		}},
		{"Delete", func(ctx context.Context, tgt *s3target.Target) error {
			return tgt.Delete(ctx, "b/data.enc")
		}},
	}
	modes := []struct {
		mode    string
		timeout time.Duration // the target's own Options.Timeout
		ctxWait time.Duration // the caller's deadline, 0 for none
		want    []string
	}{
		{mode: "500", want: []string{"500 Internal Server Error", "retry later"}},
		{mode: "hang", ctxWait: 500 * time.Millisecond, want: []string{"timed out", "check that it is up"}},
		{mode: "hang", timeout: 300 * time.Millisecond, want: []string{"timed out", "check that it is up"}},
	}
	for _, m := range modes {
		name := m.mode
		if m.timeout != 0 {
			name += "-own-timeout"
		}
		t.Run(name, func(t *testing.T) {
			o := brokenOptions(brokenS3(t, m.mode, true))
			o.Timeout = m.timeout
			tgt := mustNew(t, o)
			for _, op := range ops {
				t.Run(op.name, func(t *testing.T) {
					ctx := context.Background()
					if m.ctxWait != 0 {
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, m.ctxWait)
						defer cancel()
					}
					start := time.Now()
					err := op.call(ctx, tgt)
					took := time.Since(start)
					if err == nil {
						t.Fatal("no error from a broken endpoint")
					}
					if took > 10*time.Second {
						t.Errorf("took %s to give up", took)
					}
					msg := err.Error()
					for _, want := range append([]string{"s3://coffer/p"}, m.want...) {
						if !strings.Contains(msg, want) {
							t.Errorf("error %q does not say %q", msg, want)
						}
					}
					if strings.Contains(msg, "secret-key-never-shown") {
						t.Errorf("error %q shows the secret key", msg)
					}
					if m.mode == "hang" && !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("error %v does not match context.DeadlineExceeded", err)
					}
				})
			}
		})
	}

	// New itself, against an endpoint broken from the start.
	for _, mode := range []string{"500", "hang"} {
		t.Run("New-"+mode, func(t *testing.T) {
			o := brokenOptions(brokenS3(t, mode, false))
			o.Timeout = 300 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := s3target.New(ctx, o)
			if err == nil || !strings.Contains(err.Error(), "s3://coffer/p") {
				t.Fatalf("New: err = %v, want an error naming the target", err)
			}
		})
	}
}
