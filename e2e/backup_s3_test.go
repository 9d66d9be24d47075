package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"coffer/client"
	"coffer/internal/cli"
	"coffer/internal/testminio"
	"coffer/internal/testserver"
	"coffer/internal/testtools"
)

// runCofferS3 runs the coffer CLI with env as its environment and returns its
// exit status, standard output and standard error.
func runCofferS3(tb testing.TB, env map[string]string, args ...string) (int, string, string) {
	tb.Helper()
	var stdout, stderr testserver.SyncBuffer
	code := cli.Run(context.Background(), args, cli.Env{
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return env[k] },
	})
	return code, stdout.String(), stderr.String()
}

// TestBackupS3 backs a serving Coffer up to a real MinIO through
// `coffer backup now --target s3://…`, lists and verifies the backup there,
// restores it from the bucket into a fresh data directory with only the
// master key, and serves the restored books. Wrong credentials fail the
// backup with a clear error and no secret in it.
func TestBackupS3(t *testing.T) {
	mio := testminio.Start(t)
	mio.MakeBucket(t, "coffer-backups", false)
	env := map[string]string{
		"COFFER_S3_ENDPOINT":   "http://" + mio.Endpoint,
		"COFFER_S3_ACCESS_KEY": mio.AccessKey,
		"COFFER_S3_SECRET_KEY": mio.SecretKey,
	}
	const target = "s3://coffer-backups/site-a"

	srv := testserver.Start(t)
	owner := signedInMember(t, srv, "127.0.0.1", "owner@example.com", "Acme Books", "owner")

	code, out, errOut := runCofferS3(t, env, "backup", "now", "--data", srv.DataDir, "--target", target)
	if code != 0 {
		t.Fatalf("backup now: exit %d\n%s\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	id := strings.TrimSpace(lines[len(lines)-1])
	if id == "" || strings.ContainsAny(id, " /") {
		t.Fatalf("backup now's last line %q is not a backup ID", id)
	}

	// The backup is in the bucket, under the prefix, where an operator
	// (or another machine) finds it.
	var keys []string
	for o := range mio.Client(t).ListObjects(context.Background(), "coffer-backups", minio.ListObjectsOptions{Prefix: "site-a/" + id + "/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	if !containsSuffix(keys, "/manifest.json") || len(keys) < 2 {
		t.Fatalf("bucket holds %q under the backup, want its data and manifest", keys)
	}

	code, out, errOut = runCofferS3(t, env, "backup", "list", "--data", srv.DataDir, "--target", target)
	if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), id) {
		t.Fatalf("backup list: exit %d, %q (%s), want a line starting with %s", code, out, errOut, id)
	}
	code, out, errOut = runCofferS3(t, env, "backup", "verify", id, "--data", srv.DataDir, "--target", target)
	if code != 0 {
		t.Fatalf("backup verify: exit %d\n%s\n%s", code, out, errOut)
	}

	// A fresh machine: a new data directory, the bucket and the master key.
	fresh := filepath.Join(t.TempDir(), "restored")
	code, out, errOut = runCofferS3(t, env, "restore", id, "--target", target, "--to", fresh,
		"--master-key-file", filepath.Join(srv.DataDir, "master.key"))
	if code != 0 {
		t.Fatalf("restore: exit %d\n%s\n%s", code, out, errOut)
	}
	srv.Stop()
	// Nothing was written since the backup: every table restored equal.
	orig, got := testtools.TableHashes(t, filepath.Join(srv.DataDir, "coffer.db")), testtools.TableHashes(t, filepath.Join(fresh, "coffer.db"))
	for table, h := range orig {
		if got[table] != h {
			t.Errorf("table %s differs after the restore from S3", table)
		}
	}
	if len(got) != len(orig) {
		t.Errorf("restored %d tables, the original has %d", len(got), len(orig))
	}
	restored := testserver.StartIn(t, fresh)
	c := client.New(restored.URL, restored.HTTPClient(""))
	var orgs struct {
		Orgs []struct {
			Name string `json:"name"`
		} `json:"orgs"`
	}
	// The owner's session was in the books too: it still opens them.
	if err := c.Do(context.Background(), "GET", "/api/v1/orgs", owner.Session, nil, &orgs); err != nil {
		t.Fatalf("list orgs on the restored server: %v", err)
	}
	if len(orgs.Orgs) != 1 || orgs.Orgs[0].Name != "Acme Books" {
		t.Fatalf("restored server lists %+v, want Acme Books", orgs.Orgs)
	}

	t.Run("WrongCredentials", func(t *testing.T) {
		bad := map[string]string{}
		for k, v := range env {
			bad[k] = v
		}
		bad["COFFER_S3_SECRET_KEY"] = "not-the-secret-key-0000"
		code, out, errOut := runCofferS3(t, bad, "backup", "now", "--data", fresh, "--target", target)
		if code == 0 {
			t.Fatalf("backup now with a wrong secret key succeeded: %s", out)
		}
		msg := out + errOut
		for _, want := range []string{target, "secret key"} {
			if !strings.Contains(msg, want) {
				t.Errorf("output %q does not say %q", msg, want)
			}
		}
		if strings.Contains(msg, "not-the-secret-key-0000") || strings.Contains(msg, mio.SecretKey) {
			t.Errorf("output %q shows a secret key", msg)
		}
	})
}

func containsSuffix(list []string, suffix string) bool {
	for _, s := range list {
		if strings.HasSuffix(s, suffix) {
			return true
		}
	}
	return false
}
