// Package sessionlogic is sessionmon's one session domain: login,
// authenticate-and-touch, logout, the operator's force-logout and extend,
// listings and stats, tokens, cookies and the HTTP guards. The login server
// and the dashboard both hold a *Manager, so what the operator sees and does
// is exactly what the server enforces.
package sessionlogic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
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

// ThrottledError is returned by Login when too many recent failures were
// recorded for the username or the client IP.
type ThrottledError struct {
	// RetryAfter is how long until the failures that throttled this login
	// no longer reach the limit (the later of the two when both the username
	// and the IP did), rounded up to whole seconds, at least one. A client
	// that waits exactly this long is not refused again for them.
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed logins; try again in %s", e.RetryAfter.Round(time.Second))
}

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

// LoginRequest is what a login attempt carries.
type LoginRequest struct {
	Username  string
	Password  string
	IP        string
	UserAgent string
	// OldToken is the session cookie the browser sent, if any. It is never
	// adopted (no session fixation): the new session always gets a fresh
	// token, and the old session, if active, is ended as "replaced".
	OldToken string
	// Data are further session keys to store with the session.
	Data map[string]any
}

// Login checks credentials and opens a session. It returns the new token
// for the cookie and the session record. Errors: ErrInvalidCredentials,
// ErrInactive, *ThrottledError, ErrInvalidInput, ErrUnavailable.
func (m *Manager) Login(ctx context.Context, req LoginRequest) (token string, s Session, err error) {
	if err := m.loginSide("login"); err != nil {
		return "", Session{}, err
	}
	now := m.now()
	username := strings.TrimSpace(req.Username)
	ip := clip(req.IP, 64)
	if username == "" || req.Password == "" {
		return "", Session{}, fmt.Errorf("%w: username and password are required", ErrInvalidInput)
	}
	if len(username) > maxUsernameLen || len(req.Password) > 1024 {
		m.fail(ctx, now, username, ip, "oversized input")
		return "", Session{}, ErrInvalidCredentials
	}

	// The attempts of this process that passed the throttle and are still
	// checking a password count too (see inflight), so a burst cannot pass
	// the limits before its failures are recorded.
	fl := m.flight.begin(flightKeys(username, ip))
	defer func() { m.flight.end(fl, err != nil) }()
	// A failure at t counts while now < t + window: the stores count from
	// Since inclusive, at the microsecond, so Since is the first microsecond
	// after now - window. A failure leaves the window at exactly t + window,
	// which is what retryAfter tells the client.
	q := data.FailureQuery{
		Username: username, IP: ip, Since: now.Add(-m.window + time.Microsecond),
		MaxByUser: m.maxUser, MaxByIP: m.maxIP, MaxByUserIP: m.maxUserIP,
	}
	if ip == "" {
		// No client to tell apart (the stores count no pair without an
		// IP): the username alone gets the per-client limit.
		q.MaxByUser = min(m.maxUser, m.maxUserIP)
	}
	var wait time.Duration
	for reads := 1; ; reads++ {
		sctx, cancel := m.bounded(ctx)
		f, err := m.store.RecentFailures(sctx, q)
		cancel()
		if err != nil {
			return "", Session{}, unavailable("login", err)
		}
		admitted, again := m.flight.admit(fl, func(active, finished data.Failures) (admit, again bool) {
			w, throttled := m.retryAfter(now, q, f, plus(active, finished))
			if !throttled {
				return true, false
			}
			wait = w
			// Over a limit only with attempts that finished since the read:
			// their failures may be in the store already, so read again
			// (twice at most) rather than count them twice.
			_, byActive := m.retryAfter(now, q, f, active)
			return false, !byActive && reads < 3
		})
		if admitted {
			break
		}
		if !again {
			m.obs.LoginFailed("throttled")
			return "", Session{}, &ThrottledError{RetryAfter: wait}
		}
	}

	// The store creates the session only if the user is still as
	// checkCredentials read them (data.Guard). When a deactivation or a
	// password reset lands in between, the login is judged once more against
	// the user as they are now, so it gets the answer it would a moment
	// later: ErrInactive after a deactivation, ErrInvalidCredentials when the
	// password no longer matches (each recorded as a failed login). A user
	// changed twice during one login gets ErrInvalidCredentials.
	for attempt := 1; ; attempt++ {
		u, checked, err := m.checkCredentials(ctx, now, username, req.Password, ip)
		if err != nil {
			return "", Session{}, err
		}
		token, s, err = m.open(ctx, now, u, checked, req, ip)
		if !errors.Is(err, data.ErrUserChanged) {
			return token, s, err
		}
		if attempt == 2 {
			m.fail(ctx, now, username, ip, "user changed during login")
			return "", Session{}, ErrInvalidCredentials
		}
	}
}

