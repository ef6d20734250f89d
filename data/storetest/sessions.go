package storetest

import (
	"testing"
	"time"

	"sessionmon/data"
)

var sessionCases = []testCase{
	{"CreateRoundTrip", testCreateRoundTrip},
	{"CreateDuplicateID", testCreateDuplicateID},
	{"CreateReplaces", testCreateReplaces},
	{"SessionNotFound", testSessionNotFound},
	{"TouchSlides", testTouchSlides},
	{"TouchCapsAtAbsolute", testTouchCaps},
	{"TouchRefusesInactive", testTouchInactive},
	{"TouchNeverShortens", testTouchNeverShortens},
	{"EndSession", testEndSession},
	{"EndSessionRefuses", testEndSessionRefuses},
	{"EndUserSessions", testEndUserSessions},
	{"Extend", testExtend},
	{"ExtendRefuses", testExtendRefuses},
}

func testCreateRoundTrip(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "admin")

	full := newSession(u, "full")
	full.Data = map[string]any{
		"theme":   "dark",
		"count":   float64(42),
		"ratio":   0.5,
		"flag":    true,
		"nothing": nil,
		"nested":  map[string]any{"a": []any{"x", float64(1), false}},
		"unicode": "Zoë ☃ \"quoted\" 'single' \\ back",
	}
	full.IP = "2001:db8::1"
	full.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) \"quoted\" ünïcode"
	full.LoginTime = at(0)
	full.LastActivity = at(time.Second)
	full.ExpiresAt = at(CookieAge)
	full.AbsoluteExpiresAt = at(30 * 24 * time.Hour)

	got, err := st.CreateSession(ctx(t), full, "", data.Guard{}, auditEntry(data.ActionLogin, "alice", "alice", full.ID))
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	wantSession(t, "CreateSession returned", full, got)
	if got.Version <= 0 {
		t.Fatalf("Version = %d, want > 0", got.Version)
	}
	read := mustSession(t, st, full.ID)
	wantSession(t, "Session after create", full, read)
	if read.Version != got.Version {
		t.Fatalf("Session Version = %d, CreateSession returned %d", read.Version, got.Version)
	}
	if !read.Active(at(time.Minute)) {
		t.Fatal("new session is not Active")
	}

	// Minimal: nil Data, no absolute limit, empty IP and user agent.
	minimal := newSession(u, "minimal")
	minimal.Data = nil
	minimal.IP, minimal.UserAgent = "", ""
	minimal.AbsoluteExpiresAt = time.Time{}
	got2 := mustCreate(t, st, minimal)
	if got2.Version <= got.Version {
		t.Fatalf("second session Version %d not above first %d", got2.Version, got.Version)
	}
	read2 := mustSession(t, st, minimal.ID)
	wantSession(t, "minimal session", minimal, read2)
	if !read2.AbsoluteExpiresAt.IsZero() || !read2.EndedAt.IsZero() || len(read2.Data) != 0 {
		t.Fatalf("zero fields did not round-trip as zero: abs=%v ended=%v data=%v",
			read2.AbsoluteExpiresAt, read2.EndedAt, read2.Data)
	}
	empty := newSession(u, "empty-data")
	empty.Data = map[string]any{}
	mustCreate(t, st, empty)
	if d := mustSession(t, st, empty.ID).Data; len(d) != 0 {
		t.Fatalf("empty Data came back as %v", d)
	}

	es := mustAudit(t, st, data.AuditQuery{SessionID: full.ID})
	if len(es) != 1 || es[0].Action != data.ActionLogin {
		t.Fatalf("audit for the session = %+v, want one login entry", es)
	}
}

func testCreateDuplicateID(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "admin")
	first := mustCreate(t, st, newSession(u, "dup"))
	again := newSession(u, "dup")
	again.IP = "198.51.100.7"
	if _, err := st.CreateSession(ctx(t), again, "", data.Guard{}, auditEntry(data.ActionLogin, "alice", "alice", again.ID)); err == nil {
		t.Fatal("CreateSession with a taken ID succeeded")
	}
	got := mustSession(t, st, first.ID)
	wantSession(t, "after the failed duplicate", first, got)
	if got.Version != first.Version {
		t.Fatal("the failed duplicate changed the row's Version")
	}
	if es := mustAudit(t, st, data.AuditQuery{Action: data.ActionLogin}); len(es) != 1 {
		t.Fatalf("login audit entries = %d, want 1", len(es))
	}
}

