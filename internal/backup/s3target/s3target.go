// Package s3target stores backup objects in an S3-compatible bucket (Amazon
// S3, MinIO, Ceph RGW, Backblaze B2, Wasabi…) through minio-go.
//
// It implements backup.Target without importing package backup, so that
// backup.OpenTarget can import it. Every upload carries a Content-MD5 per
// request (per part for multipart uploads), so the store refuses a body
// damaged in transit; an upload that fails is aborted, so a failed Put never
// leaves an object, nor orphaned parts, under its name. With ObjectLock the
// objects are written under a retention period (WORM), so that a stolen
// credential or ransomware cannot delete or overwrite the backups before it
// ends.
package s3target

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Defaults for the zero values of Options.
const (
	// DefaultPartSize is the multipart part size, and so the memory one
	// upload of unknown size buffers; with S3's 10,000 parts it allows
	// objects up to 160 GiB.
	DefaultPartSize = 16 << 20
	// DefaultTimeout bounds the wait for the headers of each answer (not
	// the transfer of a body), so that a silent endpoint is noticed even
	// when the caller's context has no deadline.
	DefaultTimeout = time.Minute
	// DefaultRetries is how many times a request that failed on the
	// network or with a 5xx answer is tried in all.
	DefaultRetries = 3
)

// Retention modes for Options.LockMode.
const (
	// Governance retention can be lifted by a user holding the
	// s3:BypassGovernanceRetention permission, which Coffer never uses.
	Governance = "GOVERNANCE"
	// Compliance retention cannot be lifted by anyone, not even the root
	// account, until it ends.
	Compliance = "COMPLIANCE"
)

// Options configures a Target. Endpoint, Bucket, AccessKey and SecretKey
// are required.
type Options struct {
	// Endpoint is the store's host:port, without a scheme
	// ("s3.eu-central-1.amazonaws.com", "127.0.0.1:9000").
	Endpoint string
	// Secure speaks HTTPS to the endpoint.
	Secure bool
	// CAFile is a PEM file of certificates to trust besides the system's,
	// for a store with a self-signed or private CA certificate.
	CAFile string
	// Bucket is the bucket's name; it must exist.
	Bucket string
	// Prefix is the folder inside the bucket that holds the backups
	// ("" for the bucket's root).
	Prefix string
	// AccessKey and SecretKey are the credentials. They never appear in
	// Name, in errors or in logs.
	AccessKey string
	SecretKey string
	// Region is the bucket's region; empty lets the client ask the store.
	Region string

	// ObjectLock writes every object with a retention period of RetainDays
	// in LockMode (Governance when empty). The bucket must have been
	// created with object locking enabled; New checks that.
	ObjectLock bool
	LockMode   string
	RetainDays int

	// PartSize is the multipart part size (DefaultPartSize when zero; at
	// least 5 MiB, S3's minimum).
	PartSize int64
	// Timeout bounds the wait for each answer's headers (DefaultTimeout
	// when zero).
	Timeout time.Duration
	// Retries is how many times a request is tried in all (DefaultRetries
	// when zero; 1 disables retries).
	Retries int
	// Now tells the time, for retention dates (time.Now when nil).
	Now func() time.Time
}

// Validate reports every problem with o at once.
func (o Options) Validate() error {
	var errs []error
	if o.Endpoint == "" {
		errs = append(errs, errors.New("the S3 endpoint is missing: give host:port"))
	} else if strings.Contains(o.Endpoint, "://") || strings.ContainsAny(o.Endpoint, "/?#@ ") {
		errs = append(errs, fmt.Errorf("S3 endpoint %q: give host:port only, without scheme, path or credentials (HTTPS is the secure option)", o.Endpoint))
	}
	if err := ValidateBucket(o.Bucket); err != nil {
		errs = append(errs, err)
	}
	if _, err := cleanPrefix(o.Prefix); err != nil {
		errs = append(errs, err)
	}
	if o.AccessKey == "" || o.SecretKey == "" {
		errs = append(errs, errors.New("the S3 access key and secret key are both required"))
	}
	if o.ObjectLock {
		switch o.LockMode {
		case "", Governance, Compliance:
		default:
			errs = append(errs, fmt.Errorf("S3 object lock mode %q: use %s or %s", o.LockMode, Governance, Compliance))
		}
		if o.RetainDays < 1 {
			errs = append(errs, errors.New("S3 object lock needs a retention of at least 1 day"))
		}
	} else if o.LockMode != "" || o.RetainDays != 0 {
		errs = append(errs, errors.New("an S3 lock mode or retention was given without object lock"))
	}
	if o.PartSize != 0 && (o.PartSize < 5<<20 || o.PartSize > 5<<30) {
		errs = append(errs, fmt.Errorf("S3 part size %d: S3 allows 5 MiB to 5 GiB", o.PartSize))
	}
	if o.Timeout < 0 || o.Retries < 0 {
		errs = append(errs, errors.New("the S3 timeout and retries cannot be negative"))
	}
	return errors.Join(errs...)
}

