package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"sessionmon/data"
)

// short is a session id cut for messages.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// sessionErr wraps err for op on session id, turning "no rows" into
// data.ErrNotFound.
func sessionErr(op, id string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		err = data.ErrNotFound
	}
	return wrap(op+" "+short(id), err)
}

// createSQL is CreateSession's statement: it ends the session @replace (if
// given and still active at @login) as replaced, inserts the new one with a
// fresh version and logs audit, all only when cond holds, and notifies
// "login". guard is a CTE (with its trailing comma) that cond may read.
func createSQL(guard, cond string) string {
	return `WITH ` + guard + `replaced AS (
			UPDATE sessions
			SET ended_at = @login, end_reason = @replaced, ended_by = @username,
			    version = nextval('session_version_seq')
			WHERE @replace::text <> '' AND id = @replace::text
			  AND ended_at IS NULL AND expires_at > @login AND ` + cond + `
		), created AS (
			INSERT INTO sessions (id, user_id, username, email, full_name, role, status, data, ip, user_agent,
				login_time, last_activity, expires_at, absolute_expires_at, ended_at, end_reason, ended_by)
			SELECT @id, @user_id, @username, @email, @full_name, @role, @status, @data::jsonb, @ip, @user_agent,
				@login, @last, @expires, @absolute, @ended, @end_reason, @ended_by
			WHERE ` + cond + `
			RETURNING ` + sessionCols + `
		), logged AS (` + insertAudit + `FROM created)
		SELECT ` + sessionCols + ` FROM created WHERE sessionmon_notify('login', 1)`
}

var (
	createSessionSQL = createSQL("", "true")
	// createGuardedSQL creates the session only if the user is still active
	// with the hash the login checked (data.Guard).
	//
	// Why this is airtight in READ COMMITTED: the guard locks the user row
	// FOR SHARE before anything is written (every write below depends on
	// it). If a deactivation or a password reset has updated the row
	// meanwhile, the lock waits for it to commit and PostgreSQL re-checks
	// the WHERE on the row's newest version, so the guard comes back empty
	// and nothing is written. Those writers take the row's lock first (their
	// UPDATE of users conflicts with FOR SHARE) and end the sessions in a
	// later statement of their transaction (users.go: changeUser), whose
	// snapshot sees any session committed while they waited for the lock.
	createGuardedSQL = createSQL(`guard AS MATERIALIZED (
			SELECT FROM users
			WHERE id = @user_id AND status = @active AND password_hash = @hash
			FOR SHARE
		), `, `EXISTS (SELECT FROM guard)`)
)

// CreateSession inserts s with a fresh version, ends the session replaceID
// (if given and still active at s.LoginTime) as replaced, and logs audit,
// all in one statement (createSQL). It notifies "login". With a guard it
// writes nothing unless the user is still as the login saw them
// (ErrUserChanged).
func (s *Store) CreateSession(ctx context.Context, sess data.Session, replaceID string, guard data.Guard, audit data.AuditEntry) (data.Session, error) {
	if sess.ID == "" {
		return data.Session{}, fmt.Errorf("postgres create session: empty id")
	}
	raw, err := encodeData(sess.Data)
	if err != nil {
		return data.Session{}, fmt.Errorf("postgres create session %s: encode data: %w", short(sess.ID), err)
	}
	args := auditArgs(pgx.NamedArgs{
		"id": sess.ID, "user_id": sess.UserID, "username": sess.Username, "email": sess.Email,
		"full_name": sess.FullName, "role": sess.Role, "status": sess.Status, "data": string(raw),
		"ip": sess.IP, "user_agent": sess.UserAgent,
		"login": sess.LoginTime, "last": sess.LastActivity, "expires": sess.ExpiresAt,
		"absolute": nullTime(sess.AbsoluteExpiresAt), "ended": nullTime(sess.EndedAt),
		"end_reason": sess.EndReason, "ended_by": sess.EndedBy,
		"replace": replaceID, "replaced": data.EndReplaced,
	}, audit)
	q := createSessionSQL
	if guard.PasswordHash != "" {
		q = createGuardedSQL
		args["active"] = data.StatusActive
		args["hash"] = guard.PasswordHash
	}
	out, err := scanSession(s.pool.QueryRow(ctx, q, args))
	if errors.Is(err, pgx.ErrNoRows) && guard.PasswordHash != "" {
		return data.Session{}, wrap("create session "+short(sess.ID), data.ErrUserChanged)
	}
	if err != nil {
		return data.Session{}, sessionErr("create session", sess.ID, err)
	}
	return out, nil
}

