package s3target_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"coffer/internal/backup/s3target"
	"coffer/internal/testminio"
)

// options returns the Options of a target in bucket on srv.
func options(srv *testminio.Server, bucket, prefix string) s3target.Options {
	return s3target.Options{
		Endpoint:  srv.Endpoint,
		Secure:    srv.Secure,
		CAFile:    srv.CAFile,
		Bucket:    bucket,
		Prefix:    prefix,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
	}
}

func mustNew(tb testing.TB, o s3target.Options) *s3target.Target {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t, err := s3target.New(ctx, o)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return t
}

func mustPut(tb testing.TB, t *s3target.Target, name string, data []byte) {
	tb.Helper()
	if err := t.Put(context.Background(), name, bytes.NewReader(data), int64(len(data))); err != nil {
		tb.Fatalf("Put %s: %v", name, err)
	}
}

func mustGet(tb testing.TB, t *s3target.Target, name string) []byte {
	tb.Helper()
	rc, err := t.Get(context.Background(), name)
	if err != nil {
		tb.Fatalf("Get %s: %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatalf("read %s: %v", name, err)
	}
	return b
}

func mustList(tb testing.TB, t *s3target.Target, prefix string) []string {
	tb.Helper()
	names, err := t.List(context.Background(), prefix)
	if err != nil {
		tb.Fatalf("List %q: %v", prefix, err)
	}
	return names
}

func randomBytes(tb testing.TB, n int) []byte {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return b
}

// assertAbsent checks that nothing, not even an unfinished multipart upload,
// is stored under name.
func assertAbsent(tb testing.TB, srv *testminio.Server, t *s3target.Target, bucket, key, name string) {
	tb.Helper()
	if _, err := t.Get(context.Background(), name); !errors.Is(err, fs.ErrNotExist) {
		tb.Errorf("Get %s after a failed put: err = %v, want fs.ErrNotExist", name, err)
	}
	for u := range srv.Client(tb).ListIncompleteUploads(context.Background(), bucket, key, true) {
		if u.Err != nil {
			tb.Fatalf("list incomplete uploads: %v", u.Err)
		}
		tb.Errorf("an unfinished multipart upload of %s was left behind (upload %s)", u.Key, u.UploadID)
	}
}

func TestTarget(t *testing.T) {
	srv := testminio.Start(t)
	srv.MakeBucket(t, "coffer", false)
	tgt := mustNew(t, options(srv, "coffer", "/site-a/backups/"))
	// A second target on the same bucket, another prefix: they must not
	// see each other's objects.
	other := mustNew(t, options(srv, "coffer", "site-b"))

	t.Run("Name", func(t *testing.T) {
		if got, want := tgt.Name(), "s3://coffer/site-a/backups"; got != want {
			t.Errorf("Name = %q, want %q", got, want)
		}
		if strings.Contains(tgt.Name(), srv.AccessKey) || strings.Contains(tgt.Name(), srv.SecretKey) {
			t.Errorf("Name %q shows a credential", tgt.Name())
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		files := map[string][]byte{
			"20261125T160000Z-aa/manifest.json": []byte(`{"v":1}`),
			"20261125T160000Z-aa/data.enc":      randomBytes(t, 100_000),
			"20261126T160000Z-bb/manifest.json": []byte(`{"v":2}`),
			"20261126T160000Z-bb/empty":         {},
		}
		for name, data := range files {
			mustPut(t, tgt, name, data)
		}
		mustPut(t, other, "20261125T160000Z-aa/manifest.json", []byte("other site"))
		for name, data := range files {
			if got := mustGet(t, tgt, name); !bytes.Equal(got, data) {
				t.Errorf("Get %s: %d bytes differ from the %d put", name, len(got), len(data))
			}
		}
		all := mustList(t, tgt, "")
		want := []string{
			"20261125T160000Z-aa/data.enc",
			"20261125T160000Z-aa/manifest.json",
			"20261126T160000Z-bb/empty",
			"20261126T160000Z-bb/manifest.json",
		}
		if !slices.Equal(all, want) {
			t.Errorf("List = %q, want %q", all, want)
		}
		if got := mustList(t, tgt, "20261126"); !slices.Equal(got, want[2:]) {
			t.Errorf("List(20261126) = %q, want %q", got, want[2:])
		}
		if got := mustList(t, tgt, "nothing-here/"); len(got) != 0 {
			t.Errorf("List(nothing-here/) = %q, want none", got)
		}
		// An overwrite replaces the whole object.
		mustPut(t, tgt, "20261125T160000Z-aa/manifest.json", []byte(`{"v":3}`))
		if got := mustGet(t, tgt, "20261125T160000Z-aa/manifest.json"); string(got) != `{"v":3}` {
			t.Errorf("after overwrite Get = %q", got)
		}
		if got := mustGet(t, other, "20261125T160000Z-aa/manifest.json"); string(got) != "other site" {
			t.Errorf("the other prefix's object = %q", got)
		}
		// The objects are where an operator looks for them.
		if _, err := srv.Client(t).StatObject(context.Background(), "coffer", "site-a/backups/20261126T160000Z-bb/manifest.json", minio.StatObjectOptions{}); err != nil {
			t.Errorf("the object is not at prefix/name in the bucket: %v", err)
		}
		for name := range files {
			if err := tgt.Delete(context.Background(), name); err != nil {
				t.Fatalf("Delete %s: %v", name, err)
			}
		}
		if got := mustList(t, tgt, ""); len(got) != 0 {
			t.Errorf("after Delete List = %q", got)
		}
		if got := mustList(t, other, ""); len(got) != 1 {
			t.Errorf("Delete reached the other prefix: it lists %q", got)
		}
	})

	t.Run("ErrNotExist", func(t *testing.T) {
		_, err := tgt.Get(context.Background(), "missing/manifest.json")
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Get missing: err = %v, want fs.ErrNotExist", err)
		}
		if !strings.Contains(err.Error(), "s3://coffer/site-a/backups") || !strings.Contains(err.Error(), "missing/manifest.json") {
			t.Errorf("error %q does not name the target and object", err)
		}
	})

	t.Run("DeleteIdempotent", func(t *testing.T) {
		mustPut(t, tgt, "once", []byte("x"))
		for i := range 2 {
			if err := tgt.Delete(context.Background(), "once"); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
		}
		if err := tgt.Delete(context.Background(), "never-existed"); err != nil {
			t.Fatalf("Delete of a missing object: %v", err)
		}
	})

	t.Run("BadNames", func(t *testing.T) {
		for _, name := range []string{"", "/abs", "a//b", "../escape", "a/./b", "trailing/", "nul\x00"} {
			if err := tgt.Put(context.Background(), name, strings.NewReader("x"), 1); err == nil {
				t.Errorf("Put %q succeeded, want an error", name)
			}
			if _, err := tgt.Get(context.Background(), name); err == nil || errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Get %q: err = %v, want a name error", name, err)
			}
		}
	})

	t.Run("Large", func(t *testing.T) {
		// 20 MiB is more than the 16 MiB part size: a multipart upload,
		// with a known size and as a stream of unknown size.
		data := randomBytes(t, 20<<20+12345)
		for _, tc := range []struct {
			name string
			size int64
		}{
			{"known-size", int64(len(data))},
			{"unknown-size", -1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				name := "large/" + tc.name
				r := struct{ io.Reader }{bytes.NewReader(data)} // not seekable, as a pipe from the encrypter
				if err := tgt.Put(context.Background(), name, r, tc.size); err != nil {
					t.Fatalf("Put: %v", err)
				}
				info, err := srv.Client(t).StatObject(context.Background(), "coffer", "site-a/backups/"+name, minio.StatObjectOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(info.ETag, "-") {
					t.Errorf("ETag %q: want a multipart upload's (with a part count)", info.ETag)
				}
				got := mustGet(t, tgt, name)
				if sha256.Sum256(got) != sha256.Sum256(data) {
					t.Fatalf("Get returned %d bytes that differ from the %d put", len(got), len(data))
				}
				if err := tgt.Delete(context.Background(), name); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
}

// failingReader gives n bytes, then fails.
type failingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	if int64(len(p)) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= int64(n)
	return n, err
}

// TestPutFailure: a reader that fails midway, a reader shorter than the
// size it announced, or a context cancelled mid-upload never leave an
// object (nor unfinished parts) under the name, and the previous good
// object under that name stays intact.
func TestPutFailure(t *testing.T) {
	srv := testminio.Start(t)
	srv.MakeBucket(t, "coffer", false)
	tgt := mustNew(t, options(srv, "coffer", "p"))
	data := randomBytes(t, 40<<20)
	errDisk := errors.New("disk read error")

	tests := []struct {
		name   string
		size   int64
		give   int64 // bytes the reader gives before failing
		err    error // its error, io.EOF for a short reader
		cancel time.Duration
	}{
		{name: "single put, reader fails", size: 1 << 20, give: 512 << 10, err: errDisk},
		{name: "multipart known size, fails in 2nd part", size: 40 << 20, give: 20 << 20, err: errDisk},
		{name: "multipart unknown size, fails in 2nd part", size: -1, give: 20 << 20, err: errDisk},
		{name: "unknown size, fails in 3rd part", size: -1, give: 35 << 20, err: errDisk},
		{name: "short reader, single put", size: 1 << 20, give: 1000, err: io.EOF},
		{name: "short reader, multipart", size: 40 << 20, give: 20 << 20, err: io.EOF},
		{name: "context cancelled mid-upload", size: -1, give: 40 << 20, err: io.EOF, cancel: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "b/" + strings.ReplaceAll(tt.name, " ", "-")
			key := "p/" + name
			good := []byte("the last good backup")
			mustPut(t, tgt, name+".keep", good)
			if tt.size >= 0 && tt.err == errDisk {
				// An overwrite that fails keeps the old object.
				mustPut(t, tgt, name, good)
			}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var r io.Reader = &failingReader{r: bytes.NewReader(data), n: tt.give, err: tt.err}
			if tt.cancel != 0 {
				// Cancel once the first part is on its way.
				r = &cancelAfter{r: r, n: 20 << 20, cancel: cancel}
			}
			err := tgt.Put(ctx, name, r, tt.size)
			if err == nil {
				t.Fatal("Put succeeded, want an error")
			}
			if !strings.Contains(err.Error(), "s3://coffer/p") {
				t.Errorf("error %q does not name the target", err)
			}
			if tt.size >= 0 && tt.err == errDisk {
				if got := mustGet(t, tgt, name); !bytes.Equal(got, good) {
					t.Errorf("the failed overwrite changed the object to %d bytes", len(got))
				}
				if err := tgt.Delete(context.Background(), name); err != nil {
					t.Fatal(err)
				}
			}
			assertAbsent(t, srv, tgt, "coffer", key, name)
			if got := mustGet(t, tgt, name+".keep"); !bytes.Equal(got, good) {
				t.Errorf("the other object changed")
			}
		})
	}
}

// cancelAfter cancels a context once n bytes were read.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n -= int64(n)
	if c.n <= 0 {
		c.cancel()
	}
	return n, err
}

// TestCorruptedInTransit puts a proxy between the target and MinIO that
// flips one byte of every upload's body: MinIO must refuse the upload, and
// nothing may be stored. Over HTTP the streaming signature of each chunk
// catches it; over HTTPS (TLS ends at the proxy, as at a corrupting load
// balancer) the payload is unsigned and the Content-MD5 catches it.
func TestCorruptedInTransit(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(map[bool]string{false: "HTTP", true: "HTTPS"}[secure], func(t *testing.T) {
			start := testminio.Start
			if secure {
				start = testminio.StartTLS
			}
			srv := start(t)
			srv.MakeBucket(t, "coffer", false)
			upstream, _ := url.Parse(map[bool]string{false: "http://", true: "https://"}[secure] + srv.Endpoint)
			proxy := httputil.NewSingleHostReverseProxy(upstream)
			proxy.Transport = srv.Transport()
			// The Host header stays the proxy's: the client signed it.
			flip := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPut && r.ContentLength != 0 {
					r.Body = &flipper{rc: r.Body, at: 1000}
				}
				proxy.ServeHTTP(w, r)
			})
			o := options(srv, "coffer", "p")
			o.Retries = 1
			var ps *httptest.Server
			if secure {
				ps = httptest.NewTLSServer(flip)
				o.CAFile = filepath.Join(t.TempDir(), "proxy.pem")
				if err := os.WriteFile(o.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ps.Certificate().Raw}), 0o600); err != nil {
					t.Fatal(err)
				}
			} else {
				ps = httptest.NewServer(flip)
			}
			defer ps.Close()
			o.Endpoint = ps.Listener.Addr().String()
			tgt := mustNew(t, o)
			direct := mustNew(t, options(srv, "coffer", "p"))
			for i, size := range []int64{64 << 10, 20 << 20, -1} {
				data := randomBytes(t, 20<<20)
				if size >= 0 {
					data = data[:size]
				}
				name := "corrupt-" + strconv.Itoa(i)
				err := tgt.Put(context.Background(), name, bytes.NewReader(data), size)
				if err == nil {
					t.Fatalf("size %d: a corrupted upload was accepted", size)
				}
				t.Logf("size %d: %v", size, err)
				if !strings.Contains(err.Error(), "damaged") {
					t.Errorf("size %d: error %q does not say the data was damaged", size, err)
				}
				assertAbsent(t, srv, direct, "coffer", "p/"+name, name)
			}
		})
	}
}

