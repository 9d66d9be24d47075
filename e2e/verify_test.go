package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"coffer/client"
	"coffer/internal/cli"
	"coffer/internal/testserver"
)

// verifyDevice runs `coffer verify …` as a device would: its own store
// file, the passphrase from the environment, the test server's certificate
// as the one to trust.
type verifyDevice struct {
	tb    testing.TB
	srv   *testserver.Server
	store string
}

func newVerifyDevice(tb testing.TB, srv *testserver.Server) *verifyDevice {
	return &verifyDevice{tb: tb, srv: srv, store: filepath.Join(tb.TempDir(), "cfg", "devices.enc")}
}

func (d *verifyDevice) env(stdin io.Reader, stdout io.Writer) (cli.Env, *testserver.SyncBuffer) {
	var errOut testserver.SyncBuffer
	return cli.Env{Stdin: stdin, Stdout: stdout, Stderr: &errOut, Getenv: func(k string) string {
		if k == "COFFER_VERIFY_PASSPHRASE" {
			return "device passphrase for tests"
		}
		return ""
	}}, &errOut
}

// run runs a verify subcommand with stdin and returns the exit code,
// stdout and stderr.
func (d *verifyDevice) run(stdin string, args ...string) (int, string, string) {
	var out testserver.SyncBuffer
	env, errOut := d.env(strings.NewReader(stdin), &out)
	full := append([]string{"verify"}, args...)
	full = append(full, "--store", d.store)
	code := cli.Run(context.Background(), full, env)
	return code, out.String(), errOut.String()
}

func (d *verifyDevice) caFile() string { return filepath.Join(d.srv.DataDir, "tls-cert.pem") }

// promptAnswerer is approve's stdout: when the question with the three
// numbers appears, it writes answer(numbers) to approve's stdin.
type promptAnswerer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	asked  bool
	answer func(numbers []int) string
	stdin  *io.PipeWriter
}

var choicesRe = regexp.MustCompile(`\[(\d+) (\d+) (\d+)\]`)

func (p *promptAnswerer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Write(b)
	if m := choicesRe.FindStringSubmatch(p.buf.String()); m != nil && !p.asked {
		p.asked = true
		var nums []int
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			nums = append(nums, n)
		}
		ans := p.answer(nums)
		go p.stdin.Write([]byte(ans))
	}
	return len(b), nil
}

func (p *promptAnswerer) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

// approve runs `coffer verify approve` in the background, answering the
// prompt with answer(numbers); the result arrives on the channel.
func (d *verifyDevice) approve(answer func(numbers []int) string, extra ...string) <-chan approveResult {
	pr, pw := io.Pipe()
	out := &promptAnswerer{answer: answer, stdin: pw}
	env, errOut := d.env(pr, out)
	ch := make(chan approveResult, 1)
	go func() {
		args := append([]string{"verify", "approve", "--store", d.store, "--wait", "20s"}, extra...)
		code := cli.Run(context.Background(), args, env)
		pw.Close()
		ch <- approveResult{code: code, stdout: out.String(), stderr: errOut.String(), numbers: choicesRe.FindStringSubmatch(out.String())}
	}()
	return ch
}

type approveResult struct {
	code           int
	stdout, stderr string
	numbers        []string
}

func (r approveResult) String() string {
	return "exit " + strconv.Itoa(r.code) + "\nstdout: " + r.stdout + "\nstderr: " + r.stderr
}

func waitApprove(tb testing.TB, ch <-chan approveResult) approveResult {
	tb.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(40 * time.Second):
		tb.Fatal("coffer verify approve did not finish")
		return approveResult{}
	}
}

func wantPushError(tb testing.TB, err error, status int, msgPart string) *client.Error {
	tb.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Status != status || !strings.Contains(e.Message, msgPart) {
		tb.Fatalf("error = %v, want %d with %q", err, status, msgPart)
	}
	return e
}

// mailsTo returns the notification files addressed to email.
func pushMailsTo(tb testing.TB, srv *testserver.Server, email, event string) []string {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(srv.DataDir, "mail", "*.eml"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		s := string(b)
		if strings.Contains(s, "To: "+email+"\r\n") && strings.Contains(s, "X-Coffer-Event: "+event+"\r\n") {
			out = append(out, s)
		}
	}
	return out
}

