package loadgen

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// server is a real HTTP server that counts the requests it answered and
// answers with the status in ?status= (200 without), after ?sleep=.
func server(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil {
			time.Sleep(d)
		}
		n.Add(1)
		if s := r.URL.Query().Get("status"); s == "503" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// get is an Op sending GET url+query(worker, seq).
func get(url string, query func(worker int, seq uint64) string) Op {
	return func(ctx context.Context, worker int, seq uint64) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+query(worker, seq), nil)
		if err != nil {
			return 0, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
}

func TestRun(t *testing.T) {
	t.Run("OK every request counted once", func(t *testing.T) {
		srv, served := server(t)
		var failing atomic.Int64
		op := get(srv.URL, func(_ int, seq uint64) string {
			if seq%5 == 4 {
				failing.Add(1)
				return "/?status=503&sleep=1ms"
			}
			return "/?sleep=1ms"
		})
		res, err := Run(context.Background(), Options{Workers: 4, Duration: 300 * time.Millisecond}, op)
		if err != nil {
			t.Fatal(err)
		}
		total := res.OK + res.ErrorCount()
		if total == 0 || int64(total) != served.Load() || res.Latency.Count() != total {
			t.Fatalf("ok %d + errors %d, latencies %d; the server answered %d", res.OK, res.ErrorCount(), res.Latency.Count(), served.Load())
		}
		if int64(res.Errors[503]) != failing.Load() || len(res.Errors) != 1 {
			t.Fatalf("errors %v, want 503:%d only", res.Errors, failing.Load())
		}
		if res.FirstError == nil || !strings.Contains(res.FirstError.Error(), "request 4: status 503") {
			t.Fatalf("first error = %v, want a worker's request 4 with status 503", res.FirstError)
		}
		if res.Latency.Quantile(0.5) < time.Millisecond {
			t.Fatalf("p50 %s is below the server's 1 ms sleep", res.Latency.Quantile(0.5))
		}
		if got, want := res.PerSecond(), float64(res.OK)/res.Elapsed.Seconds(); got != want || res.Workers != 4 {
			t.Fatalf("rate %f, want %f; workers %d", got, want, res.Workers)
		}
	})
	t.Run("OK requests in flight at the end finish", func(t *testing.T) {
		srv, served := server(t)
		op := get(srv.URL, func(int, uint64) string { return "/?sleep=400ms" })
		res, err := Run(context.Background(), Options{Workers: 3, Duration: 50 * time.Millisecond}, op)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK != 3 || res.Errors != nil || served.Load() != 3 {
			t.Fatalf("ok %d errors %v served %d, want 3 answered requests", res.OK, res.Errors, served.Load())
		}
		if res.Elapsed < 400*time.Millisecond {
			t.Fatalf("elapsed %s does not include the last answers", res.Elapsed)
		}
	})
	t.Run("OK no answer counts as status 0", func(t *testing.T) {
		srv, _ := server(t)
		url := srv.URL
		srv.Close()
		res, err := Run(context.Background(), Options{Workers: 2, Duration: 50 * time.Millisecond}, get(url, func(int, uint64) string { return "/" }))
		if err != nil {
			t.Fatal(err)
		}
		if res.OK != 0 || res.Errors[0] == 0 || res.Errors[0] != res.ErrorCount() || res.FirstError == nil {
			t.Fatalf("ok %d errors %v first %v, want only status-0 errors", res.OK, res.Errors, res.FirstError)
		}
	})
	t.Run("ErrCancelled", func(t *testing.T) {
		srv, _ := server(t)
		ctx, cancel := context.WithCancelCause(context.Background())
		time.AfterFunc(100*time.Millisecond, func() { cancel(errors.New("operator stopped it")) })
		t0 := time.Now()
		res, err := Run(ctx, Options{Workers: 2, Duration: time.Minute}, get(srv.URL, func(int, uint64) string { return "/?sleep=5ms" }))
		if err == nil || !strings.Contains(err.Error(), "operator stopped it") || res == nil {
			t.Fatalf("err = %v, res = %v; want the cancellation's cause and the partial result", err, res)
		}
		if time.Since(t0) > 10*time.Second {
			t.Fatalf("the run went on %s after cancellation", time.Since(t0))
		}
	})
}

func TestOptionsValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    Options
		want []string
	}{
		{"OK", Options{Workers: 1, Duration: time.Second}, nil},
		{"ErrWorkers", Options{Workers: 0, Duration: time.Second}, []string{"workers must be at least 1"}},
		{"ErrDuration", Options{Workers: 2, Duration: -time.Second}, []string{"duration must be positive"}},
		{"ErrBoth", Options{}, []string{"workers", "duration"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if (err == nil) != (tt.want == nil) {
				t.Fatalf("Validate() = %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v does not say %q", err, w)
				}
			}
			if tt.want != nil {
				if _, err := Run(context.Background(), tt.o, nil); err == nil {
					t.Errorf("Run accepted %+v", tt.o)
				}
			}
		})
	}
}

func TestErrorSummary(t *testing.T) {
	for _, tt := range []struct {
		name   string
		errors map[int]uint64
		want   string
		count  uint64
	}{
		{"none", nil, "0", 0},
		{"one", map[int]uint64{503: 2}, "503:2", 2},
		{"sorted", map[int]uint64{503: 1, 0: 3, 409: 2}, "0:3,409:2,503:1", 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &Result{Errors: tt.errors}
			if got := r.ErrorSummary(); got != tt.want {
				t.Errorf("ErrorSummary() = %q, want %q", got, tt.want)
			}
			if got := r.ErrorCount(); got != tt.count {
				t.Errorf("ErrorCount() = %d, want %d", got, tt.count)
			}
		})
	}
}
