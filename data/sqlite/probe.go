package sqlite

import (
	"context"
	"fmt"
	"time"

	"sessionmon/data"
)

var _ data.WriteProber = (*Store)(nil)

// probeSQL overwrites health_probe's one row (an upsert, so a row deleted by
// hand comes back instead of failing every probe). It runs through Exec:
// nothing is returned, so no statement is left open holding a read.
const probeSQL = `INSERT INTO health_probe (id, probed_at) VALUES (1, ?)
	ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at`

// ProbeWrite commits one write through the writer connection, as a login or
// a touch would: it fails with SQLITE_READONLY when the file (or its
// directory, for the WAL) cannot be written, and with SQLITE_FULL when the
// disk is full and the WAL must grow. It overwrites one page, so the
// database never grows; the WAL frame it adds is checkpointed like any
// other.
func (s *Store) ProbeWrite(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, probeSQL, time.Now().UTC().UnixMicro()); err != nil {
		return fmt.Errorf("sqlite: probe write: %w", err)
	}
	return nil
}
