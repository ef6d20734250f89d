package sessionlogic

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"sessionmon/data"
)

// User management: the users the login server checks passwords against.

const maxUsernameLen = 150 // Django's limit

var (
	usernameRe = regexp.MustCompile(`^[\w.@+-]{1,150}$`) // Django's username validator
	roleRe     = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
)

// NewUser is what AddUser needs.
type NewUser struct {
	Username string
	Password string
	Email    string
	FullName string
	Role     string
}

// AddUser creates an active user with a bcrypt password hash.
func (m *Manager) AddUser(ctx context.Context, operator string, nu NewUser) (User, error) {
	if !usernameRe.MatchString(nu.Username) {
		return User{}, fmt.Errorf("%w: username %q: want 1-150 letters, digits or @.+-_", ErrInvalidInput, clip(nu.Username, 160))
	}
	if err := validRole(nu.Role); err != nil {
		return User{}, err
	}
	if len(nu.Email) > 254 || (nu.Email != "" && !strings.Contains(nu.Email, "@")) {
		return User{}, fmt.Errorf("%w: email %q is not an address", ErrInvalidInput, clip(nu.Email, 260))
	}
	if len(nu.FullName) > 150 {
		return User{}, fmt.Errorf("%w: full name is longer than 150 characters", ErrInvalidInput)
	}
	if err := m.loginSide("add user"); err != nil {
		return User{}, err
	}
	hash, err := hashPassword(nu.Password, m.cost)
	if err != nil {
		return User{}, err
	}
	now := m.now()
	u, err := m.store.CreateUser(ctx, User{
		Username: nu.Username, Email: nu.Email, FullName: nu.FullName, Role: nu.Role,
		Status: data.StatusActive, PasswordHash: hash, CreatedAt: now,
	}, AuditEntry{Time: now, Actor: operator, Action: data.ActionUserAdd, Username: nu.Username, Detail: "role " + nu.Role})
	if err != nil {
		return User{}, fmt.Errorf("add user %q: %w", nu.Username, err)
	}
	return u, nil
}

func validRole(role string) error {
	if !roleRe.MatchString(role) {
		return fmt.Errorf("%w: role %q: want a lower-case word of 1-32 letters, digits, - or _", ErrInvalidInput, clip(role, 40))
	}
	return nil
}

// Users lists every user, by username.
func (m *Manager) Users(ctx context.Context) ([]User, error) {
	if err := m.loginSide("list users"); err != nil {
		return nil, err
	}
	return m.store.ListUsers(ctx)
}

// User returns one user (on any source: the operator resolves usernames).
func (m *Manager) User(ctx context.Context, username string) (User, error) {
	return m.src.UserByUsername(ctx, username)
}

// SetRole changes a user's role. Sessions keep the role they logged in with
// (as Django's session data does) until the user logs in again.
func (m *Manager) SetRole(ctx context.Context, operator, username, role string) (User, error) {
	if err := validRole(role); err != nil {
		return User{}, err
	}
	if err := m.loginSide("set role"); err != nil {
		return User{}, err
	}
	u, err := m.store.SetUserRole(ctx, username, role, AuditEntry{
		Time: m.now(), Actor: operator, Action: data.ActionUserRole, Username: username, Detail: "role " + role,
	})
	if err != nil {
		return User{}, fmt.Errorf("set role of %q: %w", clip(username, maxUsernameLen), err)
	}
	return u, nil
}

// Deactivate marks a user inactive and ends all their sessions, in one
// transaction. It returns how many sessions it ended.
func (m *Manager) Deactivate(ctx context.Context, operator, username string) (int, error) {
	if err := m.loginSide("deactivate"); err != nil {
		return 0, err
	}
	now := m.now()
	_, n, err := m.store.SetUserStatus(ctx, username, data.StatusInactive,
		data.End{At: now, Reason: data.EndForced, By: operator},
		AuditEntry{Time: now, Actor: operator, Action: data.ActionUserDeactivate, Username: username})
	if err != nil {
		return 0, fmt.Errorf("deactivate %q: %w", clip(username, maxUsernameLen), err)
	}
	m.obs.ForcedLogout(n)
	m.log.Info("deactivate", "operator", operator, "user", username, "sessions", n)
	return n, nil
}

// Activate marks a user active again. Their ended sessions stay ended.
func (m *Manager) Activate(ctx context.Context, operator, username string) error {
	if err := m.loginSide("activate"); err != nil {
		return err
	}
	now := m.now()
	_, _, err := m.store.SetUserStatus(ctx, username, data.StatusActive, data.End{At: now},
		AuditEntry{Time: now, Actor: operator, Action: data.ActionUserActivate, Username: username})
	if err != nil {
		return fmt.Errorf("activate %q: %w", clip(username, maxUsernameLen), err)
	}
	return nil
}

// SetPassword replaces a user's password (validated as AddUser validates it,
// hashed at the configured cost) and ends all their active sessions, in one
// store transaction, so a reset logs the user out everywhere: a login that
// checked the old password while the reset ran either fails or has its
// session ended with the others (data.Guard). The session end is audited as
// a force_logout_user by operator with detail "password changed". It
// returns how many sessions it ended. Errors: ErrInvalidInput (nothing
// changed), ErrNotFound for an unknown user (nothing changed).
func (m *Manager) SetPassword(ctx context.Context, operator, username, password string) (int, error) {
	if err := m.loginSide("set password"); err != nil {
		return 0, err
	}
	hash, err := hashPassword(password, m.cost)
	if err != nil {
		return 0, err
	}
	now := m.now()
	u, n, err := m.store.SetUserPassword(ctx, username, hash, data.End{At: now, Reason: data.EndForced, By: operator},
		AuditEntry{Time: now, Actor: operator, Action: data.ActionForceLogoutAll, Username: username, Detail: "password changed"})
	if err != nil {
		return 0, fmt.Errorf("set password of %q: %w", clip(username, maxUsernameLen), err)
	}
	m.obs.ForcedLogout(n)
	m.log.Info("set password", "operator", operator, "user", u.Username, "sessions", n)
	return n, nil
}
