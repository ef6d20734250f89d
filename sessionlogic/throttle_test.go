package sessionlogic_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/sessionlogic"
)

// Retry-After on a throttled login is exact: the time until the failures
// that throttled it no longer reach the limit, not a whole window. Each
// test waits exactly the Retry-After it was given and then logs in.

func throttleFixture(t *testing.T, maxUser, maxIP int) fixture {
	t.Helper()
	return newFixture(t, func(o *sessionlogic.Options) {
		o.MaxFailuresPerUser = maxUser
		o.MaxFailuresPerIP = maxIP
		o.FailureWindow = 15 * time.Minute
	})
}

// failAt records a failed login by the manager at start+d.
func (f fixture) failAt(t *testing.T, start time.Time, d time.Duration, user, ip string) {
	t.Helper()
	f.clock.Set(start.Add(d))
	_, _, err := f.m.Login(context.Background(), sessionlogic.LoginRequest{Username: user, Password: "wrong-password", IP: ip})
	if !errors.Is(err, sessionlogic.ErrInvalidCredentials) {
		t.Fatalf("failure at +%s for %s from %s: %v, want ErrInvalidCredentials", d, user, ip, err)
	}
}

// retryAfter tries the right password for user from ip and wants it throttled.
func (f fixture) retryAfter(t *testing.T, user, ip string) time.Duration {
	t.Helper()
	_, _, err := f.m.Login(context.Background(), sessionlogic.LoginRequest{Username: user, Password: user + "-password", IP: ip})
	var te *sessionlogic.ThrottledError
	if !errors.As(err, &te) {
		t.Fatalf("%s from %s: %v, want ThrottledError", user, ip, err)
	}
	return te.RetryAfter
}

// loginFrom wants the right password for user from ip to log in.
func (f fixture) loginFrom(t *testing.T, user, ip, what string) {
	t.Helper()
	if _, _, err := f.m.Login(context.Background(), sessionlogic.LoginRequest{Username: user, Password: user + "-password", IP: ip}); err != nil {
		t.Fatalf("%s: %s from %s: %v, want logged in", what, user, ip, err)
	}
}

func TestThrottleRetryAfterIsUntilTheUsernameFailuresLeaveTheWindow(t *testing.T) {
	f := throttleFixture(t, 3, 20)
	t0 := f.clock.Now()
	f.failAt(t, t0, 0, "alice", "192.0.2.1")
	f.failAt(t, t0, 5*time.Minute, "alice", "192.0.2.2")
	f.failAt(t, t0, 10*time.Minute, "alice", "192.0.2.3")

	f.clock.Set(t0.Add(12 * time.Minute))
	ra := f.retryAfter(t, "alice", "198.51.100.7")
	if ra != 3*time.Minute {
		t.Fatalf("Retry-After at +12m = %s, want 3m0s (the failure at +0 leaves the 15m window at +15m)", ra)
	}
	// A microsecond short of it, still throttled, and told to wait a second.
	f.clock.Set(t0.Add(15*time.Minute - time.Microsecond))
	if ra := f.retryAfter(t, "alice", "198.51.100.7"); ra != time.Second {
		t.Fatalf("Retry-After a microsecond before the boundary = %s, want 1s", ra)
	}
	// Waiting exactly Retry-After is enough.
	f.clock.Set(t0.Add(12*time.Minute + ra))
	f.loginFrom(t, "alice", "198.51.100.7", "after waiting exactly Retry-After")
}

func TestThrottleRetryAfterIsUntilTheIPFailuresLeaveTheWindow(t *testing.T) {
	f := throttleFixture(t, 5, 3)
	t0 := f.clock.Now()
	const sprayed = "203.0.113.9"
	f.failAt(t, t0, 0, "mallory1", sprayed)
	f.failAt(t, t0, 5*time.Minute, "mallory2", sprayed)
	f.failAt(t, t0, 10*time.Minute, "mallory3", sprayed)

	f.clock.Set(t0.Add(12 * time.Minute))
	ra := f.retryAfter(t, "alice", sprayed)
	if ra != 3*time.Minute {
		t.Fatalf("Retry-After at +12m = %s, want 3m0s", ra)
	}
	f.clock.Advance(ra)
	f.loginFrom(t, "alice", sprayed, "after waiting exactly Retry-After")
}

// When the username and the IP are both over their limits, Retry-After is
// the later of the two; each alone gets its own.
func TestThrottleRetryAfterIsTheLaterOfUsernameAndIP(t *testing.T) {
	f := throttleFixture(t, 3, 3)
	t0 := f.clock.Now()
	const ip = "203.0.113.9"
	f.failAt(t, t0, 0, "alice", "192.0.2.1")      // alice: clears at +15m
	f.failAt(t, t0, 2*time.Minute, "mallory", ip) // ip: clears at +17m
	f.failAt(t, t0, 4*time.Minute, "alice", ip)   //
	f.failAt(t, t0, 6*time.Minute, "alice", ip)   // alice 3, ip 3

	f.clock.Set(t0.Add(8 * time.Minute))
	if ra := f.retryAfter(t, "alice", ip); ra != 9*time.Minute {
		t.Fatalf("both over: Retry-After = %s, want 9m0s (the IP's, the later)", ra)
	}
	if ra := f.retryAfter(t, "alice", "198.51.100.7"); ra != 7*time.Minute {
		t.Fatalf("username only: Retry-After = %s, want 7m0s", ra)
	}
	if ra := f.retryAfter(t, "bob", ip); ra != 9*time.Minute {
		t.Fatalf("IP only: Retry-After = %s, want 9m0s", ra)
	}

	// At +15m alice's count drops to 2; the IP's is still 3.
	f.clock.Set(t0.Add(15 * time.Minute))
	ra := f.retryAfter(t, "alice", ip)
	if ra != 2*time.Minute {
		t.Fatalf("at +15m: Retry-After = %s, want 2m0s (the IP's)", ra)
	}
	f.clock.Advance(ra)
	f.loginFrom(t, "alice", ip, "after waiting exactly Retry-After")
}

// More failures than the limit (replicas racing, or a lowered limit): the
// count drops below the limit when the (count-limit+1)-th oldest leaves the
// window, not the oldest. Retry-After is rounded up to whole seconds.
func TestThrottleRetryAfterOverTheLimit(t *testing.T) {
	f := throttleFixture(t, 3, 20)
	t0 := f.clock.Now()
	for _, d := range []time.Duration{0, time.Minute, 2*time.Minute + 1500*time.Millisecond, 3 * time.Minute, 4 * time.Minute} {
		if err := f.store.AppendAudit(context.Background(), data.AuditEntry{
			Time: t0.Add(d), Actor: "alice", Action: data.ActionLoginFailed, Username: "alice", IP: "192.0.2.1",
		}); err != nil {
			t.Fatal(err)
		}
	}
	// 5 failures, limit 3: the third oldest (+2m01.5s) clears the count.
	f.clock.Set(t0.Add(10 * time.Minute))
	ra := f.retryAfter(t, "alice", "198.51.100.7")
	if ra != 7*time.Minute+2*time.Second {
		t.Fatalf("Retry-After = %s, want 7m2s (7m01.5s rounded up)", ra)
	}
	f.clock.Advance(ra)
	f.loginFrom(t, "alice", "198.51.100.7", "after waiting exactly Retry-After")
}
