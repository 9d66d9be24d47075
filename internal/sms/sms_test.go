package sms_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"coffer/internal/sms"
)

func TestOutbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "outbox.jsonl")
	o, err := sms.NewOutbox(path)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []sms.Message{
		{To: "+447700900042", Body: `Your code is 123456 "quoted"`, Channel: sms.ChannelSMS},
		{To: "+15555550100", Body: "1 2 3 4 5 6", Channel: sms.ChannelVoice},
	}
	for _, m := range msgs {
		if err := o.Send(context.Background(), m); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("outbox mode = %v, want 0600", st.Mode().Perm())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var got []sms.Message
	for sc.Scan() {
		var m sms.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, m)
	}
	if len(got) != len(msgs) {
		t.Fatalf("%d lines, want %d", len(got), len(msgs))
	}
	for i := range msgs {
		if got[i] != msgs[i] {
			t.Errorf("line %d = %+v, want %+v", i, got[i], msgs[i])
		}
	}
}

func TestOutbox_Concurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	o, err := sms.NewOutbox(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := o.Send(context.Background(), sms.Message{To: "+447700900042", Body: strings.Repeat("x", 500), Channel: sms.ChannelSMS}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 20 {
		t.Fatalf("%d lines, want 20", len(lines))
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("interleaved line %q", l)
		}
	}
}

func TestMessage_Validate(t *testing.T) {
	for _, tt := range []struct {
		name string
		m    sms.Message
		ok   bool
	}{
		{"OK", sms.Message{To: "+447700900042", Body: "b", Channel: "sms"}, true},
		{"OKVoice", sms.Message{To: "+447700900042", Body: "b", Channel: "voice"}, true},
		{"ErrChannel", sms.Message{To: "+447700900042", Body: "b", Channel: "fax"}, false},
		{"ErrNoPlus", sms.Message{To: "447700900042", Body: "b", Channel: "sms"}, false},
		{"ErrLetters", sms.Message{To: "+4477009000ab", Body: "b", Channel: "sms"}, false},
		{"ErrShort", sms.Message{To: "+1234567", Body: "b", Channel: "sms"}, false},
		{"ErrEmptyBody", sms.Message{To: "+447700900042", Channel: "sms"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.m.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%t", err, tt.ok)
			}
		})
	}
}

// received is one request a test receiver got.
type received struct {
	Method, Path, ContentType, Auth string
	Body                            []byte
}

