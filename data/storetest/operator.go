package storetest

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"sessionmon/data"
)

// The operator's side of a source: reading one session, ending and
// extending, and the audit entry of each action. Every case runs against
// any data.Source (RunSource) and against sessionmon's own stores (Run).

var sourceSessionCases = []sourceCase{
	{"SeedRoundTrip", testSeedRoundTrip},
	{"SessionNotFound", testSessionNotFound},
	{"UserByUsername", testUserByUsername},
	{"EndSession", testEndSession},
	{"EndSessionRefuses", testEndSessionRefuses},
	{"EndSessions", testEndSessions},
	{"EndSessionsEmpty", testEndSessionsEmpty},
	{"EndUserSessions", testEndUserSessions},
	{"Extend", testExtend},
	{"ExtendRefuses", testExtendRefuses},
	{"AuditNamesTheUser", testAuditNamesTheUser},
}

var sourceChangesCases = []sourceCase{
	{"SeenByPollers", testChangesSeen},
}

var miscCases = []sourceCase{
	{"PingDescribe", testPingDescribe},
	{"IDs", testIDs},
}

// refuses checks, when the source refuses action, that do (the action on
// the given sessions) fails with ErrUnsupported, changes none of them and
// writes no audit entry for it; it then reports true, and the case has
// nothing more to check.
func (f *fixture) refuses(t *testing.T, action string, do func() error, untouched ...data.Session) bool {
	t.Helper()
	why := f.refusal(action)
	if why == nil {
		return false
	}
	if !errors.Is(why, data.ErrUnsupported) {
		t.Fatalf("Refuse(%s) = %v, want nil or an error wrapping ErrUnsupported", action, why)
	}
	if err := do(); !errors.Is(err, data.ErrUnsupported) {
		t.Fatalf("%s on a source that refuses it (%v): error = %v, want ErrUnsupported", action, why, err)
	}
	for _, s := range untouched {
		f.wantUnchanged(t, "after a refused "+action, s)
	}
	if es := mustAudit(t, f.src, data.AuditQuery{Action: action}); len(es) != 0 {
		t.Fatalf("a refused %s wrote %d audit entries", action, len(es))
	}
	return true
}

// readEnded reads a session the case just ended: ok is false for a source
// that deleted it (Django's flush).
func (f *fixture) readEnded(t *testing.T, id string) (s data.Session, ok bool) {
	t.Helper()
	s, err := f.src.Session(ctx(t), id)
	switch {
	case errors.Is(err, data.ErrNotFound):
		return data.Session{}, false
	case err != nil:
		t.Fatalf("Session(%s) after it ended: %v", short(id), err)
	}
	return s, true
}

func testSeedRoundTrip(t *testing.T, f *fixture) {
	full := person("alice", "admin")
	full.Email, full.FullName = "alice@example.com", "Alice Zoë Liddell"
	full.IP = "2001:db8::1"
	full.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) \"quoted\" ünïcode"
	full.LoginTime, full.LastActivity, full.ExpiresAt = at(0), at(time.Second), at(CookieAge)
	minimal := person("bob", "viewer")
	minimal.IP, minimal.UserAgent = "", ""

	rows := f.seed(t, full, minimal)
	for i, want := range []data.Session{full, minimal} {
		want.ID = rows[i].ID
		got := mustSession(t, f.src, want.ID)
		if got.UserID == 0 {
			t.Fatal("seeded session has no UserID")
		}
		want.UserID = got.UserID // the source's; UserByUsername checks it
		f.wantSession(t, "seeded session", want, got)
		if !got.Active(at(time.Minute)) || !got.EndedAt.IsZero() || got.EndReason != "" || got.EndedBy != "" {
			t.Fatalf("seeded session is not active: ended %v %q by %q", got.EndedAt, got.EndReason, got.EndedBy)
		}
	}
	if p := mustList(t, f.src, data.Query{Now: at(time.Minute)}); len(p.Sessions) != 2 {
		t.Fatalf("ListActive after seeding two = %d rows", len(p.Sessions))
	}
}

