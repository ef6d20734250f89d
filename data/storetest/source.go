package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sessionmon/data"
)

// Seeder writes sessions into a source the way the owning app would: for
// sessionmon's own stores, CreateSession; for a Django site, the site's
// login writing django_session and auth_user.
type Seeder interface {
	// Seed writes one active session per element of ss (ID ignored: the
	// source assigns ids; users are created as needed from Username,
	// Email, FullName, Role and Status; UserID ignored) with the given IP,
	// UserAgent, LoginTime, LastActivity and ExpiresAt, and returns each
	// new session's id, in order. "Active" means not ended: ExpiresAt may
	// lie before the Now the suite then asks about, to make expired rows.
	Seed(t *testing.T, ss []data.Session) []string
}

// SourceHarness is how RunSource opens the source under test.
type SourceHarness struct {
	// Open returns a new, empty source (its own schema or database, cleaned
	// up via t.Cleanup) and the seeder for it. It is called once per
	// subtest, from the subtest's goroutine; subtests run in parallel.
	Open func(t *testing.T) (data.Source, Seeder)
	// Times are compared after truncating to this (0 = exact microseconds).
	// Boundary cases step by this much instead of one microsecond.
	TimePrecision time.Duration
}

// RunSource runs the operator-side conformance suite against any
// data.Source: listing (sort, paging, filters, only active), stats, one
// session, UserByUsername, end one, end many, end a user's, extend, the
// audit entry of each action, ChangesSince, bad ids and Ping/Describe.
//
// What the suite adapts to, so a foreign source can pass it:
//   - A source that deletes a session it ends (Django's flush) is
//     recognised by Session returning ErrNotFound right after EndSession;
//     the cases then expect ended ids to be gone (EndSessions: Missing)
//     instead of kept with EndedAt, EndReason and EndedBy.
//   - A source whose ActionRefuser refuses an action must refuse it with
//     data.ErrUnsupported and change nothing; the cases that need the
//     action then stop there (or skip, when they only need it for setup).
//   - A source returning Version 0 from ChangesSince although it holds
//     sessions is poll-only: the ChangesSince cases skip with a message.
//   - A source that implements data.IDChecker must accept every id it
//     hands out and refuse malformed ones; one that does not must hand
//     out sessionmon's own shape (64 lowercase hex digits).
//   - Data, UserID, AbsoluteExpiresAt and Version are not seeded, so
//     session comparisons ignore them (sessionmon's stores are held to
//     them by Run's store cases).
func RunSource(t *testing.T, h SourceHarness) {
	t.Helper()
	runGroups(t, h, sourceGroups())
}

// fixture is what a source case works on.
type fixture struct {
	src    data.Source
	seeder Seeder
	// tick is the smallest step the source keeps (TimePrecision, at least
	// one microsecond).
	tick time.Duration
	// st is the same source as a full Store when it is one (Run): the
	// cases then also check what only a Store promises.
	st data.Store
}

type sourceCase struct {
	name string
	run  func(t *testing.T, f *fixture)
}

type sourceGroup struct {
	name  string
	cases []sourceCase
}

func sourceGroups() []sourceGroup {
	return []sourceGroup{
		{"Sessions", sourceSessionCases},
		{"ListActive", listCases},
		{"Stats", statsCases},
		{"Changes", sourceChangesCases},
		{"Misc", miscCases},
	}
}

func runGroups(t *testing.T, h SourceHarness, gs []sourceGroup) {
	t.Helper()
	for _, g := range gs {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					src, seed := h.Open(t)
					if src == nil || seed == nil {
						t.Fatal("Open returned a nil source or seeder")
					}
					f := &fixture{src: src, seeder: seed, tick: max(h.TimePrecision, time.Microsecond)}
					f.st, _ = src.(data.Store)
					c.run(t, f)
				})
			}
		})
	}
}

// storeSeeder seeds a full Store through CreateSession, creating users as
// needed, as sessionmon's login server would.
type storeSeeder struct {
	st data.Store
	n  atomic.Int64
}

func (s *storeSeeder) Seed(t *testing.T, ss []data.Session) []string {
	t.Helper()
	out := make([]string, len(ss))
	for i, sess := range ss {
		u, err := s.st.UserByUsername(ctx(t), sess.Username)
		if errors.Is(err, data.ErrNotFound) {
			u, err = s.st.CreateUser(ctx(t), data.User{
				Username: sess.Username, Email: sess.Email, FullName: sess.FullName, Role: sess.Role,
				Status: sess.Status, PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA", CreatedAt: T0,
			}, auditEntry(data.ActionUserAdd, "root", sess.Username, ""))
		}
		if err != nil {
			t.Fatalf("seed user %q: %v", sess.Username, err)
		}
		sess.ID = SessionID(fmt.Sprintf("seed-%d", s.n.Add(1)))
		sess.UserID = u.ID
		sess.Data, sess.AbsoluteExpiresAt = nil, time.Time{}
		sess.EndedAt, sess.EndReason, sess.EndedBy = time.Time{}, "", ""
		mustCreate(t, s.st, sess)
		out[i] = sess.ID
	}
	return out
}

// ---- source helpers --------------------------------------------------------

