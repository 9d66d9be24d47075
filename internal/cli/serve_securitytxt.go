package cli

import (
	"errors"
	"flag"
	"fmt"
	neturl "net/url"
	"regexp"
	"strings"
	"time"
)

// securityTxtConfig holds the values of /.well-known/security.txt (RFC
// 9116) beyond its Contact line (--security-contact).
type securityTxtConfig struct {
	PolicyURL string
	Languages string
	// Expires is when the file's values go stale; zero: a year after
	// start.
	Expires time.Time
	// now is the clock for validation; tests replace it.
	now func() time.Time
}

func (c *securityTxtConfig) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.PolicyURL, "security-policy-url", "", "Policy line of /.well-known/security.txt (default: the public URL's /security/policy)")
	fs.StringVar(&c.Languages, "security-languages", "en", "Preferred-Languages line of /.well-known/security.txt: comma-separated language tags")
	fs.Func("security-expires", "Expires line of /.well-known/security.txt: a date (YYYY-MM-DD) or RFC 3339 time in the future (default: a year after start)", func(v string) error {
		t, err := parseExpires(v)
		if err != nil {
			return err
		}
		c.Expires = t
		return nil
	})
}

// parseExpires reads an RFC 3339 time or a date (the end of that day, UTC).
func parseExpires(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if d, err := time.Parse("2006-01-02", v); err == nil {
		return d.Add(24*time.Hour - time.Second), nil
	}
	return time.Time{}, fmt.Errorf("want a date (YYYY-MM-DD) or an RFC 3339 time, got %q", v)
}

// languageTag is a loose BCP 47 shape: letters, digits and hyphens.
var languageTag = regexp.MustCompile(`^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$`)

func (c securityTxtConfig) validate() error {
	var problems []error
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	if c.PolicyURL != "" {
		if u, err := neturl.Parse(c.PolicyURL); err != nil || u.Scheme != "https" || u.Host == "" || strings.ContainsAny(c.PolicyURL, " \r\n") {
			problems = append(problems, fmt.Errorf("--security-policy-url %q: want an https:// URL", c.PolicyURL))
		}
	}
	for _, tag := range strings.Split(c.Languages, ",") {
		if !languageTag.MatchString(strings.TrimSpace(tag)) {
			problems = append(problems, fmt.Errorf("--security-languages %q: want comma-separated language tags such as en, fr-CA", c.Languages))
			break
		}
	}
	if !c.Expires.IsZero() && !c.Expires.After(now()) {
		problems = append(problems, fmt.Errorf("--security-expires %s is not in the future: security.txt would be stale at once", c.Expires.Format(time.RFC3339)))
	}
	return errors.Join(problems...)
}

// validateSecurityContact checks --security-contact: comma-separated
// mailto:, https: or tel: URIs, each becoming one Contact line.
func validateSecurityContact(v string) error {
	for _, c := range strings.Split(v, ",") {
		c = strings.TrimSpace(c)
		u, err := neturl.Parse(c)
		if c == "" || err != nil || strings.ContainsAny(c, " \r\n") || (u.Scheme != "mailto" && u.Scheme != "https" && u.Scheme != "tel") {
			return fmt.Errorf("--security-contact %q: want comma-separated mailto:, https:// or tel: URIs", v)
		}
	}
	return nil
}
