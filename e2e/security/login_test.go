package security_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
)

// timingCost is the bcrypt cost of the enumeration timing test: the real
// one, bcrypt.DefaultCost, except under -race, where one compare at that
// cost takes seconds; bcrypt.MinCost still makes a password check far
// slower than the store work around it, so a missing dummy compare shows.
func timingCost() int {
	if raceEnabled {
		return bcrypt.MinCost
	}
	return bcrypt.DefaultCost
}

// TestNoUserEnumeration: a login form cannot tell whether a username
// exists. An unknown user, a known user with a wrong password and a
// deactivated user with a wrong password get the same status, the same
// headers and the same page (but for the echoed username), and take
// comparable time: the median of interleaved attempts at the real bcrypt
// cost stays within a factor of two, which holds only if unknown users pay
// for a (dummy) hash compare too. Each attempt comes from a fresh client IP
// and the throttle limits are high, so throttling does not interfere.
func TestNoUserEnumeration(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, envOpts{trustProxy: true, manager: func(o *sessionlogic.Options) {
			o.PasswordCost = timingCost()
			o.MaxFailuresPerUserIP = 10000
			o.MaxFailuresPerUser = 10000
			o.MaxFailuresPerIP = 10000
		}})
		if _, err := e.mgr.Deactivate(context.Background(), "oncall", bob); err != nil {
			t.Fatal(err)
		}
		ip := 0
		attempt := func(username string) (result, time.Duration) {
			ip++
			start := time.Now()
			r := e.PostLogin(username, "wrong-password-9", fromIP(fmt.Sprintf("10.9.%d.%d", ip/250, ip%250+1)))
			return r, time.Since(start)
		}

		// The same answer, byte for byte once the echoed username is masked.
		type answer struct {
			status int
			header string
			body   string
		}
		norm := func(username string, r result) answer {
			h := r.Header.Clone()
			h.Del("Date")
			h.Del("Content-Length")
			return answer{r.Status, fmt.Sprint(h), strings.ReplaceAll(r.Body, username, "USERNAME")}
		}
		unknownAnswer, _ := attempt("zelda")
		wrongAnswer, _ := attempt(alice)
		inactiveAnswer, _ := attempt(bob)
		want := norm("zelda", unknownAnswer)
		if want.status != http.StatusUnauthorized {
			t.Fatalf("unknown user: status %d, want 401", want.status)
		}
		if got := norm(alice, wrongAnswer); got != want {
			t.Errorf("wrong password answer differs from unknown user's:\n%+v\nvs\n%+v", got, want)
		}
		if got := norm(bob, inactiveAnswer); got != want {
			t.Errorf("deactivated user's wrong-password answer differs from unknown user's:\n%+v\nvs\n%+v", got, want)
		}

		// Comparable timing: interleaved, so load on the machine hits both.
		const n = 7
		var unknown, wrong []time.Duration
		for i := range n {
			r, d := attempt(fmt.Sprintf("nobody%d", i))
			testkit.WantStatus(t, "unknown user", r, http.StatusUnauthorized)
			unknown = append(unknown, d)
			r, d = attempt(alice)
			testkit.WantStatus(t, "wrong password", r, http.StatusUnauthorized)
			wrong = append(wrong, d)
		}
		mu, mw := median(unknown), median(wrong)
		ratio := float64(mu) / float64(mw)
		t.Logf("bcrypt cost %d: median unknown user %v, wrong password %v, ratio %.2f", timingCost(), mu, mw, ratio)
		if ratio < 0.5 || ratio > 2 {
			t.Errorf("unknown user takes %v, wrong password %v (ratio %.2f, want 0.5..2): response time tells them apart", mu, mw, ratio)
		}
	})
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// throttleOpts: within 15 minutes, at most 5 failures for a username from
// one client IP, 12 for a username from all IPs together (the ceiling) and
// 8 from one client IP; X-Forwarded-For is believed, so a test can pick
// client IPs.
func throttleOpts() envOpts {
	return envOpts{trustProxy: true, manager: func(o *sessionlogic.Options) {
		o.MaxFailuresPerUserIP = 5
		o.MaxFailuresPerUser = 12
		o.MaxFailuresPerIP = 8
		o.FailureWindow = 15 * time.Minute
	}}
}

