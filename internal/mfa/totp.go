// Package mfa holds Coffer's second-factor primitives: TOTP secrets, their
// enrolment URIs and QR codes, time-window verification with replay
// protection, and single-use recovery codes. It does no I/O; callers persist
// secrets, last accepted steps and hashed recovery codes through their store.
package mfa

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// TOTP parameters. They are the ones every authenticator app supports; other
// values are refused rather than negotiated, so that an enrolled factor
// always works in the app that scanned it.
const (
	// TOTPDigits is the length of a TOTP code.
	TOTPDigits = 6
	// TOTPPeriod is the TOTP time step in seconds.
	TOTPPeriod = 30
	// TOTPSkewSteps is how many steps either side of the server's step are
	// accepted (RFC 6238 §5.2 recommends at most one).
	TOTPSkewSteps = 1
	// ClockSkewDiagnosticSteps is how far either side a code is still
	// recognised, only to tell the user that their device clock is wrong;
	// such codes are never accepted.
	ClockSkewDiagnosticSteps = 10
)

const (
	// secretLen is 160 bits, the length RFC 4226 §4 recommends.
	secretLen = 20
	// minSecretLen is 80 bits, the least that common authenticator apps
	// generate; anything shorter is almost certainly a typo.
	minSecretLen = 10
	// maxSecretLen is the HMAC-SHA-512 block size; longer keys are hashed by
	// HMAC anyway, so they add nothing but a larger parser surface.
	maxSecretLen = 64
	// maxURILen bounds the work done on untrusted otpauth URIs (QR payloads).
	maxURILen = 4096
	// algorithmSHA1 is the only HMAC that Google Authenticator honours;
	// others are silently replaced by SHA-1 in some apps.
	algorithmSHA1 = "SHA1"
)

// Errors returned by VerifyTOTP. Callers must show the user one generic
// message for all of them and send the precise reason to the audit log only.
var (
	ErrCodeMalformed = errors.New("code is not 6 digits")
	ErrCodeInvalid   = errors.New("code does not match")
	ErrCodeReplayed  = errors.New("code already used")
)

// ClockSkewError reports a code that matched a step within
// ±ClockSkewDiagnosticSteps but outside ±TOTPSkewSteps. The code is refused;
// the error exists so that support can tell the user to fix their clock.
type ClockSkewError struct {
	// Offset is how far the device clock is off; positive means the device
	// is ahead of the server.
	Offset time.Duration
}

// Error describes the skew without revealing anything about the secret.
func (e *ClockSkewError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("code matches a time %s ahead of the server: device clock is fast", e.Offset)
	}
	return fmt.Sprintf("code matches a time %s behind the server: device clock is slow", -e.Offset)
}

var b32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a fresh 160-bit TOTP secret from crypto/rand.
func NewTOTPSecret() ([]byte, error) {
	secret := make([]byte, secretLen)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generate totp secret: %w", err)
	}
	return secret, nil
}

// EncodeSecret returns secret as unpadded upper-case base32, the only form
// that every authenticator app accepts both in URIs and by manual entry.
func EncodeSecret(secret []byte) string {
	return b32NoPad.EncodeToString(secret)
}

// DecodeSecret parses a base32 secret as people type or paste it: spaces and
// hyphens are ignored, case does not matter and padding is optional. Secrets
// shorter than 80 bits or longer than 512 bits are refused.
func DecodeSecret(s string) ([]byte, error) {
	if len(s) > maxURILen {
		return nil, errors.New("decode secret: too long")
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-' || c == '\t':
			continue
		case 'a' <= c && c <= 'z':
			// ASCII only: strings.ToUpper would turn e.g. U+0131 into 'I'.
			c -= 'a' - 'A'
		}
		b.WriteByte(c)
	}
	clean := strings.TrimRight(b.String(), "=")
	if clean == "" {
		return nil, errors.New("decode secret: empty")
	}
	// Go's decoder silently drops a dangling symbol, so lengths that no
	// whole number of bytes encodes to are refused here.
	switch len(clean) % 8 {
	case 1, 3, 6:
		return nil, errors.New("decode secret: not valid base32: impossible length")
	}
	secret, err := b32NoPad.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("decode secret: not valid base32: %w", err)
	}
	if err := checkSecret(secret); err != nil {
		return nil, fmt.Errorf("decode secret: %w", err)
	}
	return secret, nil
}

func checkSecret(secret []byte) error {
	switch {
	case len(secret) < minSecretLen:
		return fmt.Errorf("secret is %d bytes, need at least %d", len(secret), minSecretLen)
	case len(secret) > maxSecretLen:
		return fmt.Errorf("secret is %d bytes, at most %d allowed", len(secret), maxSecretLen)
	}
	return nil
}

