package s3target

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxKey is S3's limit on a key's length in bytes.
const maxKey = 1024

// ValidateName checks an object name: slash-separated, relative, without
// empty, "." or ".." segments, control characters or invalid UTF-8, so that
// every name maps to exactly one key and never escapes the prefix.
func ValidateName(name string) error {
	if name == "" {
		return errors.New("empty object name")
	}
	if err := validatePath(name); err != nil {
		return fmt.Errorf("object name %q: %w", name, err)
	}
	return nil
}

func validatePath(p string) error {
	if len(p) > maxKey {
		return fmt.Errorf("longer than %d bytes", maxKey)
	}
	if !utf8.ValidString(p) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return errors.New("control character or backslash")
		}
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return errors.New("empty path segment (leading, trailing or double slash)")
		case ".", "..":
			return fmt.Errorf("%q path segment", seg)
		}
	}
	return nil
}

// cleanPrefix returns the key prefix for a target prefix: "" or a valid path
// ending with "/". Surrounding slashes are tolerated ("/backups/").
func cleanPrefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	if err := validatePath(p); err != nil {
		return "", fmt.Errorf("S3 prefix %q: %w", p, err)
	}
	return p + "/", nil
}

// ValidateBucket checks a bucket name against S3's rules: 3 to 63
// lowercase letters, digits, dots and hyphens, starting and ending with a
// letter or digit, no "..", and not an IP address.
func ValidateBucket(b string) error {
	if b == "" {
		return errors.New("the S3 bucket is missing")
	}
	bad := func(why string) error { return fmt.Errorf("S3 bucket %q: %s", b, why) }
	if len(b) < 3 || len(b) > 63 {
		return bad("a bucket name has 3 to 63 characters")
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return bad("only lowercase letters, digits, dots and hyphens are allowed")
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return bad("must start and end with a letter or digit")
	}
	if strings.Contains(b, "..") || strings.Contains(b, ".-") || strings.Contains(b, "-.") {
		return bad("dots cannot be next to each other or to a hyphen")
	}
	if looksLikeIPv4(b) {
		return bad("cannot look like an IP address")
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func looksLikeIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}

// ParseURL reads a target URL "s3://bucket/prefix" into the bucket and the
// prefix (without surrounding slashes). The endpoint, credentials and other
// options come from flags or the environment, never from the URL, so that
// the URL can be shown and logged: a URL with user information, a query or
// a fragment is refused.
func ParseURL(raw string) (bucket, prefix string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("S3 target URL: %w", err)
	}
	if u.Scheme != "s3" {
		return "", "", fmt.Errorf("S3 target URL %q: the scheme must be s3://", u.Redacted())
	}
	if u.User != nil {
		return "", "", errors.New("S3 target URL: credentials do not belong in the URL: give them in the environment (or flags)")
	}
	if u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.HasSuffix(raw, "#") {
		return "", "", fmt.Errorf("S3 target URL %q: write it as s3://bucket/prefix, without query or fragment; other options are flags", raw)
	}
	if u.Port() != "" || strings.Contains(u.Host, ":") {
		return "", "", fmt.Errorf("S3 target URL %q: the host part is the bucket; the endpoint is a separate option", raw)
	}
	if err := ValidateBucket(u.Host); err != nil {
		return "", "", err
	}
	p, err := cleanPrefix(u.Path)
	if err != nil {
		return "", "", err
	}
	return u.Host, strings.TrimSuffix(p, "/"), nil
}
