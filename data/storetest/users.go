package storetest

import (
	"slices"
	"testing"
	"time"

	"sessionmon/data"
)

var userCases = []testCase{
	{"CreateAndRead", testUserCreateAndRead},
	{"DuplicateUsername", testUserDuplicate},
	{"NotFound", testUserNotFound},
	{"SetRole", testUserSetRole},
	{"SetPasswordEndsSessions", testUserSetPassword},
	{"RehashPasswordIsCompareAndSwap", testUserRehash},
	{"DeactivateEndsSessions", testUserDeactivate},
}

func testUserCreateAndRead(t *testing.T, st data.Store) {
	want := data.User{
		Username:     "alice",
		Email:        "alice@example.com",
		FullName:     "Alice Liddell",
		Role:         "admin",
		Status:       data.StatusActive,
		PasswordHash: "$2a$10$abcdefghijklmnopqrstuv",
		CreatedAt:    at(0),
	}
	got, err := st.CreateUser(ctx(t), want, auditEntry(data.ActionUserAdd, "root", "alice", ""))
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if got.ID == 0 {
		t.Fatal("CreateUser: ID not assigned")
	}
	if d := userDiff(want, got); d != "" {
		t.Fatalf("CreateUser returned: %s", d)
	}
	want.ID = got.ID
	byName, err := st.UserByUsername(ctx(t), "alice")
	if err != nil {
		t.Fatalf("UserByUsername: %v", err)
	}
	if d := userDiff(want, byName); d != "" {
		t.Fatalf("UserByUsername: %s", d)
	}

	carol := mustUser(t, st, "carol", "viewer")
	bob := mustUser(t, st, "bob", "operator")
	if carol.ID == bob.ID || carol.ID == got.ID {
		t.Fatalf("user IDs not distinct: %d %d %d", got.ID, bob.ID, carol.ID)
	}
	list, err := st.ListUsers(ctx(t))
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	var names []string
	for _, u := range list {
		names = append(names, u.Username)
	}
	if !slices.Equal(names, []string{"alice", "bob", "carol"}) {
		t.Fatalf("ListUsers order = %v, want [alice bob carol]", names)
	}
	if d := userDiff(want, list[0]); d != "" {
		t.Fatalf("ListUsers[0]: %s", d)
	}

	es := mustAudit(t, st, data.AuditQuery{Action: data.ActionUserAdd})
	if len(es) != 3 || es[2].Username != "alice" || es[0].Username != "bob" {
		t.Fatalf("user_add audit = %+v, want bob, carol, alice (newest first)", es)
	}
}

func testUserDuplicate(t *testing.T, st data.Store) {
	first := mustUser(t, st, "alice", "admin")
	_, err := st.CreateUser(ctx(t), data.User{
		Username: "alice", Email: "other@example.com", Role: "viewer",
		Status: data.StatusActive, CreatedAt: at(0),
	}, auditEntry(data.ActionUserAdd, "root", "alice", ""))
	wantErr(t, "CreateUser(duplicate)", err, data.ErrConflict)

	u, err := st.UserByUsername(ctx(t), "alice")
	if err != nil {
		t.Fatalf("UserByUsername: %v", err)
	}
	if d := userDiff(first, u); d != "" {
		t.Fatalf("the failed duplicate changed the user: %s", d)
	}
	if es := mustAudit(t, st, data.AuditQuery{Action: data.ActionUserAdd}); len(es) != 1 {
		t.Fatalf("user_add audit entries = %d, want 1 (a failed create writes none)", len(es))
	}
}

func testUserNotFound(t *testing.T, st data.Store) {
	_, err := st.UserByUsername(ctx(t), "nobody")
	wantErr(t, "UserByUsername", err, data.ErrNotFound)
	_, err = st.SetUserRole(ctx(t), "nobody", "admin", auditEntry(data.ActionUserRole, "root", "nobody", ""))
	wantErr(t, "SetUserRole", err, data.ErrNotFound)
	_, _, err = st.SetUserStatus(ctx(t), "nobody", data.StatusInactive,
		data.End{At: at(0), Reason: data.EndForced, By: "root"},
		auditEntry(data.ActionUserDeactivate, "root", "nobody", ""))
	wantErr(t, "SetUserStatus", err, data.ErrNotFound)
	_, _, err = st.SetUserPassword(ctx(t), "nobody", "hash",
		data.End{At: at(0), Reason: data.EndForced, By: "root"},
		auditEntry(data.ActionForceLogoutAll, "root", "nobody", ""))
	wantErr(t, "SetUserPassword", err, data.ErrNotFound)
	err = st.RehashPassword(ctx(t), "nobody", "hash", "hash2")
	wantErr(t, "RehashPassword", err, data.ErrNotFound)
	if es := mustAudit(t, st, data.AuditQuery{}); len(es) != 0 {
		t.Fatalf("failed calls wrote audit entries: %v", actions(es))
	}
	list, err := st.ListUsers(ctx(t))
	if err != nil || len(list) != 0 {
		t.Fatalf("ListUsers on an empty store = %v, %v; want none", list, err)
	}
}

