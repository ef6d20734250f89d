package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"sessionmon/data"
)

// Touch slides an active session's expiry and records activity, in one
// prepared statement (its own transaction). Unknown, ended or expired:
// ErrNotFound. It sends no change notice (see Watch): it runs on every
// request and changes no session's state.
func (s *Store) Touch(ctx context.Context, id string, now, expires time.Time) (data.Session, error) {
	got, err := scanSession(s.ws.queryRow(ctx, touchSQL, micros(now), micros(expires), id))
	if errors.Is(err, sql.ErrNoRows) {
		return data.Session{}, fmt.Errorf("sqlite: touch: %w", data.ErrNotFound)
	}
	if err != nil {
		return data.Session{}, wrap("touch", err)
	}
	return got, nil
}

// Session returns a session in any state.
func (s *Store) Session(ctx context.Context, id string) (data.Session, error) {
	got, err := scanSession(s.rs.queryRow(ctx, getSessionSQL, id))
	if errors.Is(err, sql.ErrNoRows) {
		return data.Session{}, fmt.Errorf("sqlite: session: %w", data.ErrNotFound)
	}
	if err != nil {
		return data.Session{}, wrap("session", err)
	}
	return got, nil
}

// CreateSession inserts sess, first ending replaceID (when it is still
// active at sess.LoginTime) with EndReplaced, all with the audit entry in one
// transaction. A taken id is ErrConflict; an unknown user is ErrNotFound.
//
// A guard is checked first in the same transaction. Transactions begin
// IMMEDIATE, holding the file's one write lock before they read, and
// SetUserStatus and SetUserPassword write the user and end the sessions in
// one transaction too, so nothing can come between the check and the insert.
func (s *Store) CreateSession(ctx context.Context, sess data.Session, replaceID string, guard data.Guard, audit data.AuditEntry) (data.Session, error) {
	payload, err := encodeData(sess.Data)
	if err != nil {
		return data.Session{}, wrap("create session", err)
	}
	var out data.Session
	err = s.inTx(ctx, "create session", func(t tq) error {
		if guard.PasswordHash != "" {
			var one int
			err := t.queryRow(guardSQL, sess.UserID, guard.PasswordHash).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("user %d: %w", sess.UserID, data.ErrUserChanged)
			}
			if err != nil {
				return err
			}
		}
		if replaceID != "" && replaceID != sess.ID {
			if _, err := t.exec(replaceSQL, micros(sess.LoginTime), data.EndReplaced, sess.Username, replaceID); err != nil {
				return fmt.Errorf("replace %s: %w", replaceID, err)
			}
		}
		got, err := scanSession(t.queryRow(insertSessionSQL,
			sess.ID, sess.UserID, sess.Username, sess.Email, sess.FullName, sess.Role, sess.Status,
			payload, sess.IP, sess.UserAgent,
			micros(sess.LoginTime), micros(sess.LastActivity), micros(sess.ExpiresAt), nullMicros(sess.AbsoluteExpiresAt)))
		switch {
		case isUniqueViolation(err):
			return fmt.Errorf("session %s: %w", sess.ID, data.ErrConflict)
		case isForeignKeyViolation(err):
			return fmt.Errorf("user %d: %w", sess.UserID, data.ErrNotFound)
		case err != nil:
			return err
		}
		out = got
		return insertAudit(t, audit)
	})
	if err != nil {
		return data.Session{}, err
	}
	s.notices.changed()
	return out, nil
}

// EndSession ends one session that is active at end.At: ErrNotFound for an
// unknown id, ErrEnded for one already ended or expired. An empty
// audit.Username is the row's; an empty end.By (the holder's own logout)
// makes the row's username EndedBy and, when empty, the audit's Actor.
//
// A corrupt row does not stop a force-logout: the session is ended and the
// audit entry written, and the *CorruptRowError is returned with a Session
// holding what is known (ID, username and the end).
func (s *Store) EndSession(ctx context.Context, id string, end data.End, audit data.AuditEntry) (data.Session, error) {
	var out data.Session
	var corrupt error
	err := s.inTx(ctx, "end session", func(t tq) error {
		got, err := endOne(t, id, end)
		var ce *CorruptRowError
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return whyNotActive(t, id, end.At, false)
		case errors.As(err, &ce):
			corrupt = err
		case err != nil:
			return err
		}
		out = got
		if audit.Username == "" {
			audit.Username = got.Username
		}
		if end.By == "" && audit.Actor == "" {
			audit.Actor = got.Username
		}
		return insertAudit(t, audit)
	})
	if err != nil {
		return data.Session{}, err
	}
	s.notices.changed() // ended, even when the row is corrupt
	if corrupt != nil {
		return out, fmt.Errorf("sqlite: end session: ended, but: %w", corrupt)
	}
	return out, nil
}

// endOne ends id if it is active at end.At (sql.ErrNoRows if not). A row
// that cannot be decoded is ended all the same: it comes back as what is
// known (ID, Username and the end) with its *CorruptRowError.
func endOne(t tq, id string, end data.End) (data.Session, error) {
	raw, err := scanRaw(t.queryRow(endOneSQL, micros(end.At), end.Reason, end.By, id))
	if err != nil {
		return data.Session{}, err
	}
	got, err := decodeSession(raw)
	if err != nil {
		var d decoder
		known := data.Session{ID: id, Username: d.str(raw[2], "username"), EndedAt: end.At, EndReason: end.Reason, EndedBy: end.By}
		if known.EndedBy == "" {
			known.EndedBy = known.Username
		}
		return known, err
	}
	return got, nil
}

