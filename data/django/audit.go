package django

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sessionmon/data"
)

// The audit of operator actions never goes into a table of Django's: it goes
// into sessionmon_django_audit in the site's database (Migrate creates it;
// then an action and its entry are one transaction), or, where the operator
// may not create tables there, into the same table in a local SQLite file,
// written right after the action commits.

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

type auditStore interface {
	// inSite: entries are written in the action's own transaction.
	inSite() bool
	insert(ctx context.Context, ex execer, es []data.AuditEntry) error
	list(ctx context.Context, q data.AuditQuery) ([]data.AuditEntry, error)
	close() error
}

type auditTable struct {
	db   *sql.DB
	d    dialect
	site bool
}

func (a *auditTable) inSite() bool { return a.site }

func (a *auditTable) timeArg(t time.Time) any {
	if _, ok := a.d.(sqliteDialect); ok {
		return t.UTC().Format("2006-01-02T15:04:05.000000Z")
	}
	return t.UTC()
}

func (a *auditTable) insert(ctx context.Context, ex execer, es []data.AuditEntry) error {
	if ex == nil {
		ex = a.db
	}
	q := "INSERT INTO sessionmon_django_audit (at, actor, action, username, session_key, ip, detail) VALUES (" +
		a.d.ph(1) + ", " + a.d.ph(2) + ", " + a.d.ph(3) + ", " + a.d.ph(4) + ", " + a.d.ph(5) + ", " + a.d.ph(6) + ", " + a.d.ph(7) + ")"
	for _, e := range es {
		if _, err := ex.ExecContext(ctx, q, a.timeArg(e.Time), e.Actor, e.Action, e.Username, e.SessionID, e.IP, e.Detail); err != nil {
			return fmt.Errorf("write audit: %w", err)
		}
	}
	return nil
}

func (a *auditTable) list(ctx context.Context, q data.AuditQuery) ([]data.AuditEntry, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, cond+" = "+a.d.ph(len(args)))
	}
	if q.Username != "" {
		add("username", q.Username)
	}
	if q.SessionID != "" {
		add("session_key", q.SessionID)
	}
	if q.Action != "" {
		add("action", q.Action)
	}
	if q.BeforeID > 0 {
		args = append(args, q.BeforeID)
		where = append(where, "id < "+a.d.ph(len(args)))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	stmt := "SELECT id, at, actor, action, username, session_key, ip, detail FROM sessionmon_django_audit"
	if len(where) > 0 {
		stmt += " WHERE " + strings.Join(where, " AND ")
	}
	stmt += fmt.Sprintf(" ORDER BY id DESC LIMIT %d", limit)
	rows, err := a.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	var out []data.AuditEntry
	for rows.Next() {
		var e data.AuditEntry
		var at any
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Username, &e.SessionID, &e.IP, &e.Detail); err != nil {
			return nil, fmt.Errorf("read audit: %w", err)
		}
		switch v := at.(type) {
		case time.Time:
			e.Time = v.UTC()
		case string:
			e.Time, _ = time.Parse(time.RFC3339Nano, v)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	return out, nil
}

func (a *auditTable) close() error {
	if a.site {
		return nil
	}
	return a.db.Close()
}

// openAudit picks the audit store: our table in the site's database when
// it is there and we may insert into it, else the local file, else none
// (and Refuse then refuses every action).
func (s *Source) openAudit(ctx context.Context) error {
	ok, err := s.dialect.tableExists(ctx, s.db, "sessionmon_django_audit")
	if err != nil {
		return err
	}
	if ok {
		insert := s.canWrite
		if _, pg := s.dialect.(postgresDialect); pg && insert {
			if err := s.db.QueryRowContext(ctx, "SELECT has_table_privilege('sessionmon_django_audit', 'INSERT')").Scan(&insert); err != nil {
				return err
			}
		}
		if insert || s.opts.AuditPath == "" {
			s.audit = &auditTable{db: s.db, d: s.dialect, site: true}
			s.auditDesc = "sessionmon_django_audit in the site's database"
			return nil
		}
	}
	if s.opts.AuditPath == "" {
		return nil
	}
	db, err := openLocalAudit(ctx, s.opts.AuditPath)
	if err != nil {
		return err
	}
	s.audit = &auditTable{db: db, d: sqliteDialect{}}
	s.auditDesc = "local file " + s.opts.AuditPath
	return nil
}

// openLocalAudit opens (creating) the local audit file: WAL and
// synchronous=FULL, since an operator's action must not lose its record.
func openLocalAudit(ctx context.Context, path string) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("audit file %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("audit file %s: %w", abs, err)
	}
	uri := (&url.URL{Scheme: "file", Path: abs}).String() +
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	db, err := sql.Open("sqlite", uri)
	if err != nil {
		return nil, fmt.Errorf("audit file %s: %w", abs, err)
	}
	db.SetMaxOpenConns(1)
	for _, q := range (sqliteDialect{}).auditDDL() {
		if _, err := db.ExecContext(ctx, q); err != nil {
			db.Close()
			return nil, fmt.Errorf("audit file %s: %w", abs, err)
		}
	}
	return db, nil
}

// AuditStore says where operator actions are recorded ("" when nowhere).
func (s *Source) AuditStore() string { return s.auditDesc }

// Audit lists the operator actions recorded, newest first.
func (s *Source) Audit(ctx context.Context, q data.AuditQuery) ([]data.AuditEntry, error) {
	if s.audit == nil {
		return nil, nil
	}
	es, err := s.audit.list(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("django audit: %w", err)
	}
	return es, nil
}
