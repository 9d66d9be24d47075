package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"coffer/internal/auth"
	"coffer/internal/keyring"
	"coffer/internal/store/sqlstore"
)

const keysHelp = `Usage:
  coffer keys status --data DIR
  coffer keys rotate --data DIR --org ID
  coffer keys rotate-master --data DIR [--to-provider file|env|vault]

Every organisation's values are sealed with its own data key; the data keys
are stored wrapped by the master key (see docs/encryption.md).

status         shows each organisation's active, retiring and destroyed
               data keys and the progress of any rotation.
rotate         gives organisation ID (0: the platform key of TOTP seeds) a
               new data key and re-encrypts its values in batches, one
               transaction each, printing progress. It is safe to run while
               the server runs, and to interrupt (even kill -9): run it again,
               or restart the server, and it resumes. When every value has
               moved the old key is destroyed (crypto-shredding).
rotate-master  re-wraps every data key under a new master key in one
               transaction. With the file provider it writes a new
               master.key and keeps the previous one as master.key.old until
               the next successful start. --to-provider env reads the new key
               from COFFER_NEW_MASTER_KEY; --to-provider vault uses VAULT_ADDR,
               VAULT_TOKEN and --to-vault-transit-key. Stop the server first
               and start it again with the new --master-key provider.

Master key providers (--master-key, default $COFFER_MASTER_KEY_PROVIDER or file):
  file   DIR/master.key, 64 hex digits, mode 0600 (created on first start)
  env    COFFER_MASTER_KEY, 64 hex digits
  vault  HashiCorp Vault transit: VAULT_ADDR, VAULT_TOKEN (VAULT_CACERT), key
         --vault-transit-key (default $COFFER_VAULT_TRANSIT_KEY or coffer)
`

// Master key provider names.
const (
	providerFile  = "file"
	providerEnv   = "env"
	providerVault = "vault"
)

// masterKeyConfig chooses where the master key (the KEK) comes from.
type masterKeyConfig struct {
	Provider string
	VaultKey string
	Getenv   func(string) string
}

func defaultMasterKeyConfig(env Env) masterKeyConfig {
	c := masterKeyConfig{Provider: providerFile, VaultKey: "coffer", Getenv: env.Getenv}
	if v := env.Getenv("COFFER_MASTER_KEY_PROVIDER"); v != "" {
		c.Provider = v
	}
	if v := env.Getenv("COFFER_VAULT_TRANSIT_KEY"); v != "" {
		c.VaultKey = v
	}
	return c
}

func (c *masterKeyConfig) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Provider, "master-key", c.Provider, "master key provider: file, env (COFFER_MASTER_KEY) or vault (VAULT_ADDR, VAULT_TOKEN)")
	fs.StringVar(&c.VaultKey, "vault-transit-key", c.VaultKey, "Vault transit key name (--master-key vault)")
}

func (c masterKeyConfig) validate() error {
	switch c.Provider {
	case providerFile, providerEnv, providerVault:
		return nil
	}
	return fmt.Errorf("--master-key %q: use file, env or vault", c.Provider)
}

// loadKEK returns the master key of the configured provider, and the
// bootstrap root secret for a database that has none (the local master
// key, so that values sealed before data keys existed still open). With the
// file provider it first completes or undoes an interrupted rotate-master.
func loadKEK(ctx context.Context, dir string, st *sqlstore.Store, c masterKeyConfig) (kek keyring.KEK, bootstrap []byte, created bool, err error) {
	switch c.Provider {
	case providerFile:
		if err := recoverFileRotation(ctx, dir, st); err != nil {
			return nil, nil, false, err
		}
		master, created, err := keyring.LoadOrCreateMasterKey(filepath.Join(dir, keyring.KeyFileName))
		if err != nil {
			return nil, nil, false, fmt.Errorf("master key: %w", err)
		}
		kek, err := keyring.NewLocalKEK(master)
		return kek, master, created, err
	case providerEnv:
		master, err := keyring.MasterKeyFromEnv(c.Getenv, keyring.EnvMasterKey)
		if err != nil {
			return nil, nil, false, fmt.Errorf("master key: %w", err)
		}
		kek, err := keyring.NewLocalKEK(master)
		return kek, master, false, err
	case providerVault:
		kek, err := keyring.NewVaultKEK(keyring.VaultConfigFromEnv(c.Getenv, c.VaultKey))
		return kek, nil, false, err
	}
	return nil, nil, false, c.validate()
}