// EndSessions ends every session of ids that is active at end.At, with one
// audit entry each (the template's SessionID and Username filled from the
// row), in one transaction. The rest are read in the same transaction:
// Already when the row is there, Missing when not.
func (s *Store) EndSessions(ctx context.Context, ids []string, end data.End, audit data.AuditEntry) (data.EndResult, error) {
	var (
		res data.EndResult
		bad rowsErr
	)
	if len(ids) == 0 {
		return res, nil
	}
	err := s.inTx(ctx, "end sessions", func(t tq) error {
		for _, id := range ids {
			got, err := endOne(t, id, end)
			var ce *CorruptRowError
			switch {
			case errors.Is(err, sql.ErrNoRows):
				cur, err := scanSession(t.queryRow(sessionInTxSQL, id))
				switch {
				case errors.Is(err, sql.ErrNoRows):
					res.Missing = append(res.Missing, id)
				case errors.As(err, &ce):
					bad.add(err)
					res.Already = append(res.Already, data.Session{ID: id})
				case err != nil:
					return fmt.Errorf("read %s: %w", id, err)
				default:
					res.Already = append(res.Already, cur)
				}
				continue
			case errors.As(err, &ce):
				bad.add(err)
			case err != nil:
				return fmt.Errorf("end %s: %w", id, err)
			}
			res.Ended = append(res.Ended, got)
			a := audit
			a.SessionID, a.Username = id, got.Username
			if err := insertAudit(t, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return data.EndResult{}, err
	}
	if len(res.Ended) > 0 {
		s.notices.changed()
	}
	if err := bad.err(); err != nil {
		return res, fmt.Errorf("sqlite: end sessions: ended, but: %w", err)
	}
	return res, nil
}

// whyNotActive explains, inside the transaction that failed to write it, why
// a session was not written: ErrNotFound when there is no such row, ErrEnded
// when it has ended or expired at now, else (for Extend) ErrBeyondLimit.
func whyNotActive(t tq, id string, now time.Time, extend bool) error {
	var ended, expires any
	err := t.queryRow(sessionStateSQL, id).Scan(&ended, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("session %s: %w", id, data.ErrNotFound)
	case err != nil:
		return err
	}
	exp, ok := expires.(int64)
	if ended != nil || !ok || exp <= micros(now) || !extend {
		return fmt.Errorf("session %s: %w", id, data.ErrEnded)
	}
	return fmt.Errorf("session %s: %w", id, data.ErrBeyondLimit)
}

func endUser(t tq, userID int64, end data.End) (int, error) {
	res, err := t.exec(endUserSQL, userID, micros(end.At), end.Reason, end.By)
	if err != nil {
		return 0, fmt.Errorf("end sessions of user %d: %w", userID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// EndUserSessions ends every session of the user that is active at end.At.
func (s *Store) EndUserSessions(ctx context.Context, userID int64, end data.End, audit data.AuditEntry) (int, error) {
	var n int
	err := s.inTx(ctx, "end user sessions", func(t tq) error {
		var err error
		if n, err = endUser(t, userID, end); err != nil {
			return err
		}
		if audit.Username == "" {
			err := t.queryRow(usernameOfSQL, userID).Scan(&audit.Username)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("name user %d: %w", userID, err)
			}
		}
		return insertAudit(t, audit)
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		s.notices.changed()
	}
	return n, nil
}

// Extend moves an active session's expiry later by d, never past its
// absolute limit (ErrBeyondLimit) and never for an ended or expired session
// (ErrEnded).
func (s *Store) Extend(ctx context.Context, id string, d time.Duration, now time.Time, audit data.AuditEntry) (data.Session, error) {
	var out data.Session
	err := s.inTx(ctx, "extend", func(t tq) error {
		got, err := scanSession(t.queryRow(extendSQL, d.Microseconds(), id, micros(now)))
		if errors.Is(err, sql.ErrNoRows) {
			return whyNotActive(t, id, now, true)
		}
		if err != nil {
			return err
		}
		out = got
		if audit.Username == "" {
			audit.Username = got.Username
		}
		return insertAudit(t, audit)
	})
	if err != nil {
		return data.Session{}, err
	}
	s.notices.changed()
	return out, nil
}

// Purge deletes sessions that ended, or expired, before `before`. The audit
// entry is written only when it deleted any. It sends no change notice: the
// rows it deletes are already inactive, so no active session and no expiry
// changes (data.Watcher promises notices for logins, ends and extends).
func (s *Store) Purge(ctx context.Context, before time.Time, audit data.AuditEntry) (int64, error) {
	var n int64
	err := s.inTx(ctx, "purge", func(t tq) error {
		if _, err := t.exec(raiseVersionFloorSQL); err != nil {
			return err
		}
		res, err := t.exec(purgeSQL, micros(before))
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return insertAudit(t, audit)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
