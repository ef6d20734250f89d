package sessionlogic_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"sessionmon/data"
	"sessionmon/internal/fakeclock"
	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
)

type fixture struct {
	m     *sessionlogic.Manager
	store data.Store
	clock *fakeclock.Clock
}

func newFixture(t testing.TB, tweak func(*sessionlogic.Options)) fixture {
	t.Helper()
	ctx := context.Background()
	st := testkit.OpenSQLite(t)
	c := fakeclock.New(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	opts := sessionlogic.Options{
		Store:            st,
		Cookie:           sessionlogic.DefaultCookieOptions(),
		SaveEveryRequest: true,
		PasswordCost:     bcrypt.MinCost,
		Now:              c.Now,
	}
	if tweak != nil {
		tweak(&opts)
	}
	m, err := sessionlogic.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []sessionlogic.NewUser{
		{Username: "alice", Password: "alice-password", Email: "alice@example.com", FullName: "Alice Liddell", Role: "admin"},
		{Username: "bob", Password: "bob-password", Email: "bob@example.com", FullName: "Bob Ross", Role: "viewer"},
	} {
		if _, err := m.AddUser(ctx, "test", u); err != nil {
			t.Fatal(err)
		}
	}
	return fixture{m: m, store: st, clock: c}
}

func (f fixture) login(t *testing.T, user string) (string, sessionlogic.Session) {
	t.Helper()
	tok, s, err := f.m.Login(context.Background(), sessionlogic.LoginRequest{
		Username: user, Password: user + "-password", IP: "192.0.2.1", UserAgent: "test-agent",
	})
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return tok, s
}

func TestLoginRecordsTheSessionAndAuthenticateSlidesIt(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	tok, s := f.login(t, "alice")
	if s.ID != sessionlogic.HashToken(tok) || s.ID == tok {
		t.Fatalf("session id must be the token's hash")
	}
	if s.Username != "alice" || s.FullName != "Alice Liddell" || s.Role != "admin" || s.Email != "alice@example.com" ||
		s.Status != "active" || s.IP != "192.0.2.1" || s.UserAgent != "test-agent" {
		t.Fatalf("session record = %+v", s)
	}
	if want := f.clock.Now().Add(14 * 24 * time.Hour); !s.ExpiresAt.Equal(want) {
		t.Fatalf("expires %v, want %v", s.ExpiresAt, want)
	}

	f.clock.Advance(time.Hour)
	got, err := f.m.Authenticate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastActivity.Equal(f.clock.Now()) || !got.ExpiresAt.Equal(f.clock.Now().Add(14*24*time.Hour)) {
		t.Fatalf("touch did not slide: last %v expires %v", got.LastActivity, got.ExpiresAt)
	}
	if !got.LoginTime.Equal(s.LoginTime) {
		t.Fatalf("touch moved login time")
	}
}

func TestSessionExpiresAfterCookieAgeWithoutRequests(t *testing.T) {
	f := newFixture(t, nil)
	tok, _ := f.login(t, "alice")
	f.clock.Advance(14*24*time.Hour - time.Second)
	if _, err := f.m.Authenticate(context.Background(), tok); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	f.clock.Advance(14 * 24 * time.Hour) // slid at the last request; now past it
	if _, err := f.m.Authenticate(context.Background(), tok); !errors.Is(err, sessionlogic.ErrNoSession) {
		t.Fatalf("after expiry: %v, want ErrNoSession", err)
	}
}

func TestWithoutSaveEveryRequestExpiryDoesNotSlide(t *testing.T) {
	f := newFixture(t, func(o *sessionlogic.Options) { o.SaveEveryRequest = false })
	tok, s := f.login(t, "alice")
	f.clock.Advance(time.Hour)
	got, err := f.m.Authenticate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ExpiresAt.Equal(s.ExpiresAt) || !got.LastActivity.Equal(s.LastActivity) {
		t.Fatalf("session changed without save-every-request: %+v", got)
	}
}

func TestIdleAndAbsoluteTimeouts(t *testing.T) {
	f := newFixture(t, func(o *sessionlogic.Options) {
		o.IdleTimeout = 30 * time.Minute
		o.AbsoluteTimeout = 8 * time.Hour
	})
	ctx := context.Background()
	tok, s := f.login(t, "alice")
	if want := s.LoginTime.Add(30 * time.Minute); !s.ExpiresAt.Equal(want) {
		t.Fatalf("idle expiry %v, want %v", s.ExpiresAt, want)
	}
	// Active every 20 minutes: the idle timeout never fires, the absolute one does.
	for elapsed := 20 * time.Minute; elapsed < 8*time.Hour; elapsed += 20 * time.Minute {
		f.clock.Advance(20 * time.Minute)
		got, err := f.m.Authenticate(ctx, tok)
		if err != nil {
			t.Fatalf("at %s: %v", elapsed, err)
		}
		if got.ExpiresAt.After(s.LoginTime.Add(8 * time.Hour)) {
			t.Fatalf("expiry %v passes the absolute limit", got.ExpiresAt)
		}
	}
	f.clock.Advance(20 * time.Minute) // 8h00 after login
	if _, err := f.m.Authenticate(ctx, tok); !errors.Is(err, sessionlogic.ErrNoSession) {
		t.Fatalf("past the absolute limit: %v, want ErrNoSession", err)
	}

	// Idle: 31 minutes without a request ends a fresh session.
	tok2, _ := f.login(t, "bob")
	f.clock.Advance(31 * time.Minute)
	if _, err := f.m.Authenticate(ctx, tok2); !errors.Is(err, sessionlogic.ErrNoSession) {
		t.Fatalf("after idle timeout: %v, want ErrNoSession", err)
	}
}

func TestLoginNeverAdoptsTheOldTokenAndReplacesTheOldSession(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	old, oldS := f.login(t, "alice")
	tok, s, err := f.m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: "alice-password", OldToken: old})
	if err != nil {
		t.Fatal(err)
	}
	if tok == old || s.ID == oldS.ID {
		t.Fatal("login reused the old token")
	}
	if _, err := f.m.Authenticate(ctx, old); !errors.Is(err, sessionlogic.ErrNoSession) {
		t.Fatalf("old cookie still works: %v", err)
	}
	ended, err := f.m.Session(ctx, oldS.ID)
	if err != nil || ended.EndReason != data.EndReplaced {
		t.Fatalf("old session = %+v, %v; want ended as replaced", ended, err)
	}
	// A token an attacker planted (never issued) is not adopted either.
	planted := sessionlogic.NewToken()
	tok3, _, err := f.m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: "alice-password", OldToken: planted})
	if err != nil || tok3 == planted {
		t.Fatalf("planted token adopted: %v", err)
	}
	if _, err := f.m.Authenticate(ctx, planted); !errors.Is(err, sessionlogic.ErrNoSession) {
		t.Fatalf("planted token authenticates: %v", err)
	}
}