// Target is a bucket (and a prefix in it) holding backup objects. It is safe
// for concurrent use.
type Target struct {
	client    *minio.Client
	name      string
	bucket    string
	prefix    string // "" or ends with "/"
	partSize  uint64
	timeout   time.Duration
	lock      bool
	lockMode  minio.RetentionMode
	retention time.Duration
	now       func() time.Time
}

// New connects to the bucket o describes and checks that it exists, that
// the credentials open it and, with ObjectLock, that the bucket has object
// locking enabled.
func New(ctx context.Context, o Options) (*Target, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("s3 target: %w", err)
	}
	prefix, _ := cleanPrefix(o.Prefix)
	t := &Target{
		bucket:   o.Bucket,
		prefix:   prefix,
		partSize: uint64(o.PartSize),
		timeout:  o.Timeout,
		lock:     o.ObjectLock,
		now:      o.Now,
	}
	t.name = "s3://" + o.Bucket + "/" + strings.TrimSuffix(prefix, "/")
	if t.partSize == 0 {
		t.partSize = DefaultPartSize
	}
	if t.timeout == 0 {
		t.timeout = DefaultTimeout
	}
	if t.now == nil {
		t.now = time.Now
	}
	if o.ObjectLock {
		t.lockMode = minio.Governance
		if o.LockMode == Compliance {
			t.lockMode = minio.Compliance
		}
		t.retention = time.Duration(o.RetainDays) * 24 * time.Hour
	}
	retries := o.Retries
	if retries == 0 {
		retries = DefaultRetries
	}
	transport, err := t.transport(o)
	if err != nil {
		return nil, err
	}
	t.client, err = minio.New(o.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""),
		Secure:     o.Secure,
		Transport:  transport,
		Region:     o.Region,
		MaxRetries: retries,
	})
	if err != nil {
		return nil, t.fail("connect", "", err)
	}
	exists, err := t.client.BucketExists(ctx, t.bucket)
	if err != nil {
		return nil, t.fail("open bucket", "", err)
	}
	if !exists {
		return nil, fmt.Errorf("%s: bucket %q does not exist at %s: create it first (with object locking if backups must be immutable)", t.name, t.bucket, o.Endpoint)
	}
	if o.ObjectLock {
		enabled, _, _, _, err := t.client.GetObjectLockConfig(ctx, t.bucket)
		if err != nil && minio.ToErrorResponse(err).Code != "ObjectLockConfigurationNotFoundError" {
			return nil, t.fail("read object lock configuration", "", err)
		}
		if enabled != "Enabled" {
			return nil, fmt.Errorf("%s: bucket %q has no object lock enabled, so backups cannot be made immutable: use a bucket created with object locking, or turn object lock off", t.name, t.bucket)
		}
	}
	return t, nil
}

// transport is http.DefaultTransport's settings with the CA file trusted and
// a bound on the wait for answers.
func (t *Target) transport(o Options) (*http.Transport, error) {
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		ResponseHeaderTimeout: t.timeout,
		// Bodies are compressed and encrypted already; asking for gzip
		// would only make the store spend CPU.
		DisableCompression: true,
	}
	if o.Secure {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("%s: read the CA file: %w", t.name, err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: CA file %s holds no PEM certificate", t.name, o.CAFile)
			}
			tr.TLSClientConfig.RootCAs = pool
		}
	} else if o.CAFile != "" {
		return nil, fmt.Errorf("%s: a CA file was given but HTTPS is off: turn HTTPS on", t.name)
	}
	return tr, nil
}

// Name is "s3://bucket/prefix": no endpoint credentials, ever.
func (t *Target) Name() string { return t.name }

