package demo

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sessionmon/internal/testkit"
	"sessionmon/server"
	"sessionmon/sessionlogic"
)

// newManager is a Manager on a fresh SQLite store in a temporary directory,
// with the cheapest bcrypt cost.
func newManager(t *testing.T) *sessionlogic.Manager {
	t.Helper()
	return testkit.NewManager(t, testkit.OpenSQLite(t))
}

// newServer starts the real login server on m.
func newServer(t *testing.T, m *sessionlogic.Manager) *httptest.Server {
	t.Helper()
	srv, err := server.New(server.Options{Manager: m, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func TestSeedIsIdempotentAndHasSeveralRoles(t *testing.T) {
	t.Parallel()
	m := newManager(t)
	ctx := t.Context()

	first, err := Seed(ctx, m, 6)
	if err != nil {
		t.Fatalf("Seed: %v", err)
	}
	if len(first) != 6 {
		t.Fatalf("Seed returned %d accounts, want 6", len(first))
	}
	if first[0].Username != DemoUsername || first[0].Password != DemoPassword {
		t.Fatalf("first account = %+v, want the well-known %s/%s", first[0], DemoUsername, DemoPassword)
	}
	roles := map[string]bool{}
	names := map[string]bool{}
	for _, a := range first {
		roles[a.Role] = true
		if names[a.Username] {
			t.Fatalf("username %q seeded twice", a.Username)
		}
		names[a.Username] = true
	}
	for _, want := range []string{"admin", "staff", "editor", "viewer", "support"} {
		if !roles[want] {
			t.Errorf("no %s among seeded roles %v", want, roles)
		}
	}

	// A user changed by an operator is kept as it is.
	if _, err := m.SetRole(ctx, "test", "bob", "auditor"); err != nil {
		t.Fatalf("SetRole: %v", err)
	}
	second, err := Seed(ctx, m, 8)
	if err != nil {
		t.Fatalf("second Seed: %v", err)
	}
	for i := range first {
		want := first[i]
		if want.Username == "bob" {
			want.Role = "auditor"
		}
		if second[i] != want {
			t.Errorf("account %d: second seed %+v, first %+v", i, second[i], want)
		}
	}
	users, err := m.Users(ctx)
	if err != nil {
		t.Fatalf("Users: %v", err)
	}
	if len(users) != 8 {
		t.Fatalf("%d users after seeding 6 then 8, want 8", len(users))
	}
	for _, u := range users {
		if u.Email == "" || u.FullName == "" {
			t.Errorf("user %q lacks email or full name: %+v", u.Username, u)
		}
	}

	// Seeded passwords work: the well-known one, one from each round.
	for _, a := range []Account{second[0], second[2], second[7]} {
		if _, _, err := m.Login(ctx, sessionlogic.LoginRequest{Username: a.Username, Password: a.Password, IP: "192.0.2.1"}); err != nil {
			t.Errorf("login %s: %v", a.Username, err)
		}
	}
}

func TestSeedMoreThanOneRoundOfNames(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := range 3 * len(people) {
		nu, acct := accountFor(i)
		if seen[nu.Username] {
			t.Fatalf("user %d: username %q repeats", i, nu.Username)
		}
		seen[nu.Username] = true
		if acct.Username != nu.Username || acct.Password != nu.Password || acct.Role != nu.Role {
			t.Fatalf("user %d: account %+v does not match %+v", i, acct, nu)
		}
		if len(nu.Password) < 8 {
			t.Fatalf("user %d: password %q too short", i, nu.Password)
		}
	}
}

// activeFor returns the active sessions of username.
func activeFor(t *testing.T, m *sessionlogic.Manager, username string) []sessionlogic.Session {
	t.Helper()
	p, err := m.Active(t.Context(), sessionlogic.ListQuery{Username: username, Limit: 1000})
	if err != nil {
		t.Fatalf("Active: %v", err)
	}
	return p.Sessions
}

func TestSimulatorLogsInAndNoticesForcedLogout(t *testing.T) {
	t.Parallel()
	m := newManager(t)
	accounts, err := Seed(t.Context(), m, 5)
	if err != nil {
		t.Fatalf("Seed: %v", err)
	}
	srv := newServer(t, m)

	sim := NewSimulator(SimOptions{
		BaseURL:  srv.URL,
		Accounts: accounts[1:], // alice is left for a person
		Users:    4,
		Seed:     1,
		ThinkMin: 5 * time.Millisecond,
		ThinkMax: 50 * time.Millisecond,
		Logger:   slog.New(slog.DiscardHandler),
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil after cancel", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Run did not return within 5s of cancel")
			}
		})
	}
	defer stop()

	// Sessions appear in the store.
	testkit.WaitFor(t, 5*time.Second, "active sessions", func() bool {
		st, err := m.Stats(t.Context())
		return err == nil && st.Active > 0
	})
	if n := len(activeFor(t, m, DemoUsername)); n != 0 {
		t.Fatalf("%d sessions of %s, which the simulator was not given", n, DemoUsername)
	}

	// Force a logged-in virtual user out; it notices and logs in again.
	// The forced session may be given up by its holder (a logout) before
	// the holder notices, so try a few times.
	var victim string
	var forcedAt time.Time
	noticed := false
	for try := 0; try < 10 && !noticed; try++ {
		victim = ""
		testkit.WaitFor(t, 3*time.Second, "a logged-in virtual user", func() bool {
			for _, a := range accounts[1:] {
				if len(activeFor(t, m, a.Username)) > 0 {
					victim = a.Username
					return true
				}
			}
			return false
		})
		before := sim.Stats().ForcedOut
		forcedAt = m.Now()
		n, err := m.ForceLogoutUser(t.Context(), "test-operator", victim)
		if err != nil {
			t.Fatalf("ForceLogoutUser(%s): %v", victim, err)
		}
		if n == 0 {
			continue
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && !noticed {
			noticed = sim.Stats().ForcedOut > before
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !noticed {
		t.Fatalf("forced-out count never rose; stats %s", sim.Stats())
	}
	testkit.WaitFor(t, 5*time.Second, "a new session of "+victim, func() bool {
		return slices.ContainsFunc(activeFor(t, m, victim), func(s sessionlogic.Session) bool {
			return !s.LoginTime.Before(forcedAt)
		})
	})

	stop()
	st := sim.Stats()
	t.Logf("stats: %s", st)
	if st.Users != 4 || st.Logins < 2 || st.Requests <= st.Logins || st.ForcedOut < 1 {
		t.Errorf("implausible stats: %s", st)
	}
	if st.Errors != 0 || st.Throttled != 0 {
		t.Errorf("errors or throttling against a healthy server: %s", st)
	}
	if st.LoggedIn != 0 {
		t.Errorf("LoggedIn = %d after Run returned, want 0", st.LoggedIn)
	}
}

func TestSimulatorUserAgentsAndIPsReachTheStore(t *testing.T) {
	t.Parallel()
	m := newManager(t)
	accounts, err := Seed(t.Context(), m, 3)
	if err != nil {
		t.Fatalf("Seed: %v", err)
	}
	srv := newServer(t, m)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sim := NewSimulator(SimOptions{BaseURL: srv.URL, Accounts: accounts, Users: 3, Seed: 2,
		ThinkMin: time.Millisecond, ThinkMax: 10 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	var page sessionlogic.Page
	testkit.WaitFor(t, 5*time.Second, "an active session", func() bool {
		page, err = m.Active(t.Context(), sessionlogic.ListQuery{})
		return err == nil && len(page.Sessions) > 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := page.Sessions[0]
	if !slices.Contains(userAgents[:], s.UserAgent) {
		t.Errorf("session user agent %q is not one of the simulator's", s.UserAgent)
	}
	if ip := net.ParseIP(s.IP); ip == nil || !ip.IsLoopback() {
		t.Errorf("session IP %q, want the loopback address the virtual user connected from", s.IP)
	}
}

func TestSimulatorRefusedLoginsDoNotFeedTheThrottle(t *testing.T) {
	t.Parallel()
	m := newManager(t)
	accounts, err := Seed(t.Context(), m, 2)
	if err != nil {
		t.Fatalf("Seed: %v", err)
	}
	if _, err := m.Deactivate(t.Context(), "test", accounts[1].Username); err != nil {
		t.Fatalf("Deactivate: %v", err)
	}
	srv := newServer(t, m)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sim := NewSimulator(SimOptions{BaseURL: srv.URL, Users: 4,
		Accounts: []Account{
			{Username: DemoUsername, Password: "not-the-password"}, // wrong: gives up
			accounts[1], // inactive: tries again only after a long wait
		},
		ThinkMin: time.Millisecond, ThinkMax: 5 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	testkit.WaitFor(t, 5*time.Second, "four refused logins", func() bool { return sim.Stats().Refused >= 4 })
	// Many think times later, nobody has tried again: retrying would feed
	// the failed-login throttle.
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := sim.Stats(); st.Logins != 0 || st.Refused != 4 || st.Errors != 0 || st.Throttled != 0 {
		t.Fatalf("stats %s, want 0 logins, exactly 4 refused (one each), no errors", st)
	}
}

func TestSimulatorLoginConcurrencyIsCapped(t *testing.T) {
	t.Parallel()
	m := newManager(t)
	accounts, err := Seed(t.Context(), m, 5)
	if err != nil {
		t.Fatalf("Seed: %v", err)
	}
	srv, err := server.New(server.Options{Manager: m, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	var inFlight, most atomic.Int64
	h := srv.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/login" {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				old := most.Load()
				if n <= old || most.CompareAndSwap(old, n) {
					break
				}
			}
			time.Sleep(20 * time.Millisecond) // a slow bcrypt
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sim := NewSimulator(SimOptions{BaseURL: ts.URL, Accounts: accounts[1:], Users: 4, LoginConcurrency: 1,
		ThinkMin: time.Millisecond, ThinkMax: 2 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	testkit.WaitFor(t, 5*time.Second, "four logins", func() bool { return sim.Stats().Logins >= 4 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := most.Load(); got != 1 {
		t.Fatalf("at most %d logins in flight, want 1", got)
	}
}

func TestSimulatorBadOptions(t *testing.T) {
	t.Parallel()
	for _, opts := range []SimOptions{
		{Accounts: []Account{{Username: "a", Password: "b"}}},
		{BaseURL: "ftp://x", Accounts: []Account{{Username: "a", Password: "b"}}},
		{BaseURL: "http://127.0.0.1:1"},
	} {
		if err := NewSimulator(opts).Run(t.Context()); err == nil {
			t.Errorf("Run(%+v) = nil, want an error", opts)
		}
	}
	sim := NewSimulator(SimOptions{BaseURL: "http://127.0.0.1:1", Accounts: []Account{{Username: "a", Password: "bbbbbbbb"}}, Users: 1})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	testkit.WaitFor(t, 2*time.Second, "Run to start", func() bool { return sim.Stats().Users == 1 })
	if err := sim.Run(t.Context()); err == nil {
		t.Error("second Run = nil, want an error")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run against a dead port returned %v, want nil after cancel", err)
	}
}

// The demo's virtual users come from several client addresses, so that the
// dashboard's IP column and its by-IP view (g) have a spread to show; with
// one address every session was 127.0.0.1.
func TestSimulatorUsersComeFromSeveralAddresses(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux routes all of 127.0.0.0/8 to the loopback interface")
	}
	t.Parallel()
	m := newManager(t)
	accounts, err := Seed(t.Context(), m, 7)
	if err != nil {
		t.Fatalf("Seed: %v", err)
	}
	srv := newServer(t, m)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	sim := NewSimulator(SimOptions{BaseURL: srv.URL, Accounts: accounts[1:], Users: 6, Seed: 3,
		ThinkMin: 5 * time.Millisecond, ThinkMax: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	go func() { done <- sim.Run(ctx) }()
	defer func() { cancel(); <-done }()

	ips := map[string]bool{}
	testkit.WaitFor(t, 10*time.Second, "sessions from two client addresses", func() bool {
		p, err := m.Active(t.Context(), sessionlogic.ListQuery{Limit: 1000})
		if err != nil {
			t.Fatalf("Active: %v", err)
		}
		for _, s := range p.Sessions {
			ips[s.IP] = true
		}
		return len(ips) >= 2
	})
	for ip := range ips {
		if a := net.ParseIP(ip); a == nil || !a.IsLoopback() {
			t.Errorf("session from %q, want a loopback address", ip)
		}
	}
}
