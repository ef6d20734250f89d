package harness

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // registers "sqlite" (the store links it too)

	"sessionmon/data"
	"sessionmon/sessionlogic"
)

// Roles used by the generated sessions (several, so Stats' GROUP BY has work).
var Roles = []string{"admin", "staff", "user", "user", "user", "viewer"}

// SeedSessions creates n logged-in sessions through the store's own
// CreateSession (the same statement a login runs, audit row included), from
// `parallel` goroutines, and returns their cookie tokens. A user row is
// created first (SQLite's sessions reference users).
func SeedSessions(ctx context.Context, st data.Store, n, parallel int) ([]string, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	u, err := st.CreateUser(ctx, data.User{
		Username: "bench", Email: "bench@example.com", FullName: "Bench User", Role: "user",
		Status: data.StatusActive, PasswordHash: "x", CreatedAt: now,
	}, data.AuditEntry{Time: now, Actor: "bench", Action: data.ActionUserAdd, Username: "bench"})
	if err != nil {
		return nil, fmt.Errorf("seed user: %w", err)
	}
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = sessionlogic.NewToken()
	}
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	for w := range parallel {
		wg.Go(func() {
			for i := w; i < n; i += parallel {
				id := sessionlogic.HashToken(tokens[i])
				_, err := st.CreateSession(ctx, data.Session{
					ID: id, UserID: u.ID, Username: u.Username, Email: u.Email, FullName: u.FullName,
					Role: Roles[i%len(Roles)], Status: u.Status, IP: "127.0.0.1", UserAgent: "sessionmon-bench",
					LoginTime: now, LastActivity: now, ExpiresAt: now.Add(14 * 24 * time.Hour),
				}, "", data.Guard{}, data.AuditEntry{Time: now, Actor: u.Username, Action: data.ActionLogin, Username: u.Username, SessionID: id})
				if err != nil {
					errs <- fmt.Errorf("seed session %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return tokens, nil
}

// BulkID gives the id of generated row g (1-based), so
// benchmarks can touch bulk-loaded rows directly through Store.Touch.
func BulkID(g int) string { return fmt.Sprintf("%064x", g) }

// BulkLoadPG inserts active sessions with ids BulkID(from..to) into the schema's
// migrated sessions table in one statement built on generate_series, with
// the secondary indexes dropped during the load and rebuilt after it, then
// ANALYZEs the table (autovacuum would do so on its own shortly after).
func BulkLoadPG(ctx context.Context, s *Schema, from, to int) error {
	conn, err := s.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SET maintenance_work_mem = '256MB'"); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		err := withoutIndexes(ctx, tx, "sessions", func() error {
			// last_activity within the past 13 days, so every row is active
			// (expires 14 days after it); login up to 3 days before that.
			_, err := tx.Exec(ctx, `INSERT INTO sessions (id, user_id, username, email, full_name, role, status, data,
				ip, user_agent, login_time, last_activity, expires_at)
			SELECT lpad(to_hex(g), 64, '0'), 1 + g % 1000, 'user' || (g % 1000), 'user' || (g % 1000) || '@example.com',
				'User ' || (g % 1000), (ARRAY['admin','staff','user','user','user','viewer'])[1 + g % 6], 'active', '{}',
				'10.0.' || (g % 250) || '.' || (g % 200), 'Mozilla/5.0 (sessionmon-bench)',
				la - random() * interval '3 days', la, la + interval '14 days'
			FROM (SELECT g, date_trunc('milliseconds', now() - random() * interval '13 days') AS la
			      FROM generate_series($1::int, $2::int) g) x`, from, to)
			if err != nil {
				return fmt.Errorf("bulk insert: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "ANALYZE sessions")
		return err
	})
}

// withoutIndexes runs fill (a bulk insert into table, in tx) with the
// table's secondary indexes dropped, then builds them again from their
// definitions: one sort per index instead of an insert per row per index.
func withoutIndexes(ctx context.Context, tx pgx.Tx, table string, fill func() error) error {
	rows, err := tx.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = $1 AND indexname <> $1 || '_pkey'`, table)
	if err != nil {
		return err
	}
	var names, defs []string
	for rows.Next() {
		var nm, d string
		if err := rows.Scan(&nm, &d); err != nil {
			return err
		}
		names, defs = append(names, nm), append(defs, d)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, nm := range names {
		if _, err := tx.Exec(ctx, "DROP INDEX "+pgx.Identifier{nm}.Sanitize()); err != nil {
			return err
		}
	}
	if err := fill(); err != nil {
		return err
	}
	for _, d := range defs {
		if _, err := tx.Exec(ctx, d); err != nil {
			return fmt.Errorf("rebuild index: %w", err)
		}
	}
	return nil
}

// SQLiteFile returns a path for a fresh SQLite file in dir.
func SQLiteFile(dir, name string) string { return filepath.Join(dir, name+".db") }

// BulkLoadSQLite inserts 1000 users (once) and active sessions with ids BulkID(from..to)
// into an SQLite file whose schema the store has already migrated, in one
// transaction (recursive CTE), with the session indexes dropped during the
// load and rebuilt after it. It does not ANALYZE: the store never does, so
// the planner sees what it would see in production.
func BulkLoadSQLite(ctx context.Context, path string, from, to int) error {
	db, tx, err := beginSQLite(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master
		WHERE type = 'index' AND tbl_name = 'sessions' AND sql IS NOT NULL`)
	if err != nil {
		return err
	}
	var names, defs []string
	for rows.Next() {
		var nm, d string
		if err := rows.Scan(&nm, &d); err != nil {
			rows.Close()
			return err
		}
		names, defs = append(names, nm), append(defs, d)
	}
	rows.Close()
	for _, nm := range names {
		if _, err := tx.ExecContext(ctx, `DROP INDEX "`+strings.ReplaceAll(nm, `"`, `""`)+`"`); err != nil {
			return err
		}
	}
	var base int64
	if err := tx.QueryRowContext(ctx, "SELECT ifnull(max(version), 0) FROM sessions").Scan(&base); err != nil {
		return err
	}
	now := time.Now().UnixMicro()
	day := (24 * time.Hour).Microseconds()
	if _, err := tx.ExecContext(ctx, `WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 1000)
		INSERT OR IGNORE INTO users (id, username, email, full_name, role, status, password_hash, created_at)
		SELECT i + 1000000, 'user' || i, 'user' || i || '@example.com', 'User ' || i, 'user', 'active', 'x', ?1 FROM g`, now); err != nil {
		return fmt.Errorf("bulk users: %w", err)
	}
	_, err = tx.ExecContext(ctx, `WITH RECURSIVE g(i) AS (SELECT ?5 UNION ALL SELECT i + 1 FROM g WHERE i < ?1),
		r(i, la) AS (SELECT i, ?2 - abs(random()) % (13 * ?3) FROM g)
		INSERT INTO sessions (id, user_id, username, email, full_name, role, status, data, ip, user_agent,
			login_time, last_activity, expires_at, version)
		SELECT printf('%064x', i), 1000001 + i % 1000, 'user' || (i % 1000), 'user' || (i % 1000) || '@example.com',
			'User ' || (i % 1000), CASE i % 6 WHEN 0 THEN 'admin' WHEN 1 THEN 'staff' WHEN 5 THEN 'viewer' ELSE 'user' END,
			'active', '{}', '10.0.' || (i % 250) || '.' || (i % 200), 'Mozilla/5.0 (sessionmon-bench)',
			la - abs(random()) % (3 * ?3), la, la + 14 * ?3,
			i + ?4
		FROM r`, to, now, day, base, from)
	if err != nil {
		return fmt.Errorf("bulk sessions: %w", err)
	}
	for _, d := range defs {
		if _, err := tx.ExecContext(ctx, d); err != nil {
			return fmt.Errorf("rebuild index: %w", err)
		}
	}
	return tx.Commit()
}

// NewTokens returns n fresh session tokens.
func NewTokens(n int) []string {
	t := make([]string, n)
	for i := range t {
		t[i] = sessionlogic.NewToken()
	}
	return t
}

// SeedTokensPG bulk-inserts (COPY) one active session per token into the
// schema's migrated sessions table, with the id sessionmon derives from the
// token, so the real server accepts the tokens as cookies.
func SeedTokensPG(ctx context.Context, s *Schema, tokens []string) error {
	conn, err := s.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	now := time.Now().UTC().Truncate(time.Microsecond)
	rows := make([][]any, len(tokens))
	for i, t := range tokens {
		rows[i] = []any{sessionlogic.HashToken(t), int64(1), "bench", "bench@example.com", "Bench User",
			Roles[i%len(Roles)], data.StatusActive, "127.0.0.1", "sessionmon-bench", now, now, now.Add(14 * 24 * time.Hour)}
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"sessions"}, []string{"id", "user_id", "username", "email", "full_name",
		"role", "status", "ip", "user_agent", "login_time", "last_activity", "expires_at"}, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("seed sessions: %w", err)
	}
	_, err = conn.Exec(ctx, "ANALYZE sessions")
	return err
}

// SeedTokensSQLite inserts one active session per token (and their user)
// into a migrated SQLite file, in one transaction with a prepared insert.
func SeedTokensSQLite(ctx context.Context, path string, tokens []string) error {
	db, tx, err := beginSQLite(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	defer tx.Rollback()
	now := time.Now().UnixMicro()
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO users (id, username, email, full_name, role, status, password_hash, created_at)
		VALUES (999999, 'bench', 'bench@example.com', 'Bench User', 'user', 'active', 'x', ?)`, now); err != nil {
		return err
	}
	var base int64
	if err := tx.QueryRowContext(ctx, "SELECT ifnull(max(version), 0) FROM sessions").Scan(&base); err != nil {
		return err
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO sessions (id, user_id, username, email, full_name, role, status, data,
		ip, user_agent, login_time, last_activity, expires_at, version)
		VALUES (?, 999999, 'bench', 'bench@example.com', 'Bench User', ?, 'active', '{}', '127.0.0.1', 'sessionmon-bench', ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	exp := now + (14 * 24 * time.Hour).Microseconds()
	for i, t := range tokens {
		if _, err := stmt.ExecContext(ctx, sessionlogic.HashToken(t), Roles[i%len(Roles)], now, now, exp, base+int64(i)+1); err != nil {
			return fmt.Errorf("seed session %d: %w", i, err)
		}
	}
	return tx.Commit()
}

// ExecSQLite runs statements on an SQLite file through a connection of its own.
func ExecSQLite(ctx context.Context, path, stmts string) error {
	db, err := openSQLite(path)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmts)
	return err
}

// openSQLite opens an SQLite file through a connection of its own (one at
// most), beside the store's, waiting up to 5 s for its locks.
func openSQLite(path string) (*sql.DB, error) {
	abs, _ := filepath.Abs(path)
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: abs}).String()+"?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// beginSQLite opens path (openSQLite) and begins a transaction; the caller
// closes both.
func beginSQLite(ctx context.Context, path string) (*sql.DB, *sql.Tx, error) {
	db, err := openSQLite(path)
	if err != nil {
		return nil, nil, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, tx, nil
}
