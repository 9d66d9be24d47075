package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpsConfig(t *testing.T) {
	const good = "f3a1c0d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1"
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodFile := write("good", good+"\n")
	shortFile := write("short", "0123456789abcdef\n")
	spaceFile := write("space", "0123456789abcdef 0123456789abcdef0\n")
	tests := []struct {
		name      string
		env, file string
		drain     time.Duration
		shutdown  time.Duration
		wantToken string
		wantErr   string
	}{
		{name: "no token: /metrics off", shutdown: 30 * time.Second},
		{name: "token from the environment", env: "  " + good + "\n", shutdown: 30 * time.Second, wantToken: good},
		{name: "token from a file, line feed trimmed", file: goodFile, shutdown: 30 * time.Second, wantToken: good},
		{name: "both", env: good, file: goodFile, shutdown: 30 * time.Second, wantErr: "not both"},
		{name: "short token", file: shortFile, shutdown: 30 * time.Second, wantErr: "shorter than 32"},
		{name: "short token in the environment", env: "short", shutdown: 30 * time.Second, wantErr: "$COFFER_METRICS_TOKEN is shorter"},
		{name: "token with a space", file: spaceFile, shutdown: 30 * time.Second, wantErr: "printable ASCII"},
		{name: "missing file", file: filepath.Join(dir, "none"), shutdown: 30 * time.Second, wantErr: "--metrics-token-file"},
		{name: "negative drain delay", drain: -time.Second, shutdown: 30 * time.Second, wantErr: "--drain-delay"},
		{name: "zero shutdown timeout", shutdown: 0, wantErr: "--shutdown-timeout"},
		{name: "drain delay and timeout", drain: 10 * time.Second, shutdown: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := opsConfig{envToken: tt.env, MetricsTokenFile: tt.file, DrainDelay: tt.drain, ShutdownTimeout: tt.shutdown}
			err := c.validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("validate() = %v, want an error containing %q", err, tt.wantErr)
				}
				for _, secret := range []string{good, "0123456789abcdef"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("the error shows the token: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tok, err := c.metricsToken()
			if err != nil || tok != tt.wantToken {
				t.Fatalf("metricsToken() = %q, %v; want %q", tok, err, tt.wantToken)
			}
		})
	}
}

func TestServeOpsFlags(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		c := DefaultServeConfig(Env{Getenv: func(k string) string {
			if k == envMetricsToken {
				return "from the environment"
			}
			return ""
		}})
		if c.Ops.DrainDelay != 0 || c.Ops.ShutdownTimeout != 30*time.Second || c.Ops.envToken != "from the environment" {
			t.Errorf("defaults = %+v", c.Ops)
		}
	})
	t.Run("help", func(t *testing.T) {
		var out strings.Builder
		env := Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
		if code := Run(context.Background(), []string{"serve", "-h"}, env); code != 0 {
			t.Fatalf("exit %d", code)
		}
		for _, want := range []string{"-metrics-token-file", "-drain-delay", "-shutdown-timeout", "(default 30s)", "GET /readyz", "COFFER_METRICS_TOKEN"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("serve -h lacks %q", want)
			}
		}
	})
	t.Run("invalid values refused at start", func(t *testing.T) {
		var out strings.Builder
		env := Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
		code := Run(context.Background(), []string{"serve", "--data", t.TempDir(), "--drain-delay", "-1s", "--shutdown-timeout", "0s"}, env)
		if code != 1 || !strings.Contains(out.String(), "--drain-delay") || !strings.Contains(out.String(), "--shutdown-timeout") {
			t.Fatalf("exit %d: %s", code, out.String())
		}
	})
}