// touchSQL writes only unindexed columns (and, once a minute per session,
// the generated minute buckets), and leaves version alone, so nearly every
// touch is a heap-only (HOT) update: a new row version on the same page and
// no index entry at all (migration 0005, data.Store.Touch).
const touchSQL = `UPDATE sessions
	SET last_activity = $2,
	    expires_at = GREATEST(expires_at, LEAST($3, coalesce(absolute_expires_at, 'infinity')))
	WHERE id = $1 AND ended_at IS NULL AND expires_at > $2
	RETURNING ` + sessionCols

// Touch is the hot path: one UPDATE … RETURNING, one round trip, no
// transaction block, no notification, no new Version. Touches that arrive together share
// one statement and one commit (touchbatch.go); each call still returns
// only after the commit that carries it. Unknown, ended and expired
// sessions are all ErrNotFound.
func (s *Store) Touch(ctx context.Context, id string, now, expires time.Time) (data.Session, error) {
	if s.touches != nil {
		return s.touches.touch(ctx, id, now, expires)
	}
	return touchOne(ctx, s.pool, id, now, expires)
}

// touchOne touches one session with its own statement.
func touchOne(ctx context.Context, pool *pgxpool.Pool, id string, now, expires time.Time) (data.Session, error) {
	out, err := scanSession(pool.QueryRow(ctx, touchSQL, id, now, expires))
	if err != nil {
		return data.Session{}, sessionErr("touch", id, err)
	}
	return out, nil
}