func TestBadCredentialsGetOneAnswer(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	_, _, errUnknown := f.m.Login(ctx, sessionlogic.LoginRequest{Username: "mallory", Password: "whatever-pass"})
	_, _, errWrong := f.m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: "wrong-password"})
	if !errors.Is(errUnknown, sessionlogic.ErrInvalidCredentials) || !errors.Is(errWrong, sessionlogic.ErrInvalidCredentials) ||
		errUnknown.Error() != errWrong.Error() {
		t.Fatalf("unknown user: %v; wrong password: %v; want the same ErrInvalidCredentials", errUnknown, errWrong)
	}
	entries, err := f.m.Audit(ctx, sessionlogic.AuditQuery{Action: data.ActionLoginFailed})
	if err != nil || len(entries) != 2 {
		t.Fatalf("failed logins audited: %d, %v; want 2", len(entries), err)
	}
}

func TestThrottleByUsernameLiftsAfterTheWindow(t *testing.T) {
	f := newFixture(t, func(o *sessionlogic.Options) {
		o.MaxFailuresPerUser = 3
		o.FailureWindow = 10 * time.Minute
	})
	ctx := context.Background()
	try := func(pw string) error {
		_, _, err := f.m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: pw, IP: "198.51.100.7"})
		return err
	}
	for i := 0; i < 3; i++ {
		if err := try("wrong-password"); !errors.Is(err, sessionlogic.ErrInvalidCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	var te *sessionlogic.ThrottledError
	// Hammering while throttled does not extend the lock...
	for i := 0; i < 20; i++ {
		f.clock.Advance(time.Second)
		if err := try("wrong-password"); !errors.As(err, &te) || te.RetryAfter <= 0 {
			t.Fatalf("attempt %d while throttled: %v, want ThrottledError", i, err)
		}
	}
	// ...even the right password waits...
	if err := try("alice-password"); !errors.As(err, &te) {
		t.Fatalf("right password while throttled: %v", err)
	}
	// ...and the lock lifts by itself one window after the counted failures.
	f.clock.Advance(10 * time.Minute)
	if err := try("alice-password"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestThrottleByIP(t *testing.T) {
	f := newFixture(t, func(o *sessionlogic.Options) { o.MaxFailuresPerIP = 4 })
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		f.m.Login(ctx, sessionlogic.LoginRequest{Username: "nobody" + string(rune('a'+i)), Password: "x-password", IP: "203.0.113.9"})
	}
	var te *sessionlogic.ThrottledError
	_, _, err := f.m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: "alice-password", IP: "203.0.113.9"})
	if !errors.As(err, &te) {
		t.Fatalf("5th attempt from a spraying IP: %v, want ThrottledError", err)
	}
	if _, _, err := f.m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: "alice-password", IP: "203.0.113.10"}); err != nil {
		t.Fatalf("another IP is not throttled: %v", err)
	}
}