// FormatSecretForDisplay splits a base32 secret into groups of four for
// people who cannot scan the QR code; DecodeSecret ignores the spaces again.
// Existing whitespace is dropped first so formatting twice changes nothing.
func FormatSecretForDisplay(b32 string) string {
	compact := strings.Join(strings.Fields(b32), "")
	var b strings.Builder
	for i, r := range []rune(compact) {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// escapeLabelPart percent-encodes an issuer or account for the URI label. A
// colon inside either is encoded so the literal colon stays the one separator.
func escapeLabelPart(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), ":", "%3A")
}

// queryEscape encodes a query value with %20 for spaces: some authenticator
// apps show a '+' literally.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// TOTPURI returns the otpauth:// URI (Google's Key Uri Format) that enrols
// secret in an authenticator app, e.g.
// otpauth://totp/Coffer:alice@example.com?secret=...&issuer=Coffer&algorithm=SHA1&digits=6&period=30.
// The parameters are always written, in that order, because some apps ignore
// the label's issuer prefix and others mis-handle missing defaults. An empty
// issuer leaves out both the label prefix and the issuer parameter.
func TOTPURI(issuer, account string, secret []byte) string {
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	if issuer != "" {
		b.WriteString(escapeLabelPart(issuer))
		b.WriteByte(':')
	}
	b.WriteString(escapeLabelPart(account))
	b.WriteString("?secret=")
	b.WriteString(EncodeSecret(secret))
	if issuer != "" {
		b.WriteString("&issuer=")
		b.WriteString(queryEscape(issuer))
	}
	fmt.Fprintf(&b, "&algorithm=%s&digits=%d&period=%d", algorithmSHA1, TOTPDigits, TOTPPeriod)
	return b.String()
}

// ParseTOTPURI parses an otpauth://totp URI strictly. Parameters that would
// make codes differ from ours (algorithm, digits, period other than
// SHA1/6/30) are refused rather than ignored, since ignoring them would
// enrol a factor that never verifies. Missing ones take the Key Uri Format
// defaults, which are the same values. Unknown parameters (such as "image")
// are ignored; repeated known ones are refused. When the label has an issuer
// prefix and an issuer parameter is present they must agree. Errors never
// contain the URI, since it holds the secret.
func ParseTOTPURI(uri string) (issuer, account string, secret []byte, err error) {
	issuer, account, secret, err = parseTOTPURI(uri)
	if err != nil {
		return "", "", nil, fmt.Errorf("parse otpauth uri: %w", err)
	}
	return issuer, account, secret, nil
}

func parseTOTPURI(uri string) (issuer, account string, secret []byte, err error) {
	if len(uri) > maxURILen {
		return "", "", nil, errors.New("too long")
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", "", nil, errors.New("not a valid URI")
	}
	switch {
	case u.Scheme != "otpauth":
		return "", "", nil, errors.New("scheme is not otpauth")
	case u.Opaque != "" || u.User != nil || !strings.EqualFold(u.Host, "totp"):
		return "", "", nil, errors.New("not an otpauth://totp URI")
	case u.Fragment != "":
		return "", "", nil, errors.New("fragment not allowed")
	}

	// Split on the raw label: a colon the issuer or account contains is
	// percent-encoded, so only the first literal colon (or, failing that,
	// the first encoded one, as some generators write) separates them.
	label := u.EscapedPath()
	if u.RawPath != "" && label != u.RawPath {
		return "", "", nil, errors.New("label contains characters that must be percent-encoded")
	}
	label = strings.TrimPrefix(label, "/")
	rawIssuer, rawAccount, hasIssuer := splitLabel(label)
	if hasIssuer {
		if issuer, err = url.PathUnescape(rawIssuer); err != nil {
			return "", "", nil, errors.New("label issuer is not valid percent-encoding")
		}
		if issuer == "" {
			return "", "", nil, errors.New("label has an empty issuer before the colon")
		}
	}
	if account, err = url.PathUnescape(rawAccount); err != nil {
		return "", "", nil, errors.New("label account is not valid percent-encoding")
	}
	// The Key Uri Format allows spaces between the separator and the account.
	account = strings.TrimLeft(account, " ")
	if account == "" {
		return "", "", nil, errors.New("label has no account name")
	}
	if err := checkLabelText(account); err != nil {
		return "", "", nil, fmt.Errorf("account: %w", err)
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", "", nil, errors.New("query is not valid")
	}
	one := func(key string) (string, bool, error) {
		vs, ok := q[key]
		if !ok {
			return "", false, nil
		}
		if len(vs) != 1 {
			return "", false, fmt.Errorf("parameter %s given %d times", key, len(vs))
		}
		return vs[0], true, nil
	}

	s, ok, err := one("secret")
	if err != nil {
		return "", "", nil, err
	}
	if !ok {
		return "", "", nil, errors.New("secret parameter missing")
	}
	if secret, err = DecodeSecret(s); err != nil {
		return "", "", nil, err
	}

	qIssuer, ok, err := one("issuer")
	if err != nil {
		return "", "", nil, err
	}
	if ok {
		if hasIssuer && qIssuer != issuer {
			return "", "", nil, errors.New("issuer parameter differs from the label's issuer")
		}
		issuer = qIssuer
	}
	if issuer != "" {
		if err := checkLabelText(issuer); err != nil {
			return "", "", nil, fmt.Errorf("issuer: %w", err)
		}
	}

	if v, ok, err := one("algorithm"); err != nil {
		return "", "", nil, err
	} else if ok && asciiUpper(v) != algorithmSHA1 {
		return "", "", nil, fmt.Errorf("unsupported algorithm %.16q: only SHA1 is supported", v)
	}
	if v, ok, err := one("digits"); err != nil {
		return "", "", nil, err
	} else if ok && v != fmt.Sprint(TOTPDigits) {
		return "", "", nil, fmt.Errorf("unsupported digits %.16q: only %d is supported", v, TOTPDigits)
	}
	if v, ok, err := one("period"); err != nil {
		return "", "", nil, err
	} else if ok && v != fmt.Sprint(TOTPPeriod) {
		return "", "", nil, fmt.Errorf("unsupported period %.16q: only %d is supported", v, TOTPPeriod)
	}
	return issuer, account, secret, nil
}