// person is a session of a user named username with role, as seeded: it
// logged in at T0 and expires CookieAge later.
func person(username, role string) data.Session {
	return data.Session{
		Username:     username,
		Email:        username + "@example.com",
		FullName:     "Full " + strings.ToUpper(username[:1]) + username[1:],
		Role:         role,
		Status:       data.StatusActive,
		IP:           "192.0.2.10",
		UserAgent:    "Mozilla/5.0 (storetest)",
		LoginTime:    T0,
		LastActivity: T0,
		ExpiresAt:    T0.Add(CookieAge),
	}
}

// seed writes ss and returns them as the source reads them back.
func (f *fixture) seed(t *testing.T, ss ...data.Session) []data.Session {
	t.Helper()
	got := f.seeder.Seed(t, ss)
	if len(got) != len(ss) {
		t.Fatalf("Seed of %d sessions returned %d ids", len(ss), len(got))
	}
	out := make([]data.Session, len(ss))
	seen := map[string]bool{}
	for i, id := range got {
		if id == "" || seen[id] {
			t.Fatalf("Seed returned an empty or repeated id %q", id)
		}
		seen[id] = true
		out[i] = mustSession(t, f.src, id)
	}
	return out
}

func (f *fixture) seedOne(t *testing.T, s data.Session) data.Session {
	t.Helper()
	return f.seed(t, s)[0]
}

// trunc cuts a time to the source's precision.
func (f *fixture) trunc(x time.Time) time.Time {
	if x.IsZero() {
		return x
	}
	return x.Truncate(f.tick)
}

// sessionDiff is the package's sessionDiff at the source's precision,
// ignoring what a seeder does not write (Data, UserID, AbsoluteExpiresAt)
// unless the source is a full store.
func (f *fixture) sessionDiff(want, got data.Session) string {
	if f.st == nil {
		want.Data, got.Data = nil, nil
		want.UserID, got.UserID = 0, 0
		want.AbsoluteExpiresAt, got.AbsoluteExpiresAt = time.Time{}, time.Time{}
	}
	for _, p := range []*data.Session{&want, &got} {
		p.LoginTime, p.LastActivity, p.ExpiresAt = f.trunc(p.LoginTime), f.trunc(p.LastActivity), f.trunc(p.ExpiresAt)
		p.AbsoluteExpiresAt, p.EndedAt = f.trunc(p.AbsoluteExpiresAt), f.trunc(p.EndedAt)
	}
	return sessionDiff(want, got)
}

func (f *fixture) wantSession(t *testing.T, what string, want, got data.Session) {
	t.Helper()
	if d := f.sessionDiff(want, got); d != "" {
		t.Fatalf("%s: %s", what, d)
	}
}

// wantUnchanged fails unless the session reads back as before (same
// Version, for a source that keeps versions).
func (f *fixture) wantUnchanged(t *testing.T, what string, before data.Session) {
	t.Helper()
	got := mustSession(t, f.src, before.ID)
	f.wantSession(t, what, before, got)
	if got.Version != before.Version {
		t.Fatalf("%s: Version %d -> %d", what, before.Version, got.Version)
	}
}

// refusal is the source's refusal of action, or nil when it supports it.
func (f *fixture) refusal(action string) error {
	if r, ok := f.src.(data.ActionRefuser); ok {
		return r.Refuse(action)
	}
	return nil
}

// needs skips a case that uses action only to set up its rows when the
// source refuses it.
func (f *fixture) needs(t *testing.T, action string) {
	t.Helper()
	if err := f.refusal(action); err != nil {
		if !errors.Is(err, data.ErrUnsupported) {
			t.Fatalf("Refuse(%s) = %v, want nil or an error wrapping ErrUnsupported", action, err)
		}
		t.Skipf("the source refuses %s (%v), which this case needs", action, err)
	}
}

// end ends id as its holder's logout would, for setting up ended rows, and
// returns the session as the source now reads it. gone reports a source
// that deleted it (Django's flush).
func (f *fixture) end(t *testing.T, id string, end data.End) (s data.Session, gone bool) {
	t.Helper()
	f.needs(t, data.ActionForceLogout)
	ended, err := f.src.EndSession(ctx(t), id, end, auditEntry(data.ActionLogout, end.By, "", id))
	if err != nil {
		t.Fatalf("EndSession(%s): %v", short(id), err)
	}
	got, err := f.src.Session(ctx(t), id)
	switch {
	case errors.Is(err, data.ErrNotFound):
		return ended, true
	case err != nil:
		t.Fatalf("Session(%s) after EndSession: %v", short(id), err)
	}
	return got, false
}

// unknownID returns a well-formed id, derived from name, that the source
// never handed out: sessionmon's shape (SessionID), or for an IDChecker
// source that refuses it, the first 32, 40 or 64 hex digits of it.
func (f *fixture) unknownID(name string) string {
	if c, ok := f.src.(data.IDChecker); ok && c.CheckID(SessionID(name)) != nil {
		sum := sha256.Sum256([]byte(name))
		h := hex.EncodeToString(sum[:])
		for _, n := range []int{32, 40, 64} {
			if n <= len(h) && c.CheckID(h[:n]) == nil {
				return h[:n]
			}
		}
		return h[:32]
	}
	return SessionID(name)
}
