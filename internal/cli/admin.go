package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"coffer/internal/access"
	"coffer/internal/audit"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/ledger"
	"coffer/internal/money"
)

const adminHelp = `Usage:
  coffer admin user add --data DIR --email EMAIL --name NAME --password-stdin [--org NAME --role ROLE [--currency CODE]]
  coffer admin user unlock --data DIR --email EMAIL
  coffer admin org delete --data DIR --id ID --confirm NAME

Works while the server runs. The first user created is an administrator.
With --org, the user joins that organisation with --role (owner, adviser,
standard, invoice_only, read_only); with --role owner the organisation is
created, with a default chart of accounts in --currency (default GBP), when it
does not exist yet.
The password is read from the first line of standard input so that it never
appears in the process list or shell history.

org delete deletes organisation ID and all its records, and destroys its data
keys (crypto-shredding; see docs/encryption.md). --confirm must repeat the
organisation's exact name. It cannot be undone.

The master key provider is $COFFER_MASTER_KEY_PROVIDER (file, env or vault;
default file), as for coffer serve --master-key.
`

func runAdmin(ctx context.Context, args []string, env Env) error {
	if len(args) >= 2 && args[0] == "org" && args[1] == "delete" {
		return runOrgDelete(ctx, args[2:], env)
	}
	if len(args) < 2 || args[0] != "user" {
		fmt.Fprint(env.Stderr, adminHelp)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return errUsage
	}
	switch args[1] {
	case "add":
		return runUserAdd(ctx, args[2:], env)
	case "unlock":
		return runUserUnlock(ctx, args[2:], env)
	default:
		fmt.Fprintf(env.Stderr, "unknown admin user command %q\n\n%s", args[1], adminHelp)
		return errUsage
	}
}

// cliClient marks audit events made from the command line.
var cliClient = auth.Client{IP: "local", UserAgent: "coffer admin"}

func runUserAdd(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("admin user add", adminHelp, env)
	dir, db := dataFlags(fs, env)
	email := fs.String("email", "", "the user's email address (their sign-in name)")
	name := fs.String("name", "", "the user's full name")
	stdin := fs.Bool("password-stdin", false, "read the password from standard input (required)")
	orgName := fs.String("org", "", "organisation to join (created with --role owner if missing)")
	roleName := fs.String("role", "", "role in --org: owner, adviser, standard, invoice_only or read_only")
	currency := fs.String("currency", "GBP", "currency of a newly created organisation (ISO 4217)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var role access.Role
	if *orgName != "" || *roleName != "" {
		if *orgName == "" || *roleName == "" {
			return errors.New("--org and --role go together")
		}
		r, err := access.ParseRole(*roleName)
		if err != nil {
			return err
		}
		role = r
		if err := access.ValidateOrgName(*orgName); err != nil {
			return errors.New(errorText(err))
		}
		if _, err := money.Exponent(*currency); err != nil {
			return err
		}
	}
	if !*stdin {
		return errors.New("give the password on standard input with --password-stdin")
	}
	password, err := readPassword(env.Stdin)
	if err != nil {
		return err
	}
	a, _, err := openAppKeys(ctx, *dir, *db, auth.DefaultConfig(), 1, slog.New(slog.NewTextHandler(env.Stderr, nil)), defaultMasterKeyConfig(env))
	if err != nil {
		return err
	}
	defer a.Close()
	// Refuse before creating the user what joinOrg would refuse after.
	if *orgName != "" && role != access.Owner {
		if _, err := a.store.FindOrgByName(ctx, strings.TrimSpace(*orgName)); errs.Code(err) == errs.ENOTFOUND {
			return fmt.Errorf("organisation %q does not exist; create it by adding its owner with --role owner", strings.TrimSpace(*orgName))
		} else if err != nil {
			return err
		}
	}
	u, err := a.auth.CreateUser(ctx, *email, *name, password, cliClient)
	if err != nil {
		return fmt.Errorf("add user: %s", errorText(err))
	}
	kind := "user"
	if u.IsAdmin {
		kind = "administrator"
	}
	fmt.Fprintf(env.Stdout, "Created %s %s (id %d). At first sign-in they must set up an authenticator app.\n", kind, u.Email, u.ID)
	if *orgName == "" {
		return nil
	}
	org, created, err := joinOrg(ctx, a, u.ID, strings.TrimSpace(*orgName), role, *currency)
	if err != nil {
		return fmt.Errorf("user %s was created but could not join %q: %s", u.Email, *orgName, errorText(err))
	}
	if created {
		fmt.Fprintf(env.Stdout, "Created organisation %s (id %d, %s) with a default chart of accounts.\n", org.Name, org.ID, org.Currency)
	}
	fmt.Fprintf(env.Stdout, "%s is %s of %s.\n", u.Email, role.Label(), org.Name)
	return nil
}

// joinOrg adds the user to the named organisation, creating it (with the
// default chart of accounts) when the user is to be its owner.
func joinOrg(ctx context.Context, a *app, userID int64, name string, role access.Role, currency string) (*access.Org, bool, error) {
	org, err := a.store.FindOrgByName(ctx, name)
	if err == nil {
		m := &access.Membership{OrgID: org.ID, UserID: userID, Role: role, CreatedAt: time.Now().UTC()}
		if err := a.store.AddMember(ctx, m); err != nil {
			return nil, false, err
		}
		a.auditOrg(ctx, userID, "org.member.add", fmt.Sprintf("org=%d role=%s", org.ID, role))
		return org, false, nil
	}
	if errs.Code(err) != errs.ENOTFOUND {
		return nil, false, err
	}
	if role != access.Owner {
		return nil, false, fmt.Errorf("organisation %q does not exist; create it by adding its owner with --role owner", name)
	}
	org = &access.Org{Name: name, Currency: currency, CreatedAt: time.Now().UTC(), Settings: access.DefaultSettings()}
	if err := a.store.CreateOrg(ctx, org, userID, ledger.DefaultTaxRates(), ledger.DefaultChart()); err != nil {
		return nil, false, err
	}
	a.auditOrg(ctx, userID, "org.create", fmt.Sprintf("org=%d", org.ID))
	return org, true, nil
}

func (a *app) auditOrg(ctx context.Context, userID int64, action, detail string) {
	e := &audit.Event{At: time.Now().UTC(), UserID: userID, Subject: "cli", Action: action, Outcome: audit.Success, IP: cliClient.IP, UserAgent: cliClient.UserAgent, Detail: detail}
	if err := a.store.AppendAudit(ctx, e); err != nil {
		a.log.Error("audit write failed", "action", action, "err", err)
	}
}

func runUserUnlock(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("admin user unlock", adminHelp, env)
	dir, db := dataFlags(fs, env)
	email := fs.String("email", "", "the account's email address")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	a, _, err := openAppKeys(ctx, *dir, *db, auth.DefaultConfig(), 1, slog.New(slog.NewTextHandler(env.Stderr, nil)), defaultMasterKeyConfig(env))
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.auth.UnlockAccount(ctx, *email, cliClient); err != nil {
		return fmt.Errorf("unlock: %s", errorText(err))
	}
	fmt.Fprintf(env.Stdout, "Sign-in for %s is unlocked.\n", strings.ToLower(strings.TrimSpace(*email)))
	return nil
}

// readPassword reads the first line; only the line ending is removed, since
// spaces are legitimate password characters.
func readPassword(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("no standard input to read the password from")
	}
	line, err := bufio.NewReader(io.LimitReader(r, 4097)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("the password on standard input is empty")
	}
	if len(line) > 4096 {
		return "", errors.New("the password on standard input is longer than 4096 bytes")
	}
	return line, nil
}
