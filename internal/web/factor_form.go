package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"coffer/internal/auth"
	"coffer/internal/errs"
)

// altMethod is a link to verify with another method.
type altMethod struct {
	ID, Label, Href string
}

var methodLinks = map[string]struct{ id, label string }{
	auth.MethodTOTP:         {"use-totp", "Use your authenticator app instead"},
	auth.MethodWebAuthn:     {"use-webauthn", "Use your security key or passkey"},
	auth.MethodPush:         {"use-push", "Approve on Coffer Verify"},
	auth.MethodHOTP:         {"use-hotp", "Use your hardware token"},
	auth.MethodSMS:          {"use-sms", "Get a code by SMS or voice call"},
	auth.MethodRecoveryCode: {"use-recovery", "Lost your phone? Use a recovery code"},
}

// factorForm fills what the "factor" partial needs: the chosen method
// (the user's preferred one unless the query asks for another they have),
// where the form posts, and links to the user's other methods. With strong
// only phishing-resistant methods are offered.
func (s *Server) factorForm(ctx context.Context, d pageData, userID int64, method, action, formID, next string, strong bool) error {
	methods, err := s.auth.Methods(ctx, userID)
	if err != nil {
		return err
	}
	fillFactorForm(d, methods, method, action, formID, next, strong)
	return nil
}

// fillFactorForm is factorForm once the user's methods are known.
func fillFactorForm(d pageData, methods []string, method, action, formID, next string, strong bool) {
	if strong {
		if resistant := slices.DeleteFunc(slices.Clone(methods), func(m string) bool { return !auth.PhishingResistant(m) }); len(resistant) > 0 {
			methods = resistant
		} else {
			// Nothing strong to offer: the page says how to add one, and the
			// form takes what the user has, which is what adding one needs.
			d.Data["NoStrongFactor"] = true
		}
	}
	if !slices.Contains(methods, method) {
		method = methods[0]
	}
	var alt []altMethod
	for _, m := range methods {
		if m == method {
			continue
		}
		q := url.Values{}
		if m != methods[0] {
			q.Set("method", m)
		}
		if next != "" {
			q.Set("next", next)
		}
		if strong {
			q.Set("strong", "1")
		}
		href := action
		if len(q) > 0 {
			href += "?" + q.Encode()
		}
		l := methodLinks[m]
		alt = append(alt, altMethod{ID: l.id, Label: l.label, Href: href})
	}
	d.Data["Method"] = method
	d.Data["Methods"] = methods
	d.Data["Action"] = action
	d.Data["FormID"] = formID
	d.Data["Alt"] = alt
	d.Data["Next"] = next
	d.Data["StepUp"] = formID == "step-up"
	d.Data["Strong"] = strong
}

// proofFromForm reads a second factor from a posted form.
func proofFromForm(r *http.Request) auth.Proof {
	p := auth.Proof{Method: r.PostForm.Get("method"), Code: r.PostForm.Get("code")}
	if c := r.PostForm.Get("credential"); c != "" {
		p.Credential = []byte(c)
	}
	if id, err := strconv.ParseInt(r.PostForm.Get("push_id"), 10, 64); err == nil {
		p.PushID = id
	}
	if p.Method == "" {
		p.Method = auth.MethodTOTP
	}
	return p
}

// pageRefusal answers a page form whose action failed: a second factor too
// old for it goes to the step-up page, which comes back to next; a refusal
// the person can act on shows the form again with its message; anything
// else is the error page.
func (s *Server) pageRefusal(w http.ResponseWriter, r *http.Request, err error, next string, again func(status int, message string)) {
	switch st := statusOf(err); {
	case errs.Code(err) == errs.ESTEPUP:
		http.Redirect(w, r, "/step-up?next="+url.QueryEscape(next), http.StatusSeeOther)
	case st == http.StatusInternalServerError:
		s.renderError(w, r, err)
	default:
		setRetryAfter(w, err)
		again(st, errs.Message(err))
	}
}
