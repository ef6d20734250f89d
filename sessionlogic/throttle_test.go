package sessionlogic_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

// The throttle counts failures for a username per client IP at the low
// limit, and for the username alone only at a high ceiling: an attacker at
// one address cannot lock the user out of another (OWASP: a lockout must
// not become a denial of service). These run on the defaults: 5 per
// username and IP, a ceiling of 100 per username, 20 per IP, 15 minutes.

func TestThrottleOneIPCannotLockTheUserOutOfAnother(t *testing.T) {
	f := newFixture(t, nil)
	t0 := f.clock.Now()
	const attacker, home = "203.0.113.66", "198.51.100.7"
	for i := range 5 {
		f.failAt(t, t0, time.Duration(i)*time.Minute, "alice", attacker)
	}
	f.clock.Set(t0.Add(6 * time.Minute))
	if ra := f.retryAfter(t, "alice", attacker); ra != 9*time.Minute {
		t.Fatalf("the attacker's 6th try: Retry-After = %s, want 9m0s", ra)
	}
	// Hammering from the attacker's address...
	for range 20 {
		f.clock.Advance(time.Second)
		f.retryAfter(t, "alice", attacker)
	}
	// ...leaves alice free to log in from home, and to mistype there.
	f.loginFrom(t, "alice", home, "the right password from another IP while the attacker's is throttled")
	f.failAt(t, f.clock.Now(), 0, "alice", home)
	f.loginFrom(t, "alice", home, "after one typo at home")
	if ra := f.retryAfter(t, "alice", attacker); ra > 9*time.Minute {
		t.Fatalf("the attacker's lock grew to %s while alice logged in elsewhere", ra)
	}
}

// One IP gets the low limit against one user, and its Retry-After is
// exact: the time until its own oldest failure leaves the window, whatever
// other addresses did to the same user.
func TestThrottleOneIPCannotTryMoreThanTheLimitAgainstOneUser(t *testing.T) {
	f := newFixture(t, nil)
	t0 := f.clock.Now()
	const attacker = "203.0.113.66"
	for i := range 5 {
		f.failAt(t, t0, time.Duration(i)*time.Minute, "alice", attacker)
	}
	// Two more failures for alice from elsewhere, later: they neither
	// throttle the other address nor move the attacker's Retry-After.
	f.failAt(t, t0, 5*time.Minute, "alice", "192.0.2.1")
	f.failAt(t, t0, 6*time.Minute, "alice", "192.0.2.2")

	f.clock.Set(t0.Add(7 * time.Minute))
	ra := f.retryAfter(t, "alice", attacker)
	if ra != 8*time.Minute {
		t.Fatalf("6th try from one IP: Retry-After = %s, want 8m0s (its failure at +0 leaves the window at +15m)", ra)
	}
	// Tries while throttled are not counted...
	f.clock.Set(t0.Add(15*time.Minute - time.Microsecond))
	if ra := f.retryAfter(t, "alice", attacker); ra != time.Second {
		t.Fatalf("a microsecond before the boundary: Retry-After = %s, want 1s", ra)
	}
	// ...and waiting exactly Retry-After lets one more try in, and only one.
	f.clock.Set(t0.Add(7*time.Minute + ra))
	f.failAt(t, f.clock.Now(), 0, "alice", attacker)
	if ra := f.retryAfter(t, "alice", attacker); ra != time.Minute {
		t.Fatalf("after the one try the window allowed: Retry-After = %s, want 1m0s (the failure at +1m leaves at +16m)", ra)
	}
	// Other users from the same address are not held to alice's count.
	f.loginFrom(t, "bob", attacker, "another user from the throttled IP")
}

// The username ceiling still stops guessing spread over many addresses,
// each under its own limit: 20 IPs x 5 failures reach 100, then every
// address is refused (the right password too) with the exact Retry-After,
// and the lock lifts by itself.
func TestThrottleUsernameCeilingStopsADistributedAttack(t *testing.T) {
	f := newFixture(t, nil)
	t0 := f.clock.Now()
	for i := range 100 {
		ip := fmt.Sprintf("192.0.2.%d", 1+i/5)
		f.failAt(t, t0, time.Duration(i)*time.Second, "alice", ip)
	}
	f.clock.Set(t0.Add(2 * time.Minute))
	ra := f.retryAfter(t, "alice", "198.51.100.7")
	if ra != 13*time.Minute {
		t.Fatalf("at the ceiling, a fresh IP: Retry-After = %s, want 13m0s (the first failure leaves at +15m)", ra)
	}
	if ra := f.retryAfter(t, "alice", "192.0.2.21"); ra != 13*time.Minute {
		t.Fatalf("at the ceiling, another fresh IP: Retry-After = %s, want 13m0s", ra)
	}
	f.loginFrom(t, "bob", "192.0.2.1", "another user from an attacking IP below the per-IP limit")
	// The first failure leaves the window: one more try fits under the ceiling.
	f.clock.Advance(ra)
	f.loginFrom(t, "alice", "198.51.100.7", "after waiting exactly Retry-After")
}

