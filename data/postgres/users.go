package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"sessionmon/data"
)

const userCols = `id, username, email, full_name, role, status, password_hash, created_at`

func scanUser(row pgx.Row) (data.User, error) {
	var u data.User
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.FullName, &u.Role, &u.Status, &u.PasswordHash, &u.CreatedAt)
	u.CreatedAt = u.CreatedAt.UTC()
	return u, err
}

// userErr wraps err for op, turning "no rows" into data.ErrNotFound.
func userErr(op, username string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres %s %q: %w", op, username, data.ErrNotFound)
	}
	return wrap(fmt.Sprintf("%s %q", op, username), err)
}

// CreateUser inserts u (ID is assigned; a zero CreatedAt is now, an empty
// Status is active) and its audit entry. A taken username is ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u data.User, audit data.AuditEntry) (data.User, error) {
	if u.Username == "" {
		return data.User{}, fmt.Errorf("postgres create user: empty username")
	}
	if u.Status == "" {
		u.Status = data.StatusActive
	}
	args := auditArgs(pgx.NamedArgs{
		"username": u.Username, "email": u.Email, "full_name": u.FullName, "role": u.Role,
		"status": u.Status, "hash": u.PasswordHash, "created": nullTime(u.CreatedAt),
	}, audit)
	row := s.pool.QueryRow(ctx, `WITH u AS (
			INSERT INTO users (username, email, full_name, role, status, password_hash, created_at)
			VALUES (@username, @email, @full_name, @role, @status, @hash, coalesce(@created::timestamptz, now()))
			RETURNING `+userCols+`
		), logged AS (`+insertAudit+`FROM u)
		SELECT `+userCols+` FROM u`, args)
	out, err := scanUser(row)
	if err != nil {
		return data.User{}, userErr("create user", u.Username, err)
	}
	return out, nil
}

// UserByUsername returns one user (exact, case-sensitive match).
func (s *Store) UserByUsername(ctx context.Context, username string) (data.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE username = $1`, username))
	if err != nil {
		return data.User{}, userErr("user", username, err)
	}
	return u, nil
}

// ListUsers returns every user by username.
func (s *Store) ListUsers(ctx context.Context) ([]data.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userCols+` FROM users ORDER BY username`)
	if err != nil {
		return nil, wrap("list users", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (data.User, error) { return scanUser(r) })
	if err != nil {
		return nil, wrap("list users", err)
	}
	return users, nil
}

// SetUserRole changes a user's role and logs audit. Sessions keep the role
// they logged in with.
func (s *Store) SetUserRole(ctx context.Context, username, role string, audit data.AuditEntry) (data.User, error) {
	args := auditArgs(pgx.NamedArgs{"username": username, "role": role}, audit)
	row := s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE users SET role = @role WHERE username = @username RETURNING `+userCols+`
		), logged AS (`+insertAudit+`FROM u)
		SELECT `+userCols+` FROM u`, args)
	u, err := scanUser(row)
	if err != nil {
		return data.User{}, userErr("set role of", username, err)
	}
	return u, nil
}

// SetUserStatus changes a user's status and logs audit. Setting it to
// inactive also ends every active session of the user with end, in the same
// transaction (changeUser), and returns how many it ended.
func (s *Store) SetUserStatus(ctx context.Context, username, status string, end data.End, audit data.AuditEntry) (data.User, int, error) {
	if status != data.StatusActive && status != data.StatusInactive {
		return data.User{}, 0, fmt.Errorf("postgres set status of %q: unknown status %q", username, status)
	}
	return s.changeUser(ctx, "set status of", username, `status = @value`, status,
		status == data.StatusInactive, end, audit)
}

// SetUserPassword replaces a user's password hash and ends every session
// of the user active at end.At, with audit, in one transaction
// (changeUser). It returns the user and how many sessions it ended.
func (s *Store) SetUserPassword(ctx context.Context, username, hash string, end data.End, audit data.AuditEntry) (data.User, int, error) {
	return s.changeUser(ctx, "set password of", username, `password_hash = @value`, hash, true, end, audit)
}

// changeUser sets one column of a user (set, a SET clause reading @value)
// and logs audit in a first statement and, when endSessions, ends every
// session of the user active at end.At (zero: now) in a second, in one
// transaction. It notifies "end" when it ended any.
//
// Two statements, not one: every CTE of a statement shares the snapshot
// taken when it began. A guarded CreateSession holds the user row FOR
// SHARE until it commits, so the UPDATE of users waits for it; a single
// statement would then end only the sessions its early snapshot saw, and
// miss the one that login just committed. The second statement takes a new
// snapshot after the UPDATE holds the row, so it sees every session
// committed before, and no guarded login can commit one after (it would
// wait for this transaction and then find the user changed).
func (s *Store) changeUser(ctx context.Context, op, username, set, value string, endSessions bool, end data.End, audit data.AuditEntry) (data.User, int, error) {
	var (
		u data.User
		n int
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		args := auditArgs(pgx.NamedArgs{"username": username, "value": value}, audit)
		u, err = scanUser(tx.QueryRow(ctx, `WITH u AS (
				UPDATE users SET `+set+` WHERE username = @username RETURNING `+userCols+`
			), logged AS (`+insertAudit+`FROM u)
			SELECT `+userCols+` FROM u`, args))
		if err != nil || !endSessions {
			return err
		}
		return tx.QueryRow(ctx, `WITH `+endUserCTE+`
			SELECT c FROM n WHERE sessionmon_notify('end', c)`, pgx.NamedArgs{
			"user_id": u.ID, "at": orNow(end.At), "reason": end.Reason, "by": end.By,
		}).Scan(&n)
	})
	if err != nil {
		return data.User{}, 0, userErr(op, username, err)
	}
	return u, n, nil
}

// RehashPassword replaces a user's password hash with hash only if it is
// still old, in one UPDATE (which, in READ COMMITTED, re-checks the WHERE on
// the newest version of a row another transaction changed meanwhile).
// ErrUserChanged when it is not (nothing changed), ErrNotFound.
func (s *Store) RehashPassword(ctx context.Context, username, old, hash string) error {
	op := fmt.Sprintf("rehash password of %q", username)
	tag, err := s.pool.Exec(ctx, `UPDATE users SET password_hash = $3 WHERE username = $1 AND password_hash = $2`,
		username, old, hash)
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	// Nothing changed: tell why.
	if _, err := s.UserByUsername(ctx, username); err != nil {
		return err
	}
	return wrap(op, data.ErrUserChanged)
}