func TestInactiveUserCannotLogInAndDeactivationEndsSessions(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	t1, _ := f.login(t, "bob")
	t2, _ := f.login(t, "bob")
	n, err := f.m.Deactivate(ctx, "ops", "bob")
	if err != nil || n != 2 {
		t.Fatalf("deactivate = %d, %v; want 2 sessions ended", n, err)
	}
	for _, tok := range []string{t1, t2} {
		if _, err := f.m.Authenticate(ctx, tok); !errors.Is(err, sessionlogic.ErrNoSession) {
			t.Fatalf("session of deactivated user still works: %v", err)
		}
	}
	if _, _, err := f.m.Login(ctx, sessionlogic.LoginRequest{Username: "bob", Password: "bob-password"}); !errors.Is(err, sessionlogic.ErrInactive) {
		t.Fatalf("inactive login: %v, want ErrInactive", err)
	}
	if _, _, err := f.m.Login(ctx, sessionlogic.LoginRequest{Username: "bob", Password: "bad-password"}); !errors.Is(err, sessionlogic.ErrInvalidCredentials) {
		t.Fatalf("inactive user with a wrong password must look like any wrong password: %v", err)
	}
}

func TestLogoutAndForceLogoutEndSessionsForGood(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	tok, _ := f.login(t, "alice")
	if err := f.m.Logout(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Authenticate(ctx, tok); !errors.Is(err, sessionlogic.ErrNoSession) {
		t.Fatalf("after logout: %v", err)
	}
	if err := f.m.Logout(ctx, tok); err != nil {
		t.Fatalf("second logout must be harmless: %v", err)
	}
	if err := f.m.Logout(ctx, "garbage"); err != nil {
		t.Fatalf("logout of garbage: %v", err)
	}

	tok, s := f.login(t, "alice")
	ended, err := f.m.ForceLogout(ctx, "carol-oncall", s.ID)
	if err != nil || ended.EndReason != data.EndForced || ended.EndedBy != "carol-oncall" {
		t.Fatalf("force logout = %+v, %v", ended, err)
	}
	if _, err := f.m.Authenticate(ctx, tok); !errors.Is(err, sessionlogic.ErrNoSession) {
		t.Fatalf("after force logout: %v", err)
	}
	if _, err := f.m.ForceLogout(ctx, "carol-oncall", s.ID); !errors.Is(err, data.ErrEnded) {
		t.Fatalf("second force logout: %v, want ErrEnded", err)
	}
	if _, err := f.m.ForceLogout(ctx, "carol-oncall", "' OR 1=1 --"); !errors.Is(err, sessionlogic.ErrInvalidInput) {
		t.Fatalf("bad id: %v, want ErrInvalidInput", err)
	}
	audit, err := f.m.Audit(ctx, sessionlogic.AuditQuery{SessionID: s.ID})
	if err != nil || len(audit) == 0 || audit[0].Action != data.ActionForceLogout || audit[0].Actor != "carol-oncall" {
		t.Fatalf("audit = %+v, %v; want force_logout by carol-oncall first", audit, err)
	}
}

func TestForceLogoutUserEndsOnlyThatUser(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	a1, _ := f.login(t, "alice")
	a2, _ := f.login(t, "alice")
	b, _ := f.login(t, "bob")
	n, err := f.m.ForceLogoutUser(ctx, "ops", "alice")
	if err != nil || n != 2 {
		t.Fatalf("ForceLogoutUser = %d, %v", n, err)
	}
	for _, tok := range []string{a1, a2} {
		if _, err := f.m.Authenticate(ctx, tok); !errors.Is(err, sessionlogic.ErrNoSession) {
			t.Fatal("alice still logged in")
		}
	}
	if _, err := f.m.Authenticate(ctx, b); err != nil {
		t.Fatalf("bob was logged out too: %v", err)
	}
	if _, err := f.m.ForceLogoutUser(ctx, "ops", "nobody"); !errors.Is(err, data.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
}

func TestExtend(t *testing.T) {
	f := newFixture(t, func(o *sessionlogic.Options) { o.AbsoluteTimeout = 30 * 24 * time.Hour })
	ctx := context.Background()
	tok, s := f.login(t, "alice")
	got, err := f.m.Extend(ctx, "ops", s.ID, 24*time.Hour)
	if err != nil || !got.ExpiresAt.Equal(s.ExpiresAt.Add(24*time.Hour)) {
		t.Fatalf("extend = %v, %v", got.ExpiresAt, err)
	}
	if _, err := f.m.Extend(ctx, "ops", s.ID, 20*24*time.Hour); !errors.Is(err, sessionlogic.ErrBeyondLimit) {
		t.Fatalf("past the absolute limit: %v", err)
	}
	for _, d := range []time.Duration{0, -time.Hour, sessionlogic.MaxExtend + time.Hour} {
		if _, err := f.m.Extend(ctx, "ops", s.ID, d); !errors.Is(err, sessionlogic.ErrInvalidInput) {
			t.Fatalf("extend by %s: %v, want ErrInvalidInput", d, err)
		}
	}
	if err := f.m.Logout(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Extend(ctx, "ops", s.ID, time.Hour); !errors.Is(err, data.ErrEnded) {
		t.Fatalf("extend of ended session: %v, want ErrEnded", err)
	}
	if _, err := f.m.Authenticate(ctx, tok); !errors.Is(err, sessionlogic.ErrNoSession) {
		t.Fatal("extend revived an ended session")
	}
}

func TestForceLogoutRacingTouchAndExtendEndsLoggedOut(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		tok, s := f.login(t, "alice")
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 10; j++ {
					f.m.Authenticate(ctx, tok)
					f.m.Extend(ctx, "ops", s.ID, time.Minute)
				}
			}()
		}
		if _, err := f.m.ForceLogout(ctx, "ops", s.ID); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if _, err := f.m.Authenticate(ctx, tok); !errors.Is(err, sessionlogic.ErrNoSession) {
			t.Fatalf("iteration %d: revoked session valid again: %v", i, err)
		}
	}
}