// retryAfter says whether any count in f, with the attempts still pending
// in this process (which may yet fail), reached its limit in q (the
// username from this IP, the username from anywhere, the IP), and how long
// from now until every count that did drops below it: each drops when the
// failure that clears it (data.Failures) leaves the window, at its time +
// window. The latest of them, rounded up to whole seconds (Retry-After's
// unit, so a client that waits exactly that long is past the instant), at
// least one. A count at its limit only with pending attempts asks for the
// minimum: they settle within a password check, and the next try is told
// exactly.
func (m *Manager) retryAfter(now time.Time, q data.FailureQuery, f, pending data.Failures) (time.Duration, bool) {
	var (
		wait      time.Duration
		throttled bool
	)
	over := func(n, pending int64, limit int, clearsAt time.Time) {
		if limit <= 0 || n+pending < int64(limit) {
			return
		}
		throttled = true
		if n < int64(limit) {
			return
		}
		d := m.window // a store that could not tell: no failure counts longer
		if !clearsAt.IsZero() {
			d = clearsAt.Add(m.window).Sub(now)
		}
		wait = max(wait, d)
	}
	over(f.ByUserIP, pending.ByUserIP, q.MaxByUserIP, f.UserIPClearsAt)
	over(f.ByUser, pending.ByUser, q.MaxByUser, f.UserClearsAt)
	over(f.ByIP, pending.ByIP, q.MaxByIP, f.IPClearsAt)
	if r := wait % time.Second; r > 0 {
		wait += time.Second - r
	}
	return max(wait, time.Second), throttled
}

// checkCredentials reads the user and checks the password, recording a
// failed login when it is refused. It returns the user and the hash the
// password was checked against (re-hashed at the configured cost when the
// stored one differs), for the guard of the session's creation.
func (m *Manager) checkCredentials(ctx context.Context, now time.Time, username, password, ip string) (User, string, error) {
	sctx, cancel := m.bounded(ctx)
	u, err := m.store.UserByUsername(sctx, username)
	cancel()
	switch {
	case errors.Is(err, data.ErrNotFound):
		// Spend the same bcrypt work as a real check, so response time does
		// not tell unknown users from wrong passwords.
		checkPassword(m.dummy(), password)
		m.fail(ctx, now, username, ip, "unknown user")
		return User{}, "", ErrInvalidCredentials
	case err != nil:
		return User{}, "", unavailable("login", err)
	}
	checked := u.PasswordHash
	hashCost, _ := bcrypt.Cost([]byte(checked))
	if !checkPassword(checked, password) {
		if hashCost < m.cost {
			// A hash made at a lower cost (an older setting, the demo)
			// checks faster than the dummy an unknown user costs: spend the
			// difference, so timing cannot tell the two apart.
			checkPassword(m.dummy(), password)
		}
		m.fail(ctx, now, username, ip, "wrong password")
		return User{}, "", ErrInvalidCredentials
	}
	if hashCost != m.cost {
		// Re-hash at the configured cost on a successful login (as Django
		// does), so stored costs converge on the setting. Only over the
		// hash just checked: a reset that landed meanwhile stays (and the
		// session's guard then refuses this login).
		if h, err := hashPassword(password, m.cost); err == nil {
			sctx, cancel := m.bounded(ctx)
			err := m.store.RehashPassword(sctx, u.Username, checked, h)
			cancel()
			switch {
			case err == nil:
				checked = h
			case !errors.Is(err, data.ErrUserChanged):
				m.log.Warn("re-hash password at the configured cost", "user", u.Username, "err", err)
			}
		}
	}
	if u.Status != data.StatusActive {
		m.fail(ctx, now, username, ip, "inactive")
		return User{}, "", ErrInactive
	}
	return u, checked, nil
}