func testSessionNotFound(t *testing.T, f *fixture) {
	_, err := f.src.Session(ctx(t), f.unknownID("nope"))
	wantErr(t, "Session(unknown)", err, data.ErrNotFound)
	_, err = f.src.Session(ctx(t), "")
	wantErr(t, "Session(\"\")", err, data.ErrNotFound)
	_, err = f.src.Session(ctx(t), "'; DROP TABLE sessions; --")
	wantErr(t, "Session(sql)", err, data.ErrNotFound)
}

func testUserByUsername(t *testing.T, f *fixture) {
	rows := f.seed(t, person("alice", "admin"), person("bob", "viewer"), person("alice", "admin"))
	u, err := f.src.UserByUsername(ctx(t), "alice")
	if err != nil {
		t.Fatalf("UserByUsername(alice): %v", err)
	}
	if u.Username != "alice" || u.ID == 0 || u.ID != rows[0].UserID || u.ID != rows[2].UserID {
		t.Fatalf("UserByUsername(alice) = id %d %q; want the UserID %d of alice's sessions", u.ID, u.Username, rows[0].UserID)
	}
	if b, err := f.src.UserByUsername(ctx(t), "bob"); err != nil || b.ID == u.ID || b.ID != rows[1].UserID {
		t.Fatalf("UserByUsername(bob) = id %d, %v; want %d", b.ID, err, rows[1].UserID)
	}
	for _, name := range []string{"nobody", "ALICE", "", "' OR '1'='1"} {
		_, err := f.src.UserByUsername(ctx(t), name)
		wantErr(t, "UserByUsername("+name+")", err, data.ErrNotFound)
	}
}

func testEndSession(t *testing.T, f *fixture) {
	s := f.seedOne(t, person("alice", "admin"))
	end := data.End{At: at(time.Hour), Reason: data.EndForced, By: "operator-bob"}
	audit := auditEntry(data.ActionForceLogout, "operator-bob", "alice", s.ID)
	if f.refuses(t, data.ActionForceLogout, func() error {
		_, err := f.src.EndSession(ctx(t), s.ID, end, audit)
		return err
	}, s) {
		return
	}
	got, err := f.src.EndSession(ctx(t), s.ID, end, audit)
	if err != nil {
		t.Fatalf("EndSession: %v", err)
	}
	want := s
	want.EndedAt, want.EndReason, want.EndedBy = end.At, end.Reason, end.By
	f.wantSession(t, "EndSession returned", want, got)
	if s.Version > 0 && got.Version <= s.Version {
		t.Fatalf("EndSession Version %d -> %d", s.Version, got.Version)
	}
	if read, ok := f.readEnded(t, s.ID); ok {
		f.wantSession(t, "Session after End", want, read)
		if read.Active(at(time.Hour)) {
			t.Fatal("ended session is Active")
		}
	}
	if f.st != nil {
		_, err = f.st.Touch(ctx(t), s.ID, at(time.Hour+time.Second), at(time.Hour+time.Second+CookieAge))
		wantErr(t, "Touch after End", err, data.ErrNotFound)
	}

	es := mustAudit(t, f.src, data.AuditQuery{Action: data.ActionForceLogout})
	if len(es) != 1 || es[0].SessionID != s.ID || es[0].Actor != "operator-bob" {
		t.Fatalf("force_logout audit = %+v", es)
	}
}