// Put uploads r under name. Objects up to the part size go in one PUT, larger
// or unknown-size ones in a multipart upload that is aborted if anything
// fails; either way the object appears complete or not at all. Each request
// carries a Content-MD5, so the store refuses a body damaged on the way.
func (t *Target) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	key, err := t.key(name)
	if err != nil {
		return err
	}
	opts := minio.PutObjectOptions{
		ContentType:    "application/octet-stream",
		SendContentMd5: true,
		PartSize:       t.partSize,
	}
	if t.lock {
		opts.Mode = t.lockMode
		opts.RetainUntilDate = t.now().Add(t.retention).UTC()
	}
	if size < -1 {
		return fmt.Errorf("%s: put %s: negative size %d", t.name, name, size)
	}
	info, err := t.client.PutObject(ctx, t.bucket, key, r, size, opts)
	if err != nil {
		return t.fail("put", name, err)
	}
	if size >= 0 && info.Size != size {
		// The client checks this too; a short object must never stand.
		_ = t.removeAll(context.WithoutCancel(ctx), key)
		return fmt.Errorf("%s: put %s: stored %d bytes of %d", t.name, name, info.Size, size)
	}
	return nil
}

// Get opens the object stored under name. A missing object gives an error
// matching fs.ErrNotExist.
func (t *Target) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	key, err := t.key(name)
	if err != nil {
		return nil, err
	}
	obj, err := t.client.GetObject(ctx, t.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, t.fail("get", name, err)
	}
	// GetObject is lazy: Stat sends the request, so that a missing object
	// is reported here rather than at the first Read.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, t.fail("get", name, err)
	}
	return &object{obj: obj, t: t, name: name}, nil
}

// object names the target in read errors.
type object struct {
	obj  *minio.Object
	t    *Target
	name string
}

func (o *object) Read(p []byte) (int, error) {
	n, err := o.obj.Read(p)
	if err != nil && err != io.EOF {
		err = o.t.fail("read", o.name, err)
	}
	return n, err
}

func (o *object) Close() error { return o.obj.Close() }

// List returns the names of the objects whose names start with prefix,
// sorted.
func (t *Target) List(ctx context.Context, prefix string) ([]string, error) {
	if strings.HasPrefix(prefix, "/") || strings.ContainsRune(prefix, 0) {
		return nil, fmt.Errorf("%s: list %q: a prefix is relative to the target", t.name, prefix)
	}
	var names []string
	for obj := range t.client.ListObjectsIter(ctx, t.bucket, minio.ListObjectsOptions{
		Prefix:    t.prefix + prefix,
		Recursive: true,
	}) {
		if obj.Err != nil {
			return nil, t.fail("list", prefix, obj.Err)
		}
		name, ok := strings.CutPrefix(obj.Key, t.prefix)
		if !ok || name == "" || strings.HasSuffix(name, "/") {
			continue // a folder marker some tools create
		}
		names = append(names, name)
	}
	if err := ctx.Err(); err != nil {
		return nil, t.fail("list", prefix, err)
	}
	slices.Sort(names)
	return names, nil
}

// Delete removes the object under name, every version of it in a versioned
// bucket (a delete marker alone would keep the data, and its cost, for
// ever). Deleting a missing object is not an error; deleting one still
// under retention is, and says until when.
func (t *Target) Delete(ctx context.Context, name string) error {
	key, err := t.key(name)
	if err != nil {
		return err
	}
	return t.removeAll(ctx, key)
}

