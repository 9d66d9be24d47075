package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"coffer/internal/auth"
)

const adminHelp = `Usage:
  coffer admin user add --data DIR --email EMAIL --name NAME --password-stdin
  coffer admin user unlock --data DIR --email EMAIL

Works while the server runs. The first user created is an administrator.
The password is read from the first line of standard input so that it never
appears in the process list or shell history.
`

func runAdmin(ctx context.Context, args []string, env Env) error {
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
	dir := fs.String("data", dataDirDefault(env), "data directory")
	email := fs.String("email", "", "the user's email address (their sign-in name)")
	name := fs.String("name", "", "the user's full name")
	stdin := fs.Bool("password-stdin", false, "read the password from standard input (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !*stdin {
		return errors.New("give the password on standard input with --password-stdin")
	}
	password, err := readPassword(env.Stdin)
	if err != nil {
		return err
	}
	a, _, err := openApp(ctx, *dir, auth.DefaultConfig(), 1, slog.New(slog.NewTextHandler(env.Stderr, nil)))
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.auth.CreateUser(ctx, *email, *name, password, cliClient)
	if err != nil {
		return fmt.Errorf("add user: %s", errorText(err))
	}
	role := "user"
	if u.IsAdmin {
		role = "administrator"
	}
	fmt.Fprintf(env.Stdout, "Created %s %s (id %d). At first sign-in they must set up an authenticator app.\n", role, u.Email, u.ID)
	return nil
}

func runUserUnlock(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("admin user unlock", adminHelp, env)
	dir := fs.String("data", dataDirDefault(env), "data directory")
	email := fs.String("email", "", "the account's email address")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	a, _, err := openApp(ctx, *dir, auth.DefaultConfig(), 1, slog.New(slog.NewTextHandler(env.Stderr, nil)))
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