func testEndSessionRefuses(t *testing.T, f *fixture) {
	alice := person("alice", "admin")
	end := data.End{At: at(time.Hour), Reason: data.EndForced, By: "root"}
	fl := func(id string) data.AuditEntry { return auditEntry(data.ActionForceLogout, "root", "alice", id) }
	atEnd, before := alice, alice
	atEnd.ExpiresAt = end.At
	before.ExpiresAt = end.At.Add(-time.Minute)
	rows := f.seed(t, alice, atEnd, before)
	if f.refuses(t, data.ActionForceLogout, func() error {
		_, err := f.src.EndSession(ctx(t), rows[0].ID, end, fl(rows[0].ID))
		return err
	}, rows...) {
		return
	}

	unknown := f.unknownID("unknown")
	_, err := f.src.EndSession(ctx(t), unknown, end, fl(unknown))
	wantErr(t, "EndSession(unknown)", err, data.ErrNotFound)

	s := rows[0]
	first, gone := f.end(t, s.ID, data.End{At: at(time.Minute), Reason: data.EndLogout, By: "alice"})
	_, err = f.src.EndSession(ctx(t), s.ID, end, fl(s.ID))
	if gone {
		wantErr(t, "EndSession(already ended and deleted)", err, data.ErrNotFound)
	} else {
		wantErr(t, "EndSession(already ended)", err, data.ErrEnded)
		f.wantUnchanged(t, "ending twice keeps the first end", first)
	}

	for i, name := range []string{"expires-at-end", "expired-before"} {
		x := rows[1+i]
		_, err = f.src.EndSession(ctx(t), x.ID, end, fl(x.ID))
		wantErr(t, "EndSession("+name+")", err, data.ErrEnded)
		f.wantUnchanged(t, "expired row after a refused End", x)
	}
	if es := mustAudit(t, f.src, data.AuditQuery{Action: data.ActionForceLogout}); len(es) != 0 {
		t.Fatalf("refused EndSession calls wrote %d force_logout entries", len(es))
	}
}

// testEndSessions: one call ends every active session asked for, with one
// audit entry each naming its session and user, and says which had already
// ended (with who ended them, where the source keeps that) and which the
// source does not have.
func testEndSessions(t *testing.T, f *fixture) {
	alice, bob := person("alice", "viewer"), person("bob", "admin")
	end := data.End{At: at(time.Hour), Reason: data.EndForced, By: "oncall"}
	exp := bob
	exp.ExpiresAt = end.At.Add(-time.Minute)
	rows := f.seed(t, alice, bob, alice, alice, exp, bob)
	earlierID, expired, bystander := rows[3].ID, rows[4], rows[5]
	template := data.AuditEntry{Time: end.At, Actor: "oncall", Action: data.ActionForceLogout, Detail: "marked"}
	missing := f.unknownID("missing")
	ask := []string{rows[2].ID, missing, rows[0].ID, earlierID, rows[1].ID, expired.ID}
	if f.refuses(t, data.ActionForceLogout, func() error {
		_, err := f.src.EndSessions(ctx(t), ask, end, template)
		return err
	}, rows...) {
		return
	}
	earlier, gone := f.end(t, earlierID, data.End{At: at(time.Minute), Reason: data.EndLogout, By: "alice"})

	res, err := f.src.EndSessions(ctx(t), ask, end, template)
	if err != nil {
		t.Fatalf("EndSessions: %v", err)
	}
	wantEnded := []data.Session{rows[2], rows[0], rows[1]} // in the order asked
	if got, want := ids(res.Ended), ids(wantEnded); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("EndSessions Ended = %s, want %s", shortIDs(got), shortIDs(want))
	}
	var top int64
	for _, s := range rows {
		top = max(top, s.Version)
	}
	seen := map[int64]bool{}
	for i, s := range wantEnded {
		want := s
		want.EndedAt, want.EndReason, want.EndedBy = end.At, end.Reason, end.By
		f.wantSession(t, "EndSessions Ended", want, res.Ended[i])
		if read, ok := f.readEnded(t, s.ID); ok {
			f.wantSession(t, "a session after EndSessions", want, read)
			if s.Version > 0 && (read.Version <= top || seen[read.Version]) {
				t.Fatalf("Version %d after EndSessions is not new and unique", read.Version)
			}
			seen[read.Version] = true
		}
	}
	wantAlready, wantMissing := []data.Session{earlier, expired}, []string{missing}
	if gone {
		wantAlready, wantMissing = []data.Session{expired}, []string{missing, earlierID}
	}
	if got, want := ids(res.Already), ids(wantAlready); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("EndSessions Already = %s, want %s", shortIDs(got), shortIDs(want))
	}
	for i, s := range wantAlready {
		f.wantSession(t, "EndSessions Already (as it was)", s, res.Already[i])
		f.wantUnchanged(t, "not ended twice", s)
	}
	if strings.Join(res.Missing, ",") != strings.Join(wantMissing, ",") {
		t.Fatalf("EndSessions Missing = %s, want %s", shortIDs(res.Missing), shortIDs(wantMissing))
	}
	f.wantUnchanged(t, "a session not asked for", bystander)

	es := mustAudit(t, f.src, data.AuditQuery{Action: data.ActionForceLogout})
	if len(es) != len(wantEnded) {
		t.Fatalf("EndSessions wrote %d force_logout entries, want one per session ended (%d)", len(es), len(wantEnded))
	}
	named := map[string]string{}
	for _, e := range es {
		named[e.SessionID] = e.Username
		if e.Actor != "oncall" || e.Detail != "marked" {
			t.Fatalf("EndSessions audit entry = %+v, want the template's actor and detail", e)
		}
	}
	for _, s := range wantEnded {
		if u, ok := named[s.ID]; !ok || u != s.Username {
			t.Fatalf("the audit entry of %s names %q (present %v), want %q", short(s.ID), u, ok, s.Username)
		}
	}

	// Again: nothing is left to end, and nothing more is written.
	res, err = f.src.EndSessions(ctx(t), ask, data.End{At: end.At.Add(time.Minute), Reason: data.EndForced, By: "oncall"}, template)
	if err != nil || len(res.Ended) != 0 || len(res.Already)+len(res.Missing) != len(ask) {
		t.Fatalf("EndSessions again = %d ended, %d already, %d missing, %v; want 0, and all %d accounted for",
			len(res.Ended), len(res.Already), len(res.Missing), err, len(ask))
	}
	if es := mustAudit(t, f.src, data.AuditQuery{Action: data.ActionForceLogout}); len(es) != len(wantEnded) {
		t.Fatalf("a second EndSessions wrote audit entries: %d", len(es)-len(wantEnded))
	}
}

