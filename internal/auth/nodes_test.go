package auth_test

import (
	"log/slog"
	"testing"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/keyring"
)

// secondNode is another Service on the fixture's database and keys, as a
// second Coffer node is: nothing shared but the database.
func (f *fixture) secondNode(cfg auth.Config) *auth.Service {
	f.tb.Helper()
	keys, err := keyring.OpenLocal(f.ctx, f.master, f.store)
	if err != nil {
		f.tb.Fatal(err)
	}
	svc, err := auth.NewService(f.store, keys, keyring.AAD, auth.NewHashPool(poolWorkers, poolNormalQueue, 8), cfg, slog.New(slog.NewTextHandler(f.tb.Output(), nil)))
	if err != nil {
		f.tb.Fatal(err)
	}
	svc.Now = f.clock.Now
	return svc
}

// The per-client limit holds for the client across nodes: attempts spread
// over two nodes are refused once their sum passes the limit, where two
// in-memory counters would allow twice as many.
func TestClientLimitAcrossNodes(t *testing.T) {
	f := newFixture(t)
	f.mustUser("alice@example.com")
	cfg := auth.DefaultConfig()
	cfg.Argon2 = auth.TestArgon2Params()
	cfg.SharedClientLimit = true
	limit := cfg.ClientAttemptsPerMinute
	f.svc = f.secondNode(cfg) // both nodes configured as coffer serve --db postgres:// does
	b := f.secondNode(cfg)
	refused := 0
	for i := range 2 * limit {
		node := f.svc
		if i%2 == 1 {
			node = b
		}
		// Different unknown accounts, so that only the client limit can refuse.
		_, err := node.Login(f.ctx, "nobody"+string(rune('a'+i%26))+"@example.com", "wrong password here", f.client)
		switch errs.Code(err) {
		case errs.ERATELIMIT:
			if refused == 0 && i != limit {
				t.Fatalf("first refusal at attempt %d, want %d (the limit, counted across both nodes)", i+1, limit+1)
			}
			refused++
		case errs.EUNAUTHORIZED:
			if refused > 0 {
				t.Fatalf("attempt %d allowed after a refusal", i+1)
			}
		default:
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	if refused != limit {
		t.Fatalf("%d refused of %d, want %d", refused, 2*limit, limit)
	}
}