func testCreateReplaces(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "admin")
	old := mustCreate(t, st, newSession(u, "old"))

	next := newSession(u, "new")
	next.LoginTime, next.LastActivity, next.ExpiresAt = at(time.Hour), at(time.Hour), at(time.Hour+CookieAge)
	got, err := st.CreateSession(ctx(t), next, old.ID, data.Guard{}, auditEntry(data.ActionLogin, "alice", "alice", next.ID))
	if err != nil {
		t.Fatalf("CreateSession(replace): %v", err)
	}
	wantSession(t, "replacing session", next, got)
	oldNow := mustSession(t, st, old.ID)
	if oldNow.EndReason != data.EndReplaced || oldNow.EndedAt.IsZero() {
		t.Fatalf("replaced session: EndReason=%q EndedAt=%v, want %q and a time",
			oldNow.EndReason, oldNow.EndedAt, data.EndReplaced)
	}
	if oldNow.Version <= old.Version {
		t.Fatalf("replacing did not raise the old row's Version (%d -> %d)", old.Version, oldNow.Version)
	}
	if oldNow.Version == got.Version {
		t.Fatalf("old and new rows share Version %d", got.Version)
	}
	_, err = st.Touch(ctx(t), old.ID, at(time.Hour+time.Minute), at(time.Hour+time.Minute+CookieAge))
	wantErr(t, "Touch(replaced)", err, data.ErrNotFound)
	if _, err := st.Touch(ctx(t), next.ID, at(time.Hour+time.Minute), at(time.Hour+time.Minute+CookieAge)); err != nil {
		t.Fatalf("Touch(new): %v", err)
	}

	// Replacing an unknown id is not an error.
	third := newSession(u, "third")
	third.LoginTime, third.LastActivity = at(2*time.Hour), at(2*time.Hour)
	if _, err := st.CreateSession(ctx(t), third, SessionID("never-existed"), data.Guard{}, auditEntry(data.ActionLogin, "alice", "alice", third.ID)); err != nil {
		t.Fatalf("CreateSession(replace unknown): %v", err)
	}

	// Replacing a session that already ended leaves it as it was.
	loggedOut := mustCreate(t, st, newSession(u, "logged-out"))
	loggedOut = mustEnd(t, st, loggedOut.ID, data.End{At: at(time.Minute), Reason: data.EndLogout, By: "alice"})
	fourth := newSession(u, "fourth")
	fourth.LoginTime, fourth.LastActivity = at(3*time.Hour), at(3*time.Hour)
	if _, err := st.CreateSession(ctx(t), fourth, loggedOut.ID, data.Guard{}, auditEntry(data.ActionLogin, "alice", "alice", fourth.ID)); err != nil {
		t.Fatalf("CreateSession(replace ended): %v", err)
	}
	after := mustSession(t, st, loggedOut.ID)
	wantSession(t, "an ended session named as replaced", loggedOut, after)
	if after.Version != loggedOut.Version {
		t.Fatal("replacing an ended session rewrote it")
	}
}

func testSessionNotFound(t *testing.T, st data.Store) {
	_, err := st.Session(ctx(t), SessionID("nope"))
	wantErr(t, "Session(unknown)", err, data.ErrNotFound)
	_, err = st.Session(ctx(t), "")
	wantErr(t, "Session(\"\")", err, data.ErrNotFound)
	_, err = st.Session(ctx(t), "'; DROP TABLE sessions; --")
	wantErr(t, "Session(sql)", err, data.ErrNotFound)
}