func testEndSessionsEmpty(t *testing.T, f *fixture) {
	s := f.seedOne(t, person("alice", "viewer"))
	f.needs(t, data.ActionForceLogout)
	res, err := f.src.EndSessions(ctx(t), nil, data.End{At: at(time.Hour), Reason: data.EndForced, By: "oncall"},
		data.AuditEntry{Time: at(time.Hour), Actor: "oncall", Action: data.ActionForceLogout})
	if err != nil || len(res.Ended)+len(res.Already)+len(res.Missing) != 0 {
		t.Fatalf("EndSessions(no ids) = %+v, %v; want nothing", res, err)
	}
	f.wantUnchanged(t, "after EndSessions of no ids", s)
	if es := mustAudit(t, f.src, data.AuditQuery{Action: data.ActionForceLogout}); len(es) != 0 {
		t.Fatalf("EndSessions of no ids wrote %d audit entries", len(es))
	}
}

// testAuditNamesTheUser: EndSession, Extend and EndUserSessions fill the
// audit entry's Username from what they change when the caller leaves it
// empty, so an operator's action needs no read of the session first.
func testAuditNamesTheUser(t *testing.T, f *fixture) {
	rows := f.seed(t, person("alice", "viewer"), person("bob", "viewer"), person("carol", "viewer"))
	op := func(action, id string) data.AuditEntry {
		return data.AuditEntry{Time: at(time.Hour), Actor: "oncall", Action: action, SessionID: id}
	}
	want := map[string]string{} // action -> username named
	if f.refusal(data.ActionForceLogout) == nil {
		if _, err := f.src.EndSession(ctx(t), rows[0].ID, data.End{At: at(time.Hour), Reason: data.EndForced, By: "oncall"},
			op(data.ActionForceLogout, rows[0].ID)); err != nil {
			t.Fatalf("EndSession: %v", err)
		}
		want[data.ActionForceLogout] = "alice"
	}
	if f.refusal(data.ActionExtend) == nil {
		if _, err := f.src.Extend(ctx(t), rows[1].ID, time.Hour, at(time.Hour), op(data.ActionExtend, rows[1].ID)); err != nil {
			t.Fatalf("Extend: %v", err)
		}
		want[data.ActionExtend] = "bob"
	}
	if f.refusal(data.ActionForceLogoutAll) == nil {
		u, err := f.src.UserByUsername(ctx(t), "carol")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.src.EndUserSessions(ctx(t), u.ID, data.End{At: at(time.Hour), Reason: data.EndForced, By: "oncall"},
			op(data.ActionForceLogoutAll, "")); err != nil {
			t.Fatalf("EndUserSessions: %v", err)
		}
		want[data.ActionForceLogoutAll] = "carol"
	}
	for action, username := range want {
		es := mustAudit(t, f.src, data.AuditQuery{Action: action})
		if len(es) != 1 || es[0].Username != username || es[0].Actor != "oncall" {
			t.Errorf("%s audit = %+v, want one entry by oncall naming %q", action, es, username)
		}
	}
}

