package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"sessionmon/data"
)

// insertAudit inserts the audit entry held in the named arguments a_* (see
// auditArgs). Append a FROM clause to log one row per row of a CTE ("FROM
// ended": only when the CTE changed rows), or nothing for exactly one row.
// A zero Time is the server's now().
const insertAudit = `INSERT INTO audit (time, actor, action, username, session_id, ip, detail)
		SELECT coalesce(@a_time::timestamptz, now()), @a_actor::text, @a_action::text,
		       @a_username::text, @a_session::text, @a_ip::text, @a_detail::text `

// auditArgs adds e to args under the names insertAudit uses.
func auditArgs(args pgx.NamedArgs, e data.AuditEntry) pgx.NamedArgs {
	args["a_time"] = nullTime(e.Time)
	args["a_actor"] = e.Actor
	args["a_action"] = e.Action
	args["a_username"] = e.Username
	args["a_session"] = e.SessionID
	args["a_ip"] = e.IP
	args["a_detail"] = e.Detail
	return args
}

// AppendAudit appends one entry.
func (s *Store) AppendAudit(ctx context.Context, e data.AuditEntry) error {
	if e.Action == "" {
		return fmt.Errorf("postgres append audit: empty action")
	}
	if _, err := s.pool.Exec(ctx, insertAudit, auditArgs(pgx.NamedArgs{}, e)); err != nil {
		return wrap("append audit", err)
	}
	return nil
}

// Audit lists entries newest first (by id).
func (s *Store) Audit(ctx context.Context, q data.AuditQuery) ([]data.AuditEntry, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Username != "" {
		where = append(where, "username = "+arg(q.Username))
	}
	if q.SessionID != "" {
		where = append(where, "session_id = "+arg(q.SessionID))
	}
	if q.Action != "" {
		where = append(where, "action = "+arg(q.Action))
	}
	if q.BeforeID > 0 {
		where = append(where, "id < "+arg(q.BeforeID))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	sql := `SELECT id, time, actor, action, username, session_id, ip, detail FROM audit`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY id DESC LIMIT " + arg(limit)

	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrap("audit", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (data.AuditEntry, error) {
		var e data.AuditEntry
		err := r.Scan(&e.ID, &e.Time, &e.Actor, &e.Action, &e.Username, &e.SessionID, &e.IP, &e.Detail)
		e.Time = e.Time.UTC()
		return e, err
	})
	if err != nil {
		return nil, wrap("audit", err)
	}
	return out, nil
}

// RecentFailures counts failed logins since q.Since (inclusive) for the
// username and for the IP. An empty username or IP counts 0.
func (s *Store) RecentFailures(ctx context.Context, q data.FailureQuery) (byUser, byIP int64, err error) {
	err = s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM audit WHERE $1 <> '' AND action = $4 AND username = $1 AND time >= $3),
		(SELECT count(*) FROM audit WHERE $2 <> '' AND action = $4 AND ip = $2 AND time >= $3)`,
		q.Username, q.IP, q.Since, data.ActionLoginFailed).Scan(&byUser, &byIP)
	if err != nil {
		return 0, 0, wrap("recent failures", err)
	}
	return byUser, byIP, nil
}
