package auth

import (
	"strings"
	"testing"
	"unicode/utf8"

	"coffer/internal/errs"
)

func TestPasswordPolicy_Check(t *testing.T) {
	const (
		msgShort    = "Password must be at least 12 characters long."
		msgLong     = "Password must be at most 128 characters long."
		msgCommon   = "Password is on a list of commonly used or breached passwords; choose another."
		msgRepeated = "Password must not be a single character repeated."
		msgPersonal = "Password must not contain your email address or name."
		msgUTF8     = "Password must be valid UTF-8 text."

		email = "jdoe.accounts@example.com"
		name  = "Jane Marie Doe"
	)
	tests := []struct {
		name     string
		password string
		email    string
		userName string
		wantMsg  string // "" means accepted
	}{
		{"OK", "tulip quartz orbit", email, name, ""},
		{"empty", "", email, name, msgShort},
		{"short", "tulipquartz", email, name, msgShort},
		{"exactly 12 ascii", "tulipquartzo", email, name, ""},
		// 12 code points but 21 bytes: length is not counted in bytes.
		{"exactly 12 code points multibyte", "ñandú-çœ€ßπ✓", email, name, ""},
		// 11 code points but 18 bytes: would pass if bytes were counted.
		{"11 code points multibyte", "ñandú-çœ€ßπ", email, name, msgShort},
		{"64 characters accepted", strings.Repeat("tulip-quartz-orbit ", 4)[:64], email, name, ""},
		{"128 characters accepted", strings.Repeat("tulip-quartz-orbit ", 7)[:128], email, name, ""},
		{"129 characters refused, not truncated", strings.Repeat("tulip-quartz-orbit ", 7)[:129], email, name, msgLong},
		{"128 emoji accepted", strings.Repeat("🦊🌵", 64), email, name, ""},
		{"spaces allowed", "correct horse battery staple", email, name, ""},
		{"leading and trailing spaces kept", "  tulip quartz orbit  ", email, name, ""},
		{"emoji allowed", "🦊 runs past 🌵 at dawn", email, name, ""},
		{"no composition rules: all lowercase", "violetmoondrifts", email, name, ""},
		{"invalid UTF-8", "tulip quartz \xff\xfe orbit", email, name, msgUTF8},
		{"breached entry", "leavemealone", email, name, msgCommon},
		{"breached entry other case", "LeaveMeAlone", email, name, msgCommon},
		{"breached entry with whitespace", "  qwerty123456\t", email, name, msgCommon},
		{"breached word plus digits", "password123456", email, name, msgCommon},
		{"breached word plus digits and punctuation", "Sunshine2024!$", email, name, msgCommon},
		{"short breached word plus digits allowed", "love12345678", email, name, ""},
		{"breached word inside a longer phrase allowed", "password is not my tulip", email, name, ""},
		{"single character repeated", "aaaaaaaaaaaaaaaa", email, name, msgRepeated},
		{"single emoji repeated", strings.Repeat("🦊", 12), email, name, msgRepeated},
		{"contains email local part", "my jdoe.accounts key", email, name, msgPersonal},
		{"contains email local part other case", "my JDoe.Accounts key", email, name, msgPersonal},
		{"contains whole email", "x jdoe.accounts@example.com", email, name, msgPersonal},
		{"short local part allowed", "bobsled quartz orbit", "bob@example.com", name, ""},
		{"contains name word", "tulip marie quartz", email, name, msgPersonal},
		{"contains name word other case", "tulipJANEquartz", email, name, msgPersonal},
		{"contains whole name", "xx Jane Marie Doe xx", email, name, msgPersonal},
		{"short name word allowed", "doe-eyed tulip orbit", email, name, ""},
		{"hyphenated name word", "tulip-quartz-smyth", email, "Ann Lee-Smyth", msgPersonal},
		{"no email or name given", "tulip quartz orbit", "", "", ""},
	}
	p := DefaultPasswordPolicy()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(tt.password, tt.email, tt.userName)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("Check(%q) = %v, want nil", tt.password, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check(%q) = nil, want %q", tt.password, tt.wantMsg)
			}
			if e := errs.As(err); e == nil || e.Code != errs.EINVALID {
				t.Fatalf("Check(%q) = %#v, want *errs.Error with code %q", tt.password, err, errs.EINVALID)
			}
			if got := errs.Message(err); got != tt.wantMsg {
				t.Fatalf("Check(%q) message = %q, want %q", tt.password, got, tt.wantMsg)
			}
		})
	}
}

// TestPasswordPolicy_CheckOrder pins which rule is reported when several
// fail, so the user fixes the most basic problem first.
func TestPasswordPolicy_CheckOrder(t *testing.T) {
	p := DefaultPasswordPolicy()
	tests := []struct {
		name     string
		password string
		want     string
	}{
		{"length before list", "password", "Password must be at least 12 characters long."},
		{"list before personal", "leavemealone", "Password is on a list of commonly used or breached passwords; choose another."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The name matches every password here, so only order decides.
			if got := errs.Message(p.Check(tt.password, "", tt.password)); got != tt.want {
				t.Fatalf("message = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPasswordPolicy_Validate(t *testing.T) {
	tests := []struct {
		name    string
		p       PasswordPolicy
		wantErr bool
	}{
		{"default", DefaultPasswordPolicy(), false},
		{"floors", PasswordPolicy{MinLength: 8, MaxLength: 64}, false},
		{"nist rev 4 single factor", PasswordPolicy{MinLength: 15, MaxLength: 256}, false},
		{"min too small", PasswordPolicy{MinLength: 7, MaxLength: 128}, true},
		{"max too small", PasswordPolicy{MinLength: 12, MaxLength: 63}, true},
		{"min above max", PasswordPolicy{MinLength: 100, MaxLength: 64}, true},
		{"zero", PasswordPolicy{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && errs.Code(err) != errs.EINVALID {
				t.Fatalf("Validate() code = %q, want %q", errs.Code(err), errs.EINVALID)
			}
		})
	}
}

// TestCommonPasswordsList guards the embedded file's format: the loader
// lowercases anyway, but a broken file (empty, truncated, CRLF) should fail
// here rather than silently weaken the check.
func TestCommonPasswordsList(t *testing.T) {
	if len(commonPasswordsFile) > 1<<20 {
		t.Errorf("list is %d bytes, want under 1 MiB", len(commonPasswordsFile))
	}
	set := commonPasswords()
	if len(set) < 40000 {
		t.Fatalf("list has %d entries, want at least 40000", len(set))
	}
	lines := strings.Split(strings.TrimSuffix(commonPasswordsFile, "\n"), "\n")
	if len(lines) != len(set) {
		t.Errorf("%d lines but %d distinct entries: file has duplicates or blanks", len(lines), len(set))
	}
	for i, l := range lines {
		if l == "" || l != strings.ToLower(strings.TrimSpace(l)) || !utf8.ValidString(l) {
			t.Fatalf("line %d %q is not a trimmed lowercase entry", i+1, l)
		}
	}
	for _, w := range []string{"123456", "password", "qwerty", "iloveyou", "leavemealone"} {
		if _, ok := set[w]; !ok {
			t.Errorf("list lacks %q", w)
		}
	}
}