// TestVerifyPush drives Coffer Verify end to end through the CLI against a
// running server: pairing, approval with the right number, refusal with a
// wrong one, deny with "this wasn't me", expiry, the push pause after
// repeated refusals, step-up by push, and an offline code.
func TestVerifyPush(t *testing.T) {
	requireTool(t, "zbarimg")
	srv := testserver.Start(t, "--push-ttl", "5s")
	ctx := context.Background()
	admin := signedInMember(t, srv, "127.0.0.2", "verify-owner@example.com", "Verify Books Ltd", "owner")
	m := signedInMember(t, srv, "127.0.0.3", "verify-user@example.com", "Verify Books Ltd", "standard")
	c := m.C
	dev := newVerifyDevice(t, srv)

	// Pairing: the link from the API is what the QR code says; the device
	// pairs with it once.
	p, err := c.StartVerifyPairing(ctx, m.Session, "Test phone")
	if err != nil {
		t.Fatalf("start pairing: %v", err)
	}
	png, err := base64.StdEncoding.DecodeString(p.QRPNGBase64)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeQR(t, png); got != p.PairingURL {
		t.Fatalf("QR code says %q, API says %q", got, p.PairingURL)
	}
	if !strings.Contains(p.PairingURL, "/verify/pair#") {
		t.Fatalf("pairing URL %q", p.PairingURL)
	}
	// Without the server's certificate the device refuses the connection.
	if code, _, stderr := dev.run("", "pair", p.PairingURL); code == 0 || !strings.Contains(stderr, "certificate") {
		t.Fatalf("pair without --ca-file: exit %d, %s", code, stderr)
	}
	code, out, stderr := dev.run("", "pair", p.PairingURL, "--ca-file", dev.caFile(), "--name", "laptop")
	if code != 0 || !strings.Contains(out, "Paired verify-user@example.com") {
		t.Fatalf("pair: exit %d\n%s\n%s", code, out, stderr)
	}
	if code, _, stderr := dev.run("", "pair", p.PairingURL, "--ca-file", dev.caFile()); code == 0 || !strings.Contains(stderr, "already used") {
		t.Fatalf("second use of the pairing link: exit %d, %s", code, stderr)
	}
	st, err := os.Stat(dev.store)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("store mode %v, want 0600", st.Mode().Perm())
	}
	raw, _ := os.ReadFile(dev.store)
	if bytes.Contains(raw, []byte("verify-user@example.com")) {
		t.Fatal("the store holds the account in clear text")
	}
	if code, out, _ := dev.run("", "list"); code != 0 || !strings.Contains(out, "verify-user@example.com") || !strings.Contains(out, "Test phone") {
		t.Fatalf("list: exit %d: %s", code, out)
	}
	if n := len(pushMailsTo(t, srv, m.Email, "factor.added")); n != 1 {
		t.Fatalf("%d factor.added notifications, want 1", n)
	}
	lr, err := c.Login(ctx, m.Email, m.Password)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(lr.Methods, ","), "push") {
		t.Fatalf("methods %v do not offer push", lr.Methods)
	}

	t.Run("ApproveRightNumber", func(t *testing.T) {
		lr, err := c.Login(ctx, m.Email, m.Password)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := c.StartLoginPush(ctx, lr.LoginToken)
		if err != nil {
			t.Fatalf("start push: %v", err)
		}
		if ps.Number < 10 || ps.Number > 99 {
			t.Fatalf("number %d", ps.Number)
		}
		res := dev.approve(func([]int) string { return strconv.Itoa(ps.Number) + "\n" })
		sr, err := c.WaitLoginPush(ctx, lr.LoginToken, ps.PushID)
		if err != nil {
			t.Fatalf("wait for approval: %v", err)
		}
		r := waitApprove(t, res)
		if r.code != 0 || !strings.Contains(r.stdout, "Sign-in request for verify-user@example.com from 127.0.0.3") || !strings.Contains(r.stdout, "Approved.") {
			t.Fatalf("approve: %s", r)
		}
		if !strings.Contains(r.stdout, strconv.Itoa(ps.Number)) {
			t.Fatalf("the choices do not include the number: %s", r.stdout)
		}
		me, err := c.Me(ctx, sr.SessionToken)
		if err != nil || me.Email != m.Email {
			t.Fatalf("session from push: %v %+v", err, me)
		}
		// The approval counts once.
		if _, err := c.WaitLoginPush(ctx, lr.LoginToken, ps.PushID); err == nil {
			t.Fatal("the approved push was accepted twice")
		}
	})

	t.Run("StepUpByPush", func(t *testing.T) {
		ps, err := c.StartStepUpPush(ctx, m.Session)
		if err != nil {
			t.Fatalf("start step-up push: %v", err)
		}
		res := dev.approve(func([]int) string { return strconv.Itoa(ps.Number) + "\n" })
		if err := c.WaitStepUpPush(ctx, m.Session, ps.PushID); err != nil {
			t.Fatalf("step-up by push: %v", err)
		}
		if r := waitApprove(t, res); r.code != 0 {
			t.Fatalf("approve: %s", r)
		}
	})

	t.Run("WrongNumberRefused", func(t *testing.T) {
		lr, err := c.Login(ctx, m.Email, m.Password)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := c.StartLoginPush(ctx, lr.LoginToken)
		if err != nil {
			t.Fatal(err)
		}
		res := dev.approve(func(nums []int) string {
			for _, n := range nums {
				if n != ps.Number {
					return strconv.Itoa(n) + "\n"
				}
			}
			return "\n"
		})
		_, err = c.WaitLoginPush(ctx, lr.LoginToken, ps.PushID)
		wantPushError(t, err, 401, "not the one shown here")
		r := waitApprove(t, res)
		if r.code == 0 || !strings.Contains(r.stderr, "not the number shown") {
			t.Fatalf("approve with a wrong number: %s", r)
		}
	})

	t.Run("DenyNotMe", func(t *testing.T) {
		lr, err := c.Login(ctx, m.Email, m.Password)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := c.StartLoginPush(ctx, lr.LoginToken)
		if err != nil {
			t.Fatal(err)
		}
		// "n" denies; the empty answer to "Was this you? [y/N]" is no.
		res := dev.approve(func([]int) string { return "n\n\n" })
		_, err = c.WaitLoginPush(ctx, lr.LoginToken, ps.PushID)
		wantPushError(t, err, 401, "denied on your device")
		r := waitApprove(t, res)
		if r.code != 0 || !strings.Contains(r.stdout, "Was this you?") || !strings.Contains(r.stdout, "alerted") {
			t.Fatalf("deny: %s", r)
		}
		user := pushMailsTo(t, srv, m.Email, "push.not_me")
		if len(user) != 1 || !strings.Contains(user[0], "127.0.0.3") {
			t.Fatalf("user alert: %q", user)
		}
		adm := pushMailsTo(t, srv, admin.Email, "push.not_me.admin")
		if len(adm) != 1 || !strings.Contains(adm[0], m.Email) {
			t.Fatalf("admin alert: %q", adm)
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		lr, err := c.Login(ctx, m.Email, m.Password)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := c.StartLoginPush(ctx, lr.LoginToken)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = c.WaitLoginPush(ctx, lr.LoginToken, ps.PushID)
		wantPushError(t, err, 401, "expired")
		if d := time.Since(start); d < 3*time.Second || d > 20*time.Second {
			t.Fatalf("expiry after %s, want about the 5s push TTL", d)
		}
	})

	t.Run("PausedAfterRefusals", func(t *testing.T) {
		// Wrong number, denied and ignored: three refusals in 15 minutes.
		lr, err := c.Login(ctx, m.Email, m.Password)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.StartLoginPush(ctx, lr.LoginToken)
		e := wantPushError(t, err, 429, "Push requests are paused for 15 minutes; use another factor.")
		if e.RetryAfter == "" {
			t.Fatal("no Retry-After")
		}
	})

	t.Run("OfflineCode", func(t *testing.T) {
		code, out, stderr := dev.run("", "code")
		if code != 0 {
			t.Fatalf("code: exit %d: %s", code, stderr)
		}
		lr, err := c.Login(ctx, m.Email, m.Password)
		if err != nil {
			t.Fatal(err)
		}
		sr, err := c.LoginMFA(ctx, lr.LoginToken, "totp", strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("sign in with the offline code: %v", err)
		}
		if _, err := c.Me(ctx, sr.SessionToken); err != nil {
			t.Fatal(err)
		}
	})
}

