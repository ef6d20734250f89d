// Package sessionlogic is sessionmon's one session domain: login,
// authenticate-and-touch, logout, the operator's force-logout and extend,
// listings and stats, tokens, cookies and the HTTP guards. The login server
// and the dashboard both hold a *Manager, so what the operator sees and does
// is exactly what the server enforces.
//
// A Manager runs on a full data.Store (sessionmon's own login server) or on
// an operator's data.Source only (a watched foreign session table). The
// files follow the operations: manager.go (options, New, shared helpers),
// login.go, request.go, operator.go and users.go.
package sessionlogic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"sessionmon/data"
)

// Errors of the session domain. Store sentinels are re-exported in types.go.
var (
	// ErrNoSession: the request carries no usable session (no cookie, a
	// malformed, unknown, ended or expired one). The holder must log in.
	ErrNoSession = errors.New("no valid session")
	// ErrInvalidCredentials is the one answer for an unknown user and a wrong
	// password, so a login form cannot be used to enumerate users.
	ErrInvalidCredentials = errors.New("invalid username or password")
	// ErrInactive: the password was right but the account is deactivated.
	ErrInactive = errors.New("this account is inactive")
	// ErrInvalidInput: an argument is malformed (the message says which).
	ErrInvalidInput = errors.New("invalid input")
	// ErrUnavailable wraps store failures, so callers can fail closed (503).
	ErrUnavailable = errors.New("session store unavailable")
)

// Options configure a Manager. Zero values take the defaults noted.
type Options struct {
	// Exactly one of Store and Source is set. A Store (sessionmon's own
	// SQLite or PostgreSQL) gives the whole domain: logins, requests,
	// users and the operator's actions. A Source (a foreign session table,
	// such as a Django site's) gives only the operator's half: Active,
	// Stats, Changes, Session, ForceLogout*, Extend, Audit, Watch; the
	// login-side methods then return an error wrapping data.ErrUnsupported.
	Store  data.Store
	Source data.Source
	Cookie CookieOptions // zero Name: DefaultCookieOptions()

	// SaveEveryRequest slides expiry and records last activity on every
	// authenticated request (Django's SESSION_SAVE_EVERY_REQUEST). Default
	// for New is whatever is passed: config supplies true.
	SaveEveryRequest bool
	// IdleTimeout, when > 0 and shorter than the cookie age, is how long a
	// session lives without a request.
	IdleTimeout time.Duration
	// AbsoluteTimeout, when > 0, caps a session's life from login; nothing
	// (touch or extend) moves its expiry past login + AbsoluteTimeout.
	AbsoluteTimeout time.Duration
	// TouchInterval, when > 0 (with SaveEveryRequest), coalesces touches:
	// a request whose session was written less than TouchInterval ago only
	// reads it (one cheap round trip, no durable write); revocation is
	// still seen at once because the read checks the row. Off (0) by
	// default: every request writes, as Django does.
	TouchInterval time.Duration
	// Retention is how long ended and expired rows are kept before Purge
	// deletes them. Default 7 days.
	Retention time.Duration

	// Login throttling counts failed logins within FailureWindow (a failure
	// at t counts from t until just before t + FailureWindow) and refuses a
	// login once any of three counts reaches its limit:
	//   - MaxFailuresPerUserIP for one username from one client IP: the
	//     guessing limit. Another client's failures never count against
	//     it, so nobody can lock a user out of every other address.
	//   - MaxFailuresPerUser for one username from any address: a ceiling
	//     well above the first, which stops guessing spread over many
	//     addresses (OWASP: count per account too) yet needs that many
	//     addresses to reach.
	//   - MaxFailuresPerIP for one client IP and any usernames: spraying.
	// A login with no client IP is counted as if all such logins came from
	// one client: its username gets the per-client limit. Attempts whose
	// passwords are still being checked count too, so a burst of concurrent
	// attempts cannot pass a limit (exactly, within one process). Throttled
	// attempts are not recorded as failures, so a lock lifts by itself once
	// enough counted failures have left the window (one window after the
	// last, at the latest). Defaults 5, 100, 20, 15m.
	MaxFailuresPerUserIP int
	MaxFailuresPerUser   int
	MaxFailuresPerIP     int
	FailureWindow        time.Duration

	// PasswordCost is the bcrypt cost. Default bcrypt.DefaultCost; tests
	// use bcrypt.MinCost.
	PasswordCost int
	// StoreTimeout bounds each store call of Login, Authenticate and Logout
	// (the request path), so a hung store becomes a quick 503 rather than a
	// hung request. Password hashing is not inside it. Default 3s.
	StoreTimeout time.Duration
	// LoginURL is where RequireSession redirects. Default "/login".
	LoginURL string

	Now      func() time.Time // default time.Now; tests inject a fake clock
	Logger   *slog.Logger     // default slog.Default()
	Observer Observer         // default: none
}

// Observer hears about domain events, for metrics. Methods must be cheap
// and safe for concurrent use.
type Observer interface {
	Login()
	LoginFailed(reason string) // "invalid", "inactive", "throttled"
	Logout()
	ForcedLogout(n int)
}

type nopObserver struct{}

func (nopObserver) Login()             {}
func (nopObserver) LoginFailed(string) {}
func (nopObserver) Logout()            {}
func (nopObserver) ForcedLogout(int)   {}