func testTouchSlides(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "admin")
	s := newSession(u, "s")
	s.Data = map[string]any{"k": "v"}
	s = mustCreate(t, st, s)

	now := at(time.Hour)
	got, err := st.Touch(ctx(t), s.ID, now, now.Add(CookieAge))
	if err != nil {
		t.Fatalf("Touch: %v", err)
	}
	want := s
	want.LastActivity, want.ExpiresAt = now, now.Add(CookieAge)
	wantSession(t, "Touch returned", want, got)
	if got.Version <= s.Version {
		t.Fatalf("Touch Version %d -> %d, want higher", s.Version, got.Version)
	}
	read := mustSession(t, st, s.ID)
	wantSession(t, "Session after Touch", want, read)
	if read.Version != got.Version {
		t.Fatalf("stored Version %d, Touch returned %d", read.Version, got.Version)
	}

	// Again, later: each Touch raises the Version.
	now2 := at(2 * time.Hour)
	got2, err := st.Touch(ctx(t), s.ID, now2, now2.Add(CookieAge))
	if err != nil {
		t.Fatalf("second Touch: %v", err)
	}
	if got2.Version <= got.Version || !got2.LastActivity.Equal(now2) || !got2.ExpiresAt.Equal(now2.Add(CookieAge)) {
		t.Fatalf("second Touch = v%d last=%v exp=%v", got2.Version, got2.LastActivity, got2.ExpiresAt)
	}
}

func testTouchCaps(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "admin")
	s := newSession(u, "capped")
	s.ExpiresAt = at(time.Hour)
	s.AbsoluteExpiresAt = at(2 * time.Hour)
	s = mustCreate(t, st, s)

	now := at(30 * time.Minute)
	got, err := st.Touch(ctx(t), s.ID, now, now.Add(CookieAge))
	if err != nil {
		t.Fatalf("Touch: %v", err)
	}
	if !got.ExpiresAt.Equal(s.AbsoluteExpiresAt) {
		t.Fatalf("ExpiresAt = %v, want capped at %v", got.ExpiresAt, s.AbsoluteExpiresAt)
	}
	if !got.LastActivity.Equal(now) || !got.AbsoluteExpiresAt.Equal(s.AbsoluteExpiresAt) {
		t.Fatalf("LastActivity=%v AbsoluteExpiresAt=%v", got.LastActivity, got.AbsoluteExpiresAt)
	}
	// Touch never shortens: a requested expiry below the current one
	// leaves it where it is.
	got, err = st.Touch(ctx(t), s.ID, at(40*time.Minute), at(90*time.Minute))
	if err != nil || !got.ExpiresAt.Equal(s.AbsoluteExpiresAt) || !got.LastActivity.Equal(at(40*time.Minute)) {
		t.Fatalf("Touch below the current expiry = %v, %v; want ExpiresAt kept at %v", got.ExpiresAt, err, s.AbsoluteExpiresAt)
	}
	// At the absolute limit the session is expired.
	_, err = st.Touch(ctx(t), s.ID, at(2*time.Hour), at(2*time.Hour+CookieAge))
	wantErr(t, "Touch at the absolute limit", err, data.ErrNotFound)
}

// testTouchNeverShortens: an operator's extension survives the holder's
// next request, which would otherwise pull the expiry back to now + age.
func testTouchNeverShortens(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "admin")
	s := mustCreate(t, st, newSession(u, "extended"))
	ext, err := st.Extend(ctx(t), s.ID, 48*time.Hour, at(time.Minute), data.AuditEntry{Time: at(time.Minute), Actor: "ops", Action: data.ActionExtend, SessionID: s.ID})
	if err != nil {
		t.Fatalf("Extend: %v", err)
	}
	now := at(2 * time.Minute)
	got, err := st.Touch(ctx(t), s.ID, now, now.Add(CookieAge))
	if err != nil {
		t.Fatalf("Touch: %v", err)
	}
	if !got.ExpiresAt.Equal(ext.ExpiresAt) || !got.LastActivity.Equal(now) {
		t.Fatalf("Touch after Extend: ExpiresAt %v LastActivity %v; want the extended %v kept", got.ExpiresAt, got.LastActivity, ext.ExpiresAt)
	}
	// Once now + age passes the extended expiry, Touch slides it again.
	later := ext.ExpiresAt.Add(-CookieAge).Add(time.Hour)
	got, err = st.Touch(ctx(t), s.ID, later, later.Add(CookieAge))
	if err != nil || !got.ExpiresAt.Equal(later.Add(CookieAge)) {
		t.Fatalf("Touch past the extension = %v, %v; want %v", got.ExpiresAt, err, later.Add(CookieAge))
	}
}