// Files of a file-provider master key rotation.
const (
	newKeyFileName = keyring.KeyFileName + ".new"
	oldKeyFileName = keyring.KeyFileName + ".old"
)

// recoverFileRotation finishes a rotate-master that was interrupted after
// its re-wrap committed (the data keys are under master.key.new: install it)
// or undoes one that was interrupted before (remove master.key.new).
func recoverFileRotation(ctx context.Context, dir string, st *sqlstore.Store) error {
	newPath := filepath.Join(dir, newKeyFileName)
	key, err := keyring.ReadMasterKeyFile(newPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("interrupted master key rotation: %w", err)
	}
	kek, err := keyring.NewLocalKEK(key)
	if err != nil {
		return err
	}
	keys, err := st.FindDataKeys(ctx)
	if err != nil {
		return err
	}
	committed := false
	for _, k := range keys {
		if k.State != keyring.StateDestroyed && k.KEKID == kek.ID() {
			committed = true
		}
	}
	if !committed {
		if err := os.Remove(newPath); err != nil {
			return fmt.Errorf("interrupted master key rotation: %w", err)
		}
		return nil
	}
	return installNewKeyFile(dir)
}

// installNewKeyFile moves master.key to master.key.old and master.key.new
// to master.key. Each step is a rename, so a crash leaves files that
// recoverFileRotation completes.
func installNewKeyFile(dir string) error {
	cur := filepath.Join(dir, keyring.KeyFileName)
	if _, err := os.Stat(cur); err == nil {
		if err := os.Rename(cur, filepath.Join(dir, oldKeyFileName)); err != nil {
			return fmt.Errorf("keep previous master key: %w", err)
		}
	}
	if err := os.Rename(filepath.Join(dir, newKeyFileName), cur); err != nil {
		return fmt.Errorf("install new master key: %w", err)
	}
	return keyring.SyncDir(dir)
}

// dropOldKeyFile removes master.key.old once no live data key is wrapped
// by anything but the current master key: the start after a rotation
// succeeded.
func dropOldKeyFile(ctx context.Context, dir string, st *sqlstore.Store, kek keyring.KEK, log *slog.Logger) error {
	old := filepath.Join(dir, oldKeyFileName)
	if _, err := os.Stat(old); err != nil {
		return nil
	}
	keys, err := st.FindDataKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.State != keyring.StateDestroyed && k.KEKID != kek.ID() {
			return nil
		}
	}
	if err := os.Remove(old); err != nil {
		return fmt.Errorf("remove previous master key: %w", err)
	}
	if log != nil {
		log.Info("removed the previous master key after a successful start", "path", old)
	}
	return keyring.SyncDir(dir)
}

func runKeys(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(env.Stderr, keysHelp)
		if len(args) > 0 {
			return nil
		}
		return errUsage
	}
	switch args[0] {
	case "status":
		return runKeysStatus(ctx, args[1:], env)
	case "rotate":
		return runKeysRotate(ctx, args[1:], env)
	case "rotate-master":
		return runKeysRotateMaster(ctx, args[1:], env)
	default:
		fmt.Fprintf(env.Stderr, "unknown keys command %q\n\n%s", args[0], keysHelp)
		return errUsage
	}
}

// openKeysApp opens the data directory for a keys command.
func openKeysApp(ctx context.Context, dir, db string, mk masterKeyConfig, env Env) (*app, error) {
	if err := mk.validate(); err != nil {
		return nil, err
	}
	a, _, err := openAppKeys(ctx, dir, db, auth.DefaultConfig(), 1, slog.New(slog.NewTextHandler(env.Stderr, nil)), mk)
	return a, err
}

func runKeysStatus(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("keys status", keysHelp, env)
	dir, db := dataFlags(fs, env)
	mk := defaultMasterKeyConfig(env)
	mk.addFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	a, err := openKeysApp(ctx, *dir, *db, mk, env)
	if err != nil {
		return err
	}
	defer a.Close()
	return printKeyStatus(ctx, env.Stdout, a)
}