func (t *Target) removeAll(ctx context.Context, key string) error {
	name := strings.TrimPrefix(key, t.prefix)
	var versions []minio.ObjectInfo
	for obj := range t.client.ListObjectsIter(ctx, t.bucket, minio.ListObjectsOptions{
		Prefix:       key,
		WithVersions: true,
	}) {
		if obj.Err != nil {
			return t.fail("delete", name, obj.Err)
		}
		if obj.Key == key {
			versions = append(versions, obj)
		}
	}
	if err := ctx.Err(); err != nil {
		return t.fail("delete", name, err)
	}
	for _, v := range versions {
		err := t.client.RemoveObject(ctx, t.bucket, key, minio.RemoveObjectOptions{VersionID: v.VersionID})
		if err == nil || minio.ToErrorResponse(err).Code == "NoSuchKey" || minio.ToErrorResponse(err).Code == "NoSuchVersion" {
			continue
		}
		// Stores word a refusal under retention differently (MinIO: 400
		// InvalidRequest "Object is WORM protected", S3: 403 AccessDenied),
		// so ask for the retention itself.
		if resp := minio.ToErrorResponse(err); resp.StatusCode >= 400 && resp.StatusCode < 500 {
			mode, until, rerr := t.client.GetObjectRetention(ctx, t.bucket, key, v.VersionID)
			if rerr == nil && until != nil && until.After(t.now()) {
				m := ""
				if mode != nil {
					m = string(*mode) + " "
				}
				return fmt.Errorf("%s: delete %s: the object is locked (%sretention) until %s, so it cannot be deleted before then: %w",
					t.name, name, m, until.UTC().Format(time.RFC3339), ErrLocked)
			}
		}
		return t.fail("delete", name, err)
	}
	return nil
}

// ErrLocked is matched (errors.Is) by the error of a Delete refused because
// the object is under retention.
var ErrLocked = errors.New("object under retention")

// key maps an object name to its key in the bucket.
func (t *Target) key(name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", fmt.Errorf("%s: %w", t.name, err)
	}
	return t.prefix + name, nil
}

// fail turns a client error into one that names the target, the operation
// and the object, and says what to do. It never includes credentials.
func (t *Target) fail(op, name string, err error) error {
	what := op
	if name != "" {
		what += " " + name
	}
	resp := minio.ToErrorResponse(err)
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case resp.Code == "NoSuchKey" || resp.Code == "NoSuchVersion":
		return fmt.Errorf("%s: %s: no such object: %w", t.name, what, fs.ErrNotExist)
	case resp.Code == "NoSuchBucket":
		return fmt.Errorf("%s: %s: bucket %q does not exist: create it or correct the target URL", t.name, what, t.bucket)
	case resp.Code == "SignatureDoesNotMatch" && op == "put":
		// A streaming upload signs every chunk: a chunk damaged on the
		// way fails its signature just like a wrong secret key would.
		return fmt.Errorf("%s: %s: the store refused the upload's signature (%s): check the S3 secret key; if it is right, the data was damaged on the way: retry", t.name, what, resp.Code)
	case resp.Code == "InvalidAccessKeyId" || resp.Code == "SignatureDoesNotMatch":
		return fmt.Errorf("%s: %s: the store refused the credentials (%s): check the S3 access key and secret key", t.name, what, resp.Code)
	case resp.Code == "AccessDenied" || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%s: %s: access denied (%s): check that the credentials may read, write, list and delete in the bucket", t.name, what, resp.Code)
	case resp.Code == "BadDigest" || resp.Code == "XAmzContentSHA256Mismatch" || resp.Code == "InvalidDigest":
		return fmt.Errorf("%s: %s: the store refused the upload because its checksum did not match (%s): the data was damaged on the way; retry", t.name, what, resp.Code)
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return fmt.Errorf("%s: %s: timed out waiting for the S3 endpoint: check that it is up and reachable: %w", t.name, what, context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %s: %w", t.name, what, context.Canceled)
	case errors.As(err, &certErr) || errors.As(err, &unknownAuthority) || errors.As(err, &hostErr):
		return fmt.Errorf("%s: %s: the S3 endpoint's TLS certificate is not trusted: give its CA certificate as the CA file: %w", t.name, what, err)
	case resp.StatusCode >= 500:
		code := ""
		if resp.Code != "" && !strings.HasPrefix(resp.Code, strconv.Itoa(resp.StatusCode)) {
			code = " (" + resp.Code + ")"
		}
		return fmt.Errorf("%s: %s: the S3 endpoint failed with %d %s%s, after retries: check the store's health and retry later",
			t.name, what, resp.StatusCode, http.StatusText(resp.StatusCode), code)
	case resp.StatusCode != 0:
		return fmt.Errorf("%s: %s: the S3 endpoint answered %d %s: %s", t.name, what, resp.StatusCode, resp.Code, resp.Message)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return fmt.Errorf("%s: %s: cannot reach the S3 endpoint: check its address and that it is running: %w", t.name, what, err)
	}
	return fmt.Errorf("%s: %s: %w", t.name, what, err)
}