// Manager is the session domain. It is safe for concurrent use.
type Manager struct {
	src              data.Source // the operator's half: always set
	store            data.Store  // the login server's: nil for a Source-only manager
	cookie           CookieOptions
	saveEveryRequest bool
	ttl              time.Duration // expiry distance set on login and every touch
	touchInterval    time.Duration
	absolute         time.Duration
	retention        time.Duration
	maxUserIP        int
	maxUser, maxIP   int
	window           time.Duration
	cost             int
	storeTimeout     time.Duration
	loginURL         string
	clock            func() time.Time
	log              *slog.Logger
	obs              Observer

	flight inflight // login attempts past the throttle, not yet recorded

	dummyOnce sync.Once
	dummyHash string // compared against for unknown users, so timing matches

	resent atomic.Pointer[cookieTail] // the re-sent cookie's attributes, per Expires second (request.go)
}

// New returns a Manager for opts.
func New(opts Options) (*Manager, error) {
	src := opts.Source
	switch {
	case opts.Store != nil && opts.Source != nil:
		return nil, errors.New("sessionlogic: set Options.Store or Options.Source, not both")
	case opts.Store != nil:
		src = opts.Store
	case opts.Source == nil:
		return nil, errors.New("sessionlogic: Options.Store or Options.Source is required")
	}
	m := &Manager{
		src:              src,
		store:            opts.Store,
		cookie:           opts.Cookie,
		saveEveryRequest: opts.SaveEveryRequest,
		absolute:         opts.AbsoluteTimeout,
		touchInterval:    max(0, opts.TouchInterval),
		retention:        orDefault(opts.Retention, 7*24*time.Hour),
		maxUserIP:        opts.MaxFailuresPerUserIP,
		maxUser:          opts.MaxFailuresPerUser,
		maxIP:            opts.MaxFailuresPerIP,
		window:           orDefault(opts.FailureWindow, 15*time.Minute),
		cost:             opts.PasswordCost,
		storeTimeout:     orDefault(opts.StoreTimeout, 3*time.Second),
		loginURL:         opts.LoginURL,
		clock:            opts.Now,
		log:              opts.Logger,
		obs:              opts.Observer,
	}
	if m.cookie.Name == "" {
		m.cookie = DefaultCookieOptions()
	}
	if m.cookie.Age <= 0 {
		return nil, fmt.Errorf("sessionlogic: cookie age must be positive, got %s", m.cookie.Age)
	}
	if m.cookie.Path == "" {
		m.cookie.Path = "/"
	}
	m.ttl = m.cookie.Age
	if opts.IdleTimeout > 0 && opts.IdleTimeout < m.ttl {
		m.ttl = opts.IdleTimeout
	}
	if m.maxUserIP <= 0 {
		m.maxUserIP = 5
	}
	if m.maxUser <= 0 {
		m.maxUser = 100
	}
	if m.maxIP <= 0 {
		m.maxIP = 20
	}
	if m.cost == 0 {
		m.cost = bcrypt.DefaultCost
	}
	if m.loginURL == "" {
		m.loginURL = "/login"
	}
	if m.clock == nil {
		m.clock = time.Now
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.obs == nil {
		m.obs = nopObserver{}
	}
	return m, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// now is the manager's clock in UTC, truncated to the microsecond: the
// precision both stores keep, so values round-trip exactly.
func (m *Manager) now() time.Time { return m.clock().UTC().Truncate(time.Microsecond) }

// Now returns the manager's current time (the injected clock).
func (m *Manager) Now() time.Time { return m.now() }

// TTL is how far each login or touch sets a session's expiry ahead.
func (m *Manager) TTL() time.Duration { return m.ttl }

// AbsoluteTimeout is the configured absolute session limit (0 = none).
func (m *Manager) AbsoluteTimeout() time.Duration { return m.absolute }

// Describe names the store for operators, with any password redacted.
func (m *Manager) Describe() string { return m.src.Describe() }

// Ping checks the store is reachable.
func (m *Manager) Ping(ctx context.Context) error {
	if err := m.src.Ping(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// bounded limits one store call on a request's path to StoreTimeout, so a
// hung store turns into ErrUnavailable quickly instead of a hung request.
// Only store calls are bounded: password hashing, which can queue for CPU
// under load, never counts against it.
func (m *Manager) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.storeTimeout)
}

// loginSide returns the full store for op, or, for a Manager on a Source
// only, an error wrapping data.ErrUnsupported: a foreign session table has
// no logins, users or throttle of sessionmon's.
func (m *Manager) loginSide(op string) error {
	if m.store == nil {
		return fmt.Errorf("%s: %w: %s is watched, not served (it has no logins or users of sessionmon's)",
			op, data.ErrUnsupported, m.src.Describe())
	}
	return nil
}

// HasLogins reports whether the Manager runs on a full Store (logins,
// requests, users), not only on an operator's Source.
func (m *Manager) HasLogins() bool { return m.store != nil }

// Refuse returns nil when the source supports the operator action
// (data.ActionForceLogout, data.ActionForceLogoutAll, data.ActionExtend),
// else an error wrapping data.ErrUnsupported that says why, for the
// dashboard and the CLI to show before the operator asks.
func (m *Manager) Refuse(action string) error {
	if r, ok := m.src.(data.ActionRefuser); ok {
		return r.Refuse(action)
	}
	return nil
}

// checkID validates an operator's session id before any query: through the
// source's own data.IDChecker, or as sessionmon's 64 hex digits.
func (m *Manager) checkID(id string) error {
	if c, ok := m.src.(data.IDChecker); ok {
		if err := c.CheckID(id); err != nil {
			return fmt.Errorf("%w: %q is not a session id: %v", ErrInvalidInput, clip(id, 80), err)
		}
		return nil
	}
	if !ValidSessionID(id) {
		return fmt.Errorf("%w: %q is not a session id (64 hex digits)", ErrInvalidInput, clip(id, 80))
	}
	return nil
}

// unavailable marks an unexpected store error so HTTP callers fail closed.
func unavailable(op string, err error) error {
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

// ShortID is the first 8 hex digits of a session ID, for logs and tables.
func ShortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