func testUserSetRole(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "viewer")
	s := mustCreate(t, st, newSession(u, "alice-1"))

	got, err := st.SetUserRole(ctx(t), "alice", "operator", auditEntry(data.ActionUserRole, "root", "alice", ""))
	if err != nil {
		t.Fatalf("SetUserRole: %v", err)
	}
	want := u
	want.Role = "operator"
	if d := userDiff(want, got); d != "" {
		t.Fatalf("SetUserRole returned: %s", d)
	}
	again, err := st.UserByUsername(ctx(t), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if d := userDiff(want, again); d != "" {
		t.Fatalf("after SetUserRole: %s", d)
	}
	// A session keeps the user as they were at login.
	if got := mustSession(t, st, s.ID); got.Role != "viewer" {
		t.Fatalf("session role = %q, want the role at login %q", got.Role, "viewer")
	}
	es := mustAudit(t, st, data.AuditQuery{Action: data.ActionUserRole})
	if len(es) != 1 || es[0].Username != "alice" {
		t.Fatalf("user_set_role audit = %+v, want one entry for alice", es)
	}
}

// testUserSetPassword: a reset replaces the hash and ends every active
// session of the user, with its audit entry, in one call.
func testUserSetPassword(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "viewer")
	bob := mustUser(t, st, "bob", "viewer")
	now := at(time.Hour)
	a1 := mustCreate(t, st, newSession(u, "a1"))
	a2 := mustCreate(t, st, newSession(u, "a2"))
	b1 := mustCreate(t, st, newSession(bob, "b1"))

	const hash = "$2a$10$newnewnewnewnewnewnewn"
	end := data.End{At: now, Reason: data.EndForced, By: "root"}
	got, n, err := st.SetUserPassword(ctx(t), "alice", hash, end,
		auditEntry(data.ActionForceLogoutAll, "root", "alice", ""))
	if err != nil {
		t.Fatalf("SetUserPassword: %v", err)
	}
	want := u
	want.PasswordHash = hash
	if d := userDiff(want, got); d != "" {
		t.Fatalf("SetUserPassword returned: %s", d)
	}
	if n != 2 {
		t.Fatalf("SetUserPassword ended %d sessions, want 2", n)
	}
	stored, err := st.UserByUsername(ctx(t), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if d := userDiff(want, stored); d != "" {
		t.Fatalf("after SetUserPassword: %s", d)
	}
	for _, s := range []data.Session{a1, a2} {
		w := s
		w.EndedAt, w.EndReason, w.EndedBy = end.At, end.Reason, end.By
		wantSession(t, "session after the reset", w, mustSession(t, st, s.ID))
	}
	wantSession(t, "another user's session", b1, mustSession(t, st, b1.ID))
	if es := mustAudit(t, st, data.AuditQuery{Action: data.ActionForceLogoutAll}); len(es) != 1 || es[0].Username != "alice" {
		t.Fatalf("force_logout_user audit = %+v, want one entry for alice", es)
	}

	// With no session left it still resets and audits.
	_, n, err = st.SetUserPassword(ctx(t), "alice", hash+"2", end, auditEntry(data.ActionForceLogoutAll, "root", "alice", ""))
	if err != nil || n != 0 {
		t.Fatalf("second SetUserPassword = %d, %v; want 0, nil", n, err)
	}
	if es := mustAudit(t, st, data.AuditQuery{Action: data.ActionForceLogoutAll}); len(es) != 2 {
		t.Fatalf("force_logout_user audit entries = %d, want 2", len(es))
	}
}