func testEndUserSessions(t *testing.T, f *fixture) {
	alice, bob := person("alice", "viewer"), person("bob", "viewer")
	now := at(time.Hour)
	exp := alice
	exp.ExpiresAt = now.Add(-time.Second)
	rows := f.seed(t, alice, alice, alice, alice, exp, bob)
	active, exp, other := rows[:3], rows[4], rows[5]
	u, err := f.src.UserByUsername(ctx(t), "alice")
	if err != nil {
		t.Fatalf("UserByUsername(alice): %v", err)
	}
	end := data.End{At: now, Reason: data.EndForced, By: "root"}
	audit := auditEntry(data.ActionForceLogoutAll, "root", "alice", "")
	if f.refuses(t, data.ActionForceLogoutAll, func() error {
		_, err := f.src.EndUserSessions(ctx(t), u.ID, end, audit)
		return err
	}, rows...) {
		return
	}
	ended, endedGone := f.end(t, rows[3].ID, data.End{At: at(time.Minute), Reason: data.EndLogout, By: "alice"})

	n, err := f.src.EndUserSessions(ctx(t), u.ID, end, audit)
	if err != nil {
		t.Fatalf("EndUserSessions: %v", err)
	}
	if n != 3 {
		t.Fatalf("EndUserSessions = %d, want 3", n)
	}
	seen := map[int64]bool{}
	for _, s := range active {
		got, ok := f.readEnded(t, s.ID)
		if !ok {
			continue
		}
		want := s
		want.EndedAt, want.EndReason, want.EndedBy = end.At, end.Reason, end.By
		f.wantSession(t, "ended by EndUserSessions", want, got)
		if s.Version > 0 && (got.Version <= other.Version || seen[got.Version]) {
			t.Fatalf("Version %d after EndUserSessions is not new and unique", got.Version)
		}
		seen[got.Version] = true
	}
	untouched := []data.Session{exp, other}
	if !endedGone {
		untouched = append(untouched, ended)
	}
	for _, s := range untouched {
		f.wantUnchanged(t, "untouched by EndUserSessions", s)
	}
	es := mustAudit(t, f.src, data.AuditQuery{Action: data.ActionForceLogoutAll})
	if len(es) != 1 || es[0].Username != "alice" {
		t.Fatalf("force_logout_user audit = %+v", es)
	}

	n, err = f.src.EndUserSessions(ctx(t), u.ID, data.End{At: now.Add(time.Minute), Reason: data.EndForced, By: "root"},
		auditEntry(data.ActionForceLogoutAll, "root", "alice", ""))
	if err != nil || n != 0 {
		t.Fatalf("second EndUserSessions = %d, %v; want 0, nil", n, err)
	}
}

