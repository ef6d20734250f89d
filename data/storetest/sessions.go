package storetest

import (
	"testing"
	"time"

	"sessionmon/data"
)

// sessionCases are what only a full Store does: create (the login),
// touch (the request path), and the absolute limit Extend keeps.
var sessionCases = []testCase{
	{"CreateRoundTrip", testCreateRoundTrip},
	{"CreateDuplicateID", testCreateDuplicateID},
	{"CreateReplaces", testCreateReplaces},
	{"TouchSlides", testTouchSlides},
	{"TouchCapsAtAbsolute", testTouchCaps},
	{"TouchRefusesInactive", testTouchInactive},
	{"TouchNeverShortens", testTouchNeverShortens},
	{"ExtendUpToLimit", testExtendLimit},
	{"EndByHolder", testEndByHolder},
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
	if got.Version != s.Version {
		t.Fatalf("Touch Version %d -> %d, want it unchanged (data.Store.Touch)", s.Version, got.Version)
	}
	read := mustSession(t, st, s.ID)
	wantSession(t, "Session after Touch", want, read)
	if read.Version != got.Version {
		t.Fatalf("stored Version %d, Touch returned %d", read.Version, got.Version)
	}

	// Again, later: each Touch slides again, still at the same Version.
	now2 := at(2 * time.Hour)
	got2, err := st.Touch(ctx(t), s.ID, now2, now2.Add(CookieAge))
	if err != nil {
		t.Fatalf("second Touch: %v", err)
	}
	if got2.Version != s.Version || !got2.LastActivity.Equal(now2) || !got2.ExpiresAt.Equal(now2.Add(CookieAge)) {
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

// testExtendLimit: Extend goes up to exactly a session's absolute limit and
// never past it (ErrBeyondLimit, nothing changed, no audit entry).
func testExtendLimit(t *testing.T, st data.Store) {
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

	// One microsecond past it is refused, and changes nothing.
	capped := newSession(u, "capped")
	capped.ExpiresAt = at(2 * time.Hour)
	capped.AbsoluteExpiresAt = at(3 * time.Hour)
	capped = mustCreate(t, st, capped)
	_, err = st.Extend(ctx(t), capped.ID, time.Hour+time.Microsecond, at(time.Hour), auditEntry(data.ActionExtend, "root", "alice", capped.ID))
	wantErr(t, "Extend(past the limit)", err, data.ErrBeyondLimit)
	after := mustSession(t, st, capped.ID)
	wantSession(t, "after a refused Extend", capped, after)
	if after.Version != capped.Version {
		t.Fatal("a refused Extend changed the Version")
	}
	if es := mustAudit(t, st, data.AuditQuery{Action: data.ActionExtend}); len(es) != 2 {
		t.Fatalf("extend audit entries = %d, want 2 (none for the refused one)", len(es))
	}
}

// testEndByHolder: a logout knows only its token, so it ends the session
// with no End.By and no audit Actor or Username: the store names the
// session's own user in all three.
func testEndByHolder(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "viewer")
	s := mustCreate(t, st, newSession(u, "s"))
	end := data.End{At: at(time.Hour), Reason: data.EndLogout}
	got, err := st.EndSession(ctx(t), s.ID, end, data.AuditEntry{Time: at(time.Hour), Action: data.ActionLogout, SessionID: s.ID})
	if err != nil {
		t.Fatalf("EndSession: %v", err)
	}
	want := s
	want.EndedAt, want.EndReason, want.EndedBy = end.At, end.Reason, "alice"
	wantSession(t, "EndSession by the holder returned", want, got)
	wantSession(t, "Session after the holder's end", want, mustSession(t, st, s.ID))
	es := mustAudit(t, st, data.AuditQuery{Action: data.ActionLogout})
	if len(es) != 1 || es[0].Actor != "alice" || es[0].Username != "alice" || es[0].SessionID != s.ID {
		t.Fatalf("logout audit = %+v, want one by alice naming alice", es)
	}
}