// testUserRehash: RehashPassword writes only over the hash it was given,
// so a login's re-hash cannot undo a reset that landed meanwhile.
func testUserRehash(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "viewer")
	const rehashed, reset = "$2a$12$rehashedrehashedrehash", "$2a$10$resetresetresetresetre"
	if err := st.RehashPassword(ctx(t), "alice", u.PasswordHash, rehashed); err != nil {
		t.Fatalf("RehashPassword over the current hash: %v", err)
	}
	want := u
	want.PasswordHash = rehashed
	got, err := st.UserByUsername(ctx(t), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if d := userDiff(want, got); d != "" {
		t.Fatalf("after RehashPassword: %s", d)
	}

	// A reset lands; a re-hash still holding the old hash changes nothing.
	if _, _, err := st.SetUserPassword(ctx(t), "alice", reset, data.End{At: at(0), Reason: data.EndForced, By: "root"},
		auditEntry(data.ActionForceLogoutAll, "root", "alice", "")); err != nil {
		t.Fatalf("SetUserPassword: %v", err)
	}
	err = st.RehashPassword(ctx(t), "alice", rehashed, "$2a$12$stalestalestalestalesta")
	wantErr(t, "RehashPassword over a stale hash", err, data.ErrUserChanged)
	want.PasswordHash = reset
	if got, _ = st.UserByUsername(ctx(t), "alice"); userDiff(want, got) != "" {
		t.Fatalf("a stale RehashPassword changed the user: %s", userDiff(want, got))
	}
	if es := mustAudit(t, st, data.AuditQuery{Username: "alice"}); len(es) != 2 {
		t.Fatalf("audit entries = %v, want user_add and the reset only (a re-hash writes none)", actions(es))
	}
}

func testUserDeactivate(t *testing.T, st data.Store) {
	alice := mustUser(t, st, "alice", "viewer")
	bob := mustUser(t, st, "bob", "viewer")
	now := at(time.Hour)

	var active []data.Session
	for _, name := range []string{"a1", "a2", "a3"} {
		active = append(active, mustCreate(t, st, newSession(alice, name)))
	}
	ended := mustCreate(t, st, newSession(alice, "a-ended"))
	ended = mustEnd(t, st, ended.ID, data.End{At: at(time.Minute), Reason: data.EndLogout, By: "alice"})
	expired := newSession(alice, "a-expired")
	expired.ExpiresAt = now // expired at exactly now
	expired = mustCreate(t, st, expired)
	other := mustCreate(t, st, newSession(bob, "b1"))

	end := data.End{At: now, Reason: data.EndForced, By: "root"}
	u, n, err := st.SetUserStatus(ctx(t), "alice", data.StatusInactive, end,
		auditEntry(data.ActionUserDeactivate, "root", "alice", ""))
	if err != nil {
		t.Fatalf("SetUserStatus(inactive): %v", err)
	}
	if n != 3 {
		t.Fatalf("SetUserStatus ended %d sessions, want 3", n)
	}
	if u.Status != data.StatusInactive {
		t.Fatalf("returned status = %q, want inactive", u.Status)
	}
	if got, _ := st.UserByUsername(ctx(t), "alice"); got.Status != data.StatusInactive {
		t.Fatalf("stored status = %q, want inactive", got.Status)
	}
	for _, s := range active {
		got := mustSession(t, st, s.ID)
		want := s
		want.EndedAt, want.EndReason, want.EndedBy = end.At, end.Reason, end.By
		wantSession(t, "deactivated user's session", want, got)
		if got.Version <= s.Version {
			t.Fatalf("ending raised Version %d -> %d", s.Version, got.Version)
		}
		_, err := st.Touch(ctx(t), s.ID, now, now.Add(CookieAge))
		wantErr(t, "Touch after deactivation", err, data.ErrNotFound)
	}
	for _, s := range []data.Session{ended, expired, other} {
		got := mustSession(t, st, s.ID)
		wantSession(t, "session not active or of another user", s, got)
		if got.Version != s.Version {
			t.Fatalf("session %s that was not ended got a new Version", short(s.ID))
		}
	}

	// Reactivation does not revive anything.
	u, n, err = st.SetUserStatus(ctx(t), "alice", data.StatusActive, data.End{At: at(time.Hour + time.Minute), By: "root"},
		auditEntry(data.ActionUserActivate, "root", "alice", ""))
	if err != nil {
		t.Fatalf("SetUserStatus(active): %v", err)
	}
	if n != 0 || u.Status != data.StatusActive {
		t.Fatalf("reactivation = (%q, %d), want (active, 0)", u.Status, n)
	}
	for _, s := range active {
		if got := mustSession(t, st, s.ID); got.EndedAt.IsZero() {
			t.Fatalf("reactivation revived session %s", short(s.ID))
		}
	}
	es := mustAudit(t, st, data.AuditQuery{Username: "alice"})
	var acts []string
	for _, e := range es {
		if e.Action == data.ActionUserDeactivate || e.Action == data.ActionUserActivate {
			acts = append(acts, e.Action)
		}
	}
	if !slices.Equal(acts, []string{data.ActionUserActivate, data.ActionUserDeactivate}) {
		t.Fatalf("status audit (newest first) = %v", acts)
	}
}
