package web

import (
	"strings"
	"testing"
)

// TestFactorPartials_HOTPAndSMS renders the sign-in and step-up forms for
// hardware tokens and SMS: each posts its method and code where the page
// says, with the CSRF token and destination, and the SMS one offers
// sending a code by text or call to the right route.
func TestFactorPartials_HOTPAndSMS(t *testing.T) {
	s := layoutServer(t)
	for _, tt := range []struct {
		name, page, method, action, formID, sendAction string
	}{
		{"LoginHOTP", "mfa", "hotp", "/login/mfa", "mfa", ""},
		{"StepUpHOTP", "step_up", "hotp", "/step-up", "step-up", ""},
		{"LoginSMS", "mfa", "sms", "/login/mfa", "mfa", "/login/mfa/sms/send"},
		{"StepUpSMS", "step_up", "sms", "/step-up", "step-up", "/step-up/sms/send"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := pageData{Title: "t", CSRF: "csrf-123", Data: map[string]any{"Cancel": "/dashboard", "SMSSent": "1"}}
			next := ""
			if tt.formID == "step-up" {
				next = "/orgs/1/export"
			}
			fillFactorForm(d, []string{"totp", "hotp", "sms", "recovery_code"}, tt.method, tt.action, tt.formID, next, false)
			body := renderPage(t, s, tt.page, d)
			checkCSPSafe(t, tt.name, body)
			form := element(body, "form", tt.formID+"-form")
			if form == "" {
				t.Fatalf("no #%s-form:\n%s", tt.formID, body)
			}
			if fa := startTags(form, "form")[0]; fa["action"] != tt.action || fa["method"] != "post" {
				t.Fatalf("form posts %s %s", fa["method"], fa["action"])
			}
			hidden := map[string]string{}
			var code map[string]string
			for _, in := range startTags(form, "input") {
				if in["type"] == "hidden" {
					hidden[in["name"]] = in["value"]
				}
				if in["name"] == "code" {
					code = in
				}
			}
			if hidden["method"] != tt.method || hidden["csrf_token"] != "csrf-123" || hidden["next"] != next {
				t.Errorf("hidden fields = %v", hidden)
			}
			if code == nil {
				t.Fatal("no code field")
			}
			if _, ok := code["required"]; !ok {
				t.Error("code not required")
			}
			send := element(body, "form", tt.formID+"-sms-send-form")
			if tt.sendAction == "" {
				if send != "" || !strings.Contains(body, "hotp-resync-hint") {
					t.Fatal("hotp form: an SMS send form, or no resync hint")
				}
				return
			}
			if send == "" {
				t.Fatalf("no send form:\n%s", body)
			}
			if fa := startTags(send, "form")[0]; fa["action"] != tt.sendAction {
				t.Errorf("send form posts to %q, want %q", fa["action"], tt.sendAction)
			}
			channels := map[string]bool{}
			for _, b := range startTags(send, "button") {
				channels[b["value"]] = b["name"] == "channel" && b["type"] == "submit"
			}
			if !channels["sms"] || !channels["voice"] {
				t.Errorf("send buttons = %v", channels)
			}
			if !strings.Contains(body, `id="sms-sent"`) {
				t.Error("no confirmation that a code was sent")
			}
		})
	}
}

// TestSettingsPages_HOTPAndSMS renders the two settings pages.
func TestSettingsPages_HOTPAndSMS(t *testing.T) {
	s := layoutServer(t)
	d := pageData{Title: "t", CSRF: "c", Data: map[string]any{"Fresh": true, "Tokens": []factorRow{{ID: 4, Name: "Desk", Hint: "SN1"}}}}
	body := renderPage(t, s, "settings_hotp", d)
	checkCSPSafe(t, "settings_hotp", body)
	for _, id := range []string{"hotp-form", "hotp-secret", "hotp-code1", "hotp-code2", "hotp-resync-4"} {
		if !strings.Contains(body, `id="`+id+`"`) {
			t.Errorf("settings_hotp has no #%s", id)
		}
	}
	d = pageData{Title: "t", CSRF: "c", Data: map[string]any{"Fresh": false, "StepUpHref": "/step-up?next=x"}}
	body = renderPage(t, s, "settings_sms", d)
	checkCSPSafe(t, "settings_sms", body)
	for _, want := range []string{`id="sms-warning"`, "SMS is the least secure factor", `id="sms-form"`, `id="sms-confirm-form"`, `id="sms-step-up"`} {
		if !strings.Contains(body, want) {
			t.Errorf("settings_sms lacks %q", want)
		}
	}
	d.Data["Forbidden"] = true
	body = renderPage(t, s, "settings_sms", d)
	if !strings.Contains(body, `id="sms-forbidden"`) || strings.Contains(body, `id="sms-form"`) {
		t.Error("a forbidden phone can still be added")
	}
}
