package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"coffer/internal/access"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/ledger"
)

// These tests drive the WebAuthn ceremonies through auth.Service with a
// software authenticator written from the specification (§6.1 authenticator
// data, §8.7 "none" attestation, COSE ES256 keys): a real P-256 key that
// signs what a security key signs. The browser end to end, with Chromium's
// virtual authenticator, is in e2e/webauthn_test.go.

const testOrigin = "https://localhost:8443"

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagAT = 0x40
)

// softKey is one credential of a software authenticator.
type softKey struct {
	priv   *ecdsa.PrivateKey
	id     []byte
	handle []byte // the user handle it was created for
	count  uint32
	uv     bool // whether it reports user verification
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// CBOR (RFC 8949) for the few shapes an attestation needs.
func cborHead(major byte, n uint64) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n < 1<<8:
		return []byte{major<<5 | 24, byte(n)}
	case n < 1<<16:
		return binary.BigEndian.AppendUint16([]byte{major<<5 | 25}, uint16(n))
	default:
		return binary.BigEndian.AppendUint32([]byte{major<<5 | 26}, uint32(n))
	}
}

func cborInt(v int64) []byte {
	if v >= 0 {
		return cborHead(0, uint64(v))
	}
	return cborHead(1, uint64(-1-v))
}

func cborBytes(b []byte) []byte { return append(cborHead(2, uint64(len(b))), b...) }
func cborText(s string) []byte  { return append(cborHead(3, uint64(len(s))), s...) }

// coseKey is the credential's public key as COSE_Key (EC2, P-256, ES256).
func (k *softKey) coseKey() []byte {
	pub, err := k.priv.PublicKey.Bytes() // 0x04 ‖ X ‖ Y
	if err != nil {
		panic(err)
	}
	x, y := pub[1:33], pub[33:65]
	out := cborHead(5, 5)
	out = append(out, cborInt(1)...)
	out = append(out, cborInt(2)...) // kty: EC2
	out = append(out, cborInt(3)...)
	out = append(out, cborInt(-7)...) // alg: ES256
	out = append(out, cborInt(-1)...)
	out = append(out, cborInt(1)...) // crv: P-256
	out = append(out, cborInt(-2)...)
	out = append(out, cborBytes(x)...)
	out = append(out, cborInt(-3)...)
	out = append(out, cborBytes(y)...)
	return out
}

func (k *softKey) authData(rpID string, attested bool) []byte {
	h := sha256.Sum256([]byte(rpID))
	flags := byte(flagUP)
	if k.uv {
		flags |= flagUV
	}
	if attested {
		flags |= flagAT
	}
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.count)
	if attested {
		out = append(out, make([]byte, 16)...) // AAGUID: none
		out = binary.BigEndian.AppendUint16(out, uint16(len(k.id)))
		out = append(out, k.id...)
		out = append(out, k.coseKey()...)
	}
	return out
}

func clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": testOrigin, "crossOrigin": false})
	return b
}

