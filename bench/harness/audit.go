package harness

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The audit seeders fill a migrated audit table with n entries spread evenly
// over the span before now, in the mix a login server writes: per 100
// entries 60 logins, 10 failed logins, 20 logouts, 5 extends, 5
// force-logouts. The table's indexes are dropped during the load and rebuilt
// after it, as BulkLoadPG and BulkLoadSQLite do for sessions.

// auditMix maps i % 20 to an action: 12 login, 2 login_failed, 4 logout,
// 1 extend, 1 force_logout.
const auditMixSQL = `CASE WHEN %[1]s < 12 THEN 'login' WHEN %[1]s < 14 THEN 'login_failed'
	WHEN %[1]s < 18 THEN 'logout' WHEN %[1]s < 19 THEN 'extend' ELSE 'force_logout' END`

// SeedAuditSQLite appends n audit entries to the SQLite file at path.
func SeedAuditSQLite(ctx context.Context, path string, n int, span time.Duration) error {
	db, tx, err := beginSQLite(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	defer tx.Rollback()
	defs, err := dropIndexesSQLite(ctx, tx, "audit")
	if err != nil {
		return err
	}
	now := time.Now().UnixMicro()
	_, err = tx.ExecContext(ctx, `WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?1)
		INSERT INTO audit (time, actor, action, username, session_id, ip, detail)
		SELECT ?2 - (?1 - i) * ?3 / ?1, 'user' || (i % 1000), `+fmt.Sprintf(auditMixSQL, "(i % 20)")+`,
			'user' || (i % 1000), printf('%064x', i), '10.0.' || (i % 250) || '.' || (i % 200), ''
		FROM g`, n, now, span.Microseconds())
	if err != nil {
		return fmt.Errorf("seed audit: %w", err)
	}
	for _, d := range defs {
		if _, err := tx.ExecContext(ctx, d); err != nil {
			return fmt.Errorf("rebuild index: %w", err)
		}
	}
	return tx.Commit()
}

// dropIndexesSQLite drops the indexes of table and returns their
// definitions, to rebuild after a bulk load.
func dropIndexesSQLite(ctx context.Context, tx *sql.Tx, table string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master
		WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`, table)
	if err != nil {
		return nil, err
	}
	var names, defs []string
	for rows.Next() {
		var nm, d string
		if err := rows.Scan(&nm, &d); err != nil {
			rows.Close()
			return nil, err
		}
		names, defs = append(names, nm), append(defs, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, nm := range names {
		if _, err := tx.ExecContext(ctx, `DROP INDEX "`+strings.ReplaceAll(nm, `"`, `""`)+`"`); err != nil {
			return nil, err
		}
	}
	return defs, nil
}

// SeedAuditPG appends n audit entries to the schema's audit table, then
// VACUUM ANALYZEs it (as autovacuum does to an insert-only table).
func SeedAuditPG(ctx context.Context, s *Schema, n int, span time.Duration) error {
	conn, err := s.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SET maintenance_work_mem = '256MB'"); err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		return withoutIndexes(ctx, tx, "audit", func() error {
			_, err := tx.Exec(ctx, `INSERT INTO audit (time, actor, action, username, session_id, ip, detail)
			SELECT now() - (($1 - g)::float8 / $1 * $2::bigint) * interval '1 microsecond', 'user' || (g % 1000),
				`+fmt.Sprintf(auditMixSQL, "(g % 20)")+`, 'user' || (g % 1000), lpad(to_hex(g), 64, '0'),
				'10.0.' || (g % 250) || '.' || (g % 200), ''
			FROM generate_series(1, $1::int) g`, n, span.Microseconds())
			if err != nil {
				return fmt.Errorf("seed audit: %w", err)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "VACUUM ANALYZE audit")
	return err
}
