package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

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

// insertAuditOf is insertAudit for one entry per row of the CTE cte (which
// returns sessionCols), naming each row's user and session where the
// caller left @a_username or @a_session empty. With byHolder the row's
// username is also the Actor when @a_actor is empty (a holder's logout).
func insertAuditOf(cte string, byHolder bool) string {
	actor := `@a_actor::text`
	if byHolder {
		actor = `coalesce(nullif(@a_actor::text, ''), ` + cte + `.username)`
	}
	return `INSERT INTO audit (time, actor, action, username, session_id, ip, detail)
		SELECT coalesce(@a_time::timestamptz, now()), ` + actor + `, @a_action::text,
		       coalesce(nullif(@a_username::text, ''), ` + cte + `.username),
		       coalesce(nullif(@a_session::text, ''), ` + cte + `.id), @a_ip::text, @a_detail::text
		FROM ` + cte
}

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

// recentFailuresSQL answers RecentFailures in one statement (one snapshot).
// Each subquery is a range of audit_action_username_time_idx,
// audit_action_ip_time_idx or audit_action_username_ip_time_idx: the counts
// read the window's failures, the ClearsAt lookups walk the same range
// backwards and stop after the limit's worth of rows (the limit-th newest
// is the (count-limit+1)-th oldest). An empty username or IP, or a limit
// <= 0, reads nothing.
const recentFailuresSQL = `SELECT
	(SELECT count(*) FROM audit
	  WHERE @user::text <> '' AND action = @action AND username = @user AND time >= @since),
	(SELECT count(*) FROM audit
	  WHERE @ip::text <> '' AND action = @action AND ip = @ip AND time >= @since),
	(SELECT count(*) FROM audit
	  WHERE @user::text <> '' AND @ip::text <> '' AND action = @action AND username = @user AND ip = @ip AND time >= @since),
	(SELECT time FROM audit
	  WHERE @user::text <> '' AND @max_user::bigint > 0 AND action = @action AND username = @user AND time >= @since
	  ORDER BY time DESC LIMIT 1 OFFSET greatest(@max_user::bigint - 1, 0)),
	(SELECT time FROM audit
	  WHERE @ip::text <> '' AND @max_ip::bigint > 0 AND action = @action AND ip = @ip AND time >= @since
	  ORDER BY time DESC LIMIT 1 OFFSET greatest(@max_ip::bigint - 1, 0)),
	(SELECT time FROM audit
	  WHERE @user::text <> '' AND @ip::text <> '' AND @max_user_ip::bigint > 0
	    AND action = @action AND username = @user AND ip = @ip AND time >= @since
	  ORDER BY time DESC LIMIT 1 OFFSET greatest(@max_user_ip::bigint - 1, 0))`

// RecentFailures counts failed logins since q.Since (inclusive) for the
// username, for the IP and for the two together, and finds the failure that
// clears each count at its limit. An empty username or IP counts 0.
func (s *Store) RecentFailures(ctx context.Context, q data.FailureQuery) (data.Failures, error) {
	var (
		f                    data.Failures
		userAt, ipAt, pairAt *time.Time
	)
	err := s.pool.QueryRow(ctx, recentFailuresSQL, pgx.NamedArgs{
		"user": q.Username, "ip": q.IP, "since": q.Since, "action": data.ActionLoginFailed,
		"max_user": int64(q.MaxByUser), "max_ip": int64(q.MaxByIP), "max_user_ip": int64(q.MaxByUserIP),
	}).Scan(&f.ByUser, &f.ByIP, &f.ByUserIP, &userAt, &ipAt, &pairAt)
	if err != nil {
		return data.Failures{}, wrap("recent failures", err)
	}
	if userAt != nil {
		f.UserClearsAt = userAt.UTC()
	}
	if ipAt != nil {
		f.IPClearsAt = ipAt.UTC()
	}
	if pairAt != nil {
		f.UserIPClearsAt = pairAt.UTC()
	}
	return f, nil
}