// open creates the session of a login whose password was checked against
// hash. data.ErrUserChanged (unwrapped) when the user changed since.
func (m *Manager) open(ctx context.Context, now time.Time, u User, hash string, req LoginRequest, ip string) (string, Session, error) {
	token := NewToken()
	s := Session{
		ID:           HashToken(token),
		UserID:       u.ID,
		Username:     u.Username,
		Email:        u.Email,
		FullName:     u.FullName,
		Role:         u.Role,
		Status:       u.Status,
		Data:         req.Data,
		IP:           ip,
		UserAgent:    clip(req.UserAgent, 512),
		LoginTime:    now,
		LastActivity: now,
		ExpiresAt:    now.Add(m.ttl),
	}
	if m.absolute > 0 {
		s.AbsoluteExpiresAt = now.Add(m.absolute)
		if s.ExpiresAt.After(s.AbsoluteExpiresAt) {
			s.ExpiresAt = s.AbsoluteExpiresAt
		}
	}
	replace := ""
	if wellFormed(req.OldToken) {
		replace = HashToken(req.OldToken)
	}
	sctx, cancel := m.bounded(ctx)
	defer cancel()
	s, err := m.store.CreateSession(sctx, s, replace, data.Guard{PasswordHash: hash}, AuditEntry{
		Time: now, Actor: u.Username, Action: data.ActionLogin,
		Username: u.Username, SessionID: s.ID, IP: ip,
	})
	switch {
	case errors.Is(err, data.ErrUserChanged):
		return "", Session{}, data.ErrUserChanged
	case err != nil:
		return "", Session{}, unavailable("login", err)
	}
	m.obs.Login()
	m.log.Info("login", "user", u.Username, "session", ShortID(s.ID), "ip", ip)
	return token, s, nil
}

// fail records a failed login in the audit table (which also feeds the
// throttle). A store error here is logged, not returned: the caller's answer
// is already "invalid credentials".
func (m *Manager) fail(ctx context.Context, now time.Time, username, ip, why string) {
	// Observers (metrics anyone may scrape) get a coarse reason: separate
	// "unknown user" and "wrong password" counts would enumerate users.
	// The audit table keeps the precise one.
	reason := "invalid"
	if why == "inactive" {
		reason = "inactive"
	}
	m.obs.LoginFailed(reason)
	sctx, cancel := m.bounded(ctx)
	defer cancel()
	err := m.store.AppendAudit(sctx, AuditEntry{
		Time: now, Actor: clip(username, maxUsernameLen), Action: data.ActionLoginFailed,
		Username: clip(username, maxUsernameLen), IP: ip, Detail: why,
	})
	if err != nil {
		m.log.Error("record failed login", "err", err)
	}
	m.log.Info("login failed", "user", clip(username, maxUsernameLen), "ip", ip, "why", why)
}

func (m *Manager) dummy() string {
	m.dummyOnce.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte(NewToken()[:32]), m.cost)
		if err == nil {
			m.dummyHash = string(h)
		}
	})
	return m.dummyHash
}

// Authenticate checks a session token and, with save-every-request on,
// slides its expiry and records the activity, in one store round trip.
// Errors: ErrNoSession (the holder must log in again) or ErrUnavailable
// (the store could not answer: fail closed).
func (m *Manager) Authenticate(ctx context.Context, token string) (Session, error) {
	if err := m.loginSide("authenticate"); err != nil {
		return Session{}, err
	}
	if !wellFormed(token) {
		return Session{}, ErrNoSession
	}
	id := HashToken(token)
	now := m.now()
	ctx, cancel := m.bounded(ctx)
	defer cancel()
	var (
		s   Session
		err error
	)
	switch {
	case m.saveEveryRequest && m.touchInterval > 0:
		s, err = m.coalescedTouch(ctx, id, now)
	case m.saveEveryRequest:
		s, err = m.store.Touch(ctx, id, now, now.Add(m.ttl))
	default:
		s, err = m.store.Session(ctx, id)
		if err == nil && !s.Active(now) {
			err = data.ErrNotFound
		}
	}
	switch {
	case errors.Is(err, data.ErrNotFound):
		return Session{}, ErrNoSession
	case err != nil:
		return Session{}, unavailable("authenticate", err)
	}
	return s, nil
}

