// Package sqlite opens Coffer's embedded store: one SQLite file in WAL mode
// (modernc.org/sqlite, no cgo), the default for one machine.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"

	"coffer/internal/store/sqlstore"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Open opens (creating if needed) the database at path and applies
// migrations. synchronous=FULL makes every committed transaction durable
// across a power loss, which a ledger needs more than write speed.
func Open(ctx context.Context, path string) (*sqlstore.Store, error) {
	q := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		"synchronous(FULL)",
		"busy_timeout(10000)",
		"foreign_keys(1)",
	} {
		q.Add("_pragma", p)
	}
	// Write transactions take the lock up front, so two writers queue on the
	// busy timeout instead of failing to upgrade a read lock.
	q.Set("_txlock", "immediate")
	// The path is percent-encoded: SQLite reads the DSN as a URI, so a raw
	// '?', '#' or '%' in a directory name would open another file (outside
	// the private data directory) and drop pragmas.
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.SetMaxOpenConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s, err := sqlstore.New(ctx, db, sqlstore.SQLite)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