func testTouchInactive(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "admin")
	now := at(time.Hour)

	_, err := st.Touch(ctx(t), SessionID("unknown"), now, now.Add(CookieAge))
	wantErr(t, "Touch(unknown)", err, data.ErrNotFound)

	ended := mustCreate(t, st, newSession(u, "ended"))
	ended = mustEnd(t, st, ended.ID, data.End{At: at(time.Minute), Reason: data.EndLogout, By: "alice"})
	_, err = st.Touch(ctx(t), ended.ID, now, now.Add(CookieAge))
	wantErr(t, "Touch(ended)", err, data.ErrNotFound)

	for _, tc := range []struct {
		name    string
		expires time.Time
	}{
		{"expires-at-now", now},
		{"expired-before", now.Add(-time.Microsecond)},
	} {
		s := newSession(u, tc.name)
		s.ExpiresAt = tc.expires
		s = mustCreate(t, st, s)
		_, err = st.Touch(ctx(t), s.ID, now, now.Add(CookieAge))
		wantErr(t, "Touch("+tc.name+")", err, data.ErrNotFound)
		got := mustSession(t, st, s.ID)
		wantSession(t, "expired row after a refused Touch", s, got)
		if got.Version != s.Version {
			t.Fatalf("refused Touch changed Version of %s", tc.name)
		}
	}
	for _, s := range []data.Session{ended} {
		got := mustSession(t, st, s.ID)
		wantSession(t, "ended row after a refused Touch", s, got)
		if got.Version != s.Version {
			t.Fatal("refused Touch changed the ended row's Version")
		}
	}

	// One microsecond before expiry still works.
	s := newSession(u, "just-alive")
	s.ExpiresAt = now.Add(time.Microsecond)
	mustCreate(t, st, s)
	if _, err := st.Touch(ctx(t), s.ID, now, now.Add(CookieAge)); err != nil {
		t.Fatalf("Touch one microsecond before expiry: %v", err)
	}
}

func testEndSession(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "admin")
	s := mustCreate(t, st, newSession(u, "s"))
	end := data.End{At: at(time.Hour), Reason: data.EndForced, By: "operator-bob"}
	got, err := st.EndSession(ctx(t), s.ID, end, auditEntry(data.ActionForceLogout, "operator-bob", "alice", s.ID))
	if err != nil {
		t.Fatalf("EndSession: %v", err)
	}
	want := s
	want.EndedAt, want.EndReason, want.EndedBy = end.At, end.Reason, end.By
	wantSession(t, "EndSession returned", want, got)
	if got.Version <= s.Version {
		t.Fatalf("EndSession Version %d -> %d", s.Version, got.Version)
	}
	read := mustSession(t, st, s.ID)
	wantSession(t, "Session after End", want, read)
	if read.Active(at(time.Hour)) {
		t.Fatal("ended session is Active")
	}
	_, err = st.Touch(ctx(t), s.ID, at(time.Hour+time.Second), at(time.Hour+time.Second+CookieAge))
	wantErr(t, "Touch after End", err, data.ErrNotFound)

	es := mustAudit(t, st, data.AuditQuery{Action: data.ActionForceLogout})
	if len(es) != 1 || es[0].SessionID != s.ID || es[0].Actor != "operator-bob" {
		t.Fatalf("force_logout audit = %+v", es)
	}
}

