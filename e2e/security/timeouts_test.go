package security_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
)

const (
	idle     = 30 * time.Minute
	absolute = 2 * time.Hour
)

func withTimeouts(idleTimeout, absoluteTimeout time.Duration) envOpts {
	return envOpts{manager: func(o *sessionlogic.Options) {
		o.IdleTimeout = idleTimeout
		o.AbsoluteTimeout = absoluteTimeout
	}}
}

// TestIdleTimeoutEndsTheSessionAtTheRightMoment: with an idle timeout, a
// session without requests works one microsecond before login + idle and
// is refused at login + idle exactly; each request slides the deadline to
// that request + idle, and the same rule holds there.
func TestIdleTimeoutEndsTheSessionAtTheRightMoment(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, withTimeouts(idle, 0))
		t0 := e.clock.Now()
		a, z := e.Login(alice, alicePassword), e.Login(alice, alicePassword)

		e.clock.Set(t0.Add(idle - time.Microsecond))
		if me := e.me(a); me["expires_at"] == nil {
			t.Fatalf("/api/me lacks expires_at: %v", me)
		}
		e.clock.Set(t0.Add(idle))
		e.refusedAPI("untouched session at login + idle", z)
		e.refused("and after", z)

		// a was used at t0 + idle - 1µs, so it lives until then + idle.
		used := t0.Add(idle - time.Microsecond)
		e.clock.Set(used.Add(idle - time.Microsecond))
		e.accepted("one microsecond before last use + idle", a)
		used = e.clock.Now()
		e.clock.Set(used.Add(idle))
		e.refusedAPI("at last use + idle", a)
		e.refused("and after", a)
	})
}

// TestAbsoluteTimeoutEndsTheSessionAtTheRightMoment: with an absolute
// timeout, a session in constant use (never idle) works one microsecond
// before login + absolute and is refused at login + absolute, and no
// response ever shows an expiry past that limit.
func TestAbsoluteTimeoutEndsTheSessionAtTheRightMoment(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, withTimeouts(idle, absolute))
		t0 := e.clock.Now()
		tok := e.Login(alice, alicePassword)
		limit := t0.Add(absolute)
		for at := 20 * time.Minute; at < absolute; at += 20 * time.Minute {
			e.clock.Set(t0.Add(at))
			checkExpiry(t, e.me(tok), limit)
		}
		e.clock.Set(limit.Add(-time.Microsecond))
		checkExpiry(t, e.me(tok), limit)
		e.accepted("one microsecond before the absolute limit", tok)
		e.clock.Set(limit)
		e.refusedAPI("at the absolute limit", tok)
		e.refused("and after", tok)
	})
}

func checkExpiry(t *testing.T, me map[string]any, limit time.Time) {
	t.Helper()
	s, _ := me["expires_at"].(string)
	exp, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("/api/me expires_at %q: %v", s, err)
	}
	if exp.After(limit) {
		t.Fatalf("expires_at %v passes the absolute limit %v", exp, limit)
	}
}

// TestExtendNeverPassesTheAbsoluteLimit: an operator can extend a session
// up to its absolute limit but not one microsecond past it (refused, the
// expiry unchanged), and the session still ends at the limit.
func TestExtendNeverPassesTheAbsoluteLimit(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, withTimeouts(idle, absolute))
		ctx := context.Background()
		t0 := e.clock.Now()
		tok := e.Login(alice, alicePassword)
		id := sessionlogic.HashToken(tok)
		limit := t0.Add(absolute)

		s, err := e.mgr.Extend(ctx, "oncall", id, time.Hour)
		if err != nil || !s.ExpiresAt.Equal(t0.Add(idle+time.Hour)) {
			t.Fatalf("extend by 1h = %v, %v; want expiry %v", s.ExpiresAt, err, t0.Add(idle+time.Hour))
		}
		over := limit.Sub(s.ExpiresAt) + time.Microsecond
		if _, err := e.mgr.Extend(ctx, "oncall", id, over); !errors.Is(err, sessionlogic.ErrBeyondLimit) {
			t.Fatalf("extend one microsecond past the limit: %v, want ErrBeyondLimit", err)
		}
		if got, _ := e.mgr.Session(ctx, id); !got.ExpiresAt.Equal(s.ExpiresAt) {
			t.Fatalf("a refused extend moved the expiry from %v to %v", s.ExpiresAt, got.ExpiresAt)
		}
		if _, err := e.mgr.Extend(ctx, "oncall", id, 24*time.Hour); !errors.Is(err, sessionlogic.ErrBeyondLimit) {
			t.Fatalf("extend by a day: %v, want ErrBeyondLimit", err)
		}
		s, err = e.mgr.Extend(ctx, "oncall", id, limit.Sub(s.ExpiresAt))
		if err != nil || !s.ExpiresAt.Equal(limit) {
			t.Fatalf("extend up to the limit = %v, %v; want %v", s.ExpiresAt, err, limit)
		}
		if _, err := e.mgr.Extend(ctx, "oncall", id, time.Microsecond); !errors.Is(err, sessionlogic.ErrBeyondLimit) {
			t.Fatalf("extend at the limit: %v, want ErrBeyondLimit", err)
		}
		// Requests keep it alive (never idle for 30 minutes) until the limit.
		for at := 25 * time.Minute; at < absolute; at += 25 * time.Minute {
			e.clock.Set(t0.Add(at))
			checkExpiry(t, e.me(tok), limit)
		}
		e.clock.Set(limit.Add(-time.Microsecond))
		e.accepted("one microsecond before the limit", tok)
		e.clock.Set(limit)
		e.refused("at the limit", tok)
	})
}

// TestExtendNeverRevivesAnEndedSession: a session that was logged out,
// forced out, replaced by a new login or has expired cannot be extended
// (ErrEnded), and its cookie stays refused.
func TestExtendNeverRevivesAnEndedSession(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, withTimeouts(idle, 0))
		ctx := context.Background()

		loggedOut := e.Login(alice, alicePassword)
		testkit.WantStatus(t, "logout", e.Do("POST", "/logout", url.Values{}, e.Sess(loggedOut)), http.StatusSeeOther)
		forced := e.Login(alice, alicePassword)
		if _, err := e.mgr.ForceLogout(ctx, "oncall", sessionlogic.HashToken(forced)); err != nil {
			t.Fatal(err)
		}
		replaced := e.Login(alice, alicePassword)
		e.Login(alice, alicePassword, e.Sess(replaced))
		deactivated := e.Login(bob, bobPassword)
		if _, err := e.mgr.Deactivate(ctx, "oncall", bob); err != nil {
			t.Fatal(err)
		}
		if err := e.mgr.Activate(ctx, "oncall", bob); err != nil {
			t.Fatal(err)
		}
		expired := e.Login(alice, alicePassword)
		e.clock.Advance(idle)

		for what, tok := range map[string]string{
			"logged out": loggedOut, "forced out": forced, "replaced": replaced,
			"ended by deactivation": deactivated, "expired": expired,
		} {
			if _, err := e.mgr.Extend(ctx, "oncall", sessionlogic.HashToken(tok), 24*time.Hour); !errors.Is(err, sessionlogic.ErrEnded) {
				t.Errorf("extend a %s session: %v, want ErrEnded", what, err)
			}
			e.refused("a "+what+" session after extend", tok)
		}
	})
}
