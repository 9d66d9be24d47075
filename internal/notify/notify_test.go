package notify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDirWritesOneFilePerMessage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	d, err := NewDir(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	d.Now = func() time.Time { return time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC) }
	for i := 0; i < 2; i++ {
		if err := d.Notify(context.Background(), Message{To: "ann@example.com", Subject: "A security key was added", Text: "line one\nline two", Kind: "factor.added"}); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("want 2 messages, got %d", len(entries))
	}
	info, _ := entries[0].Info()
	if info.Mode().Perm() != 0o600 {
		t.Errorf("message mode %v, want 0600", info.Mode().Perm())
	}
	b, _ := os.ReadFile(filepath.Join(dir, entries[0].Name()))
	for _, want := range []string{"To: ann@example.com\r\n", "Subject: A security key was added\r\n", "X-Coffer-Event: factor.added\r\n", "\r\n\r\nline one\r\nline two"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("message lacks %q:\n%s", want, b)
		}
	}
}

func TestMessageValidateRefusesHeaderInjection(t *testing.T) {
	for _, m := range []Message{
		{To: "", Subject: "s"},
		{To: "a@example.com\r\nBcc: evil@example.com", Subject: "s"},
		{To: "a@example.com", Subject: "s\nBcc: evil@example.com"},
		{To: "a@example.com", Subject: ""},
	} {
		if err := m.Validate(); err == nil {
			t.Errorf("%+v: accepted", m)
		}
	}
}