// wantThrottled checks r is a 429 with Retry-After of secs seconds (the
// time until the failures that throttled it drop below the limit, rounded
// up) and sets no cookie.
func wantThrottled(t *testing.T, e *env, what string, r result, secs int) {
	t.Helper()
	testkit.WantStatus(t, what, r, http.StatusTooManyRequests)
	if ra, want := r.Header.Get("Retry-After"), strconv.Itoa(secs); ra != want {
		t.Errorf("%s: Retry-After %q, want %s (seconds until the failures leave the window)", what, ra, want)
	}
	if c := r.SessionCookie(e.cookie); c != nil {
		t.Errorf("%s: a throttled login set a cookie: %v", what, c)
	}
}

// TestThrottleOneIPCannotLockTheUserOutOfAnother: 5 wrong passwords for
// alice from one address (and hammering from it after) throttle that
// address only; alice logs in from hers with the right password, and a
// typo there is not held against her by the attacker's count.
func TestThrottleOneIPCannotLockTheUserOutOfAnother(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, throttleOpts())
		attacker, home := fromIP("203.0.113.66"), fromIP("198.51.100.7")
		for i := range 5 {
			testkit.WantStatus(t, fmt.Sprintf("attacker's failure %d", i+1), e.PostLogin(alice, "wrong-password-9", attacker), http.StatusUnauthorized)
		}
		for range 10 {
			wantThrottled(t, e, "attacker hammering", e.PostLogin(alice, "wrong-password-9", attacker), 900)
		}
		testkit.WantStatus(t, "alice's typo at home", e.PostLogin(alice, "wrong-password-1", home), http.StatusUnauthorized)
		e.accepted("the right password from another IP while the attacker's is throttled", e.Login(alice, alicePassword, home))
	})
}

// TestThrottlePerUsernameAndIPAnswers429WithRetryAfter: after 5 failures
// for a username from one client IP, every login for it from that IP, the
// right password too, is answered 429 with Retry-After; the same IP may
// still log in as another user.
func TestThrottlePerUsernameAndIPAnswers429WithRetryAfter(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, throttleOpts())
		attacker := fromIP("203.0.113.66")
		for i := range 5 {
			testkit.WantStatus(t, fmt.Sprintf("failure %d", i+1), e.PostLogin(alice, "wrong-password-9", attacker), http.StatusUnauthorized)
		}
		// All 5 at the clock's one instant: they leave the window together, 15m on.
		wantThrottled(t, e, "the right password from the same IP", e.PostLogin(alice, alicePassword, attacker), 900)
		wantThrottled(t, e, "a 6th wrong password", e.PostLogin(alice, "wrong-password-9", attacker), 900)
		e.Login(bob, bobPassword, attacker)
	})
}

