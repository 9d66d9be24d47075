package sqlstore

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// uniqueViolation reports a unique constraint failure on either engine.
// With a table and columns it reports only a failure of that key, so a
// message can name what is duplicated.
func uniqueViolation(err error, table string, columns ...string) bool {
	if err == nil {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		if pg.Code != "23505" {
			return false
		}
		return table == "" || pg.TableName == table && strings.HasPrefix(pg.Detail, "Key ("+strings.Join(columns, ", ")+")=")
	}
	msg := err.Error()
	if !strings.Contains(msg, "UNIQUE constraint failed") {
		return false
	}
	if table == "" {
		return true
	}
	qualified := make([]string, len(columns))
	for i, c := range columns {
		qualified[i] = table + "." + c
	}
	return strings.Contains(msg, "UNIQUE constraint failed: "+strings.Join(qualified, ", "))
}
