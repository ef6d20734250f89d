package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"sessionmon/data"
)

func scanUser(sc scanner) (data.User, error) {
	var u data.User
	var created int64
	if err := sc.Scan(&u.ID, &u.Username, &u.Email, &u.FullName, &u.Role, &u.Status, &u.PasswordHash, &created); err != nil {
		return data.User{}, err
	}
	u.CreatedAt = time.UnixMicro(created).UTC()
	return u, nil
}

// CreateUser inserts u. An empty Status means active.
func (s *Store) CreateUser(ctx context.Context, u data.User, audit data.AuditEntry) (data.User, error) {
	if u.Status == "" {
		u.Status = data.StatusActive
	}
	var out data.User
	err := s.inTx(ctx, "create user", func(t tq) error {
		got, err := scanUser(t.queryRow(insertUserSQL, u.Username, u.Email, u.FullName, u.Role, u.Status, u.PasswordHash, micros(u.CreatedAt)))
		if isUniqueViolation(err) {
			return fmt.Errorf("user %q: %w", u.Username, data.ErrConflict)
		}
		if err != nil {
			return err
		}
		out = got
		return insertAudit(t, audit)
	})
	if err != nil {
		return data.User{}, err
	}
	return out, nil
}

// UserByUsername returns the user or ErrNotFound.
func (s *Store) UserByUsername(ctx context.Context, username string) (data.User, error) {
	u, err := scanUser(s.rs.queryRow(ctx, userSQL, username))
	if errors.Is(err, sql.ErrNoRows) {
		return data.User{}, fmt.Errorf("sqlite: user %q: %w", username, data.ErrNotFound)
	}
	if err != nil {
		return data.User{}, wrap("user", err)
	}
	return u, nil
}

// ListUsers returns every user, by username.
func (s *Store) ListUsers(ctx context.Context) ([]data.User, error) {
	rows, err := s.rs.query(ctx, listUsersSQL)
	if err != nil {
		return nil, wrap("list users", err)
	}
	defer rows.Close()
	var out []data.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap("list users", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list users", err)
	}
	return out, nil
}

// updateUser runs one of the UPDATE ... RETURNING statements on a user.
func updateUser(t tq, q, username string, arg any) (data.User, error) {
	u, err := scanUser(t.queryRow(q, arg, username))
	if errors.Is(err, sql.ErrNoRows) {
		return data.User{}, fmt.Errorf("user %q: %w", username, data.ErrNotFound)
	}
	return u, err
}

// SetUserRole changes a user's role. Sessions keep the role they logged in with.
func (s *Store) SetUserRole(ctx context.Context, username, role string, audit data.AuditEntry) (data.User, error) {
	var out data.User
	err := s.inTx(ctx, "set user role", func(t tq) error {
		u, err := updateUser(t, setRoleSQL, username, role)
		if err != nil {
			return err
		}
		out = u
		return insertAudit(t, audit)
	})
	if err != nil {
		return data.User{}, err
	}
	return out, nil
}

// SetUserStatus changes a user's status; deactivating ends every session of
// the user that is active at end.At, in the same transaction, and notifies
// watchers when it ended any.
func (s *Store) SetUserStatus(ctx context.Context, username, status string, end data.End, audit data.AuditEntry) (data.User, int, error) {
	return s.changeUser(ctx, "set user status", setStatusSQL, username, status, status == data.StatusInactive, end, audit)
}

// SetUserPassword replaces a user's password hash and ends every session of
// the user that is active at end.At, with audit, in one transaction, and
// notifies watchers when it ended any.
func (s *Store) SetUserPassword(ctx context.Context, username, hash string, end data.End, audit data.AuditEntry) (data.User, int, error) {
	return s.changeUser(ctx, "set user password", setPasswordSQL, username, hash, true, end, audit)
}

// changeUser runs update (a statement setting one column of the user to
// value), then, when endSessions, ends the user's sessions active at
// end.At, and logs audit, in one transaction; it notifies watchers when it
// ended any session.
func (s *Store) changeUser(ctx context.Context, op, update, username, value string, endSessions bool, end data.End, audit data.AuditEntry) (data.User, int, error) {
	var out data.User
	var n int
	err := s.inTx(ctx, op, func(t tq) error {
		u, err := updateUser(t, update, username, value)
		if err != nil {
			return err
		}
		out = u
		if endSessions {
			if n, err = endUser(t, u.ID, end); err != nil {
				return err
			}
		}
		return insertAudit(t, audit)
	})
	if err != nil {
		return data.User{}, 0, err
	}
	if n > 0 {
		s.notices.changed()
	}
	return out, n, nil
}

// RehashPassword replaces a user's password hash with hash only if it is
// still old. ErrUserChanged when it is not (nothing changed), ErrNotFound.
func (s *Store) RehashPassword(ctx context.Context, username, old, hash string) error {
	res, err := s.ws.exec(ctx, rehashSQL, hash, username, old)
	if err != nil {
		return wrap("rehash password", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap("rehash password", err)
	}
	if n > 0 {
		return nil
	}
	// Nothing changed: tell why.
	if _, err := s.UserByUsername(ctx, username); err != nil {
		return err
	}
	return fmt.Errorf("sqlite: rehash password of %q: %w", username, data.ErrUserChanged)
}
