package s3target_test

import (
	"path"
	"strings"
	"testing"

	"coffer/internal/backup/s3target"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		raw            string
		bucket, prefix string
		wantErr        string
	}{
		{raw: "s3://coffer", bucket: "coffer"},
		{raw: "s3://coffer/", bucket: "coffer"},
		{raw: "s3://coffer/site-a/backups/", bucket: "coffer", prefix: "site-a/backups"},
		{raw: "s3://my.bucket-1/x", bucket: "my.bucket-1", prefix: "x"},
		{raw: "s3://key:secret@coffer/x", wantErr: "credentials do not belong in the URL"},
		{raw: "s3://coffer/x?region=eu", wantErr: "without query"},
		{raw: "s3://coffer/x#frag", wantErr: "without query"},
		{raw: "s3://127.0.0.1:9000/coffer", wantErr: "the endpoint is a separate option"},
		{raw: "https://coffer/x", wantErr: "scheme must be s3://"},
		{raw: "s3://Coffer/x", wantErr: "lowercase"},
		{raw: "s3://ab/x", wantErr: "3 to 63"},
		{raw: "s3://192.168.1.10/x", wantErr: "IP address"},
		{raw: "s3://coffer/a/../b", wantErr: `".." path segment`},
		{raw: "s3://coffer/a%2F..%2Fb", wantErr: `".." path segment`},
		{raw: "s3://coffer/a//b", wantErr: "empty path segment"},
		{raw: "s3:coffer", wantErr: "s3://bucket/prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			b, p, err := s3target.ParseURL(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b != tt.bucket || p != tt.prefix {
				t.Errorf("= %q, %q; want %q, %q", b, p, tt.bucket, tt.prefix)
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"manifest.json", true},
		{"20261125T160000Z-3f2a/manifest.json", true},
		{"a/b/c.d", true},
		{"é/ünïcode", true},
		{"", false},
		{"/abs", false},
		{"trailing/", false},
		{"a//b", false},
		{"./a", false},
		{"a/..", false},
		{"..", false},
		{"back\\slash", false},
		{"tab\there", false},
		{"bad\xffutf8", false},
		{strings.Repeat("a", 1025), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s3target.ValidateName(tt.name)
			if (err == nil) != tt.ok {
				t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			}
		})
	}
}

// FuzzParseURL: ParseURL never panics; what it accepts is a valid bucket
// and a clean prefix, and formatting them back parses to the same.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"s3://coffer", "s3://coffer/a/b/", "s3://u:p@b/x", "s3://b/x?y#z", "s3://1.2.3.4/", "s3://coffer/%2e%2e/x", "s3:///x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		b, p, err := s3target.ParseURL(raw)
		if err != nil {
			return
		}
		if err := s3target.ValidateBucket(b); err != nil {
			t.Fatalf("ParseURL(%q) accepted bucket %q: %v", raw, b, err)
		}
		if p != "" {
			if err := s3target.ValidateName(p); err != nil {
				t.Fatalf("ParseURL(%q) accepted prefix %q: %v", raw, p, err)
			}
		}
		b2, p2, err := s3target.ParseURL("s3://" + b + "/" + p)
		if err != nil || b2 != b || p2 != p {
			t.Fatalf("ParseURL(%q) = %q, %q; formatted back it gives %q, %q, %v", raw, b, p, b2, p2, err)
		}
	})
}

// FuzzValidateName: an accepted name is relative and clean, so that under
// any prefix its key stays under that prefix and no two names share a key.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../a", "a/./b", "/a", "a/", "a\x00b", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if s3target.ValidateName(name) != nil {
			return
		}
		key := "prefix/" + name
		if path.Clean(key) != key || !strings.HasPrefix(path.Clean(key), "prefix/") {
			t.Fatalf("accepted name %q makes key %q, which is not clean", name, key)
		}
		if strings.ContainsAny(name, "\\\x00\n\r") {
			t.Fatalf("accepted name %q holds a control character or backslash", name)
		}
	})
}
