package storetest

import (
	"testing"
	"time"

	"sessionmon/data"
)

// guardCases check data.Guard: a login's session is created only if the
// user is still active with the hash its password was checked against.
var guardCases = []testCase{
	{"GuardedCreate", testGuardedCreate},
	{"RefusesDeactivated", testGuardRefusesDeactivated},
	{"RefusesStaleHash", testGuardRefusesStaleHash},
}

// guardOf is the guard a login that read u would pass.
func guardOf(u data.User) data.Guard { return data.Guard{PasswordHash: u.PasswordHash} }

// createGuarded calls CreateSession with g, replacing replaceID.
func createGuarded(t *testing.T, st data.Store, s data.Session, replaceID string, g data.Guard) (data.Session, error) {
	t.Helper()
	return st.CreateSession(ctx(t), s, replaceID, g, auditEntry(data.ActionLogin, s.Username, s.Username, s.ID))
}

// wantRefused checks that a refused guarded CreateSession of s, replacing
// old, wrote nothing: no session, old untouched, no login audit entry
// beyond the logins counted in logins.
func wantRefused(t *testing.T, st data.Store, what string, s, old data.Session, logins int) {
	t.Helper()
	_, err := st.Session(ctx(t), s.ID)
	wantErr(t, what+": Session of the refused login", err, data.ErrNotFound)
	got := mustSession(t, st, old.ID)
	if got.Version != old.Version || !got.EndedAt.Equal(old.EndedAt) {
		t.Fatalf("%s: the refused login changed the session it was to replace", what)
	}
	if es := mustAudit(t, st, data.AuditQuery{Action: data.ActionLogin}); len(es) != logins {
		t.Fatalf("%s: login audit entries = %d, want %d (a refused login writes none)", what, len(es), logins)
	}
}

func testGuardedCreate(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "viewer")
	old := mustCreate(t, st, newSession(u, "old"))
	next := newSession(u, "next")
	next.LoginTime, next.LastActivity = at(time.Minute), at(time.Minute)
	got, err := createGuarded(t, st, next, old.ID, guardOf(u))
	if err != nil {
		t.Fatalf("guarded CreateSession of an unchanged user: %v", err)
	}
	wantSession(t, "guarded CreateSession returned", next, got)
	wantSession(t, "guarded session read back", next, mustSession(t, st, next.ID))
	if r := mustSession(t, st, old.ID); r.EndReason != data.EndReplaced {
		t.Fatalf("guarded CreateSession did not replace the old session: EndReason %q", r.EndReason)
	}
}

func testGuardRefusesDeactivated(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "viewer")
	old := mustCreate(t, st, newSession(u, "old"))
	// The login read u and checked the password; then the user is deactivated.
	if _, _, err := st.SetUserStatus(ctx(t), "alice", data.StatusInactive,
		data.End{At: at(time.Second), Reason: data.EndForced, By: "root"},
		auditEntry(data.ActionUserDeactivate, "root", "alice", "")); err != nil {
		t.Fatalf("SetUserStatus: %v", err)
	}
	old = mustSession(t, st, old.ID)
	live := mustCreate(t, st, newSession(u, "live")) // unguarded: a seed; the store holds no policy

	next := newSession(u, "next")
	next.LoginTime, next.LastActivity = at(time.Minute), at(time.Minute)
	_, err := createGuarded(t, st, next, live.ID, guardOf(u))
	wantErr(t, "guarded CreateSession of a deactivated user", err, data.ErrUserChanged)
	wantRefused(t, st, "deactivated", next, live, 2)

	// Reactivated (same hash), the same guard passes again.
	if _, _, err := st.SetUserStatus(ctx(t), "alice", data.StatusActive, data.End{At: at(2 * time.Second)},
		auditEntry(data.ActionUserActivate, "root", "alice", "")); err != nil {
		t.Fatalf("SetUserStatus(active): %v", err)
	}
	if _, err := createGuarded(t, st, next, "", guardOf(u)); err != nil {
		t.Fatalf("guarded CreateSession after reactivation: %v", err)
	}
}

func testGuardRefusesStaleHash(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "viewer")
	old := mustCreate(t, st, newSession(u, "old"))
	// The login read u and checked the password; then the password is reset.
	reset, _, err := st.SetUserPassword(ctx(t), "alice", "$2a$10$resetresetresetresetre",
		data.End{At: at(time.Second), Reason: data.EndForced, By: "root"},
		auditEntry(data.ActionForceLogoutAll, "root", "alice", ""))
	if err != nil {
		t.Fatalf("SetUserPassword: %v", err)
	}
	live := mustCreate(t, st, newSession(u, "live"))

	next := newSession(u, "next")
	next.LoginTime, next.LastActivity = at(time.Minute), at(time.Minute)
	_, err = createGuarded(t, st, next, live.ID, guardOf(u))
	wantErr(t, "guarded CreateSession with the hash from before the reset", err, data.ErrUserChanged)
	wantRefused(t, st, "stale hash", next, live, 2)
	if r := mustSession(t, st, old.ID); r.EndedAt.IsZero() {
		t.Fatal("the reset left the old session active")
	}

	// A guard holding some other hash is refused too; the current one passes.
	_, err = createGuarded(t, st, next, "", data.Guard{PasswordHash: "not-a-hash"})
	wantErr(t, "guarded CreateSession with a wrong hash", err, data.ErrUserChanged)
	if _, err := createGuarded(t, st, next, "", guardOf(reset)); err != nil {
		t.Fatalf("guarded CreateSession with the current hash: %v", err)
	}
}
