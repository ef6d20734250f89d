package storetest

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sessionmon/data"
)

var concurrencyCases = []testCase{
	{"TouchVsEnd", testTouchVsEnd},
	{"ExtendVsEnd", testExtendVsEnd},
	{"CreatesKeepVersionsUnique", testConcurrentCreates},
	{"EndSessionsVsEndSessions", testEndSessionsRace},
	{"GuardedCreateVsDeactivate", func(t *testing.T, st data.Store) { testGuardedCreateVsUserChange(t, st, false) }},
	{"GuardedCreateVsPasswordReset", func(t *testing.T, st data.Store) { testGuardedCreateVsUserChange(t, st, true) }},
}

const (
	workers = 6
	// maxLoop bounds each worker's loop so a broken store fails instead of
	// hanging.
	maxLoop = 2000
)

// waitFor polls cond for up to five seconds (so a store whose every call
// fails cannot hang the suite; the workers report those failures).
func waitFor(cond func() bool) {
	deadline := time.Now().Add(5 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond)
	}
}

// testTouchVsEnd: many holders touch one session while an operator forces
// it out. Afterwards it is ended, and no Touch that started after EndSession
// returned may succeed.
func testTouchVsEnd(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "viewer")
	s := mustCreate(t, st, newSession(u, "contested"))

	var (
		ended   atomic.Bool
		touches atomic.Int64
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range maxLoop {
				after := ended.Load()
				now := at(time.Duration(w*maxLoop+i+1) * time.Microsecond)
				_, err := st.Touch(ctx(t), s.ID, now, now.Add(CookieAge))
				switch {
				case err == nil && after:
					t.Errorf("Touch succeeded after EndSession returned")
					return
				case err == nil:
					touches.Add(1)
				case !errors.Is(err, data.ErrNotFound):
					t.Errorf("Touch: %v, want nil or ErrNotFound", err)
					return
				case after:
					return // refused after the end, as it must be
				}
			}
			t.Errorf("worker %d never saw the session end", w)
		})
	}
	var endErr error
	wg.Go(func() {
		<-start
		waitFor(func() bool { return touches.Load() >= 3*workers })
		_, endErr = st.EndSession(ctx(t), s.ID, data.End{At: at(time.Second), Reason: data.EndForced, By: "root"},
			auditEntry(data.ActionForceLogout, "root", "alice", s.ID))
		ended.Store(true)
	})
	close(start)
	wg.Wait()
	if endErr != nil {
		t.Fatalf("EndSession: %v", endErr)
	}
	got := mustSession(t, st, s.ID)
	if got.EndedAt.IsZero() || got.EndReason != data.EndForced {
		t.Fatalf("after the race: EndedAt=%v EndReason=%q, want ended (forced)", got.EndedAt, got.EndReason)
	}
	_, err := st.Touch(ctx(t), s.ID, at(time.Hour), at(time.Hour+CookieAge))
	wantErr(t, "Touch after the race", err, data.ErrNotFound)
}

// testExtendVsEnd: an operator extends sessions while another forces them
// out. Whatever the interleaving, each ends ended, and no Extend after
// EndSession returned succeeds.
func testExtendVsEnd(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "viewer")
	const rounds = 4
	for r := range rounds {
		s := mustCreate(t, st, newSession(u, fmt.Sprintf("contested-%d", r)))
		var (
			ended   atomic.Bool
			extends atomic.Int64
			wg      sync.WaitGroup
			start   = make(chan struct{})
		)
		for range workers / 2 {
			wg.Go(func() {
				<-start
				for range maxLoop {
					after := ended.Load()
					_, err := st.Extend(ctx(t), s.ID, time.Minute, at(time.Minute),
						auditEntry(data.ActionExtend, "root", "alice", s.ID))
					switch {
					case err == nil && after:
						t.Errorf("Extend succeeded after EndSession returned")
						return
					case err == nil:
						extends.Add(1)
					case !errors.Is(err, data.ErrEnded):
						t.Errorf("Extend: %v, want nil or ErrEnded", err)
						return
					case after:
						return
					}
				}
				t.Error("an extender never saw the session end")
			})
		}
		var endErr error
		wg.Go(func() {
			<-start
			waitFor(func() bool { return extends.Load() >= int64(r) }) // round 0 ends at once
			_, endErr = st.EndSession(ctx(t), s.ID, data.End{At: at(time.Minute), Reason: data.EndForced, By: "root"},
				auditEntry(data.ActionForceLogout, "root", "alice", s.ID))
			ended.Store(true)
		})
		close(start)
		wg.Wait()
		if endErr != nil {
			t.Fatalf("round %d: EndSession: %v", r, endErr)
		}
		got := mustSession(t, st, s.ID)
		if got.EndedAt.IsZero() {
			t.Fatalf("round %d: session not ended after Extend raced EndSession", r)
		}
		if want := s.ExpiresAt.Add(time.Duration(extends.Load()) * time.Minute); !got.ExpiresAt.Equal(want) {
			t.Fatalf("round %d: ExpiresAt = %v after %d extends, want %v (lost or phantom update)", r, got.ExpiresAt, extends.Load(), want)
		}
		_, err := st.Extend(ctx(t), s.ID, time.Minute, at(time.Minute), auditEntry(data.ActionExtend, "root", "alice", s.ID))
		wantErr(t, "Extend after the race", err, data.ErrEnded)
	}
}

