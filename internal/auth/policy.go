package auth

import (
	_ "embed"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"coffer/internal/errs"
)

// commonPasswordsFile is the breached/common password list, one lowercase
// entry per line; see COMMON-PASSWORDS-SOURCE.md for where it comes from.
//
//go:embed common-passwords.txt
var commonPasswordsFile string

// commonPasswords is built on first use, not at init, so that commands that
// never check a password (migrations, backups) do not pay for a 49k-entry map.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, strings.Count(commonPasswordsFile, "\n")+1)
	for line := range strings.Lines(commonPasswordsFile) {
		if w := strings.ToLower(strings.TrimSpace(line)); w != "" {
			set[w] = struct{}{}
		}
	}
	return set
})

// minStrippedCommonLen is the shortest list entry that still refuses a
// password made of it plus trailing digits or punctuation. Shorter entries
// ("love", "abc12") would refuse too many reasonable passwords.
const minStrippedCommonLen = 6

// minPersonalTokenLen is the shortest email local part or name word that a
// password may not contain; shorter ones ("Al", "li") occur by chance.
const minPersonalTokenLen = 4

// PasswordPolicy is the password rule set, after NIST SP 800-63B: a length
// range, a breached-password list and no use of the account's own email or
// name. There are deliberately no composition rules and no forced rotation,
// which NIST and ASVS (2.1.9, 2.1.10) advise against.
type PasswordPolicy struct {
	MinLength int // in Unicode code points
	MaxLength int // in Unicode code points; longer passwords are refused, never truncated
}

// DefaultPasswordPolicy returns the policy in SECURITY-CHECKLIST.md: at least
// 12 code points (PCI DSS 8.3.6) and up to 128, comfortably over the 64 that
// NIST requires be accepted.
func DefaultPasswordPolicy() PasswordPolicy {
	return PasswordPolicy{MinLength: 12, MaxLength: 128}
}

// Validate reports every way p breaks the floors of the standards (minimum
// at least 8, maximum at least 64, minimum not above maximum) as one
// errs.EINVALID error, so an operator cannot configure a weaker policy.
func (p PasswordPolicy) Validate() error {
	var problems []string
	if p.MinLength < 8 {
		problems = append(problems, "minimum length must be at least 8")
	}
	if p.MaxLength < 64 {
		problems = append(problems, "maximum length must be at least 64")
	}
	if p.MinLength > p.MaxLength {
		problems = append(problems, "minimum length must not exceed maximum length")
	}
	if len(problems) > 0 {
		return errs.Errorf(errs.EINVALID, "Invalid password policy: %s.", strings.Join(problems, "; "))
	}
	return nil
}

// Check returns nil if password is acceptable for the account with the given
// email and name, or an errs.EINVALID error whose message names the first
// rule it breaks, checked in this order: valid UTF-8, minimum length, maximum
// length, common/breached list (including a single repeated character), and
// containing the email or name. Any characters are allowed, spaces and emoji
// included, and length counts code points so that non-Latin scripts are not
// penalised. Call it at registration, password change and reset (ASVS 2.1.7).
func (p PasswordPolicy) Check(password, email, name string) error {
	if !utf8.ValidString(password) {
		return errs.Errorf(errs.EINVALID, "Password must be valid UTF-8 text.")
	}
	n := utf8.RuneCountInString(password)
	if n < p.MinLength {
		return errs.Errorf(errs.EINVALID, "Password must be at least %d characters long.", p.MinLength)
	}
	if n > p.MaxLength {
		return errs.Errorf(errs.EINVALID, "Password must be at most %d characters long.", p.MaxLength)
	}
	if isSingleRepeatedRune(password) {
		return errs.Errorf(errs.EINVALID, "Password must not be a single character repeated.")
	}
	if isCommonPassword(password) {
		return errs.Errorf(errs.EINVALID, "Password is on a list of commonly used or breached passwords; choose another.")
	}
	if containsPersonalInfo(password, email, name) {
		return errs.Errorf(errs.EINVALID, "Password must not contain your email address or name.")
	}
	return nil
}

// isSingleRepeatedRune reports whether s is one character repeated, which
// the list cannot cover at every length.
func isSingleRepeatedRune(s string) bool {
	first, _ := utf8.DecodeRuneInString(s)
	for _, r := range s {
		if r != first {
			return false
		}
	}
	return s != ""
}

// isCommonPassword reports whether password, ignoring case, is on the list
// as typed, with surrounding whitespace trimmed, or as a listed word of at
// least minStrippedCommonLen characters followed only by digits, punctuation,
// symbols or spaces ("Password2024!" is "password" to an attacker's rules).
func isCommonPassword(password string) bool {
	set := commonPasswords()
	lower := strings.ToLower(password)
	if _, ok := set[lower]; ok {
		return true
	}
	trimmed := strings.TrimSpace(lower)
	if _, ok := set[trimmed]; ok {
		return true
	}
	stem := strings.TrimRightFunc(trimmed, func(r rune) bool {
		return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r)
	})
	if utf8.RuneCountInString(stem) >= minStrippedCommonLen {
		if _, ok := set[stem]; ok {
			return true
		}
	}
	return false
}

// containsPersonalInfo reports whether password, ignoring case, contains the
// whole email, the email's local part, the whole name, or any word of the
// name, each only when at least minPersonalTokenLen characters long: these
// are the first guesses of anyone targeting the account.
func containsPersonalInfo(password, email, name string) bool {
	lower := strings.ToLower(password)
	var tokens []string
	if email = strings.ToLower(strings.TrimSpace(email)); email != "" {
		tokens = append(tokens, email)
		if at := strings.LastIndexByte(email, '@'); at >= 0 {
			tokens = append(tokens, email[:at])
		}
	}
	if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
		tokens = append(tokens, name)
		tokens = append(tokens, strings.FieldsFunc(name, func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.IsMark(r)
		})...)
	}
	for _, t := range tokens {
		if utf8.RuneCountInString(t) >= minPersonalTokenLen && strings.Contains(lower, t) {
			return true
		}
	}
	return false
}
