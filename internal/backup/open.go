package backup

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"coffer/internal/backup/s3target"
)

// Environment variables of an s3:// target. The credentials never go in
// the URL, so that the URL can be shown and logged.
const (
	EnvS3Endpoint   = "COFFER_S3_ENDPOINT"   // host:port, or https://host[:port] (http:// only for loopback tests)
	EnvS3AccessKey  = "COFFER_S3_ACCESS_KEY" // required
	EnvS3SecretKey  = "COFFER_S3_SECRET_KEY" // required
	EnvS3Region     = "COFFER_S3_REGION"     // optional
	EnvS3CAFile     = "COFFER_S3_CA_FILE"    // optional PEM file of CAs to trust
	EnvS3ObjectLock = "COFFER_S3_LOCK_DAYS"  // optional: write objects under retention for N days
)

// OpenTarget opens the target named by rawURL: a plain directory path,
// file:///abs/path, or s3://bucket/prefix (endpoint and credentials from
// env, see EnvS3Endpoint…).
func OpenTarget(ctx context.Context, rawURL string, env func(string) string) (Target, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	switch {
	case rawURL == "":
		return nil, fmt.Errorf("empty backup target")
	case strings.HasPrefix(rawURL, "file:"):
		u, err := url.Parse(rawURL)
		if err != nil || (u.Host != "" && u.Host != "localhost") || u.Path == "" || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("backup target %q: want file:///absolute/path", rawURL)
		}
		return NewDir(u.Path)
	case strings.HasPrefix(rawURL, "s3:"):
		return openS3(ctx, rawURL, env)
	case strings.Contains(rawURL, "://"):
		return nil, fmt.Errorf("backup target %q: use a directory, file:///path or s3://bucket/prefix", rawURL)
	default:
		return NewDir(rawURL)
	}
}

func openS3(ctx context.Context, rawURL string, env func(string) string) (Target, error) {
	bucket, prefix, err := s3target.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	o := s3target.Options{
		Bucket: bucket, Prefix: prefix, Secure: true,
		AccessKey: env(EnvS3AccessKey), SecretKey: env(EnvS3SecretKey),
		Region: env(EnvS3Region), CAFile: env(EnvS3CAFile),
	}
	ep := env(EnvS3Endpoint)
	switch {
	case strings.HasPrefix(ep, "https://"):
		o.Endpoint = strings.TrimSuffix(strings.TrimPrefix(ep, "https://"), "/")
	case strings.HasPrefix(ep, "http://"):
		o.Endpoint, o.Secure = strings.TrimSuffix(strings.TrimPrefix(ep, "http://"), "/"), false
	default:
		o.Endpoint = ep
	}
	if o.Endpoint == "" {
		return nil, fmt.Errorf("backup target %s: set %s (host:port of the S3 endpoint), %s and %s", rawURL, EnvS3Endpoint, EnvS3AccessKey, EnvS3SecretKey)
	}
	if v := env(EnvS3ObjectLock); v != "" {
		days, err := strconv.Atoi(v)
		if err != nil || days < 1 {
			return nil, fmt.Errorf("%s=%q: want a number of days", EnvS3ObjectLock, v)
		}
		o.ObjectLock, o.RetainDays = true, days
	}
	t, err := s3target.New(ctx, o)
	if err != nil {
		return nil, err
	}
	return t, nil
}

var _ Target = (*s3target.Target)(nil)