// Session returns a session in any state.
func (s *Store) Session(ctx context.Context, id string) (data.Session, error) {
	out, err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = $1`, id))
	if err != nil {
		return data.Session{}, sessionErr("session", id, err)
	}
	return out, nil
}

// retries bounds how often EndSession and Extend re-run their guarded
// update when the diagnosis read finds the row changed in between.
const retries = 3

// endOneSQL ends session @id if it is active at @at and logs the audit
// entry, naming the row's user where the caller did not (an empty @by: the
// holder's own logout, so the row's username ends it and acts).
var endOneSQL = `WITH ended AS (
			UPDATE sessions
			SET ended_at = @at, end_reason = @reason, ended_by = coalesce(nullif(@by::text, ''), username),
			    version = nextval('session_version_seq')
			WHERE id = @id AND ended_at IS NULL AND expires_at > @at
			RETURNING ` + sessionCols + `
		), logged AS (` + insertAuditOf("ended", true) + `)
		SELECT ` + sessionCols + ` FROM ended WHERE sessionmon_notify('end', 1)`

// EndSession ends one active session at end.At (zero: now) and logs
// audit in one statement, guarded by WHERE so it never ends a session twice.
// ErrNotFound for an unknown id, ErrEnded for an ended or expired one.
func (s *Store) EndSession(ctx context.Context, id string, end data.End, audit data.AuditEntry) (data.Session, error) {
	end.At = orNow(end.At)
	args := auditArgs(pgx.NamedArgs{"id": id, "at": end.At, "reason": end.Reason, "by": end.By}, audit)
	for range retries {
		out, err := scanSession(s.pool.QueryRow(ctx, endOneSQL, args))
		if err == nil {
			return out, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return data.Session{}, sessionErr("end session", id, err)
		}
		// Nothing changed: tell why.
		cur, err := s.Session(ctx, id)
		if err != nil {
			return data.Session{}, sessionErr("end session", id, unwrapNotFound(err))
		}
		if !cur.Active(end.At) {
			return data.Session{}, sessionErr("end session", id, data.ErrEnded)
		}
		// It became active in between (a clock-skewed replica): try again.
	}
	return data.Session{}, wrap("end session "+short(id), errors.New("the session kept changing; try again"))
}

// endManySQL ends every session of @ids active at @at, with one audit
// entry per row it ends.
var endManySQL = `WITH ended AS (
			UPDATE sessions
			SET ended_at = @at, end_reason = @reason, ended_by = coalesce(nullif(@by::text, ''), username),
			    version = nextval('session_version_seq')
			WHERE id = ANY(@ids::text[]) AND ended_at IS NULL AND expires_at > @at
			RETURNING ` + sessionCols + `
		), logged AS (` + insertAuditOf("ended", false) + `)
		SELECT ` + sessionCols + ` FROM ended WHERE sessionmon_notify('end', 1)`

// EndSessions ends every session of ids active at end.At (zero: now), with
// one audit entry each (SessionID and Username from the row), in one
// statement; a second, in the same transaction, reads the rest to tell
// Already (the row is there) from Missing. Under READ COMMITTED that read
// sees every end committed meanwhile, so a session another operator ended
// a moment earlier shows as Already, with their name.
func (s *Store) EndSessions(ctx context.Context, ids []string, end data.End, audit data.AuditEntry) (data.EndResult, error) {
	var res data.EndResult
	if len(ids) == 0 {
		return res, nil
	}
	end.At = orNow(end.At)
	audit.SessionID, audit.Username = "", "" // from each row
	args := auditArgs(pgx.NamedArgs{"ids": ids, "at": end.At, "reason": end.Reason, "by": end.By}, audit)
	var (
		ended   = map[string]data.Session{}
		already = map[string]data.Session{}
		bad     []error
	)
	// collect scans rows of sessionCols into into; a corrupt row is kept as
	// what is known (its id, plus the end for an ended one) and reported.
	collect := func(rows pgx.Rows, into map[string]data.Session, known func(id string) data.Session) error {
		defer rows.Close()
		for rows.Next() {
			got, err := scanSession(rows)
			var re *data.RowError
			switch {
			case errors.As(err, &re):
				bad = append(bad, err)
				got = known(re.SessionID)
			case err != nil:
				return err
			}
			into[got.ID] = got
		}
		return rows.Err()
	}
	run := func(tx pgx.Tx) error {
		clear(ended)
		clear(already)
		bad = nil
		rows, err := tx.Query(ctx, endManySQL, args)
		if err != nil {
			return err
		}
		err = collect(rows, ended, func(id string) data.Session {
			return data.Session{ID: id, EndedAt: end.At, EndReason: end.Reason, EndedBy: end.By}
		})
		if err != nil {
			return err
		}
		var rest []string
		for _, id := range ids {
			if _, ok := ended[id]; !ok {
				rest = append(rest, id)
			}
		}
		if len(rest) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ANY($1::text[])`, rest)
		if err != nil {
			return err
		}
		return collect(rows, already, func(id string) data.Session { return data.Session{ID: id} })
	}
	// Two bulk ends (or one and a user's) lock their rows in whatever
	// order their plans visit them, so they can deadlock; PostgreSQL then
	// rolls one back, and it runs again.
	var err error
	for range retries {
		if err = pgx.BeginFunc(ctx, s.pool, run); !isDeadlock(err) {
			break
		}
	}
	if err != nil {
		return data.EndResult{}, wrap(fmt.Sprintf("end %d sessions", len(ids)), err)
	}
	for _, id := range ids {
		if s, ok := ended[id]; ok {
			res.Ended = append(res.Ended, s)
		} else if s, ok := already[id]; ok {
			res.Already = append(res.Already, s)
		} else {
			res.Missing = append(res.Missing, id)
		}
	}
	if len(bad) > 0 {
		return res, wrap("end sessions: ended, but", errors.Join(bad...))
	}
	return res, nil
}

// isDeadlock reports PostgreSQL's deadlock_detected, after which the
// transaction was rolled back and may run again.
func isDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01"
}

// orNow returns t, or the current time when t is zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC().Truncate(time.Microsecond)
	}
	return t
}

// unwrapNotFound returns data.ErrNotFound itself when err is one, so the
// caller's wrapping does not repeat the inner operation's name.
func unwrapNotFound(err error) error {
	if errors.Is(err, data.ErrNotFound) {
		return data.ErrNotFound
	}
	return err
}