func printKeyStatus(ctx context.Context, w io.Writer, a *app) error {
	keys, err := a.store.FindDataKeys(ctx)
	if err != nil {
		return err
	}
	rots, err := a.store.FindRotations(ctx, false)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "master key: %s\n\n", a.keys.KEK().ID())
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ORG\tKEY\tVERSION\tSTATE\tWRAPPED BY\tCREATED\tDESTROYED")
	for _, k := range keys {
		org := strconv.FormatInt(k.OrgID, 10)
		switch k.OrgID {
		case keyring.RootOrg:
			org = "root"
		case keyring.PlatformOrg:
			org = "0 (platform)"
		}
		destroyed := "-"
		if !k.DestroyedAt.IsZero() {
			destroyed = k.DestroyedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", org, k.ID, k.Version, k.State, k.KEKID, k.CreatedAt.UTC().Format(time.RFC3339), destroyed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rots) == 0 {
		fmt.Fprintln(w, "\nno rotations")
		return nil
	}
	fmt.Fprintln(w, "\nrotations:")
	for _, r := range rots {
		fmt.Fprintf(w, "  org %d: key %d -> %d\n", r.OrgID, r.FromKey, r.ToKey)
		for _, c := range r.Columns {
			fmt.Fprintf(w, "    %s %d/%d %s\n", c.Table, min(c.Done, c.Total), c.Total, c.State)
		}
	}
	return nil
}

func runKeysRotate(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("keys rotate", keysHelp, env)
	dir, db := dataFlags(fs, env)
	org := fs.Int64("org", -1, "organisation id (0: the platform key of TOTP seeds)")
	batch := fs.Int("batch", 200, "rows re-encrypted per transaction")
	mk := defaultMasterKeyConfig(env)
	mk.addFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *org < 0 {
		return errors.New("give the organisation with --org ID (0 for the platform key)")
	}
	opt := keyring.RotateOptions{Batch: *batch}
	// Test-only knobs (see docs/encryption.md): smaller batches and a pause
	// between them so that a test can kill the command mid-way. They only
	// slow the rotation down; they never change what it writes.
	if v := env.Getenv("COFFER_TEST_ROTATION_BATCH"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("COFFER_TEST_ROTATION_BATCH %q: want a positive whole number", v)
		}
		opt.Batch = n
		opt.Pause = 20 * time.Millisecond
		opt.Grace = time.Second
	}
	if v := env.Getenv("COFFER_TEST_ROTATION_PAUSE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("COFFER_TEST_ROTATION_PAUSE %q: want a duration", v)
		}
		opt.Pause = d
	}
	if opt.Batch < 1 || opt.Batch > 10000 {
		return fmt.Errorf("--batch %d: want 1 to 10000", opt.Batch)
	}
	a, err := openKeysApp(ctx, *dir, *db, mk, env)
	if err != nil {
		return err
	}
	defer a.Close()
	opt.Progress = func(p keyring.RotationProgress) {
		fmt.Fprintf(env.Stdout, "%s %d/%d\n", p.Table, min(p.Done, p.Total), p.Total)
	}
	rot, err := a.keys.Rotate(ctx, a.store, *org, opt)
	if err != nil {
		return fmt.Errorf("rotate organisation %d: %s", *org, errorText(err))
	}
	a.auditOrg(ctx, 0, "keys.rotate", fmt.Sprintf("org=%d from_key=%d to_key=%d", *org, rot.FromKey, rot.ToKey))
	fmt.Fprintf(env.Stdout, "Organisation %d: every value is sealed with data key %d; old keys destroyed.\n", *org, rot.ToKey)
	return nil
}

