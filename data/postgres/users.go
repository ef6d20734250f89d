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
// statement, and returns how many it ended.
func (s *Store) SetUserStatus(ctx context.Context, username, status string, end data.End, audit data.AuditEntry) (data.User, int, error) {
	if status != data.StatusActive && status != data.StatusInactive {
		return data.User{}, 0, fmt.Errorf("postgres set status of %q: unknown status %q", username, status)
	}
	args := auditArgs(pgx.NamedArgs{
		"username": username, "status": status, "inactive": data.StatusInactive,
		"at": orNow(end.At), "reason": end.Reason, "by": end.By,
	}, audit)
	row := s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE users SET status = @status WHERE username = @username RETURNING `+userCols+`
		), ended AS (
			UPDATE sessions s
			SET ended_at = @at, end_reason = @reason, ended_by = @by,
			    version = nextval('session_version_seq')
			FROM u
			WHERE @status::text = @inactive::text AND s.user_id = u.id
			  AND s.ended_at IS NULL AND s.expires_at > @at
			RETURNING s.id
		), n AS (
			SELECT count(*) AS c FROM ended
		), logged AS (`+insertAudit+`FROM u)
		SELECT `+userCols+`, n.c FROM u, n WHERE sessionmon_notify('end', n.c)`, args)
	var (
		u     data.User
		count int
	)
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.FullName, &u.Role, &u.Status, &u.PasswordHash, &u.CreatedAt, &count)
	if err != nil {
		return data.User{}, 0, userErr("set status of", username, err)
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, count, nil
}

// SetUserPassword replaces a user's password hash.
func (s *Store) SetUserPassword(ctx context.Context, username, hash string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE username = $1`, username, hash)
	if err != nil {
		return wrap(fmt.Sprintf("set password of %q", username), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres set password of %q: %w", username, data.ErrNotFound)
	}
	return nil
}