// flipper flips the byte at offset at.
type flipper struct {
	rc  io.ReadCloser
	off int64
	at  int64
}

func (f *flipper) Read(p []byte) (int, error) {
	n, err := f.rc.Read(p)
	if f.at >= f.off && f.at < f.off+int64(n) {
		p[f.at-f.off] ^= 0x01
	}
	f.off += int64(n)
	return n, err
}

func (f *flipper) Close() error { return f.rc.Close() }

// TestObjectLock writes backups under retention in a bucket made with
// object locking: deleting one fails, clearly, and it stays readable.
func TestObjectLock(t *testing.T) {
	srv := testminio.Start(t)
	srv.MakeBucket(t, "locked", true)
	srv.MakeBucket(t, "unlocked", false)
	now := time.Now()

	for _, mode := range []string{s3target.Governance, s3target.Compliance} {
		t.Run(mode, func(t *testing.T) {
			o := options(srv, "locked", strings.ToLower(mode))
			o.ObjectLock, o.LockMode, o.RetainDays = true, mode, 7
			tgt := mustNew(t, o)
			mustPut(t, tgt, "b1/data.enc", []byte("immutable"))

			m, until, err := srv.Client(t).GetObjectRetention(context.Background(), "locked", strings.ToLower(mode)+"/b1/data.enc", "")
			if err != nil {
				t.Fatalf("GetObjectRetention: %v", err)
			}
			if string(*m) != mode {
				t.Errorf("retention mode %s, want %s", *m, mode)
			}
			if want := now.Add(7 * 24 * time.Hour); until.Before(want.Add(-time.Minute)) || until.After(want.Add(time.Minute)) {
				t.Errorf("retained until %s, want about %s", until, want)
			}

			err = tgt.Delete(context.Background(), "b1/data.enc")
			if !errors.Is(err, s3target.ErrLocked) {
				t.Fatalf("Delete of a retained object: err = %v, want ErrLocked", err)
			}
			for _, want := range []string{"s3://locked/", "locked", mode, "cannot be deleted before"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if got := mustGet(t, tgt, "b1/data.enc"); string(got) != "immutable" {
				t.Errorf("after the refused Delete, Get = %q", got)
			}
			if got := mustList(t, tgt, ""); !slices.Equal(got, []string{"b1/data.enc"}) {
				t.Errorf("List = %q", got)
			}
		})
	}

	t.Run("VersionedWithoutRetention", func(t *testing.T) {
		// In a versioned bucket Delete removes every version, not just
		// hides the object behind a delete marker.
		tgt := mustNew(t, options(srv, "locked", "plain"))
		mustPut(t, tgt, "x", []byte("1"))
		mustPut(t, tgt, "x", []byte("2"))
		if err := tgt.Delete(context.Background(), "x"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		n := 0
		for v := range srv.Client(t).ListObjects(context.Background(), "locked", minio.ListObjectsOptions{Prefix: "plain/", WithVersions: true}) {
			if v.Err != nil {
				t.Fatal(v.Err)
			}
			n++
		}
		if n != 0 {
			t.Errorf("%d versions or delete markers are left", n)
		}
	})

	t.Run("BucketWithoutLock", func(t *testing.T) {
		o := options(srv, "unlocked", "")
		o.ObjectLock, o.RetainDays = true, 7
		_, err := s3target.New(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "no object lock") {
			t.Fatalf("New with object lock on a bucket without it: err = %v, want a clear error", err)
		}
	})
}

// TestNewErrors: what an operator gets wrong gives an error that names the
// target, says what to do, and never shows the secret key.
func TestNewErrors(t *testing.T) {
	srv := testminio.Start(t)
	srv.MakeBucket(t, "coffer", false)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedAddr := strings.TrimPrefix(closed.URL, "http://")
	closed.Close()

	tests := []struct {
		name string
		edit func(*s3target.Options)
		want string
	}{
		{"wrong secret key", func(o *s3target.Options) { o.SecretKey = "wrong-secret-key-123" }, "check the S3 access key and secret key"},
		{"wrong access key", func(o *s3target.Options) { o.AccessKey = "nobody" }, "check the S3 access key and secret key"},
		{"missing bucket", func(o *s3target.Options) { o.Bucket = "nope" }, `bucket "nope" does not exist`},
		{"nothing listening", func(o *s3target.Options) { o.Endpoint = closedAddr }, "cannot reach the S3 endpoint"},
		{"HTTPS to an HTTP server", func(o *s3target.Options) { o.Secure = true }, "s3://coffer/p"},
		{"invalid options", func(o *s3target.Options) { o.Endpoint = "https://x"; o.Bucket = "A"; o.SecretKey = "" }, "secret key are both required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := options(srv, "coffer", "p")
			o.Retries = 1
			tt.edit(&o)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := s3target.New(ctx, o)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), srv.SecretKey) || (o.SecretKey != "" && strings.Contains(err.Error(), o.SecretKey)) {
				t.Errorf("error %q shows the secret key", err)
			}
		})
	}
}

// TestTLS talks HTTPS to a MinIO with a self-signed certificate, trusted
// through the CA file only.
func TestTLS(t *testing.T) {
	srv := testminio.StartTLS(t)
	srv.MakeBucket(t, "coffer", false)
	tgt := mustNew(t, options(srv, "coffer", "tls"))
	data := randomBytes(t, 20<<20)
	if err := tgt.Put(context.Background(), "big", bytes.NewReader(data), -1); err != nil {
		t.Fatalf("Put over HTTPS: %v", err)
	}
	if !bytes.Equal(mustGet(t, tgt, "big"), data) {
		t.Fatal("Get over HTTPS returned other bytes")
	}

	o := options(srv, "coffer", "tls")
	o.CAFile = ""
	o.Retries = 1
	_, err := s3target.New(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("New without the CA file: err = %v, want a certificate error", err)
	}
}
