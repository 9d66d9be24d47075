package cli

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"coffer/client"
	"coffer/internal/mfa"
	"coffer/internal/verify"
)

const verifyHelp = `Usage:
  coffer verify pair URL [--name NAME] [--store FILE] [--ca-file PEM]
  coffer verify list [--store FILE]
  coffer verify approve [--account EMAIL] [--wait 60s] [--not-me] [--store FILE] [--ca-file PEM]
  coffer verify code [--account EMAIL] [--store FILE]

Coffer Verify approves your Coffer sign-ins from this device.

pair     pairs this device with your account, using the one-time pairing
         link shown at Settings → Security → Coffer Verify. It makes a new
         Ed25519 key for the account; the key never leaves the device.
list     lists the paired accounts.
approve  waits for a sign-in request, shows where it comes from and asks
         for the number shown on the sign-in screen. Answer "n" (or "deny")
         to deny it; you are then asked whether it was you: if not, you and
         your organisations' administrators are alerted. Picking a wrong
         number denies the request.
code     prints the current offline code (use it as an authenticator-app
         code when the device has no connection).

The store (default $XDG_CONFIG_HOME/coffer-verify/devices.enc, or
~/.config/coffer-verify/devices.enc) is encrypted with a key derived from a
passphrase (argon2id): $COFFER_VERIFY_PASSPHRASE, or asked for on the
terminal. The server's certificate is checked against --ca-file (for a
self-signed server: its DATA/tls-cert.pem) or the system's roots.
`

// verifyCmd is what every verify subcommand shares.
type verifyCmd struct {
	env   Env
	in    *bufio.Reader
	store string
}

func runVerify(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(env.Stderr, verifyHelp)
		if len(args) > 0 {
			return nil
		}
		return errUsage
	}
	c := &verifyCmd{env: env, in: bufio.NewReader(env.Stdin)}
	switch args[0] {
	case "pair":
		return c.pair(ctx, args[1:])
	case "list":
		return c.list(args[1:])
	case "approve":
		return c.approve(ctx, args[1:])
	case "code":
		return c.code(args[1:])
	default:
		fmt.Fprintf(env.Stderr, "unknown verify command %q\n\n%s", args[0], verifyHelp)
		return errUsage
	}
}

func (c *verifyCmd) flags(name string) *flag.FlagSet {
	fs := newFlagSet("verify "+name, verifyHelp, c.env)
	fs.StringVar(&c.store, "store", "", "encrypted store file (default: $XDG_CONFIG_HOME/coffer-verify/devices.enc)")
	return fs
}

func (c *verifyCmd) storePath() (string, error) {
	if c.store != "" {
		return c.store, nil
	}
	return verify.DefaultStorePath(c.env.Getenv)
}

// readLine reads one answer from standard input.
func (c *verifyCmd) readLine() (string, error) {
	line, err := c.in.ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no answer on standard input")
		}
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// readSecret reads a passphrase without echoing it when standard input is
// a terminal, else as a line (scripts, tests).
func (c *verifyCmd) readSecret() (string, error) {
	if f, ok := c.env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.env.Stderr)
		return string(b), err
	}
	return c.readLine()
}

// passphrase is $COFFER_VERIFY_PASSPHRASE or asked for (twice for a new
// store).
func (c *verifyCmd) passphrase(path string) ([]byte, error) {
	if v := c.env.Getenv("COFFER_VERIFY_PASSPHRASE"); v != "" {
		return []byte(v), nil
	}
	_, statErr := os.Stat(path)
	isNew := errors.Is(statErr, os.ErrNotExist)
	if isNew {
		fmt.Fprintf(c.env.Stderr, "New store %s. Choose a passphrase (8 characters or more): ", path)
	} else {
		fmt.Fprintf(c.env.Stderr, "Passphrase for %s: ", path)
	}
	p, err := c.readSecret()
	if err != nil {
		return nil, fmt.Errorf("passphrase: %w", err)
	}
	if isNew {
		if len(p) < 8 {
			return nil, errors.New("the passphrase must have 8 characters or more")
		}
		fmt.Fprint(c.env.Stderr, "Repeat the passphrase: ")
		again, err := c.readSecret()
		if err != nil {
			return nil, fmt.Errorf("passphrase: %w", err)
		}
		if again != p {
			return nil, errors.New("the passphrases differ")
		}
	}
	return []byte(p), nil
}