// A login with no client IP cannot be told from any other such login: its
// username gets the per-client limit, not the ceiling.
func TestThrottleWithoutAClientIPUsesThePerClientLimit(t *testing.T) {
	f := newFixture(t, nil)
	t0 := f.clock.Now()
	for i := range 5 {
		f.failAt(t, t0, time.Duration(i)*time.Minute, "alice", "")
	}
	f.clock.Set(t0.Add(5 * time.Minute))
	if ra := f.retryAfter(t, "alice", ""); ra != 10*time.Minute {
		t.Fatalf("no IP, 6th try: Retry-After = %s, want 10m0s", ra)
	}
	f.loginFrom(t, "alice", "198.51.100.7", "from a known IP")
}

// slowFailures is a store whose AppendAudit takes a while, as a password
// check at the production bcrypt cost does: every attempt of a burst reads
// the failure counts before the first failure is recorded.
type slowFailures struct{ data.Store }

func (s slowFailures) AppendAudit(ctx context.Context, e data.AuditEntry) error {
	time.Sleep(50 * time.Millisecond)
	return s.Store.AppendAudit(ctx, e)
}

// A burst of concurrent attempts cannot pass a limit before its failures
// are recorded: twice the limit at once get exactly the limit's worth of
// password checks, the rest 429; once they settle, the next try is told
// the exact wait. Per username from one IP, per IP, and the username ceiling (12
// here, so the burst stays small).
func TestThrottleHoldsUnderABurstOfConcurrentAttempts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		limit   int
		attempt func(i int) (user, ip string)
	}{
		{"username from one IP", 5, func(int) (string, string) { return "alice", "203.0.113.66" }},
		{"IP", 20, func(i int) (string, string) { return fmt.Sprintf("guess%d", i), "203.0.113.66" }},
		{"username ceiling", 12, func(i int) (string, string) { return "alice", fmt.Sprintf("192.0.2.%d", i%8) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(o *sessionlogic.Options) {
				o.Store = slowFailures{o.Store}
				o.MaxFailuresPerUser = 12         // the ceiling case: 24 attempts from 8 IPs, 3 each
				o.StoreTimeout = 30 * time.Second // a busy machine under -race is no outage
			})
			var (
				wg                 sync.WaitGroup
				mu                 sync.Mutex
				checked, throttled int
			)
			for i := range 2 * tc.limit {
				wg.Add(1)
				go func() {
					defer wg.Done()
					user, ip := tc.attempt(i)
					_, _, err := f.m.Login(context.Background(), sessionlogic.LoginRequest{Username: user, Password: "wrong-password", IP: ip})
					var te *sessionlogic.ThrottledError
					mu.Lock()
					defer mu.Unlock()
					switch {
					case errors.Is(err, sessionlogic.ErrInvalidCredentials):
						checked++
					case errors.As(err, &te) && te.RetryAfter >= time.Second:
						throttled++
					default:
						t.Errorf("attempt %d: %v", i, err)
					}
				}()
			}
			wg.Wait()
			if checked != tc.limit {
				t.Errorf("%d concurrent attempts: %d passwords checked, %d throttled; want exactly %d checked", 2*tc.limit, checked, throttled, tc.limit)
			}
			user, ip := tc.attempt(0)
			if ra := f.retryAfter(t, user, ip); ra != 15*time.Minute {
				t.Errorf("after the burst: Retry-After = %s, want 15m0s (every failure at the clock's one instant)", ra)
			}
		})
	}
}

// slowUserReads is a store whose user reads take a while, as a password
// check at the production bcrypt cost does: every login of a burst is in
// flight at once.
type slowUserReads struct{ data.Store }

func (s slowUserReads) UserByUsername(ctx context.Context, username string) (data.User, error) {
	time.Sleep(50 * time.Millisecond)
	return s.Store.UserByUsername(ctx, username)
}

// A burst of good logins from one address, several times a limit at once
// (an office behind NAT, a load test from one host), all log in: an
// attempt over a limit only with others still checking a password waits
// for them to end, and is not told "too many failed attempts" when there
// was none (it was, once 20 logins from 127.0.0.1 overlapped:
// e2e/reliability's TestLoad on a busy machine).
func TestThrottleLetsABurstOfGoodLoginsFromOneIPIn(t *testing.T) {
	f := newFixture(t, func(o *sessionlogic.Options) {
		o.Store = slowUserReads{o.Store}
		o.MaxFailuresPerIP = 3            // and 5 per username from one IP, the default
		o.StoreTimeout = 30 * time.Second // a busy machine under -race is no outage
	})
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := []string{"alice", "bob"}[i%2]
			_, _, err := f.m.Login(context.Background(), sessionlogic.LoginRequest{Username: user, Password: user + "-password", IP: "198.51.100.9"})
			if err != nil {
				t.Errorf("login %d of 16 at once from one IP (%s): %v, want logged in", i, user, err)
			}
		}()
	}
	wg.Wait()
}
