package django

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dialect is what differs between PostgreSQL and SQLite. Django stores
// expire_date as timestamptz on PostgreSQL and, on SQLite, as the text of a
// naive UTC datetime (str(datetime): "2006-01-02 15:04:05[.ffffff]", USE_TZ
// = True), which compares correctly as text when we bind the same text.
type dialect interface {
	// ph is the n-th (1-based) placeholder.
	ph(n int) string
	// expireSel selects expire_date so that scanExpire can read it and the
	// value read, bound back, compares equal (compare-and-swap).
	expireSel() string
	timeArg(t time.Time) any
	scanExpire(v any) (time.Time, any, error)
	tableExists(ctx context.Context, db *sql.DB, name string) (bool, error)
	canWrite(ctx context.Context, db *sql.DB) (bool, error)
	notifyInstalled(ctx context.Context, db *sql.DB) (bool, error)
	auditDDL() []string
}

type postgresDialect struct{}

func (postgresDialect) ph(n int) string   { return "$" + strconv.Itoa(n) }
func (postgresDialect) expireSel() string { return "expire_date" }
func (postgresDialect) timeArg(t time.Time) any {
	return t.UTC().Truncate(time.Microsecond)
}

func (postgresDialect) scanExpire(v any) (time.Time, any, error) {
	t, ok := v.(time.Time)
	if !ok {
		return time.Time{}, nil, fmt.Errorf("expire_date is %T, want a timestamp", v)
	}
	return t.UTC(), t, nil
}

func (postgresDialect) tableExists(ctx context.Context, db *sql.DB, name string) (bool, error) {
	var ok bool
	err := db.QueryRowContext(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&ok)
	return ok, err
}

func (postgresDialect) canWrite(ctx context.Context, db *sql.DB) (bool, error) {
	var del, upd bool
	err := db.QueryRowContext(ctx, `SELECT has_table_privilege('django_session', 'DELETE'),
		has_table_privilege('django_session', 'UPDATE')`).Scan(&del, &upd)
	if err != nil {
		return false, fmt.Errorf("read privileges on django_session: %w", err)
	}
	// A hot standby answers reads only, whatever the grants.
	var recovery bool
	if err := db.QueryRowContext(ctx, "SELECT pg_is_in_recovery()").Scan(&recovery); err != nil {
		return false, err
	}
	return del && upd && !recovery, nil
}

func (postgresDialect) notifyInstalled(ctx context.Context, db *sql.DB) (bool, error) {
	var ok bool
	err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_trigger
		WHERE tgname = $1 AND tgrelid = to_regclass('django_session'))`, notifyTrigger).Scan(&ok)
	return ok, err
}

func (postgresDialect) auditDDL() []string {
	return []string{`CREATE TABLE IF NOT EXISTS sessionmon_django_audit (
	id          bigserial PRIMARY KEY,
	at          timestamptz NOT NULL,
	actor       text NOT NULL,
	action      text NOT NULL,
	username    text NOT NULL DEFAULT '',
	session_key text NOT NULL DEFAULT '',
	ip          text NOT NULL DEFAULT '',
	detail      text NOT NULL DEFAULT ''
)`,
		`CREATE INDEX IF NOT EXISTS sessionmon_django_audit_username ON sessionmon_django_audit (username, id)`,
		`CREATE INDEX IF NOT EXISTS sessionmon_django_audit_session ON sessionmon_django_audit (session_key, id)`,
	}
}

type sqliteDialect struct{}

func (sqliteDialect) ph(int) string     { return "?" }
func (sqliteDialect) expireSel() string { return "CAST(expire_date AS TEXT)" }

// djangoTime is str(datetime) of a naive UTC datetime, as Django's SQLite
// backend stores it: no fraction when the microseconds are zero.
func djangoTime(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02 15:04:05")
	}
	return t.Format("2006-01-02 15:04:05.000000")
}

func (sqliteDialect) timeArg(t time.Time) any { return djangoTime(t) }

func (sqliteDialect) scanExpire(v any) (time.Time, any, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case []byte:
		s = string(x)
	default:
		return time.Time{}, nil, fmt.Errorf("expire_date is %T, want text", v)
	}
	t, err := parseSQLiteTime(s)
	return t, s, err
}

func parseSQLiteTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999-07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("expire_date %q is not a datetime", s)
}

func (sqliteDialect) tableExists(ctx context.Context, db *sql.DB, name string) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", name).Scan(&n)
	return n > 0, err
}

func (sqliteDialect) canWrite(context.Context, *sql.DB) (bool, error) { return true, nil } // see writable

func (sqliteDialect) notifyInstalled(context.Context, *sql.DB) (bool, error) { return false, nil }

func (sqliteDialect) auditDDL() []string {
	return []string{`CREATE TABLE IF NOT EXISTS sessionmon_django_audit (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	at          TEXT NOT NULL,
	actor       TEXT NOT NULL,
	action      TEXT NOT NULL,
	username    TEXT NOT NULL DEFAULT '',
	session_key TEXT NOT NULL DEFAULT '',
	ip          TEXT NOT NULL DEFAULT '',
	detail      TEXT NOT NULL DEFAULT ''
)`,
		`CREATE INDEX IF NOT EXISTS sessionmon_django_audit_username ON sessionmon_django_audit (username, id)`,
		`CREATE INDEX IF NOT EXISTS sessionmon_django_audit_session ON sessionmon_django_audit (session_key, id)`,
	}
}

// inList is "(p1, p2, …)" for n values starting at placeholder from.
func inList(d dialect, from, n int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.ph(from + i))
	}
	b.WriteByte(')')
	return b.String()
}