func (c *verifyCmd) load() (*verify.State, string, []byte, error) {
	path, err := c.storePath()
	if err != nil {
		return nil, "", nil, err
	}
	pass, err := c.passphrase(path)
	if err != nil {
		return nil, "", nil, err
	}
	st, err := verify.Load(path, pass)
	if err != nil {
		return nil, "", nil, err
	}
	return st, path, pass, nil
}

// parseWithArg parses flags around one positional argument (flags may
// come before or after it).
func parseWithArg(fs *flag.FlagSet, args []string, what string) (string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return "", err
			}
			return "", errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		fmt.Fprintf(fs.Output(), "give exactly one %s\n", what)
		fs.Usage()
		return "", errUsage
	}
	return pos[0], nil
}

func (c *verifyCmd) pair(ctx context.Context, args []string) error {
	fs := c.flags("pair")
	host, _ := os.Hostname()
	name := fs.String("name", host, "name of this device, shown in your security settings")
	caFile := fs.String("ca-file", "", "PEM file with the certificate (or CA) to trust for the server (default: system roots)")
	link, err := parseWithArg(fs, args, "pairing link")
	if err != nil {
		return err
	}
	server, token, err := verify.ParsePairingURL(link)
	if err != nil {
		return err
	}
	// The store opens first: a wrong passphrase must not waste the
	// one-time link.
	st, path, pass, err := c.load()
	if err != nil {
		return err
	}
	hc, err := verify.HTTPClient(*caFile)
	if err != nil {
		return err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	res, err := client.New(server, hc).CompleteVerifyPairing(ctx, token, pub, *name)
	if err != nil {
		return apiErr(err)
	}
	acc := &verify.Account{Server: server, Account: res.Account, Name: res.Name, DeviceID: res.DeviceID, PrivateKey: priv,
		TOTPSecret: res.TOTPSecret, PairedAt: time.Now().UTC()}
	if *caFile != "" {
		if acc.CAFile, err = absPath(*caFile); err != nil {
			return err
		}
	}
	st.Accounts = append(st.Accounts, acc)
	if err := verify.Save(path, st, pass); err != nil {
		return fmt.Errorf("the device is paired but the store could not be saved (remove the device in Coffer and pair again): %w", err)
	}
	fmt.Fprintf(c.env.Stdout, "Paired %s on %s as %q.\nApprove sign-ins with: coffer verify approve\nOffline codes: coffer verify code\n", res.Account, server, res.Name)
	return nil
}

func absPath(p string) (string, error) {
	if strings.HasPrefix(p, "/") {
		return p, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return wd + "/" + p, nil
}

// apiErr shows an API error's message as the server phrased it.
func apiErr(err error) error {
	var e *client.Error
	if errors.As(err, &e) && e.Message != "" {
		return errors.New(e.Message)
	}
	return err
}

func (c *verifyCmd) list(args []string) error {
	fs := c.flags("list")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	st, _, _, err := c.load()
	if err != nil {
		return err
	}
	if len(st.Accounts) == 0 {
		fmt.Fprintln(c.env.Stdout, "No account is paired. Pair one with: coffer verify pair URL")
		return nil
	}
	for _, a := range st.Accounts {
		fmt.Fprintf(c.env.Stdout, "%s\t%s\t%s\tpaired %s\n", a.Account, a.Server, a.Name, a.PairedAt.Format("2006-01-02"))
	}
	return nil
}

func (c *verifyCmd) code(args []string) error {
	fs := c.flags("code")
	account := fs.String("account", "", "the account's email (when several are paired)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	st, _, _, err := c.load()
	if err != nil {
		return err
	}
	a, err := st.Find(*account)
	if err != nil {
		return err
	}
	secret, err := mfa.DecodeSecret(a.TOTPSecret)
	if err != nil {
		return fmt.Errorf("stored seed: %w", err)
	}
	code, err := mfa.TOTPCode(secret, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(c.env.Stdout, code)
	return nil
}

func (c *verifyCmd) approve(ctx context.Context, args []string) error {
	fs := c.flags("approve")
	account := fs.String("account", "", "the account's email (when several are paired)")
	caFile := fs.String("ca-file", "", "PEM file to trust for the server (default: the one given at pairing, else system roots)")
	wait := fs.Duration("wait", 60*time.Second, "how long to wait for a request")
	notMe := fs.Bool("not-me", false, "when denying, report that it was not you without asking")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	st, _, _, err := c.load()
	if err != nil {
		return err
	}
	a, err := st.Find(*account)
	if err != nil {
		return err
	}
	ca := *caFile
	if ca == "" {
		ca = a.CAFile
	}
	hc, err := verify.HTTPClient(ca)
	if err != nil {
		return err
	}
	dev := &client.Device{Client: client.New(a.Server, hc), ID: a.DeviceID, Key: a.Key()}
	deadline := time.Now().Add(*wait)
	for {
		left := time.Until(deadline)
		reqs, err := dev.PushRequests(ctx, min(max(left, 0), 25*time.Second))
		if err != nil {
			return apiErr(err)
		}
		if len(reqs) > 0 {
			for _, p := range reqs {
				if err := c.answer(ctx, dev, p, *notMe); err != nil {
					return err
				}
			}
			return nil
		}
		if time.Until(deadline) <= 0 {
			return fmt.Errorf("no sign-in request arrived within %s", *wait)
		}
	}
}

// answer asks about one request and sends the answer.
func (c *verifyCmd) answer(ctx context.Context, dev *client.Device, p client.PushPrompt, notMe bool) error {
	choices := make([]string, len(p.Numbers))
	for i, n := range p.Numbers {
		choices[i] = strconv.Itoa(n)
	}
	fmt.Fprintf(c.env.Stdout, "Sign-in request for %s from %s (%s, %s) at %s.\nWhich number is shown on the sign-in screen? [%s] (n to deny) ",
		p.Account, p.IP, oneLine(p.UserAgent), p.Place, p.CreatedAt.Local().Format("15:04:05 MST"), strings.Join(choices, " "))
	for tries := 0; ; tries++ {
		ans, err := c.readLine()
		if err != nil {
			return err
		}
		switch strings.ToLower(ans) {
		case "n", "no", "deny":
			if !notMe {
				fmt.Fprint(c.env.Stdout, "Was this you? [y/N] ")
				yes, err := c.readLine()
				if err != nil {
					return err
				}
				notMe = !strings.EqualFold(yes, "y") && !strings.EqualFold(yes, "yes")
			}
			if err := dev.Deny(ctx, p.ID, notMe); err != nil {
				return apiErr(err)
			}
			if notMe {
				fmt.Fprintln(c.env.Stdout, "Denied. You and your organisations' administrators have been alerted: change your password now.")
			} else {
				fmt.Fprintln(c.env.Stdout, "Denied.")
			}
			return nil
		}
		if slices.Contains(choices, ans) {
			n, _ := strconv.Atoi(ans)
			if err := dev.Approve(ctx, p, n); err != nil {
				return apiErr(err)
			}
			fmt.Fprintln(c.env.Stdout, "Approved.")
			return nil
		}
		if tries == 2 {
			return errors.New("no valid answer; the request was left unanswered")
		}
		fmt.Fprintf(c.env.Stdout, "Type one of %s, or n to deny: ", strings.Join(choices, " "))
	}
}

// oneLine keeps a server-supplied string to one printable line.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
