package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"coffer/internal/sms"
)

// Providers of coffer serve --sms-provider.
const (
	smsProviderOutbox  = "outbox"
	smsProviderWebhook = "webhook"
)

// envSMSWebhookAuth holds the value of the webhook's auth header, so the
// credential never appears in argv (ps, shell history).
const envSMSWebhookAuth = "COFFER_SMS_WEBHOOK_AUTH"

const serveSMSHelp = `
Codes by SMS or voice call go through --sms-provider: "outbox" (the
default, for development) appends each message as a JSON line to
--sms-outbox (default DATA/sms-outbox.jsonl, mode 0600) and sends nothing;
"webhook" POSTs each message to --sms-webhook-url (https, or http to a
loopback address) with a body from --sms-webhook-template (a Go
text/template over .To, .Body and .Channel, with a json function; default
{"to":…,"body":…,"channel":…}), within 10 s. With
--sms-webhook-auth-header NAME, the header's value is read from
$COFFER_SMS_WEBHOOK_AUTH, or from --sms-webhook-auth-file FILE.
`

// smsConfig is the SMS/voice provider of coffer serve.
type smsConfig struct {
	Provider          string
	Outbox            string // default DATA/sms-outbox.jsonl
	WebhookURL        string
	WebhookTemplate   string // a file
	WebhookAuthHeader string
	WebhookAuthFile   string
}

func (c *smsConfig) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Provider, "sms-provider", smsProviderOutbox, "how codes by SMS or voice call are sent: outbox (development: a local file) or webhook")
	fs.StringVar(&c.Outbox, "sms-outbox", "", "outbox file of --sms-provider outbox (default DATA/sms-outbox.jsonl)")
	fs.StringVar(&c.WebhookURL, "sms-webhook-url", "", "URL --sms-provider webhook POSTs each message to (https; http only to a loopback address)")
	fs.StringVar(&c.WebhookTemplate, "sms-webhook-template", "", "file with the text/template of the webhook's body (default: JSON with to, body and channel)")
	fs.StringVar(&c.WebhookAuthHeader, "sms-webhook-auth-header", "", "header the webhook sends its credential in; the value comes from $"+envSMSWebhookAuth+" or --sms-webhook-auth-file")
	fs.StringVar(&c.WebhookAuthFile, "sms-webhook-auth-file", "", "file holding the value of --sms-webhook-auth-header (instead of $"+envSMSWebhookAuth+")")
}

func (c smsConfig) validate() error {
	var problems []error
	switch c.Provider {
	case smsProviderOutbox:
		if c.WebhookURL != "" || c.WebhookTemplate != "" || c.WebhookAuthHeader != "" || c.WebhookAuthFile != "" {
			problems = append(problems, errors.New("--sms-webhook-* flags need --sms-provider webhook"))
		}
	case smsProviderWebhook:
		if c.WebhookURL == "" {
			problems = append(problems, errors.New("--sms-provider webhook needs --sms-webhook-url"))
		}
		if c.WebhookAuthFile != "" && c.WebhookAuthHeader == "" {
			problems = append(problems, errors.New("--sms-webhook-auth-file needs --sms-webhook-auth-header"))
		}
		if c.Outbox != "" {
			problems = append(problems, errors.New("--sms-outbox needs --sms-provider outbox"))
		}
	default:
		problems = append(problems, fmt.Errorf("--sms-provider %q: want outbox or webhook", c.Provider))
	}
	return errors.Join(problems...)
}

// provider builds the configured provider.
func (c smsConfig) provider(dataDir string, env Env) (sms.Provider, error) {
	if c.Provider != smsProviderWebhook {
		path := c.Outbox
		if path == "" {
			path = filepath.Join(dataDir, "sms-outbox.jsonl")
		}
		return sms.NewOutbox(path)
	}
	wc := sms.WebhookConfig{URL: c.WebhookURL, AuthHeader: c.WebhookAuthHeader}
	if c.WebhookTemplate != "" {
		b, err := os.ReadFile(c.WebhookTemplate)
		if err != nil {
			return nil, fmt.Errorf("--sms-webhook-template: %w", err)
		}
		wc.Template = string(b)
	}
	if c.WebhookAuthHeader != "" {
		wc.AuthValue = env.Getenv(envSMSWebhookAuth)
		if c.WebhookAuthFile != "" {
			b, err := os.ReadFile(c.WebhookAuthFile)
			if err != nil {
				return nil, fmt.Errorf("--sms-webhook-auth-file: %w", err)
			}
			wc.AuthValue = strings.TrimSpace(string(b))
		}
		if wc.AuthValue == "" {
			return nil, fmt.Errorf("--sms-webhook-auth-header %s: set its value in $%s or --sms-webhook-auth-file", c.WebhookAuthHeader, envSMSWebhookAuth)
		}
	}
	return sms.NewWebhook(wc)
}