func testEndSessionRefuses(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "admin")
	end := data.End{At: at(time.Hour), Reason: data.EndForced, By: "root"}
	fl := func(id string) data.AuditEntry { return auditEntry(data.ActionForceLogout, "root", "alice", id) }

	_, err := st.EndSession(ctx(t), SessionID("unknown"), end, fl(SessionID("unknown")))
	wantErr(t, "EndSession(unknown)", err, data.ErrNotFound)

	s := mustCreate(t, st, newSession(u, "s"))
	first := mustEnd(t, st, s.ID, data.End{At: at(time.Minute), Reason: data.EndLogout, By: "alice"})
	_, err = st.EndSession(ctx(t), s.ID, end, fl(s.ID))
	wantErr(t, "EndSession(already ended)", err, data.ErrEnded)
	after := mustSession(t, st, s.ID)
	wantSession(t, "ending twice keeps the first end", first, after)
	if after.Version != first.Version {
		t.Fatal("a refused EndSession changed the Version")
	}

	for _, tc := range []struct {
		name    string
		expires time.Time
	}{
		{"expires-at-end", end.At},
		{"expired-before", end.At.Add(-time.Minute)},
	} {
		x := newSession(u, tc.name)
		x.ExpiresAt = tc.expires
		x = mustCreate(t, st, x)
		_, err = st.EndSession(ctx(t), x.ID, end, fl(x.ID))
		wantErr(t, "EndSession("+tc.name+")", err, data.ErrEnded)
		got := mustSession(t, st, x.ID)
		wantSession(t, "expired row after a refused End", x, got)
		if got.Version != x.Version {
			t.Fatal("a refused EndSession changed the Version")
		}
	}
	if es := mustAudit(t, st, data.AuditQuery{Action: data.ActionForceLogout}); len(es) != 0 {
		t.Fatalf("refused EndSession calls wrote %d force_logout entries", len(es))
	}
}

func testEndUserSessions(t *testing.T, st data.Store) {
	alice := mustUser(t, st, "alice", "viewer")
	bob := mustUser(t, st, "bob", "viewer")
	now := at(time.Hour)

	var active []data.Session
	for _, n := range []string{"a1", "a2", "a3"} {
		active = append(active, mustCreate(t, st, newSession(alice, n)))
	}
	ended := mustEnd(t, st, mustCreate(t, st, newSession(alice, "a-ended")).ID,
		data.End{At: at(time.Minute), Reason: data.EndLogout, By: "alice"})
	exp := newSession(alice, "a-expired")
	exp.ExpiresAt = now.Add(-time.Second)
	exp = mustCreate(t, st, exp)
	other := mustCreate(t, st, newSession(bob, "b1"))

	end := data.End{At: now, Reason: data.EndForced, By: "root"}
	n, err := st.EndUserSessions(ctx(t), alice.ID, end, auditEntry(data.ActionForceLogoutAll, "root", "alice", ""))
	if err != nil {
		t.Fatalf("EndUserSessions: %v", err)
	}
	if n != 3 {
		t.Fatalf("EndUserSessions = %d, want 3", n)
	}
	seen := map[int64]bool{}
	for _, s := range active {
		got := mustSession(t, st, s.ID)
		want := s
		want.EndedAt, want.EndReason, want.EndedBy = end.At, end.Reason, end.By
		wantSession(t, "ended by EndUserSessions", want, got)
		if got.Version <= other.Version || seen[got.Version] {
			t.Fatalf("Version %d after EndUserSessions is not new and unique", got.Version)
		}
		seen[got.Version] = true
	}
	for _, s := range []data.Session{ended, exp, other} {
		got := mustSession(t, st, s.ID)
		wantSession(t, "untouched by EndUserSessions", s, got)
		if got.Version != s.Version {
			t.Fatalf("EndUserSessions rewrote %s", short(s.ID))
		}
	}
	es := mustAudit(t, st, data.AuditQuery{Action: data.ActionForceLogoutAll})
	if len(es) != 1 || es[0].Username != "alice" {
		t.Fatalf("force_logout_user audit = %+v", es)
	}

	n, err = st.EndUserSessions(ctx(t), alice.ID, data.End{At: now.Add(time.Minute), Reason: data.EndForced, By: "root"},
		auditEntry(data.ActionForceLogoutAll, "root", "alice", ""))
	if err != nil || n != 0 {
		t.Fatalf("second EndUserSessions = %d, %v; want 0, nil", n, err)
	}
}

