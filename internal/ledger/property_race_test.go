//go:build race

package ledger_test

// The race detector slows the embedded SQLite engine (C translated to Go)
// about fifty-fold, so the property tests check the reports less often
// under it; the operations stay as many.
func init() { propCheckEvery = 8 }