// publicKeyOptions reads {"publicKey": {...}} as the service makes it.
type publicKeyOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		UserVerification       string `json:"userVerification"`
		AuthenticatorSelection struct {
			ResidentKey      string `json:"residentKey"`
			UserVerification string `json:"userVerification"`
		} `json:"authenticatorSelection"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
		ExcludeCredentials []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
	} `json:"publicKey"`
}

func mustOptions(tb testing.TB, raw []byte) publicKeyOptions {
	tb.Helper()
	var o publicKeyOptions
	if err := json.Unmarshal(raw, &o); err != nil {
		tb.Fatalf("options %s: %v", raw, err)
	}
	if o.PublicKey.Challenge == "" {
		tb.Fatalf("options without a challenge: %s", raw)
	}
	return o
}

// create answers registration options with a new credential.
func create(tb testing.TB, raw []byte, uv bool) (*softKey, []byte) {
	tb.Helper()
	o := mustOptions(tb, raw)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	handle, err := base64.RawURLEncoding.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		tb.Fatalf("user id %q: %v", o.PublicKey.User.ID, err)
	}
	k := &softKey{priv: priv, id: id, handle: handle, uv: uv}
	att := cborHead(5, 3)
	att = append(att, cborText("fmt")...)
	att = append(att, cborText("none")...)
	att = append(att, cborText("attStmt")...)
	att = append(att, cborHead(5, 0)...)
	att = append(att, cborText("authData")...)
	att = append(att, cborBytes(k.authData(o.PublicKey.RP.ID, true))...)
	cred, _ := json.Marshal(map[string]any{
		"id": b64u(id), "rawId": b64u(id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64u(clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64u(att),
		},
		"clientExtensionResults": map[string]any{},
	})
	return k, cred
}

// assert answers assertion options: the counter moves on by one, as a
// security key's does, unless the test set it.
func (k *softKey) assert(tb testing.TB, raw []byte) []byte {
	tb.Helper()
	o := mustOptions(tb, raw)
	return k.assertChallenge(tb, o.PublicKey.RPID, o.PublicKey.Challenge)
}

func (k *softKey) assertChallenge(tb testing.TB, rpID, challenge string) []byte {
	tb.Helper()
	ad := k.authData(rpID, false)
	cd := clientData("webauthn.get", challenge)
	h := sha256.Sum256(cd)
	// ES256: ECDSA over SHA-256 of authenticator data ‖ client data hash.
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		tb.Fatal(err)
	}
	cred, _ := json.Marshal(map[string]any{
		"id": b64u(k.id), "rawId": b64u(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64u(cd),
			"authenticatorData": b64u(ad),
			"signature":         b64u(sig),
			"userHandle":        b64u(k.handle),
		},
		"clientExtensionResults": map[string]any{},
	})
	return cred
}

// newWebAuthnFixture is the service fixture with a public URL, which the
// relying party is built from.
func newWebAuthnFixture(tb testing.TB) *fixture {
	f := newFixture(tb)
	f.svc.PublicURL = testOrigin
	return f
}

// mustRegister registers a security key (or passkey) for an enrolled user
// from their fresh session.
func (f *fixture) mustRegister(e *enrolled, name string, passkey bool) (*softKey, *auth.Factor) {
	f.tb.Helper()
	opts, err := f.svc.BeginWebAuthnRegistration(f.ctx, e.issued.Session, e.user, name, passkey, f.client)
	if err != nil {
		f.tb.Fatalf("registration options: %v", err)
	}
	k, cred := create(f.tb, opts, true)
	fac, err := f.svc.FinishWebAuthnRegistration(f.ctx, e.issued.Session, e.user, "", cred, f.client)
	if err != nil {
		f.tb.Fatalf("register: %v", err)
	}
	return k, fac
}

// keyLogin signs in with password and the key, with the key's counter.
func (f *fixture) keyLogin(e *enrolled, k *softKey) (*auth.Issued, error) {
	f.tb.Helper()
	res := f.mustLogin(e.user.Email)
	opts, err := f.svc.WebAuthnLoginOptions(f.ctx, res.LoginToken, f.client)
	if err != nil {
		f.tb.Fatalf("assertion options: %v", err)
	}
	return f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: auth.MethodWebAuthn, Credential: k.assert(f.tb, opts)}, f.client)
}

func TestSignCountAccepted(t *testing.T) {
	tests := []struct {
		name        string
		stored, got uint32
		want        bool
	}{
		{"both zero: a passkey without a counter", 0, 0, true},
		{"first count after zero", 0, 1, true},
		{"moves on by one", 5, 6, true},
		{"jumps ahead", 5, 500, true},
		{"same count again: a copy", 5, 5, false},
		{"goes back: a copy", 5, 3, false},
		{"drops to zero after counting", 7, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := auth.SignCountAccepted(tt.stored, tt.got); got != tt.want {
				t.Fatalf("SignCountAccepted(%d, %d) = %v, want %v", tt.stored, tt.got, got, tt.want)
			}
		})
	}
}

func TestWebAuthn_RegisterAndSignIn(t *testing.T) {
	f := newWebAuthnFixture(t)
	e := f.mustEnroll(aliceEmail)

	t.Run("OK", func(t *testing.T) {
		k, fac := f.mustRegister(e, "Blue key", false)
		if fac.Kind != auth.KindWebAuthn || !fac.Confirmed || fac.Name != "Blue key" || fac.Hint != "security key" {
			t.Fatalf("factor = %+v, want a confirmed webauthn security key named Blue key", fac)
		}
		if n := len(f.events("mfa.webauthn.register")); n != 1 {
			t.Fatalf("%d mfa.webauthn.register events, want 1", n)
		}
		methods, err := f.svc.Methods(f.ctx, e.user.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(methods, auth.MethodWebAuthn) {
			t.Fatalf("methods %v lack webauthn", methods)
		}
		k.count = 1
		iss, err := f.keyLogin(e, k)
		if err != nil {
			t.Fatalf("sign in with the key: %v", err)
		}
		if iss.Session.MFAMethod != auth.MethodWebAuthn {
			t.Fatalf("session method %q, want webauthn", iss.Session.MFAMethod)
		}
		got, err := f.store.FindFactor(f.ctx, e.user.ID, fac.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Counter != 1 || got.LastUsedAt.IsZero() {
			t.Fatalf("after sign-in counter=%d last used=%v, want 1 and set", got.Counter, got.LastUsedAt)
		}
	})

	t.Run("StepUp", func(t *testing.T) {
		k, _ := f.mustRegister(e, "Step-up key", false)
		k.count = 3
		f.advance(6 * time.Minute)
		ss := e.issued.Session
		opts, err := f.svc.WebAuthnStepUpOptions(f.ctx, ss, e.user, f.client)
		if err != nil {
			t.Fatal(err)
		}
		// Options bound to this session do not serve a pending login.
		res := f.mustLogin(e.user.Email)
		_, err = f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: auth.MethodWebAuthn, Credential: k.assert(t, opts)}, f.client)
		wantErr(t, err, errs.EUNAUTHORIZED)
		opts, err = f.svc.WebAuthnStepUpOptions(f.ctx, ss, e.user, f.client)
		if err != nil {
			t.Fatal(err)
		}
		k.count++
		if err := f.svc.StepUp(f.ctx, ss, e.user, auth.Proof{Method: auth.MethodWebAuthn, Credential: k.assert(t, opts)}, f.client); err != nil {
			t.Fatalf("step up with the key: %v", err)
		}
		if !f.svc.FreshFor(ss, true) {
			t.Fatal("after a security-key step-up the session is not fresh and phishing-resistant")
		}
	})

	t.Run("ErrAlreadyRegistered", func(t *testing.T) {
		fs, _ := f.store.FindFactors(f.ctx, e.user.ID, auth.KindWebAuthn, true)
		opts, err := f.svc.BeginWebAuthnRegistration(f.ctx, e.issued.Session, e.user, "Again", false, f.client)
		if err != nil {
			t.Fatal(err)
		}
		o := mustOptions(t, opts)
		if len(o.PublicKey.ExcludeCredentials) != len(fs) || len(fs) == 0 {
			t.Fatalf("excludeCredentials %d, want the %d registered", len(o.PublicKey.ExcludeCredentials), len(fs))
		}
	})

	t.Run("ErrStaleSession", func(t *testing.T) {
		f.advance(6 * time.Minute)
		defer func() { e.issued = f.mustSignIn(e) }()
		_, err := f.svc.BeginWebAuthnRegistration(f.ctx, e.issued.Session, e.user, "Late key", false, f.client)
		wantErr(t, err, errs.ESTEPUP)
	})
}

func TestWebAuthn_AssertionRefusals(t *testing.T) {
	f := newWebAuthnFixture(t)
	e := f.mustEnroll(aliceEmail)
	k, _ := f.mustRegister(e, "Blue key", false)
	other, _ := f.mustRegister(f.mustEnroll(bobEmail), "Bob's key", false)
	k.count, other.count = 10, 10

	tests := []struct {
		name   string
		answer func(opts []byte) []byte
		msg    string
	}{
		{"wrong challenge", func(opts []byte) []byte {
			o := mustOptions(t, opts)
			return k.assertChallenge(t, o.PublicKey.RPID, b64u([]byte("a challenge the server never issued")))
		}, "could not be verified"},
		{"another user's key", func(opts []byte) []byte { return other.assert(t, opts) }, "could not be verified"},
		{"wrong relying party", func(opts []byte) []byte {
			return k.assertChallenge(t, "evil.example", mustOptions(t, opts).PublicKey.Challenge)
		}, "could not be verified"},
		{"tampered signature", func(opts []byte) []byte {
			good := k.assert(t, opts)
			var m map[string]any
			json.Unmarshal(good, &m)
			m["response"].(map[string]any)["signature"] = b64u([]byte("0123456789abcdef0123456789abcdef"))
			b, _ := json.Marshal(m)
			return b
		}, "could not be verified"},
		{"not JSON", func([]byte) []byte { return []byte("{not json") }, "could not be verified"},
		{"no options asked", nil, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := f.mustLogin(e.user.Email)
			var cred []byte
			if tt.answer != nil {
				opts, err := f.svc.WebAuthnLoginOptions(f.ctx, res.LoginToken, f.client)
				if err != nil {
					t.Fatal(err)
				}
				cred = tt.answer(opts)
			} else {
				cred = k.assertChallenge(t, "localhost", b64u(make([]byte, 32)))
			}
			_, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: auth.MethodWebAuthn, Credential: cred}, f.client)
			if e := wantErr(t, err, errs.EUNAUTHORIZED); !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("message %q, want it to say %q", e.Message, tt.msg)
			}
		})
	}

	t.Run("an answer works once", func(t *testing.T) {
		res := f.mustLogin(e.user.Email)
		opts, err := f.svc.WebAuthnLoginOptions(f.ctx, res.LoginToken, f.client)
		if err != nil {
			t.Fatal(err)
		}
		k.count++
		cred := k.assert(t, opts)
		if _, err := f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: auth.MethodWebAuthn, Credential: cred}, f.client); err != nil {
			t.Fatalf("first use: %v", err)
		}
		res2 := f.mustLogin(e.user.Email)
		_, err = f.svc.VerifySecondFactor(f.ctx, res2.LoginToken, auth.Proof{Method: auth.MethodWebAuthn, Credential: cred}, f.client)
		wantErr(t, err, errs.EUNAUTHORIZED)
	})

	t.Run("options expire", func(t *testing.T) {
		res := f.mustLogin(e.user.Email)
		opts, err := f.svc.WebAuthnLoginOptions(f.ctx, res.LoginToken, f.client)
		if err != nil {
			t.Fatal(err)
		}
		f.advance(5*time.Minute + time.Second)
		k.count++
		_, err = f.svc.VerifySecondFactor(f.ctx, res.LoginToken, auth.Proof{Method: auth.MethodWebAuthn, Credential: k.assert(t, opts)}, f.client)
		if e := wantErr(t, err, errs.EUNAUTHORIZED); !strings.Contains(e.Message, "expired") {
			t.Fatalf("message %q, want an expiry", e.Message)
		}
	})
}

// TestWebAuthn_CloneDetected checks the sign-counter rule through the whole
// service: a key whose counter does not move forward is refused, audited
// and leaves the stored counter where it was.
func TestWebAuthn_CloneDetected(t *testing.T) {
	tests := []struct {
		name      string
		first     uint32 // the count of a first, accepted sign-in
		then      uint32 // the count the copy presents
		wantOK    bool
		wantCount int64
	}{
		{"counter goes back", 5, 3, false, 5},
		{"counter repeats", 5, 5, false, 5},
		{"counter drops to zero", 5, 0, false, 5},
		{"counter moves on", 5, 6, true, 6},
		{"passkey that never counts", 0, 0, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newWebAuthnFixture(t)
			e := f.mustEnroll(aliceEmail)
			k, fac := f.mustRegister(e, "Blue key", false)
			k.count = tt.first
			if _, err := f.keyLogin(e, k); err != nil {
				t.Fatalf("first sign-in at count %d: %v", tt.first, err)
			}
			copyKey := *k
			copyKey.count = tt.then
			_, err := f.keyLogin(e, &copyKey)
			clones := f.events("mfa.webauthn.clone_detected")
			if tt.wantOK {
				if err != nil {
					t.Fatalf("count %d after %d refused: %v", tt.then, tt.first, err)
				}
				if len(clones) != 0 {
					t.Fatalf("clone audited for an accepted count")
				}
			} else {
				if e := wantErr(t, err, errs.EUNAUTHORIZED); !strings.Contains(e.Message, "could not be verified") {
					t.Fatalf("message %q", e.Message)
				}
				if len(clones) != 1 || clones[0].Outcome != "failure" || clones[0].UserID != e.user.ID {
					t.Fatalf("clone_detected events = %+v, want one failure for the user", clones)
				}
			}
			got, err := f.store.FindFactor(f.ctx, e.user.ID, fac.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Counter != tt.wantCount {
				t.Fatalf("stored counter %d, want %d", got.Counter, tt.wantCount)
			}
		})
	}
}

func TestPasskeyLogin(t *testing.T) {
	f := newWebAuthnFixture(t)
	e := f.mustEnroll(aliceEmail)
	k, fac := f.mustRegister(e, "Phone", true)
	if fac.Hint != "passkey" {
		t.Fatalf("hint %q, want passkey", fac.Hint)
	}

	signIn := func(t *testing.T, key *softKey) (*auth.Issued, error) {
		t.Helper()
		token, opts, err := f.svc.PasskeyOptions(f.ctx, f.client)
		if err != nil {
			t.Fatal(err)
		}
		o := mustOptions(t, opts)
		if len(o.PublicKey.AllowCredentials) != 0 || o.PublicKey.UserVerification != "required" {
			t.Fatalf("passkey options allow %d credentials, uv %q; want a discoverable request with uv required", len(o.PublicKey.AllowCredentials), o.PublicKey.UserVerification)
		}
		key.count++
		return f.svc.PasskeyLogin(f.ctx, token, key.assert(t, opts), f.client)
	}

	t.Run("OK", func(t *testing.T) {
		iss, err := signIn(t, k)
		if err != nil {
			t.Fatalf("passkey sign-in: %v", err)
		}
		if iss.Session.UserID != e.user.ID || iss.Session.MFAMethod != auth.MethodPasskey {
			t.Fatalf("session user %d method %q, want %d passkey", iss.Session.UserID, iss.Session.MFAMethod, e.user.ID)
		}
		if n := len(f.events("login.passkey")); n != 1 {
			t.Fatalf("%d login.passkey events, want 1", n)
		}
	})

	t.Run("ErrNoUserVerification", func(t *testing.T) {
		noUV := *k
		noUV.uv = false
		_, err := signIn(t, &noUV)
		wantErr(t, err, errs.EUNAUTHORIZED)
		k.count = noUV.count
	})

	t.Run("ErrUnknownAndForgedLookTheSame", func(t *testing.T) {
		stranger, _ := create(t, mustRegisterOptionsFor(t, f, e), true)
		_, errUnknown := signIn(t, stranger)
		forged := *k
		forged.priv, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		_, errForged := signIn(t, &forged)
		a, b := wantErr(t, errUnknown, errs.EUNAUTHORIZED), wantErr(t, errForged, errs.EUNAUTHORIZED)
		if a.Message != b.Message {
			t.Fatalf("unknown passkey says %q, forged signature %q: they must not differ", a.Message, b.Message)
		}
	})

	t.Run("ErrTokenUsedTwice", func(t *testing.T) {
		token, opts, err := f.svc.PasskeyOptions(f.ctx, f.client)
		if err != nil {
			t.Fatal(err)
		}
		k.count++
		cred := k.assert(t, opts)
		if _, err := f.svc.PasskeyLogin(f.ctx, token, cred, f.client); err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.PasskeyLogin(f.ctx, token, cred, f.client)
		if e := wantErr(t, err, errs.EUNAUTHORIZED); !strings.Contains(e.Message, "expired") {
			t.Fatalf("message %q, want an expiry", e.Message)
		}
	})

	t.Run("ErrOrganisationRequiresPassword", func(t *testing.T) {
		st := access.DefaultSettings()
		st.ForbidPasskeySignIn = true
		org := &access.Org{Name: "Strict Ltd", Currency: "EUR", CreatedAt: f.now(), Settings: st}
		if err := f.store.CreateOrg(f.ctx, org, e.user.ID, ledger.DefaultTaxRates(), ledger.DefaultChart()); err != nil {
			t.Fatal(err)
		}
		_, err := signIn(t, k)
		if e := wantErr(t, err, errs.EFORBIDDEN); !strings.Contains(e.Message, "requires your password") {
			t.Fatalf("message %q", e.Message)
		}
		// The same key still works as the second step after the password.
		k.count++
		if _, err := f.keyLogin(e, k); err != nil {
			t.Fatalf("password + passkey as second factor: %v", err)
		}
	})
}

// TestPasskeyLogin_DueResetTakesEffect: a support-assisted reset whose
// waiting period is over takes effect at a passkey sign-in as at a
// password: the passkey goes with every other factor and signs nobody in.
func TestPasskeyLogin_DueResetTakesEffect(t *testing.T) {
	f := newWebAuthnFixture(t)
	e := f.mustEnroll(aliceEmail)
	k, _ := f.mustRegister(e, "Phone", true)
	org := &access.Org{Name: "Reset Ltd", Currency: "GBP", CreatedAt: f.now(), Settings: access.DefaultSettings()}
	if err := f.store.CreateOrg(f.ctx, org, e.user.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	// A reset confirmed by the member an hour ago, effective a minute ago
	// (the reset flow itself is tested in reset_test.go).
	now := f.now().Unix()
	if _, err := f.store.DB().ExecContext(f.ctx, `INSERT INTO mfa_resets (user_id, org_id, started_by, status, confirm_hash, cancel_hash, created_at, confirm_by, confirmed_at, effective_at)
		VALUES (?, ?, 0, 'waiting', ?, ?, ?, ?, ?, ?)`, e.user.ID, org.ID, []byte{1}, []byte{2}, now-7200, now+3600, now-3600, now-60); err != nil {
		t.Fatal(err)
	}
	token, opts, err := f.svc.PasskeyOptions(f.ctx, f.client)
	if err != nil {
		t.Fatal(err)
	}
	k.count++
	_, err = f.svc.PasskeyLogin(f.ctx, token, k.assert(t, opts), f.client)
	if e := wantErr(t, err, errs.EUNAUTHORIZED); !strings.Contains(e.Message, "was reset") {
		t.Fatalf("message %q", e.Message)
	}
	if fs, _ := f.svc.Factors(f.ctx, e.user.ID); len(fs) != 0 {
		t.Fatalf("%d factors left after the reset took effect", len(fs))
	}
	if res := f.mustLogin(aliceEmail); res.Status != "mfa_enrollment_required" {
		t.Fatalf("after the reset the password leads to %q, want enrollment", res.Status)
	}
}

// mustRegisterOptionsFor returns registration options for another, never
// registered credential (the user handle is the user's; the key is not
// stored).
func mustRegisterOptionsFor(t *testing.T, f *fixture, e *enrolled) []byte {
	t.Helper()
	if !f.svc.Fresh(e.issued.Session) {
		e.issued = f.mustSignIn(e)
	}
	opts, err := f.svc.BeginWebAuthnRegistration(f.ctx, e.issued.Session, e.user, "Never finished", true, f.client)
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// FuzzPasskeyLogin feeds arbitrary answers to passkey sign-in: whatever the
// bytes, the service refuses them as unauthorized and never panics.
func FuzzPasskeyLogin(f *testing.F) {
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":"","userHandle":"AAAAAAAAAAE"}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	fx := newWebAuthnFixture(f)
	f.Fuzz(func(t *testing.T, cred []byte) {
		fx.advance(time.Minute) // stay under the per-client limit
		token, _, err := fx.svc.PasskeyOptions(fx.ctx, fx.client)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fx.svc.PasskeyLogin(fx.ctx, token, cred, fx.client)
		if errs.Code(err) != errs.EUNAUTHORIZED {
			t.Fatalf("PasskeyLogin(%q) = %v, want unauthorized", cred, err)
		}
	})
}