func runKeysRotateMaster(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("keys rotate-master", keysHelp, env)
	dir, db := dataFlags(fs, env)
	mk := defaultMasterKeyConfig(env)
	mk.addFlags(fs)
	to := fs.String("to-provider", "", "provider of the new master key: file, env or vault (default: the current one)")
	toVault := fs.String("to-vault-transit-key", "", "Vault transit key of the new master key (default: --vault-transit-key)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *to == "" {
		*to = mk.Provider
	}
	toCfg := masterKeyConfig{Provider: *to, VaultKey: mk.VaultKey, Getenv: env.Getenv}
	if *toVault != "" {
		toCfg.VaultKey = *toVault
	}
	if err := toCfg.validate(); err != nil {
		return fmt.Errorf("--to-provider: %w", err)
	}
	if _, err := os.Stat(filepath.Join(*dir, oldKeyFileName)); err == nil && toCfg.Provider == providerFile {
		return fmt.Errorf("%s still exists: start coffer once with the current master key (it removes the file when no key needs it), then rotate again", oldKeyFileName)
	}
	a, err := openKeysApp(ctx, *dir, *db, mk, env)
	if err != nil {
		return err
	}
	defer a.Close()
	from := a.keys.KEK()

	var newKEK keyring.KEK
	switch toCfg.Provider {
	case providerFile:
		key, err := keyring.NewMasterKey()
		if err != nil {
			return err
		}
		newPath := filepath.Join(*dir, newKeyFileName)
		os.Remove(newPath) // a leftover of an attempt that never committed
		// Written before the re-wrap commits: were it written after, a crash
		// in between would leave data keys wrapped by a key on no disk.
		if err := keyring.WriteMasterKeyFile(newPath, key); err != nil {
			return err
		}
		if newKEK, err = keyring.NewLocalKEK(key); err != nil {
			return err
		}
		clear(key)
	case providerEnv:
		key, err := keyring.MasterKeyFromEnv(env.Getenv, "COFFER_NEW_MASTER_KEY")
		if err != nil {
			return err
		}
		if newKEK, err = keyring.NewLocalKEK(key); err != nil {
			return err
		}
		clear(key)
	case providerVault:
		if newKEK, err = keyring.NewVaultKEK(keyring.VaultConfigFromEnv(env.Getenv, toCfg.VaultKey)); err != nil {
			return err
		}
	}
	n, err := keyring.Rewrap(ctx, a.store, from, newKEK)
	if err != nil {
		if toCfg.Provider == providerFile {
			os.Remove(filepath.Join(*dir, newKeyFileName))
		}
		return fmt.Errorf("rotate master key: %s", errorText(err))
	}
	if toCfg.Provider == providerFile {
		if err := installNewKeyFile(*dir); err != nil {
			return err
		}
	}
	a.auditOrg(ctx, 0, "keys.rotate_master", fmt.Sprintf("from=%s to=%s keys=%d", from.ID(), newKEK.ID(), n))
	fmt.Fprintf(env.Stdout, "Re-wrapped %d data keys: %s -> %s.\n", n, from.ID(), newKEK.ID())
	switch {
	case toCfg.Provider == providerFile && mk.Provider == providerFile:
		fmt.Fprintf(env.Stdout, "The new key is %s; the previous one is kept as %s until the next successful start.\nBack up the new master.key now (not beside the database backups).\n",
			filepath.Join(*dir, keyring.KeyFileName), filepath.Join(*dir, oldKeyFileName))
	case toCfg.Provider == providerFile:
		fmt.Fprintf(env.Stdout, "The new key is %s. Start coffer with --master-key file.\n", filepath.Join(*dir, keyring.KeyFileName))
	case toCfg.Provider == providerEnv:
		fmt.Fprintln(env.Stdout, "Set COFFER_MASTER_KEY to the value of COFFER_NEW_MASTER_KEY and start coffer with --master-key env.")
	default:
		fmt.Fprintf(env.Stdout, "Start coffer with --master-key vault --vault-transit-key %s.\n", toCfg.VaultKey)
	}
	return nil
}

// resumeRotations finishes, in the background, any key rotation that a
// crash interrupted; requests are served meanwhile (both keys open until
// the last value has moved). The returned function stops it and waits, and
// must run before the store closes.
func resumeRotations(ctx context.Context, a *app, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rots, err := a.store.FindRotations(ctx, true)
		if err != nil || len(rots) == 0 {
			if err != nil {
				log.Error("find unfinished key rotations", "err", err)
			}
			return
		}
		log.Info("resuming unfinished key rotations", "count", len(rots))
		err = a.keys.ResumeRotations(ctx, a.store, keyring.RotateOptions{Pause: 10 * time.Millisecond})
		switch {
		case err == nil:
			log.Info("key rotations finished")
		case ctx.Err() != nil:
			log.Info("key rotations paused at shutdown; they resume at the next start")
		default:
			log.Error("key rotation failed", "err", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