func receiver(t *testing.T, status int) (*httptest.Server, <-chan received) {
	t.Helper()
	ch := make(chan received, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- received{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Auth: r.Header.Get("X-Gateway-Key"), Body: b}
		w.WriteHeader(status)
		// A gateway echoing the code: it must not end up in an error.
		w.Write([]byte(`{"echo":"code 654321"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func TestWebhook_DefaultTemplate(t *testing.T) {
	srv, ch := receiver(t, http.StatusAccepted)
	w, err := sms.NewWebhook(sms.WebhookConfig{URL: srv.URL + "/send", AuthHeader: "X-Gateway-Key", AuthValue: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	m := sms.Message{To: "+447700900042", Body: "Code \"654321\"\n<b>&", Channel: sms.ChannelVoice}
	if err := w.Send(context.Background(), m); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := <-ch
	if got.Method != http.MethodPost || got.Path != "/send" || got.ContentType != "application/json" || got.Auth != "s3cret" {
		t.Errorf("request = %s %s type=%q auth=%q", got.Method, got.Path, got.ContentType, got.Auth)
	}
	var body map[string]string
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", got.Body, err)
	}
	if body["to"] != m.To || body["body"] != m.Body || body["channel"] != m.Channel || len(body) != 3 {
		t.Errorf("body = %v", body)
	}
}

func TestWebhook_CustomTemplate(t *testing.T) {
	srv, ch := receiver(t, http.StatusOK)
	w, err := sms.NewWebhook(sms.WebhookConfig{URL: srv.URL, Template: `{"recipient":{{json .To}},"text":{{json .Body}},"voice":{{if eq .Channel "voice"}}true{{else}}false{{end}}}`})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(context.Background(), sms.Message{To: "+15555550100", Body: "hi", Channel: sms.ChannelSMS}); err != nil {
		t.Fatal(err)
	}
	got := <-ch
	if string(got.Body) != `{"recipient":"+15555550100","text":"hi","voice":false}` {
		t.Errorf("body = %s", got.Body)
	}
	if got.Auth != "" {
		t.Errorf("auth header sent without configuration: %q", got.Auth)
	}
}

func TestWebhook_ErrStatus(t *testing.T) {
	srv, ch := receiver(t, http.StatusUnauthorized)
	w, err := sms.NewWebhook(sms.WebhookConfig{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Send(context.Background(), sms.Message{To: "+447700900042", Body: "Your code is 654321", Channel: sms.ChannelSMS})
	<-ch
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v, want the status 401", err)
	}
	if strings.Contains(err.Error(), "654321") {
		t.Fatalf("error leaks the code: %v", err)
	}
}

func TestWebhook_ErrTimeoutHasNoURLSecrets(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(func() { close(release); srv.Close() })
	w, err := sms.NewWebhook(sms.WebhookConfig{URL: srv.URL + "/?token=urlsecret", Client: &http.Client{Timeout: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Send(context.Background(), sms.Message{To: "+447700900042", Body: "x", Channel: sms.ChannelSMS})
	if err == nil || strings.Contains(err.Error(), "urlsecret") {
		t.Fatalf("err = %v, want a failure without the URL", err)
	}
}

func TestNewWebhook_Config(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cfg     sms.WebhookConfig
		wantErr string
	}{
		{"OKHTTPS", sms.WebhookConfig{URL: "https://sms.example.com/send"}, ""},
		{"OKLoopbackV4", sms.WebhookConfig{URL: "http://127.0.0.1:9000/send"}, ""},
		{"OKLoopbackV6", sms.WebhookConfig{URL: "http://[::1]:9000/send"}, ""},
		{"OKLocalhost", sms.WebhookConfig{URL: "http://localhost/send", AuthHeader: "Authorization", AuthValue: "Bearer x"}, ""},
		{"ErrPlainHTTP", sms.WebhookConfig{URL: "http://sms.example.com/send"}, "must be https"},
		{"ErrPlainHTTPLookalike", sms.WebhookConfig{URL: "http://127.0.0.1.example.com/send"}, "must be https"},
		{"ErrScheme", sms.WebhookConfig{URL: "ftp://sms.example.com/"}, "want https"},
		{"ErrNoHost", sms.WebhookConfig{URL: "https:///x"}, "want https"},
		{"ErrUserinfo", sms.WebhookConfig{URL: "https://u:p@sms.example.com/"}, "want https"},
		{"ErrTemplateSyntax", sms.WebhookConfig{URL: "https://a.example/", Template: "{{.To"}, "template"},
		{"ErrTemplateField", sms.WebhookConfig{URL: "https://a.example/", Template: "{{.Phone}}"}, "template"},
		{"ErrHeaderWithoutValue", sms.WebhookConfig{URL: "https://a.example/", AuthHeader: "Authorization"}, "both"},
		{"ErrValueWithoutHeader", sms.WebhookConfig{URL: "https://a.example/", AuthValue: "x"}, "both"},
		{"ErrHeaderName", sms.WebhookConfig{URL: "https://a.example/", AuthHeader: "Bad Header:", AuthValue: "x"}, "header name"},
		{"ErrValueNewline", sms.WebhookConfig{URL: "https://a.example/", AuthHeader: "X-Key", AuthValue: "x\r\nEvil: 1"}, "one line"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sms.NewWebhook(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("NewWebhook: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.8.9.10": true, "::1": true,
		"10.0.0.1": false, "example.com": false, "localhost.example.com": false, "": false} {
		if got := sms.IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %t, want %t", host, got, want)
		}
	}
}