func TestActiveListsFiltersAndPages(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		f.login(t, "alice")
		f.clock.Advance(time.Second)
		f.login(t, "bob")
	}
	p, err := f.m.Active(ctx, sessionlogic.ListQuery{Role: "viewer"})
	if err != nil || len(p.Sessions) != 5 {
		t.Fatalf("viewer sessions = %d, %v", len(p.Sessions), err)
	}
	p, err = f.m.Active(ctx, sessionlogic.ListQuery{Text: "LIDDELL"})
	if err != nil || len(p.Sessions) != 5 || p.Sessions[0].Username != "alice" {
		t.Fatalf("text filter: %d, %v", len(p.Sessions), err)
	}
	seen := map[string]bool{}
	q := sessionlogic.ListQuery{Sort: sessionlogic.SortLoginTime, Desc: true, Limit: 3}
	for {
		p, err := f.m.Active(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Sessions {
			if seen[s.ID] {
				t.Fatalf("row %s seen twice", s.ID)
			}
			seen[s.ID] = true
		}
		if p.Next == nil {
			break
		}
		q.After = p.Next
	}
	if len(seen) != 10 {
		t.Fatalf("paging saw %d rows, want 10", len(seen))
	}
	if _, err := f.m.Active(ctx, sessionlogic.ListQuery{Sort: "password_hash"}); !errors.Is(err, sessionlogic.ErrInvalidInput) {
		t.Fatalf("bad sort key: %v", err)
	}
	st, err := f.m.Stats(ctx)
	if err != nil || st.Active != 10 || st.ByRole["admin"] != 5 || st.RecentLogins != 10 {
		t.Fatalf("stats = %+v, %v", st, err)
	}
}