// TestVerifyPushPausedAfterThreeDenials: three plain denials pause pushes.
func TestVerifyPushPausedAfterThreeDenials(t *testing.T) {
	srv := testserver.Start(t)
	ctx := context.Background()
	m := signedInMember(t, srv, "127.0.0.4", "deny3@example.com", "Deny Three Ltd", "owner")
	dev := newVerifyDevice(t, srv)
	p, err := m.C.StartVerifyPairing(ctx, m.Session, "")
	if err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := dev.run("", "pair", "--ca-file", dev.caFile(), p.PairingURL); code != 0 {
		t.Fatalf("pair: %d %s %s", code, out, stderr)
	}
	lr, err := m.C.Login(ctx, m.Email, m.Password)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		ps, err := m.C.StartLoginPush(ctx, lr.LoginToken)
		if err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
		res := dev.approve(func([]int) string { return "deny\ny\n" })
		_, err = m.C.WaitLoginPush(ctx, lr.LoginToken, ps.PushID)
		wantPushError(t, err, 401, "denied")
		if r := waitApprove(t, res); r.code != 0 {
			t.Fatalf("deny %d: %s", i, r)
		}
	}
	_, err = m.C.StartLoginPush(ctx, lr.LoginToken)
	wantPushError(t, err, 429, "paused")
}