// coalescedTouch reads the session and writes a touch only when the last
// one is TouchInterval old or more (or the expiry is within TouchInterval),
// so heavy traffic costs reads, not durable writes.
func (m *Manager) coalescedTouch(ctx context.Context, id string, now time.Time) (Session, error) {
	s, err := m.store.Session(ctx, id)
	if err != nil {
		return Session{}, err
	}
	if !s.Active(now) {
		return Session{}, data.ErrNotFound
	}
	if now.Sub(s.LastActivity) < m.touchInterval && s.ExpiresAt.Sub(now) > m.touchInterval {
		return s, nil
	}
	return m.store.Touch(ctx, id, now, now.Add(m.ttl))
}

// Logout ends the session behind token. An unknown, malformed or already
// ended token is not an error: the caller clears the cookie either way.
func (m *Manager) Logout(ctx context.Context, token string) error {
	if err := m.loginSide("logout"); err != nil {
		return err
	}
	if !wellFormed(token) {
		return nil
	}
	id := HashToken(token)
	ctx, cancel := m.bounded(ctx)
	defer cancel()
	now := m.now()
	// No End.By, Actor or Username: the holder is known only by the token,
	// and the store names the session's user in all three (data.Source).
	s, err := m.store.EndSession(ctx, id, data.End{At: now, Reason: data.EndLogout},
		AuditEntry{Time: now, Action: data.ActionLogout, SessionID: id})
	if bad, rest := SplitRowErrors(err); len(bad) > 0 && rest == nil {
		// Ended all the same; the row's other columns could not be read.
		m.log.Warn("logout of a corrupt session row", "session", ShortID(id), "err", err)
		err = nil
	}
	switch {
	case errors.Is(err, data.ErrEnded), errors.Is(err, data.ErrNotFound):
		return nil
	case err != nil:
		return unavailable("logout", err)
	}
	m.obs.Logout()
	m.log.Info("logout", "user", s.Username, "session", ShortID(id))
	return nil
}

// ForceLogout ends one session now, on an operator's order. The holder's
// next request is refused. Errors: ErrInvalidInput, ErrNotFound, ErrEnded.
func (m *Manager) ForceLogout(ctx context.Context, operator, id string) (Session, error) {
	if err := m.checkID(id); err != nil {
		return Session{}, err
	}
	if err := m.Refuse(data.ActionForceLogout); err != nil {
		return Session{}, fmt.Errorf("force logout %s: %w", ShortID(id), err)
	}
	now := m.now()
	// The store names the session's user in the audit entry from the row
	// it ends: no read first.
	s, err := m.src.EndSession(ctx, id, data.End{At: now, Reason: data.EndForced, By: operator},
		AuditEntry{Time: now, Actor: operator, Action: data.ActionForceLogout, SessionID: id})
	if err != nil {
		return Session{}, fmt.Errorf("force logout %s: %w", ShortID(id), err)
	}
	m.obs.ForcedLogout(1)
	m.log.Info("force logout", "operator", operator, "user", s.Username, "session", ShortID(id))
	return s, nil
}

