package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"coffer/internal/verify"
)

func TestVerifyCommandRefusals(t *testing.T) {
	store := filepath.Join(t.TempDir(), "devices.enc")
	env := func(pass string, stdin string) (Env, *bytes.Buffer) {
		var out bytes.Buffer
		return Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &out, Getenv: func(k string) string {
			if k == "COFFER_VERIFY_PASSPHRASE" {
				return pass
			}
			return ""
		}}, &out
	}
	// A store made with one passphrase.
	if err := verify.Save(store, &verify.State{}, []byte("right passphrase")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		pass, in   string
		code       int
		wantOutput string
	}{
		{"no subcommand", []string{"verify"}, "", "", 2, "Usage:"},
		{"unknown subcommand", []string{"verify", "frob"}, "", "", 2, "unknown verify command"},
		{"pair without link", []string{"verify", "pair", "--store", store}, "", "", 2, "give exactly one pairing link"},
		{"pair with two links", []string{"verify", "pair", "a", "b", "--store", store}, "", "", 2, "give exactly one pairing link"},
		{"pair with a bad link", []string{"verify", "pair", "http://x/verify/pair#abc", "--store", store}, "right passphrase", "", 1, "not a Coffer Verify pairing link"},
		{"wrong passphrase", []string{"verify", "list", "--store", store}, "wrong passphrase", "", 1, "wrong passphrase"},
		{"passphrase from stdin", []string{"verify", "list", "--store", store}, "", "right passphrase\n", 0, "No account is paired"},
		{"code with nothing paired", []string{"verify", "code", "--store", store}, "right passphrase", "", 1, "no account is paired"},
		{"new store needs a long passphrase", []string{"verify", "list", "--store", store + ".new"}, "", "short\n", 1, "8 characters"},
		{"new store passphrases must match", []string{"verify", "list", "--store", store + ".new"}, "", "long enough one\nanother one\n", 1, "differ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, out := env(tt.pass, tt.in)
			if code := Run(context.Background(), tt.args, e); code != tt.code || !strings.Contains(out.String(), tt.wantOutput) {
				t.Fatalf("exit %d (want %d), output:\n%s", code, tt.code, out.String())
			}
		})
	}
}