// testConcurrentCreates: concurrent logins never share a Version (and the
// touches between them raise none), and ChangesSince hands every row out in strict Version order.
func testConcurrentCreates(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "viewer")
	const perWorker = 8
	var (
		mu       sync.Mutex
		versions = map[int64]string{}
		wg       sync.WaitGroup
	)
	record := func(v int64, what string) {
		mu.Lock()
		defer mu.Unlock()
		if prev, dup := versions[v]; dup {
			t.Errorf("Version %d handed out twice: %s and %s", v, prev, what)
		}
		versions[v] = what
	}
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				s := newSession(u, fmt.Sprintf("w%d-%d", w, i))
				got, err := st.CreateSession(ctx(t), s, "", data.Guard{}, auditEntry(data.ActionLogin, "alice", "alice", s.ID))
				if err != nil {
					t.Errorf("CreateSession: %v", err)
					return
				}
				record(got.Version, "create "+short(s.ID))
				now := at(time.Duration(i+1) * time.Second)
				touched, err := st.Touch(ctx(t), s.ID, now, now.Add(CookieAge))
				if err != nil {
					t.Errorf("Touch: %v", err)
					return
				}
				if touched.Version != got.Version { // Touch leaves Version alone
					t.Errorf("touch %s: Version %d, want the create's %d", short(s.ID), touched.Version, got.Version)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	c := mustChanges(t, st, 0, 1000) // checks strict order
	if len(c.Sessions) != workers*perWorker || c.More {
		t.Fatalf("ChangesSince(0) = %d rows (More=%v), want %d", len(c.Sessions), c.More, workers*perWorker)
	}
	var highest int64
	for v := range versions {
		highest = max(highest, v)
	}
	if c.Version != highest {
		t.Fatalf("ChangesSince Version = %d, want the highest handed out %d", c.Version, highest)
	}
	if es := mustAudit(t, st, data.AuditQuery{Action: data.ActionLogin, Limit: 1000}); len(es) != workers*perWorker {
		t.Fatalf("login audit entries = %d, want %d", len(es), workers*perWorker)
	}
}