func TestPurgeDeletesOnlyOldEndedSessions(t *testing.T) {
	f := newFixture(t, func(o *sessionlogic.Options) { o.Retention = 24 * time.Hour })
	ctx := context.Background()
	old, oldS := f.login(t, "alice")
	f.m.Logout(ctx, old)
	f.clock.Advance(25 * time.Hour)
	_, liveS := f.login(t, "bob")
	n, err := f.m.Purge(ctx, "ops")
	if err != nil || n != 1 {
		t.Fatalf("purge = %d, %v", n, err)
	}
	if _, err := f.m.Session(ctx, oldS.ID); !errors.Is(err, data.ErrNotFound) {
		t.Fatalf("old ended session survived: %v", err)
	}
	if _, err := f.m.Session(ctx, liveS.ID); err != nil {
		t.Fatalf("live session purged: %v", err)
	}
}

func TestAddUserValidates(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	for _, nu := range []sessionlogic.NewUser{
		{Username: "", Password: "long-enough", Role: "admin"},
		{Username: "x'; DROP TABLE users;--", Password: "long-enough", Role: "admin"},
		{Username: "carol", Password: "short", Role: "admin"},
		{Username: "carol", Password: string(make([]byte, 100)), Role: "admin"},
		{Username: "carol", Password: "long-enough", Role: "Admin Role"},
		{Username: "carol", Password: "long-enough", Role: "admin", Email: "not-an-address"},
	} {
		if _, err := f.m.AddUser(ctx, "test", nu); !errors.Is(err, sessionlogic.ErrInvalidInput) {
			t.Errorf("AddUser(%+v) = %v, want ErrInvalidInput", nu, err)
		}
	}
	if _, err := f.m.AddUser(ctx, "test", sessionlogic.NewUser{Username: "alice", Password: "long-enough", Role: "admin"}); !errors.Is(err, sessionlogic.ErrConflict) {
		t.Fatalf("duplicate: %v, want ErrConflict", err)
	}
}

func TestLoginRehashesAtTheConfiguredCost(t *testing.T) {
	f := newFixture(t, nil) // users hashed at bcrypt.MinCost
	m, err := sessionlogic.New(sessionlogic.Options{
		Store: f.store, SaveEveryRequest: true, PasswordCost: bcrypt.MinCost + 1, Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: "alice-password"}); err != nil {
		t.Fatal(err)
	}
	u, err := m.User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost([]byte(u.PasswordHash)); cost != bcrypt.MinCost+1 {
		t.Fatalf("stored cost after login = %d, want the configured %d", cost, bcrypt.MinCost+1)
	}
	if _, _, err := m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: "alice-password"}); err != nil {
		t.Fatalf("login after re-hash: %v", err)
	}
}

func TestTouchIntervalCoalescesWritesButNeverRevocation(t *testing.T) {
	f := newFixture(t, func(o *sessionlogic.Options) { o.TouchInterval = time.Minute })
	ctx := context.Background()
	tok, s := f.login(t, "alice")

	f.clock.Advance(10 * time.Second)
	got, err := f.m.Authenticate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != s.Version || !got.LastActivity.Equal(s.LastActivity) {
		t.Fatalf("a request within the interval wrote: version %d -> %d", s.Version, got.Version)
	}

	f.clock.Advance(time.Minute)
	got, err = f.m.Authenticate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastActivity.Equal(f.clock.Now()) || !got.ExpiresAt.Equal(f.clock.Now().Add(14*24*time.Hour)) {
		t.Fatalf("a request after the interval did not touch: %+v", got)
	}

	// Inside the interval again, a force-logout is still seen at once.
	f.clock.Advance(time.Second)
	if _, err := f.m.ForceLogout(ctx, "ops", s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Authenticate(ctx, tok); !errors.Is(err, sessionlogic.ErrNoSession) {
		t.Fatalf("revoked session within the touch interval: %v, want ErrNoSession", err)
	}
}
