package postgres

import (
	"context"
	"fmt"

	"sessionmon/data"
)

var _ data.WriteProber = (*Store)(nil)

// probeSQL overwrites health_probe's one row (an upsert, so a row deleted by
// hand comes back instead of failing every probe).
const probeSQL = `INSERT INTO health_probe (id, probed_at) VALUES (1, now())
	ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at`

// ProbeWrite commits one write, as a login or a touch would: it fails when
// the transaction is read-only (default_transaction_read_only=on set on
// the database, the role or the connection; a hot standby), when the role
// may not write, or when the commit cannot be flushed. The update is HOT (no
// indexed column changes), so the table stays one page.
func (s *Store) ProbeWrite(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, probeSQL); err != nil {
		return fmt.Errorf("postgres probe write: %w", err)
	}
	return nil
}