func testExtend(t *testing.T, f *fixture) {
	s := person("alice", "admin")
	s.ExpiresAt = at(time.Hour)
	s = f.seedOne(t, s)
	ext := func(id string) data.AuditEntry { return auditEntry(data.ActionExtend, "root", "alice", id) }
	if f.refuses(t, data.ActionExtend, func() error {
		_, err := f.src.Extend(ctx(t), s.ID, 2*time.Hour, at(30*time.Minute), ext(s.ID))
		return err
	}, s) {
		return
	}

	got, err := f.src.Extend(ctx(t), s.ID, 2*time.Hour, at(30*time.Minute), ext(s.ID))
	if err != nil {
		t.Fatalf("Extend: %v", err)
	}
	want := s
	want.ExpiresAt = at(3 * time.Hour)
	f.wantSession(t, "Extend returned", want, got)
	if s.Version > 0 && got.Version <= s.Version {
		t.Fatalf("Extend Version %d -> %d", s.Version, got.Version)
	}
	f.wantSession(t, "Session after Extend", want, mustSession(t, f.src, s.ID))

	// No absolute limit: any extension.
	got, err = f.src.Extend(ctx(t), s.ID, 365*24*time.Hour, at(time.Minute), ext(s.ID))
	if err != nil || !f.trunc(got.ExpiresAt).Equal(f.trunc(at(3*time.Hour+365*24*time.Hour))) {
		t.Fatalf("Extend without a limit = %v, %v", got.ExpiresAt, err)
	}
	es := mustAudit(t, f.src, data.AuditQuery{Action: data.ActionExtend})
	if len(es) != 2 || es[0].SessionID != s.ID || es[0].Actor != "root" {
		t.Fatalf("extend audit entries = %+v, want 2 for %s by root", es, short(s.ID))
	}
}

func testExtendRefuses(t *testing.T, f *fixture) {
	alice := person("alice", "admin")
	now := at(time.Hour)
	atNow, before := alice, alice
	atNow.ExpiresAt = now
	before.ExpiresAt = now.Add(-time.Hour)
	rows := f.seed(t, alice, atNow, before)
	ext := func(id string) data.AuditEntry { return auditEntry(data.ActionExtend, "root", "alice", id) }
	if f.refuses(t, data.ActionExtend, func() error {
		_, err := f.src.Extend(ctx(t), rows[0].ID, time.Hour, now, ext(rows[0].ID))
		return err
	}, rows...) {
		return
	}

	unknown := f.unknownID("unknown")
	_, err := f.src.Extend(ctx(t), unknown, time.Hour, now, ext(unknown))
	wantErr(t, "Extend(unknown)", err, data.ErrNotFound)

	ended, gone := f.end(t, rows[0].ID, data.End{At: at(time.Minute), Reason: data.EndForced, By: "root"})
	_, err = f.src.Extend(ctx(t), ended.ID, time.Hour, now, ext(ended.ID))
	if gone {
		wantErr(t, "Extend(ended and deleted)", err, data.ErrNotFound)
	} else {
		wantErr(t, "Extend(ended)", err, data.ErrEnded)
		f.wantUnchanged(t, "after a refused Extend", ended)
	}

	for i, name := range []string{"expires-at-now", "expired-before"} {
		x := rows[1+i]
		// Even an extension that would put ExpiresAt back in the future
		// must not revive it.
		_, err = f.src.Extend(ctx(t), x.ID, 2*time.Hour, now, ext(x.ID))
		wantErr(t, "Extend("+name+")", err, data.ErrEnded)
		f.wantUnchanged(t, "after a refused Extend", x)
	}
	if es := mustAudit(t, f.src, data.AuditQuery{Action: data.ActionExtend}); len(es) != 0 {
		t.Fatalf("refused Extend calls wrote %d audit entries", len(es))
	}
}

