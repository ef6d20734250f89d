package reliability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
)

// TestLoginRacesUserChange races a login through Manager.Login against an
// operator deactivating the user or resetting their password, many times on
// each store. The change lands at a random moment of the login: before the
// user is read, during the password check (bcrypt, the widest window), or
// while the session is written.
//
// What must hold: once both have returned, the user has no active session
// (a deactivation or a reset ends all of them, even a login's that was in
// flight), a session the login did get no longer authenticates, and the
// login's answer is one it could get from a login just before or after the
// change: success (then ended), ErrInactive after a deactivation, or
// ErrInvalidCredentials for a password that no longer matches.
func TestLoginRacesUserChange(t *testing.T) {
	iterations := pick(200, 2000)
	for _, sk := range testkit.Kinds {
		t.Run(sk.Name, func(t *testing.T) {
			st := sk.Open(t)
			m := newManager(t, st, slog.New(slog.DiscardHandler), func(o *sessionlogic.Options) {
				// Refused logins are expected here; never throttle them.
				o.MaxFailuresPerUserIP, o.MaxFailuresPerUser, o.MaxFailuresPerIP = 1<<30, 1<<30, 1<<30
			})
			runLoginRaces(t, m, iterations)
		})
	}
}

func runLoginRaces(t *testing.T, m *sessionlogic.Manager, iterations int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const workers = 4
	creds := addUsers(t, m, "changing", workers)

	// The password check's duration, to spread the change over the login.
	h, err := bcrypt.GenerateFromPassword([]byte("calibrate"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	bcrypt.CompareHashAndPassword(h, []byte("calibrate"))
	check := time.Since(begin)

	type tally struct{ survivedThenEnded, inactive, invalid int }
	tallies := make([]tally, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			c := creds[w]
			tl := &tallies[w]
			for i := w; i < iterations; i += workers {
				if ctx.Err() != nil || t.Failed() {
					return
				}
				reset := i%2 == 1
				newPassword := fmt.Sprintf("pw-%s-reset-%d", c.user, i)
				delay := time.Duration(rand.Int64N(int64(check) + 1))

				var (
					token     string
					loginErr  error
					changeErr error
					g         sync.WaitGroup
					start     = make(chan struct{})
				)
				g.Go(func() {
					<-start
					token, _, loginErr = m.Login(ctx, sessionlogic.LoginRequest{
						Username: c.user, Password: c.password, IP: "127.0.0.1", UserAgent: "login-races",
					})
				})
				g.Go(func() {
					<-start
					time.Sleep(delay)
					if reset {
						_, changeErr = m.SetPassword(ctx, operator, c.user, newPassword)
					} else {
						_, changeErr = m.Deactivate(ctx, operator, c.user)
					}
				})
				close(start)
				g.Wait()

				what := "deactivation"
				if reset {
					what = "password reset"
				}
				if changeErr != nil {
					t.Errorf("iteration %d: %s: %v", i, what, changeErr)
					return
				}
				switch {
				case loginErr == nil:
					tl.survivedThenEnded++
					if _, err := m.Authenticate(ctx, token); !errors.Is(err, sessionlogic.ErrNoSession) {
						t.Errorf("iteration %d: the login's session still authenticates after the %s returned (err %v)", i, what, err)
						return
					}
				case !reset && errors.Is(loginErr, sessionlogic.ErrInactive):
					tl.inactive++
				case reset && errors.Is(loginErr, sessionlogic.ErrInvalidCredentials):
					tl.invalid++
				default:
					t.Errorf("iteration %d: login racing a %s: %v", i, what, loginErr)
					return
				}
				page, err := m.Active(ctx, sessionlogic.ListQuery{Username: c.user})
				if err != nil {
					t.Errorf("iteration %d: Active: %v", i, err)
					return
				}
				if len(page.Sessions) != 0 {
					t.Errorf("iteration %d: %d active sessions of %s after the %s returned (login error %v), want none",
						i, len(page.Sessions), c.user, what, loginErr)
					return
				}

				if reset {
					c.password = newPassword
				} else if err := m.Activate(ctx, operator, c.user); err != nil {
					t.Errorf("iteration %d: activate: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	var sum tally
	for _, tl := range tallies {
		sum.survivedThenEnded += tl.survivedThenEnded
		sum.inactive += tl.inactive
		sum.invalid += tl.invalid
	}
	t.Logf("%d races (password check ≈ %s): %d logins succeeded and were ended, %d refused as inactive, %d refused as invalid",
		iterations, check.Round(time.Microsecond), sum.survivedThenEnded, sum.inactive, sum.invalid)
}
