package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"coffer/internal/audit"
)

func runOrgDelete(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("admin org delete", adminHelp, env)
	dir, db := dataFlags(fs, env)
	id := fs.Int64("id", 0, "the organisation's id")
	confirm := fs.String("confirm", "", "the organisation's exact name, to confirm")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *id <= 0 {
		return errors.New("give the organisation with --id ID")
	}
	if *confirm == "" {
		return errors.New("repeat the organisation's exact name with --confirm NAME")
	}
	a, err := openKeysApp(ctx, *dir, *db, defaultMasterKeyConfig(env), env)
	if err != nil {
		return err
	}
	defer a.Close()
	e := &audit.Event{At: time.Now().UTC(), Subject: "cli", Action: "org.delete", Outcome: audit.Success, IP: cliClient.IP, UserAgent: cliClient.UserAgent,
		Detail: fmt.Sprintf("org=%d", *id)}
	destroyed, err := a.store.DeleteOrg(ctx, *id, *confirm, e)
	if err != nil {
		return fmt.Errorf("delete organisation %d: %s", *id, errorText(err))
	}
	for _, k := range destroyed {
		a.keys.Forget(uint32(k))
	}
	fmt.Fprintf(env.Stdout, "Deleted organisation %d (%s) and destroyed its %d data keys.\n", *id, *confirm, len(destroyed))
	fmt.Fprintln(env.Stdout, "Copies of its encrypted values elsewhere stay unreadable only while their data keys are unrecoverable: run coffer keys rotate-master so that old backups' wrapped keys need a master key you then destroy (docs/encryption.md).")
	return nil
}
