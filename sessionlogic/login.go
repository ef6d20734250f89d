package sessionlogic

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"sessionmon/data"
)

// Logins: checking credentials, the throttle on failed logins, and opening
// a session (the login server's side; needs a full Store).

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
	var (
		wait     time.Duration
		rereads  int              // for attempts finished since a read
		deadline <-chan time.Time // of waiting for room (settleWait)
	)
	for {
		sctx, cancel := m.bounded(ctx)
		f, err := m.store.RecentFailures(sctx, q)
		cancel()
		if err != nil {
			return "", Session{}, unavailable("login", err)
		}
		settle := false
		admitted, again, ended := m.flight.admit(fl, func(active, finished data.Failures) (admit, again bool) {
			w, throttled := m.retryAfter(now, q, f, plus(active, finished))
			if !throttled {
				return true, false
			}
			wait = w
			if _, byRecorded := m.retryAfter(now, q, f, data.Failures{}); byRecorded {
				return false, false
			}
			// Over a limit only with attempts still checking a password:
			// wait for one to end and read again (see inflight). Only with
			// attempts that finished since the read: their failures may be
			// in the store already, so read again (twice at most) rather
			// than count them twice.
			if _, byActive := m.retryAfter(now, q, f, active); byActive {
				settle = true
				return false, true
			}
			rereads++
			return false, rereads < 3
		})
		if admitted {
			break
		}
		if !again {
			return "", Session{}, m.throttled(wait)
		}
		if settle {
			if deadline == nil {
				t := time.NewTimer(settleWait)
				defer t.Stop()
				deadline = t.C
			}
			select {
			case <-ended:
			case <-deadline:
				return "", Session{}, m.throttled(wait)
			case <-ctx.Done():
				return "", Session{}, ctx.Err()
			}
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

// throttled counts and returns a refusal by the throttle.
func (m *Manager) throttled(wait time.Duration) error {
	m.obs.LoginFailed("throttled")
	return &ThrottledError{RetryAfter: wait}
}

// settleWait bounds how long a login waits for the attempts still
// checking a password to make room under a limit (see inflight). A check
// takes tens of milliseconds, so a burst of a few limits' worth of logins
// from one address settles well within it; past it the login is refused
// as throttled.
const settleWait = 5 * time.Second

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