// splitLabel splits a still-escaped label at its first literal colon, or
// else at its first "%3A".
func splitLabel(label string) (issuer, account string, ok bool) {
	if i := strings.IndexByte(label, ':'); i >= 0 {
		return label[:i], label[i+1:], true
	}
	if i := strings.Index(asciiUpper(label), "%3A"); i >= 0 {
		return label[:i], label[i+3:], true
	}
	return "", label, false
}

// checkLabelText refuses what an authenticator app would show confusingly or
// a log line would carry dangerously.
func checkLabelText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return errors.New("contains control characters")
		}
	}
	return nil
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// maxQRSize bounds the image (and so the memory) a caller can ask for; a
// phone screen never needs more.
const maxQRSize = 4096

// qrQuietZone is the margin in modules the QR specification requires; the
// barcode library draws none, and many phone scanners fail without it.
const qrQuietZone = 4

// QRPNG renders content as a size×size PNG QR code with error correction
// level M. Modules are whole pixels (no interpolation blur) and any pixels
// left over widen the white quiet zone, which is at least four modules.
func QRPNG(content string, size int) ([]byte, error) {
	if size > maxQRSize {
		return nil, fmt.Errorf("encode qr: size %d exceeds %d pixels", size, maxQRSize)
	}
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("encode qr: %w", err)
	}
	modules := code.Bounds().Dx()
	scale := size / (modules + 2*qrQuietZone)
	if scale < 1 {
		return nil, fmt.Errorf("encode qr: %d pixels is too small for %d modules plus quiet zone", size, modules)
	}
	offset := (size - modules*scale) / 2

	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	// Index 0 is white, so the zero-valued image is already all quiet zone.
	minPt := code.Bounds().Min
	for my := 0; my < modules; my++ {
		for mx := 0; mx < modules; mx++ {
			if !isDark(code.At(minPt.X+mx, minPt.Y+my)) {
				continue
			}
			for y := offset + my*scale; y < offset+(my+1)*scale; y++ {
				row := img.Pix[y*img.Stride:]
				for x := offset + mx*scale; x < offset+(mx+1)*scale; x++ {
					row[x] = 1
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}

func isDark(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r+g+b < 3*0x8000
}

// TOTPStep returns the RFC 6238 time step containing t (T0 = 0, 30 s),
// rounding towards minus infinity so that times before 1970 are not folded
// onto step 0.
func TOTPStep(t time.Time) int64 {
	s := t.Unix()
	step := s / TOTPPeriod
	if s%TOTPPeriod < 0 {
		step--
	}
	return step
}

// TOTPCode returns the 6-digit SHA-1 code for the 30 s step containing t.
func TOTPCode(secret []byte, t time.Time) (string, error) {
	return TOTPCodeCustom(secret, t, TOTPDigits, algorithmSHA1)
}

// HOTPCode returns the RFC 4226 code for counter with 6 to 8 digits (the
// range RFC 4226 §5.3 defines).
func HOTPCode(secret []byte, counter uint64, digits int) (string, error) {
	return generate(secret, counter, digits, otp.AlgorithmSHA1)
}

// TOTPCodeCustom returns the TOTP code with other parameters than ours. It
// exists for the RFC 6238 test vectors (8 digits, SHA-256/512) and is not a
// way to enrol such factors: VerifyTOTP only knows SHA1/6/30. alg is "SHA1",
// "SHA256" or "SHA512".
func TOTPCodeCustom(secret []byte, t time.Time, digits int, alg string) (string, error) {
	var a otp.Algorithm
	switch alg {
	case "SHA1":
		a = otp.AlgorithmSHA1
	case "SHA256":
		a = otp.AlgorithmSHA256
	case "SHA512":
		a = otp.AlgorithmSHA512
	default:
		return "", fmt.Errorf("totp code: unsupported algorithm %.16q", alg)
	}
	step := TOTPStep(t)
	if step < 0 {
		return "", errors.New("totp code: time before the Unix epoch")
	}
	return generate(secret, uint64(step), digits, a)
}

func generate(secret []byte, counter uint64, digits int, alg otp.Algorithm) (string, error) {
	if digits < 6 || digits > 8 {
		return "", fmt.Errorf("otp code: %d digits, want 6 to 8", digits)
	}
	if len(secret) == 0 || len(secret) > maxSecretLen {
		return "", fmt.Errorf("otp code: secret is %d bytes", len(secret))
	}
	code, err := hotp.GenerateCodeCustom(base32.StdEncoding.EncodeToString(secret), counter, hotp.ValidateOpts{
		Digits:    otp.Digits(digits),
		Algorithm: alg,
	})
	if err != nil {
		return "", fmt.Errorf("otp code: %w", err)
	}
	return code, nil
}

// VerifyTOTP checks code against the steps TOTPStep(now)-1 … +1 and returns
// the step it matched; the caller must store that step as the factor's new
// lastStep in the same transaction that accepts the login, so that the code
// cannot be used twice (RFC 6238 §5.2, ASVS 2.8.4). lastStep is -1 for a
// factor that has never been used.
//
// Every candidate in ±ClockSkewDiagnosticSteps is computed and compared in
// constant time, with no early exit, so timing tells nothing about which
// step or how many digits matched. A match at a step <= lastStep gives
// ErrCodeReplayed; when both a used and an unused step match, the oldest
// unused one is taken so that the user's next code stays usable.
//
// Spaces anywhere in code are ignored (apps display "123 456"); anything
// other than six ASCII digits then gives ErrCodeMalformed. A code that
// matches only outside ±TOTPSkewSteps but within ±ClockSkewDiagnosticSteps
// gives *ClockSkewError, anything else ErrCodeInvalid. On error the returned
// step is lastStep, so that storing it by mistake cannot roll back the
// replay guard.
func VerifyTOTP(secret []byte, code string, now time.Time, lastStep int64) (step int64, err error) {
	if err := checkSecret(secret); err != nil {
		return lastStep, fmt.Errorf("verify totp: %w", err)
	}
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if !isDigits(code, TOTPDigits) {
		return lastStep, ErrCodeMalformed
	}

	const n = 2*ClockSkewDiagnosticSteps + 1
	nowStep := TOTPStep(now)
	var matched [n]int
	for i := range matched {
		st := nowStep + int64(i-ClockSkewDiagnosticSteps)
		if st < 0 {
			continue
		}
		want, err := generate(secret, uint64(st), TOTPDigits, otp.AlgorithmSHA1)
		if err != nil {
			return lastStep, fmt.Errorf("verify totp: %w", err)
		}
		matched[i] = subtle.ConstantTimeCompare([]byte(want), []byte(code))
	}

	var (
		accepted    int64
		found       bool
		replayed    bool
		skewStep    int64
		skewFound   bool
		skewDistant int64
	)
	for i := range matched {
		if matched[i] != 1 {
			continue
		}
		d := int64(i - ClockSkewDiagnosticSteps)
		st := nowStep + d
		if d >= -TOTPSkewSteps && d <= TOTPSkewSteps {
			switch {
			case st <= lastStep:
				replayed = true
			case !found:
				accepted, found = st, true
			}
			continue
		}
		// Report the skewed match nearest to now: it is the likeliest clock
		// error, and a far one is more likely a chance collision.
		if dist := max(d, -d); !skewFound || dist < skewDistant {
			skewStep, skewFound, skewDistant = st, true, dist
		}
	}
	switch {
	case found:
		return accepted, nil
	case replayed:
		return lastStep, ErrCodeReplayed
	case skewFound && skewStep <= lastStep:
		// An old code replayed after a newer one was accepted is a replay,
		// whatever window it falls in; report it as such to the audit log.
		return lastStep, ErrCodeReplayed
	case skewFound:
		return lastStep, &ClockSkewError{Offset: time.Duration(skewStep-nowStep) * TOTPPeriod * time.Second}
	}
	return lastStep, ErrCodeInvalid
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
