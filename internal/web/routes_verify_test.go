package web

import (
	"strings"
	"testing"

	"coffer/internal/auth"
)

// The push partial renders both states under the CSP, and the Verify
// settings page shows a pairing and the devices.
func TestVerifyTemplates(t *testing.T) {
	s := layoutServer(t)
	tests := []struct {
		name, page string
		push       *pushView
		want       []string
		not        []string
	}{
		{"send", "mfa", nil, []string{`id="mfa-push-send"`, `action="/login/mfa/push"`, "Send a request to Coffer Verify"}, []string{"/static/push."}},
		{"waiting", "mfa", &pushView{ID: 7, Number: 42}, []string{`id="push-number"`, ">42<", `name="push_id" value="7"`, `action="/login/mfa/push/wait"`, `id="mfa-submit"`, "/static/push."}, nil},
		{"step-up waiting", "step_up", &pushView{ID: 8, Number: 17}, []string{`action="/step-up/push/wait"`, ">17<", `id="step-up-form"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := pageData{CSRF: "tok", Data: map[string]any{}}
			action, form := "/login/mfa", "mfa"
			if tt.page == "step_up" {
				action, form = "/step-up", "step-up"
			}
			fillFactorForm(d, []string{auth.MethodTOTP, auth.MethodPush, auth.MethodRecoveryCode}, auth.MethodPush, action, form, "", false)
			d.Data["Cancel"] = "/dashboard"
			if tt.push != nil {
				d.Data["Push"] = tt.push
			}
			body := renderPage(t, s, tt.page, d)
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("missing %s", w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(body, w) {
					t.Errorf("unexpected %s", w)
				}
			}
		})
	}
	t.Run("settings", func(t *testing.T) {
		d := pageData{CSRF: "tok", Data: map[string]any{
			"Devices":    []verifyDevice{{ID: 3, Name: "Phone", Hint: "key 0a0b0c0d", Added: "1 Jan 2030", LastUsed: "Never"}},
			"PairingURL": "https://coffer.example/verify/pair#tok",
			"QRDataURL":  "data:image/png;base64,AA==",
			"ExpiresAt":  "10:00 UTC",
		}}
		body := renderPage(t, s, "settings_verify", d)
		for _, w := range []string{`id="verify-device-3"`, `id="pair-qr"`, "coffer verify pair", `value="https://coffer.example/verify/pair#tok"`, `id="verify-pair-form"`} {
			if !strings.Contains(body, w) {
				t.Errorf("missing %s", w)
			}
		}
	})
	t.Run("landing", func(t *testing.T) {
		body := renderPage(t, s, "verify_pair", pageData{Data: map[string]any{}})
		if !strings.Contains(body, "coffer verify pair") {
			t.Error("no instructions")
		}
	})
}