func testExtend(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "admin")
	s := newSession(u, "s")
	s.ExpiresAt = at(time.Hour)
	s.AbsoluteExpiresAt = at(5 * time.Hour)
	s = mustCreate(t, st, s)

	got, err := st.Extend(ctx(t), s.ID, 2*time.Hour, at(30*time.Minute), auditEntry(data.ActionExtend, "root", "alice", s.ID))
	if err != nil {
		t.Fatalf("Extend: %v", err)
	}
	want := s
	want.ExpiresAt = at(3 * time.Hour)
	wantSession(t, "Extend returned", want, got)
	if got.Version <= s.Version {
		t.Fatalf("Extend Version %d -> %d", s.Version, got.Version)
	}
	wantSession(t, "Session after Extend", want, mustSession(t, st, s.ID))

	// Up to exactly the absolute limit is allowed.
	got, err = st.Extend(ctx(t), s.ID, 2*time.Hour, at(40*time.Minute), auditEntry(data.ActionExtend, "root", "alice", s.ID))
	if err != nil || !got.ExpiresAt.Equal(at(5*time.Hour)) {
		t.Fatalf("Extend to the limit = %v, %v; want %v", got.ExpiresAt, err, at(5*time.Hour))
	}

	// No absolute limit: any extension.
	free := mustCreate(t, st, newSession(u, "free"))
	got, err = st.Extend(ctx(t), free.ID, 365*24*time.Hour, at(time.Minute), auditEntry(data.ActionExtend, "root", "alice", free.ID))
	if err != nil || !got.ExpiresAt.Equal(free.ExpiresAt.Add(365*24*time.Hour)) {
		t.Fatalf("Extend without a limit = %v, %v", got.ExpiresAt, err)
	}
	if es := mustAudit(t, st, data.AuditQuery{Action: data.ActionExtend}); len(es) != 3 {
		t.Fatalf("extend audit entries = %d, want 3", len(es))
	}
}

func testExtendRefuses(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "admin")
	ext := func(id string) data.AuditEntry { return auditEntry(data.ActionExtend, "root", "alice", id) }
	now := at(time.Hour)

	_, err := st.Extend(ctx(t), SessionID("unknown"), time.Hour, now, ext(SessionID("unknown")))
	wantErr(t, "Extend(unknown)", err, data.ErrNotFound)

	capped := newSession(u, "capped")
	capped.ExpiresAt = at(2 * time.Hour)
	capped.AbsoluteExpiresAt = at(3 * time.Hour)
	capped = mustCreate(t, st, capped)
	_, err = st.Extend(ctx(t), capped.ID, time.Hour+time.Microsecond, now, ext(capped.ID))
	wantErr(t, "Extend(past the limit)", err, data.ErrBeyondLimit)

	ended := mustEnd(t, st, mustCreate(t, st, newSession(u, "ended")).ID,
		data.End{At: at(time.Minute), Reason: data.EndForced, By: "root"})
	_, err = st.Extend(ctx(t), ended.ID, time.Hour, now, ext(ended.ID))
	wantErr(t, "Extend(ended)", err, data.ErrEnded)

	var expired []data.Session
	for _, tc := range []struct {
		name    string
		expires time.Time
	}{
		{"expires-at-now", now},
		{"expired-before", now.Add(-time.Hour)},
	} {
		x := newSession(u, tc.name)
		x.ExpiresAt = tc.expires
		x = mustCreate(t, st, x)
		expired = append(expired, x)
		// Even an extension that would put ExpiresAt back in the future
		// must not revive it.
		_, err = st.Extend(ctx(t), x.ID, 2*time.Hour, now, ext(x.ID))
		wantErr(t, "Extend("+tc.name+")", err, data.ErrEnded)
	}

	for _, s := range append([]data.Session{capped, ended}, expired...) {
		got := mustSession(t, st, s.ID)
		wantSession(t, "after a refused Extend", s, got)
		if got.Version != s.Version {
			t.Fatalf("a refused Extend changed the Version of %s", short(s.ID))
		}
	}
	if es := mustAudit(t, st, data.AuditQuery{Action: data.ActionExtend}); len(es) != 0 {
		t.Fatalf("refused Extend calls wrote %d audit entries", len(es))
	}
}
