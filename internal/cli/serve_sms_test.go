package cli

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"coffer/internal/sms"
)

func TestSMSConfig_Validate(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cfg     smsConfig
		wantErr string
	}{
		{"OKOutbox", smsConfig{Provider: "outbox"}, ""},
		{"OKWebhook", smsConfig{Provider: "webhook", WebhookURL: "https://sms.example.com"}, ""},
		{"ErrProvider", smsConfig{Provider: "pigeon"}, "want outbox or webhook"},
		{"ErrWebhookNoURL", smsConfig{Provider: "webhook"}, "needs --sms-webhook-url"},
		{"ErrWebhookFlagsWithOutbox", smsConfig{Provider: "outbox", WebhookURL: "https://x"}, "need --sms-provider webhook"},
		{"ErrAuthFileWithoutHeader", smsConfig{Provider: "webhook", WebhookURL: "https://x", WebhookAuthFile: "f"}, "needs --sms-webhook-auth-header"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestSMSConfig_WebhookAuthFromEnvironment: the credential comes from
// $COFFER_SMS_WEBHOOK_AUTH, never from a flag value.
func TestSMSConfig_WebhookAuthFromEnvironment(t *testing.T) {
	got := make(chan string, 1)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- r.Header.Get("Authorization")
	}))
	defer recv.Close()
	cfg := smsConfig{Provider: "webhook", WebhookURL: recv.URL, WebhookAuthHeader: "Authorization"}
	env := Env{Getenv: func(k string) string {
		if k == envSMSWebhookAuth {
			return "Bearer from-env"
		}
		return ""
	}}
	p, err := cfg.provider(t.TempDir(), env)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(context.Background(), sms.Message{To: "+447700900042", Body: "x", Channel: "sms"}); err != nil {
		t.Fatal(err)
	}
	if a := <-got; a != "Bearer from-env" {
		t.Fatalf("auth header = %q", a)
	}
	_, err = cfg.provider(t.TempDir(), Env{Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), envSMSWebhookAuth) {
		t.Fatalf("missing credential: %v", err)
	}
}

func TestSMSConfig_OutboxDefault(t *testing.T) {
	dir := t.TempDir()
	p, err := smsConfig{Provider: "outbox"}.provider(dir, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(context.Background(), sms.Message{To: "+447700900042", Body: "x", Channel: "sms"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sms-outbox.jsonl")); err != nil {
		t.Fatal(err)
	}
}