// TestThrottleHoldsUnderABurstOverHTTP: 20 wrong passwords for alice sent
// at once from one IP get exactly 5 password checks (401) and 15 refusals
// (429): the limit is not passed by attempts that all read the failure
// count before any was recorded. The password check runs at the real
// bcrypt cost (timingCost), so a burst really overlaps it.
func TestThrottleHoldsUnderABurstOverHTTP(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		opts := throttleOpts()
		tweak := opts.manager
		opts.manager = func(o *sessionlogic.Options) { tweak(o); o.PasswordCost = timingCost() }
		e := newEnv(t, b, opts)
		attacker := fromIP("203.0.113.66")
		// Sent from goroutines: plain client calls, errors reported here.
		codes := make(chan string, 20)
		var wg sync.WaitGroup
		for range 20 {
			req, err := http.NewRequest("POST", e.ts.URL+"/login", strings.NewReader(testkit.LoginForm(alice, "wrong-password-9", "").Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			attacker(req)
			wg.Go(func() {
				resp, err := e.HTTP.Do(req)
				if err != nil {
					codes <- err.Error()
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes <- strconv.Itoa(resp.StatusCode)
			})
		}
		wg.Wait()
		close(codes)
		got := map[string]int{}
		for c := range codes {
			got[c]++
		}
		if got["401"] != 5 || got["429"] != 15 {
			t.Errorf("20 concurrent wrong passwords from one IP: %v, want 5 x 401 and 15 x 429", got)
		}
		wantThrottled(t, e, "after the burst", e.PostLogin(alice, alicePassword, attacker), 900)
		e.accepted("alice from another IP", e.Login(alice, alicePassword, fromIP("198.51.100.7")))
	})
}

// TestThrottlePerUsernameCeilingStopsADistributedAttack: failures for one
// username spread over addresses, each under its own limits (3 IPs x 4),
// reach the username's ceiling of 12; then every login for it, the right
// password from a fresh IP too, is answered 429 with Retry-After. Other
// users at the same IPs are not affected.
func TestThrottlePerUsernameCeilingStopsADistributedAttack(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, throttleOpts())
		for i := range 12 {
			r := e.PostLogin(alice, "wrong-password-9", fromIP(fmt.Sprintf("192.0.2.%d", 1+i%3)))
			testkit.WantStatus(t, fmt.Sprintf("failure %d", i+1), r, http.StatusUnauthorized)
		}
		wantThrottled(t, e, "the right password from a fresh IP", e.PostLogin(alice, alicePassword, fromIP("198.51.100.77")), 900)
		wantThrottled(t, e, "a wrong password from another fresh IP", e.PostLogin(alice, "wrong-password-9", fromIP("198.51.100.78")), 900)
		e.Login(bob, bobPassword, fromIP("192.0.2.1"))
	})
}

// TestThrottlePerIPAnswers429WithRetryAfter: after 8 failures from one
// client IP (each for a different username, so no per-username limit is
// reached) every login from that IP is answered 429 with Retry-After, even
// a right password; the same user from another IP logs in.
func TestThrottlePerIPAnswers429WithRetryAfter(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, throttleOpts())
		attacker := fromIP("203.0.113.66")
		for i := range 8 {
			r := e.PostLogin(fmt.Sprintf("guess%d", i), "wrong-password-9", attacker)
			testkit.WantStatus(t, fmt.Sprintf("failure %d", i+1), r, http.StatusUnauthorized)
		}
		wantThrottled(t, e, "the right password from the sprayed IP", e.PostLogin(alice, alicePassword, attacker), 900)
		e.Login(alice, alicePassword, fromIP("198.51.100.7"))
	})
}

