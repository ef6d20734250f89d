package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded file, migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", base)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, base, v)
		}
		seen[v] = base
		b, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// SchemaVersion is the highest migration version this binary carries.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// Migrate applies the embedded migrations that the database has not seen,
// in version order, recording each in schema_migrations. It runs in one
// transaction holding a transaction-scoped advisory lock keyed on the current
// schema, so many replicas may call it at once: one applies, the others wait
// and then find nothing to do. A failing migration leaves nothing applied.
// Objects go into the first schema of the search_path.
//
// Migrations must be transactional: no CREATE INDEX CONCURRENTLY.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("postgres migrate: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var schema *string
		if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return fmt.Errorf("current schema: %w", err)
		}
		if schema == nil {
			return errors.New("no schema to migrate into: the search_path names no existing schema")
		}
		if _, err := tx.Exec(ctx,
			`SELECT pg_advisory_xact_lock(hashtext('sessionmon migrate ' || $1))`, *schema); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		applied := map[int]bool{}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		vs, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		for _, v := range vs {
			applied[int(v)] = true
		}
		for _, m := range ms {
			if applied[m.version] {
				continue
			}
			// No arguments: pgx sends it with the simple protocol, so a
			// file may hold many statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx,
				`INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return fmt.Errorf("record %s: %w", m.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres migrate: %w", err)
	}
	return nil
}

// CheckSchema reports an error naming the fix when the database lacks
// migrations this binary carries (or cannot be reached), so a server started
// before `sessionmon migrate` can say so at once instead of failing every
// request. It changes nothing.
func (s *Store) CheckSchema(ctx context.Context) error {
	var exists bool
	var applied int
	err := s.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists)
	if err == nil && exists {
		err = s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&applied)
	}
	if err != nil {
		return fmt.Errorf("postgres check schema: %w", err)
	}
	if want := SchemaVersion(); applied < want {
		return fmt.Errorf("postgres check schema: the database is at schema version %d, this binary needs %d: run `sessionmon migrate`",
			applied, want)
	}
	return nil
}

// Autovacuum reports whether PostgreSQL's autovacuum will vacuum the
// sessions table: server is the server's autovacuum setting, table is false
// only when the table's autovacuum_enabled storage parameter is set false;
// both must be true. Every authenticated request updates a session row.
// Since migration 0005 nearly all of those updates are heap-only (HOT), and
// page pruning reclaims their dead versions without VACUUM; the rest (a
// session's first touch in a new minute, logins, ends) still leave dead
// index entries and row versions that only VACUUM removes.
func (s *Store) Autovacuum(ctx context.Context) (server, table bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT current_setting('autovacuum')::bool,
		NOT coalesce((SELECT 'autovacuum_enabled=false' = ANY (reloptions)
			FROM pg_class WHERE oid = 'sessions'::regclass), false)`).Scan(&server, &table)
	if err != nil {
		return false, false, fmt.Errorf("postgres autovacuum setting: %w", err)
	}
	return server, table, nil
}