// endUserCTE ends every session of @user_id active at @at: the CTE
// "ended" (its ids) and "n" (their count).
const endUserCTE = `ended AS (
			UPDATE sessions
			SET ended_at = @at, end_reason = @reason, ended_by = @by,
			    version = nextval('session_version_seq')
			WHERE user_id = @user_id AND ended_at IS NULL AND expires_at > @at
			RETURNING id
		), n AS (
			SELECT count(*) AS c FROM ended
		)`

// EndUserSessions ends every active session of a user at end.At (zero: now)
// and logs audit (always, even when none was active), in one statement. It
// takes no lock on the user, so a login racing it may survive it (data.go).
func (s *Store) EndUserSessions(ctx context.Context, userID int64, end data.End, audit data.AuditEntry) (int, error) {
	args := auditArgs(pgx.NamedArgs{"user_id": userID, "at": orNow(end.At), "reason": end.Reason, "by": end.By}, audit)
	var n int
	err := s.pool.QueryRow(ctx, `WITH `+endUserCTE+`, logged AS (INSERT INTO audit (time, actor, action, username, session_id, ip, detail)
		SELECT coalesce(@a_time::timestamptz, now()), @a_actor::text, @a_action::text,
		       coalesce(nullif(@a_username::text, ''), (SELECT username FROM users WHERE id = @user_id), ''),
		       @a_session::text, @a_ip::text, @a_detail::text)
		SELECT c FROM n WHERE sessionmon_notify('end', c)`, args).Scan(&n)
	if err != nil {
		return 0, wrap(fmt.Sprintf("end sessions of user %d", userID), err)
	}
	return n, nil
}

// Extend moves an active session's expiry later by d (to the microsecond),
// never past its absolute limit, and logs audit, in one statement guarded by
// WHERE: it is atomic against EndSession and Touch and never revives an
// ended session. When nothing changed it reads the row to say why:
// ErrNotFound, ErrEnded (ended or expired at now) or ErrBeyondLimit.
// It notifies "extend".
func (s *Store) Extend(ctx context.Context, id string, d time.Duration, now time.Time, audit data.AuditEntry) (data.Session, error) {
	op := fmt.Sprintf("extend %s by %s", short(id), d)
	if d <= 0 {
		return data.Session{}, fmt.Errorf("postgres %s: duration must be positive", op)
	}
	args := auditArgs(pgx.NamedArgs{"id": id, "us": d.Microseconds(), "now": now}, audit)
	sql := `WITH extended AS (
			UPDATE sessions
			SET expires_at = expires_at + @us::bigint * interval '1 microsecond',
			    version = nextval('session_version_seq')
			WHERE id = @id AND ended_at IS NULL AND expires_at > @now
			  AND (absolute_expires_at IS NULL
			       OR expires_at + @us::bigint * interval '1 microsecond' <= absolute_expires_at)
			RETURNING ` + sessionCols + `
		), logged AS (` + insertAuditOf("extended", false) + `)
		SELECT ` + sessionCols + ` FROM extended WHERE sessionmon_notify('extend', 1)`
	for range retries {
		out, err := scanSession(s.pool.QueryRow(ctx, sql, args))
		if err == nil {
			return out, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return data.Session{}, wrap(op, err)
		}
		cur, err := s.Session(ctx, id)
		switch {
		case err != nil:
			return data.Session{}, wrap(op, unwrapNotFound(err))
		case !cur.Active(now):
			return data.Session{}, wrap(op, data.ErrEnded)
		case !cur.AbsoluteExpiresAt.IsZero() && cur.ExpiresAt.Add(d.Truncate(time.Microsecond)).After(cur.AbsoluteExpiresAt):
			return data.Session{}, fmt.Errorf("postgres %s: %w (limit %s)", op, data.ErrBeyondLimit,
				cur.AbsoluteExpiresAt.Format(time.RFC3339))
		}
		// The row changed between the update and the read: try again.
	}
	return data.Session{}, wrap(op, errors.New("the session kept changing; try again"))
}