// TestThrottleRetryAfterIsExact: Retry-After is the time until the
// failures that throttle a login drop below the limit (the oldest of those
// counted leaves the 15-minute window), not a whole window; a client that
// waits exactly that long logs in. Per username from one IP (where other
// IPs' failures for the user neither count nor move it), per username from
// all IPs (the ceiling), and per IP.
func TestThrottleRetryAfterIsExact(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		t.Run("username from one ip", func(t *testing.T) {
			e := newEnv(t, b, throttleOpts())
			t0 := e.clock.Now()
			attacker := fromIP("203.0.113.66")
			for _, at := range []time.Duration{0, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute} {
				e.clock.Set(t0.Add(at))
				testkit.WantStatus(t, fmt.Sprintf("failure at +%s", at), e.PostLogin(alice, "wrong-password-9", attacker), http.StatusUnauthorized)
			}
			e.clock.Set(t0.Add(11 * time.Minute))
			testkit.WantStatus(t, "a failure from elsewhere", e.PostLogin(alice, "wrong-password-9", fromIP("192.0.2.9")), http.StatusUnauthorized)
			e.clock.Set(t0.Add(12 * time.Minute))
			wantThrottled(t, e, "at +12m", e.PostLogin(alice, alicePassword, attacker), 180)
			e.clock.Advance(180 * time.Second)
			e.accepted("after waiting exactly Retry-After", e.Login(alice, alicePassword, attacker))
		})
		t.Run("username ceiling", func(t *testing.T) {
			e := newEnv(t, b, throttleOpts())
			t0 := e.clock.Now()
			for i := range 12 {
				at := time.Duration(i) * time.Minute
				e.clock.Set(t0.Add(at))
				r := e.PostLogin(alice, "wrong-password-9", fromIP(fmt.Sprintf("192.0.2.%d", 1+i%3)))
				testkit.WantStatus(t, fmt.Sprintf("failure at +%s", at), r, http.StatusUnauthorized)
			}
			e.clock.Set(t0.Add(12 * time.Minute))
			wantThrottled(t, e, "at +12m", e.PostLogin(alice, alicePassword, fromIP("198.51.100.7")), 180)
			e.clock.Advance(180 * time.Second)
			e.accepted("after waiting exactly Retry-After", e.Login(alice, alicePassword, fromIP("198.51.100.7")))
		})
		t.Run("ip", func(t *testing.T) {
			e := newEnv(t, b, throttleOpts())
			t0 := e.clock.Now()
			attacker := fromIP("203.0.113.66")
			for i := range 8 {
				e.clock.Set(t0.Add(time.Duration(i) * time.Minute))
				r := e.PostLogin(fmt.Sprintf("guess%d", i), "wrong-password-9", attacker)
				testkit.WantStatus(t, fmt.Sprintf("failure %d", i+1), r, http.StatusUnauthorized)
			}
			e.clock.Set(t0.Add(9 * time.Minute))
			wantThrottled(t, e, "at +9m", e.PostLogin(alice, alicePassword, attacker), 360)
			e.clock.Advance(360 * time.Second)
			e.accepted("after waiting exactly Retry-After", e.Login(alice, alicePassword, attacker))
		})
	})
}

// TestThrottleCannotLockAUserOutForever: the widest lock, the username's
// ceiling reached from many addresses, lifts by itself once the failure
// window has passed since the last counted failure, and hammering the form
// during the lock (right and wrong passwords, from the attacking addresses
// and others, up to a microsecond before it lifts) does not extend it:
// throttled attempts are not counted as failures.
func TestThrottleCannotLockAUserOutForever(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, throttleOpts())
		t0 := e.clock.Now()
		for i := range 12 {
			testkit.WantStatus(t, "failure", e.PostLogin(alice, "wrong-password-9", fromIP(fmt.Sprintf("192.0.2.%d", 1+i%3))), http.StatusUnauthorized)
		}
		const window = 15 * time.Minute
		for at := time.Minute; at < window; at += 2 * time.Minute {
			e.clock.Set(t0.Add(at))
			left := int((window - at) / time.Second)
			wantThrottled(t, e, "hammering, wrong password", e.PostLogin(alice, "wrong-password-9", fromIP("203.0.113.5")), left)
			wantThrottled(t, e, "hammering from an attacking IP", e.PostLogin(alice, "wrong-password-9", fromIP("192.0.2.1")), left)
			wantThrottled(t, e, "hammering, right password", e.PostLogin(alice, alicePassword, fromIP("198.51.100.7")), left)
		}
		e.clock.Set(t0.Add(window - time.Microsecond))
		wantThrottled(t, e, "a microsecond before the window passes", e.PostLogin(alice, "wrong-password-9", fromIP("203.0.113.5")), 1)

		// Exactly the window after the failures (the Retry-After given at
		// t0): they have left it.
		e.clock.Set(t0.Add(window))
		tok := e.Login(alice, alicePassword, fromIP("198.51.100.7"))
		e.accepted("after the lock lifted", tok)
	})
}