// testChangesSeen: a poller asking ChangesSince sees new sessions, ends and
// extends, each with a Version above the last it saw. A poll-only source
// (Version 0 with sessions present) skips.
func testChangesSeen(t *testing.T, f *fixture) {
	if c := mustChanges(t, f.src, 0, 10); len(c.Sessions) != 0 || c.More {
		t.Fatalf("ChangesSince on no sessions = %+v", c)
	}
	rows := f.seed(t, person("alice", "admin"), person("bob", "viewer"))
	c := mustChanges(t, f.src, 0, 100)
	if c.Version == 0 {
		t.Skip("poll-only source: ChangesSince reports Version 0 with sessions present")
	}
	if got := ids(c.Sessions); len(got) != 2 || !(got[0] == rows[0].ID && got[1] == rows[1].ID || got[0] == rows[1].ID && got[1] == rows[0].ID) {
		t.Fatalf("ChangesSince(0) after seeding = %s, want both seeded", shortIDs(got))
	}
	for _, s := range c.Sessions {
		f.wantSession(t, "ChangesSince row", mustSession(t, f.src, s.ID), s)
	}
	since := c.Version

	if f.refusal(data.ActionExtend) == nil {
		ext, err := f.src.Extend(ctx(t), rows[1].ID, time.Hour, at(time.Minute), auditEntry(data.ActionExtend, "root", "bob", rows[1].ID))
		if err != nil {
			t.Fatalf("Extend: %v", err)
		}
		c = mustChanges(t, f.src, since, 100)
		if len(c.Sessions) != 1 || c.Sessions[0].ID != ext.ID || c.Version <= since {
			t.Fatalf("ChangesSince(%d) after Extend = %s, Version %d; want the extended row and a higher Version", since, shortIDs(ids(c.Sessions)), c.Version)
		}
		f.wantSession(t, "extended row in ChangesSince", ext, c.Sessions[0])
		since = c.Version
	}
	if f.refusal(data.ActionForceLogout) == nil {
		ended, gone := f.end(t, rows[0].ID, data.End{At: at(2 * time.Minute), Reason: data.EndForced, By: "root"})
		c = mustChanges(t, f.src, since, 100)
		if !gone && (len(c.Sessions) != 1 || c.Sessions[0].ID != ended.ID || c.Sessions[0].EndedAt.IsZero() || c.Version <= since) {
			t.Fatalf("ChangesSince(%d) after EndSession = %+v; want the ended row and a higher Version", since, c)
		}
		since = c.Version
	}
	if c := mustChanges(t, f.src, since, 100); len(c.Sessions) != 0 || c.More || c.Version != since {
		t.Fatalf("ChangesSince(highest) = %+v, want nothing and Version %d", c, since)
	}
}

var passwordInURL = regexp.MustCompile(`://[^/@\s]*:[^/@\s]+@`)

func testPingDescribe(t *testing.T, f *fixture) {
	if err := f.src.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	d := f.src.Describe()
	if strings.TrimSpace(d) == "" {
		t.Fatal("Describe is empty")
	}
	low := strings.ToLower(d)
	if strings.Contains(low, "password") || passwordInURL.MatchString(d) {
		t.Fatalf("Describe shows a password: %q", d)
	}
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// testIDs: every id a source hands out passes its own IDChecker (or, without
// one, has sessionmon's shape), and malformed ids are refused before any
// query could see them.
func testIDs(t *testing.T, f *fixture) {
	rows := f.seed(t, person("alice", "admin"), person("bob", "viewer"))
	c, ok := f.src.(data.IDChecker)
	if !ok {
		for _, s := range rows {
			if !hex64.MatchString(s.ID) {
				t.Fatalf("id %q is not 64 lowercase hex digits, and the source has no IDChecker", s.ID)
			}
		}
		return
	}
	for _, id := range append(ids(rows), f.unknownID("x")) {
		if err := c.CheckID(id); err != nil {
			t.Fatalf("CheckID(%q) of an id the source hands out: %v", id, err)
		}
	}
	for _, bad := range []string{
		"", " ", "'; DROP TABLE sessions; --", "' OR '1'='1", strings.Repeat("a", 1000),
		"abc def", "../../etc/passwd", "ÄÖÜ", rows[0].ID + "\x00", " " + rows[0].ID,
	} {
		err := c.CheckID(bad)
		if err == nil {
			t.Errorf("CheckID(%.40q) = nil, want an error", bad)
		} else if strings.TrimSpace(err.Error()) == "" {
			t.Errorf("CheckID(%.40q) returned an empty message", bad)
		}
	}
}