// testEndSessionsRace: operators bulk-end overlapping sets of sessions, and
// force out single ones, at the same time. Every session ends exactly once:
// one call reports it Ended (with one audit entry), every other call that
// asked reports it Already, with the end that won; none is Missing.
func testEndSessionsRace(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "viewer")
	const n = 40
	all := make([]string, n)
	for i := range all {
		all[i] = mustCreate(t, st, newSession(u, fmt.Sprintf("race-%02d", i))).ID
	}
	var (
		mu      sync.Mutex
		endedBy = map[string]string{} // session -> the worker whose call ended it
		wg      sync.WaitGroup
	)
	record := func(id, by string) {
		mu.Lock()
		defer mu.Unlock()
		if prev, dup := endedBy[id]; dup {
			t.Errorf("session %s ended twice: by %s and by %s", short(id), prev, by)
		}
		endedBy[id] = by
	}
	end := func(by string) data.End { return data.End{At: at(time.Hour), Reason: data.EndForced, By: by} }
	for w := range workers {
		wg.Go(func() {
			by := fmt.Sprintf("op%d", w)
			// Each worker asks for every session, from its own starting
			// point, in batches of 7; odd workers end some one by one.
			for b := 0; b < n; b += 7 {
				var batch []string
				for i := b; i < min(b+7, n); i++ {
					batch = append(batch, all[(i+w*11)%n])
				}
				if w%2 == 1 && b%14 == 0 {
					for _, id := range batch[:2] {
						_, err := st.EndSession(ctx(t), id, end(by), auditEntry(data.ActionForceLogout, by, "", id))
						switch {
						case err == nil:
							record(id, by)
						case !errors.Is(err, data.ErrEnded):
							t.Errorf("EndSession: %v", err)
							return
						}
					}
				}
				res, err := st.EndSessions(ctx(t), batch, end(by), data.AuditEntry{Time: at(time.Hour), Actor: by, Action: data.ActionForceLogout})
				if err != nil {
					t.Errorf("EndSessions: %v", err)
					return
				}
				if len(res.Missing) != 0 || len(res.Ended)+len(res.Already) != len(batch) {
					t.Errorf("EndSessions of %d = %d ended, %d already, %d missing", len(batch), len(res.Ended), len(res.Already), len(res.Missing))
				}
				for _, s := range res.Ended {
					record(s.ID, by)
				}
				for _, s := range res.Already {
					if s.EndedAt.IsZero() || s.EndedBy == "" {
						t.Errorf("Already %s without the end that won: %+v", short(s.ID), s)
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(endedBy) != n {
		t.Fatalf("%d of %d sessions were reported ended", len(endedBy), n)
	}
	for id, by := range endedBy {
		if s := mustSession(t, st, id); s.EndedBy != by {
			t.Fatalf("session %s: reported ended by %s, stored as ended by %q", short(id), by, s.EndedBy)
		}
	}
	if es := mustAudit(t, st, data.AuditQuery{Action: data.ActionForceLogout, Limit: 1000}); len(es) != n {
		t.Fatalf("force_logout audit entries = %d, want exactly one per session (%d)", len(es), n)
	}
}

// guardRaces is how many times testGuardedCreateVsUserChange races a login
// against a change of its user.
const guardRaces = 200

// testGuardedCreateVsUserChange races a login's guarded CreateSession,
// whose password check saw the user active with their current hash, against
// a deactivation (or, with reset, a password reset), each on a fresh user.
// Whatever the interleaving: the login either fails with ErrUserChanged or
// its session is the one the change ended, and afterwards the user has no
// active session. A store whose deactivation ends sessions in a snapshot
// taken before the login committed fails here.
func testGuardedCreateVsUserChange(t *testing.T, st data.Store, reset bool) {
	var created, refused int
	for i := range guardRaces {
		u := mustUser(t, st, fmt.Sprintf("racer%d", i), "viewer")
		s := newSession(u, fmt.Sprintf("racer%d", i))
		end := data.End{At: at(time.Second), Reason: data.EndForced, By: "root"}
		var (
			loginErr, changeErr error
			ended               int
			wg                  sync.WaitGroup
			start               = make(chan struct{})
		)
		wg.Go(func() {
			<-start
			_, loginErr = st.CreateSession(ctx(t), s, "", data.Guard{PasswordHash: u.PasswordHash},
				auditEntry(data.ActionLogin, u.Username, u.Username, s.ID))
		})
		wg.Go(func() {
			<-start
			// Vary who gets there first.
			for range i % 8 * 50 {
				runtime.Gosched()
			}
			if reset {
				_, ended, changeErr = st.SetUserPassword(ctx(t), u.Username, "$2a$10$resetresetresetresetre", end,
					auditEntry(data.ActionForceLogoutAll, "root", u.Username, ""))
			} else {
				_, ended, changeErr = st.SetUserStatus(ctx(t), u.Username, data.StatusInactive, end,
					auditEntry(data.ActionUserDeactivate, "root", u.Username, ""))
			}
		})
		close(start)
		wg.Wait()
		if changeErr != nil {
			t.Fatalf("race %d: changing the user: %v", i, changeErr)
		}
		switch {
		case loginErr == nil:
			created++
			if ended != 1 {
				t.Fatalf("race %d: the login created its session but the change ended %d, want 1 (it missed the login's session)", i, ended)
			}
		case errors.Is(loginErr, data.ErrUserChanged):
			refused++
			if ended != 0 {
				t.Fatalf("race %d: the login was refused but the change ended %d sessions, want 0", i, ended)
			}
		default:
			t.Fatalf("race %d: CreateSession: %v, want nil or ErrUserChanged", i, loginErr)
		}
		page, err := st.ListActive(ctx(t), data.Query{Now: at(2 * time.Second), Username: u.Username})
		if err != nil {
			t.Fatalf("race %d: ListActive: %v", i, err)
		}
		if len(page.Sessions) != 0 {
			t.Fatalf("race %d: %d active sessions after the user changed, want none (login error %v)", i, len(page.Sessions), loginErr)
		}
	}
	t.Logf("%d races: %d logins created a session the change then ended, %d were refused", guardRaces, created, refused)
}
