package postgres

import (
	"context"
	"fmt"

	"sessionmon/data"
)

var _ data.WriteProber = (*Store)(nil)

// probeSQL is an UPDATE of the sessions table that matches no row.
// PostgreSQL checks, before it looks at any row, that the transaction may
// write (ExecCheckXactReadOnly) and that the role may update the table, so
// the statement fails exactly when a touch would for those reasons, while
// it takes no transaction id and writes no row version and no WAL.
const probeSQL = `UPDATE sessions SET version = version WHERE false`

// ProbeWrite fails as a touch would when the transaction is read-only
// (default_transaction_read_only=on set on the database, the role or the
// connection; a hot standby) or when the role may not update sessions. It
// writes nothing, so it grows nothing whatever other transactions hold: a
// committed probe row's old versions wait for the oldest snapshot in the
// cluster before they can be pruned (measured: 11 pages after 2,000 probes
// beside busy tests), and so do rolled-back ones. What it does not try is
// flushing a commit; PostgreSQL cannot go on without that (a full WAL disk
// stops the server), and Ping sees it.
func (s *Store) ProbeWrite(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, probeSQL); err != nil {
		return fmt.Errorf("postgres probe write: %w", err)
	}
	return nil
}
