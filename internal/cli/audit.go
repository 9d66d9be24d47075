package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

const auditHelp = `Usage:
  coffer audit verify --data DIR
  coffer audit checkpoint --data DIR

verify walks every audit chain (one per organisation, org 0 for platform
events): it recomputes each event's hash, checks that seq runs 1, 2, 3…
without gaps, that each event names the hash of the one before it, and that
the chain head and every checkpoint carry a valid signature (made with a key
derived from the master key, so it needs the master key, as coffer serve
does). It prints each problem with the chain, event id and seq where it was
found, and exits 0 only when every chain verifies, 1 otherwise.

checkpoint writes a signed checkpoint at the head of every chain that has
events since its last one (Coffer also writes one every 100 events of a
chain). Keep copies of the output of verify, or of backups, elsewhere: a
chain that is deleted entirely, with its head and checkpoints, leaves
nothing behind to compare with.

Works while the server runs. The master key provider is
$COFFER_MASTER_KEY_PROVIDER (file, env or vault; default file).
`

func runAudit(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(env.Stderr, auditHelp)
		if len(args) > 0 {
			return nil
		}
		return errUsage
	}
	switch args[0] {
	case "verify":
		return runAuditVerify(ctx, args[1:], env)
	case "checkpoint":
		return runAuditCheckpoint(ctx, args[1:], env)
	default:
		fmt.Fprintf(env.Stderr, "unknown audit command %q\n\n%s", args[0], auditHelp)
		return errUsage
	}
}

// errAuditBroken is returned when verification finds problems, which are
// already printed.
var errAuditBroken = errors.New("the audit log does not verify")

// openAuditApp opens an existing data directory: verifying with a master
// key made up on the spot would only report every signature as wrong.
func openAuditApp(ctx context.Context, name string, args []string, env Env) (*app, error) {
	fs := newFlagSet("audit "+name, auditHelp, env)
	dir, db := dataFlags(fs, env)
	mk := defaultMasterKeyConfig(env)
	mk.addFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(*dir, "coffer.db")); err != nil && *db == "" {
		return nil, fmt.Errorf("no Coffer database in %s: give the data directory with --data", *dir)
	}
	return openKeysApp(ctx, *dir, *db, mk, env)
}

func runAuditVerify(ctx context.Context, args []string, env Env) error {
	a, err := openAuditApp(ctx, "verify", args, env)
	if err != nil {
		return err
	}
	defer a.Close()
	rep, err := a.store.VerifyAudit(ctx, a.keys)
	if err != nil {
		return err
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(env.Stdout, p.String())
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintf(env.Stdout, "%d problem(s) in %d chain(s) of %d events and %d checkpoints.\n", len(rep.Problems), rep.Chains, rep.Events, rep.Checkpoints)
		return errAuditBroken
	}
	fmt.Fprintf(env.Stdout, "ok: %d chain(s), %d events, %d checkpoints verified.\n", rep.Chains, rep.Events, rep.Checkpoints)
	return nil
}

func runAuditCheckpoint(ctx context.Context, args []string, env Env) error {
	a, err := openAuditApp(ctx, "checkpoint", args, env)
	if err != nil {
		return err
	}
	defer a.Close()
	n, err := a.store.CheckpointAudit(ctx, time.Now().UTC())
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%d checkpoint(s) written.\n", n)
	return nil
}