// ForceLogoutUser ends every active session of a user and returns how many.
func (m *Manager) ForceLogoutUser(ctx context.Context, operator, username string) (int, error) {
	if err := m.Refuse(data.ActionForceLogoutAll); err != nil {
		return 0, fmt.Errorf("force logout user %q: %w", clip(username, maxUsernameLen), err)
	}
	u, err := m.src.UserByUsername(ctx, username)
	if err != nil {
		return 0, fmt.Errorf("force logout user %q: %w", clip(username, maxUsernameLen), err)
	}
	now := m.now()
	n, err := m.src.EndUserSessions(ctx, u.ID, data.End{At: now, Reason: data.EndForced, By: operator},
		AuditEntry{Time: now, Actor: operator, Action: data.ActionForceLogoutAll, Username: u.Username})
	if err != nil {
		return 0, fmt.Errorf("force logout user %q: %w", u.Username, err)
	}
	m.obs.ForcedLogout(n)
	m.log.Info("force logout user", "operator", operator, "user", u.Username, "sessions", n)
	return n, nil
}

// ForceLogoutMany ends the given sessions now, on an operator's order (the
// dashboard's marked sessions), in one store transaction with one audit
// entry per session ended. A repeated id counts once. Sessions that had
// already ended (Already, with who ended them where the source keeps that)
// or that the source no longer has (Missing) are reported in the result,
// not as errors. Errors: ErrInvalidInput for any malformed id or more than
// MaxListLimit ids (nothing ended), ErrUnsupported when the source refuses
// force-outs. A corrupt row is ended all the same: its *RowError comes back
// with the result (see SplitRowErrors).
func (m *Manager) ForceLogoutMany(ctx context.Context, operator string, ids []string) (EndResult, error) {
	if len(ids) > MaxListLimit {
		return EndResult{}, fmt.Errorf("%w: %d sessions at once: at most %d", ErrInvalidInput, len(ids), MaxListLimit)
	}
	uniq := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if err := m.checkID(id); err != nil {
			return EndResult{}, err
		}
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	if err := m.Refuse(data.ActionForceLogout); err != nil {
		return EndResult{}, fmt.Errorf("force logout %d sessions: %w", len(uniq), err)
	}
	if len(uniq) == 0 {
		return EndResult{}, nil
	}
	now := m.now()
	res, err := m.src.EndSessions(ctx, uniq, data.End{At: now, Reason: data.EndForced, By: operator},
		AuditEntry{Time: now, Actor: operator, Action: data.ActionForceLogout})
	if _, rest := SplitRowErrors(err); rest != nil {
		return EndResult{}, fmt.Errorf("force logout %d sessions: %w", len(uniq), err)
	}
	m.obs.ForcedLogout(len(res.Ended))
	m.log.Info("force logout many", "operator", operator,
		"ended", len(res.Ended), "already", len(res.Already), "missing", len(res.Missing))
	return res, err
}

// MaxExtend bounds one Extend, so a typo cannot make a session immortal.
const MaxExtend = 366 * 24 * time.Hour

// Extend moves an active session's expiry later by d. It never revives an
// ended or expired session (ErrEnded) and never passes the absolute limit
// (ErrBeyondLimit).
func (m *Manager) Extend(ctx context.Context, operator, id string, d time.Duration) (Session, error) {
	if err := m.checkID(id); err != nil {
		return Session{}, err
	}
	if d <= 0 || d > MaxExtend {
		return Session{}, fmt.Errorf("%w: extend by %s: want a duration above 0 and at most %s", ErrInvalidInput, d, MaxExtend)
	}
	if err := m.Refuse(data.ActionExtend); err != nil {
		return Session{}, fmt.Errorf("extend %s: %w", ShortID(id), err)
	}
	now := m.now()
	// The store names the session's user in the audit entry.
	s, err := m.src.Extend(ctx, id, d, now, AuditEntry{
		Time: now, Actor: operator, Action: data.ActionExtend, SessionID: id,
		Detail: "by " + d.String(),
	})
	if err != nil {
		return Session{}, fmt.Errorf("extend %s by %s: %w", ShortID(id), d, err)
	}
	m.log.Info("extend", "operator", operator, "user", s.Username, "session", ShortID(id), "by", d, "expires", s.ExpiresAt)
	return s, nil
}

// Session returns one session in any state.
func (m *Manager) Session(ctx context.Context, id string) (Session, error) {
	if err := m.checkID(id); err != nil {
		return Session{}, err
	}
	return m.src.Session(ctx, id)
}

