package web

import (
	"crypto/rand"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"coffer/internal/anomaly"
	"coffer/internal/auth"
	"coffer/internal/keyring"
	"coffer/internal/ledger"
	"coffer/internal/session"
	"coffer/internal/store/sqlstore"
	"coffer/internal/testdb"
)

// testServer is a real server on a real SQLite store in a temporary
// directory, with real services and a fresh master key.
type testServer struct {
	store  *sqlstore.Store
	ledger *ledger.Service
	server *Server
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	st, err := testdb.Open(t, filepath.Join(t.TempDir(), "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := keyring.OpenLocal(t.Context(), master, st)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := auth.DefaultConfig()
	cfg.Argon2 = auth.TestArgon2Params()
	svc, err := auth.NewService(st, keys, keyring.AAD, auth.NewHashPool(2, 8, 8), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	led := ledger.NewService(st, keys, keyring.OrgAAD, log)
	det, err := anomaly.New(st, svc, nil, nil, anomaly.DefaultConfig(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(det.Close)
	srv, err := NewServer(Deps{Auth: svc, Orgs: st, Ledger: led, Idempotency: st, Findings: det, Log: log}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{store: st, ledger: led, server: srv}
}

// mustSignedInUser stores a user with a session whose second factor is
// fresh and returns the user and the session token.
func (ts *testServer) mustSignedInUser(t *testing.T, email, name string, now time.Time) (*auth.User, string) {
	t.Helper()
	ctx := t.Context()
	u := &auth.User{Email: email, Name: name, PasswordHash: "unused", CreatedAt: now}
	if err := ts.store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	tok, hash, err := session.NewToken(session.SessionPrefix)
	if err != nil {
		t.Fatal(err)
	}
	ss := &session.Session{UserID: u.ID, TokenHash: hash, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), MFAAt: now, IP: "192.0.2.1"}
	if err := ts.store.CreateSession(ctx, 0, ss); err != nil {
		t.Fatal(err)
	}
	return u, tok
}