// ListQuery selects active sessions for an operator.
type ListQuery struct {
	Username string
	Role     string
	Text     string // substring of username, name, email, role or IP
	Sort     SortKey
	Desc     bool
	Limit    int // 1..MaxListLimit; 0 means 100
	After    *Cursor
}

// MaxListLimit bounds one page of Active.
const MaxListLimit = 10000

// Active lists active sessions, one keyset page at a time.
func (m *Manager) Active(ctx context.Context, q ListQuery) (Page, error) {
	if q.Sort == "" {
		q.Sort = SortExpires
	}
	if !q.Sort.Valid() {
		return Page{}, fmt.Errorf("%w: sort %q: want one of %v", ErrInvalidInput, clip(string(q.Sort), 40), SortKeys)
	}
	if q.Limit < 0 || q.Limit > MaxListLimit {
		return Page{}, fmt.Errorf("%w: limit %d: want 1 to %d", ErrInvalidInput, q.Limit, MaxListLimit)
	}
	if q.Limit == 0 {
		q.Limit = 100
	}
	if len(q.Text) > 200 {
		return Page{}, fmt.Errorf("%w: filter text is longer than 200 characters", ErrInvalidInput)
	}
	return m.src.ListActive(ctx, data.Query{
		Now: m.now(), Username: q.Username, Role: q.Role, Text: q.Text,
		Sort: q.Sort, Desc: q.Desc, Limit: q.Limit, After: q.After,
	})
}

// Stats are the operator's headline counts: active sessions, by role,
// expiring within the hour, logins in the last five minutes.
func (m *Manager) Stats(ctx context.Context) (Stats, error) {
	return m.src.Stats(ctx, data.StatsQuery{Now: m.now(), ExpiryWindow: time.Hour, LoginWindow: 5 * time.Minute})
}

// Changes returns sessions written after version since, at most limit.
func (m *Manager) Changes(ctx context.Context, since int64, limit int) (Changes, error) {
	if limit <= 0 || limit > MaxListLimit {
		limit = 1000
	}
	return m.src.ChangesSince(ctx, since, limit)
}

// Audit lists audit entries, newest first.
func (m *Manager) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	if q.Limit <= 0 || q.Limit > MaxListLimit {
		q.Limit = 100
	}
	return m.src.Audit(ctx, q)
}

// Purge deletes sessions that ended or expired more than the retention
// period ago (Django's clearsessions) and returns how many.
func (m *Manager) Purge(ctx context.Context, operator string) (int64, error) {
	if err := m.loginSide("purge"); err != nil {
		return 0, err
	}
	now := m.now()
	before := now.Add(-m.retention)
	n, err := m.store.Purge(ctx, before, AuditEntry{
		Time: now, Actor: operator, Action: data.ActionPurge, Detail: "ended or expired before " + before.Format(time.RFC3339),
	})
	if err != nil {
		return 0, fmt.Errorf("purge: %w", err)
	}
	if n > 0 {
		m.log.Info("purge", "operator", operator, "deleted", n)
	}
	return n, nil
}

// RunPurger purges every interval until ctx is done. Failures are logged
// and retried at the next tick.
func (m *Manager) RunPurger(ctx context.Context, interval time.Duration) {
	if interval <= 0 || m.store == nil {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := m.Purge(ctx, "purger"); err != nil && ctx.Err() == nil {
			m.log.Error("periodic purge", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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

// CanWatch reports whether the store pushes change notices: PostgreSQL's
// come from every process, SQLite's from this process only.
func (m *Manager) CanWatch() bool {
	_, ok := m.src.(data.Watcher)
	return ok
}

// Watch calls notify soon after any process logs a session in, ends one or
// extends one, when the store can push such notices (see CanWatch), until
// ctx is done. The dashboard refreshes on a notice and keeps polling as the
// fallback. Without a Watcher store it returns ErrInvalidInput at once.
func (m *Manager) Watch(ctx context.Context, notify func()) error {
	w, ok := m.src.(data.Watcher)
	if !ok {
		return fmt.Errorf("%w: %s cannot push change notices; poll instead", ErrInvalidInput, m.src.Describe())
	}
	return w.Watch(ctx, notify)
}
