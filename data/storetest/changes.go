package storetest

import (
	"maps"
	"slices"
	"testing"
	"time"

	"sessionmon/data"
)

var statsCases = []sourceCase{
	{"Counts", testStats},
	{"Empty", testStatsEmpty},
}

var changesCases = []testCase{
	{"VersionsIncrease", testChangesVersions},
	{"LimitAndMore", testChangesLimit},
	{"NotReusedAfterPurge", testChangesAfterPurge},
}

var purgeCases = []testCase{
	{"DeletesOldRows", testPurge},
}

func testStats(t *testing.T, f *fixture) {
	admin, viewer, op := person("ann", "admin"), person("vic", "viewer"), person("oli", "operator")
	now := at(time.Hour)

	mk := func(s data.Session, login, expires time.Time) data.Session {
		s.LoginTime, s.LastActivity, s.ExpiresAt = login, login, expires
		return s
	}
	rows := f.seed(t,
		mk(admin, at(58*time.Minute), at(90*time.Minute)),           // active, expiring, recent
		mk(admin, at(0), at(3*time.Hour)),                           // active
		mk(viewer, at(0), at(time.Hour+59*time.Minute)),             // active, expiring
		mk(viewer, at(59*time.Minute), at(5*time.Hour)),             // ended, recent
		mk(op, at(-time.Hour), at(30*time.Minute)),                  // expired
		mk(viewer, at(56*time.Minute), at(2*time.Hour+time.Minute)), // active, recent
		mk(op, at(57*time.Minute), at(59*time.Minute)),              // expired, recent
	)
	_, gone := f.end(t, rows[3].ID, data.End{At: at(59*time.Minute + time.Second), Reason: data.EndLogout, By: "vic"})

	got, err := f.src.Stats(ctx(t), data.StatsQuery{Now: now, ExpiryWindow: time.Hour, LoginWindow: 5 * time.Minute})
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	want := data.Stats{
		Active:         4,
		ByRole:         map[string]int64{"admin": 2, "viewer": 2},
		ExpiringWithin: 2,
		RecentLogins:   4,
	}
	if gone {
		want.RecentLogins-- // the ended session's row is gone with its login time
	}
	if got.Active != want.Active || got.ExpiringWithin != want.ExpiringWithin ||
		got.RecentLogins != want.RecentLogins || !maps.Equal(got.ByRole, want.ByRole) {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
}

func testStatsEmpty(t *testing.T, f *fixture) {
	got, err := f.src.Stats(ctx(t), data.StatsQuery{Now: at(0), ExpiryWindow: time.Hour, LoginWindow: time.Minute})
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if got.Active != 0 || got.ExpiringWithin != 0 || got.RecentLogins != 0 || len(got.ByRole) != 0 {
		t.Fatalf("Stats on an empty store = %+v", got)
	}
}

func mustChanges(t *testing.T, st data.Source, since int64, limit int) data.Changes {
	t.Helper()
	c, err := st.ChangesSince(ctx(t), since, limit)
	if err != nil {
		t.Fatalf("ChangesSince(%d, %d): %v", since, limit, err)
	}
	for i, s := range c.Sessions {
		if s.Version <= since {
			t.Fatalf("ChangesSince(%d): row with Version %d", since, s.Version)
		}
		if i > 0 && s.Version <= c.Sessions[i-1].Version {
			t.Fatalf("ChangesSince(%d): Versions not strictly increasing: %d then %d", since, c.Sessions[i-1].Version, s.Version)
		}
		if s.Version > c.Version {
			t.Fatalf("ChangesSince(%d): row Version %d above the reported Version %d", since, s.Version, c.Version)
		}
	}
	return c
}

func testChangesVersions(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "admin")
	if c := mustChanges(t, st, 0, 10); len(c.Sessions) != 0 || c.More {
		t.Fatalf("ChangesSince on no sessions = %+v", c)
	}

	var versions []int64
	step := func(what string, v int64) {
		t.Helper()
		if n := len(versions); n > 0 && v <= versions[n-1] {
			t.Fatalf("%s: Version %d not above the previous write's %d", what, v, versions[n-1])
		}
		versions = append(versions, v)
	}

	s1 := mustCreate(t, st, newSession(u, "s1"))
	step("create s1", s1.Version)
	s2 := mustCreate(t, st, newSession(u, "s2"))
	step("create s2", s2.Version)
	mid := s2.Version
	// Touch leaves Version alone (data.Store.Touch): a per-request
	// indexed write is what it must not be. Nothing new shows in the feed.
	got, err := st.Touch(ctx(t), s1.ID, at(time.Minute), at(time.Minute+CookieAge))
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != s1.Version || mustSession(t, st, s1.ID).Version != s1.Version {
		t.Fatalf("touch s1: Version %d (stored %d), want it unchanged at %d", got.Version, mustSession(t, st, s1.ID).Version, s1.Version)
	}
	if c := mustChanges(t, st, mid, 10); len(c.Sessions) != 0 || c.Version != mid {
		t.Fatalf("after a touch ChangesSince(%d) = %d rows, Version %d; want none and %d", mid, len(c.Sessions), c.Version, mid)
	}
	step("end s2", mustEnd(t, st, s2.ID, data.End{At: at(2 * time.Minute), Reason: data.EndLogout, By: "alice"}).Version)
	got, err = st.Extend(ctx(t), s1.ID, time.Hour, at(3*time.Minute), auditEntry(data.ActionExtend, "root", "alice", s1.ID))
	if err != nil {
		t.Fatal(err)
	}
	step("extend s1", got.Version)
	s3 := newSession(u, "s3")
	s3.LoginTime, s3.LastActivity = at(4*time.Minute), at(4*time.Minute)
	s3, err = st.CreateSession(ctx(t), s3, s1.ID, data.Guard{}, auditEntry(data.ActionLogin, "alice", "alice", s3.ID))
	if err != nil {
		t.Fatal(err)
	}
	replaced := mustSession(t, st, s1.ID)
	a, b := min(replaced.Version, s3.Version), max(replaced.Version, s3.Version)
	if a == b {
		t.Fatalf("replace: old and new rows share Version %d", a)
	}
	step("replace (first row)", a)
	step("replace (second row)", b)
	s4 := mustCreate(t, st, newSession(u, "s4"))
	step("create s4", s4.Version)
	_, n, err := st.SetUserStatus(ctx(t), "alice", data.StatusInactive, data.End{At: at(5 * time.Minute), Reason: data.EndForced, By: "root"},
		auditEntry(data.ActionUserDeactivate, "root", "alice", ""))
	if err != nil || n != 2 {
		t.Fatalf("SetUserStatus = %d, %v; want 2 sessions ended", n, err)
	}
	v3, v4 := mustSession(t, st, s3.ID).Version, mustSession(t, st, s4.ID).Version
	step("deactivate (first row)", min(v3, v4))
	step("deactivate (second row)", max(v3, v4))
	highest := versions[len(versions)-1]

	// Every current row, in Version order.
	c := mustChanges(t, st, 0, 100)
	if c.More || c.Version != highest {
		t.Fatalf("ChangesSince(0) More=%v Version=%d, want false and %d", c.More, c.Version, highest)
	}
	wantIDs := []string{s2.ID, s1.ID, s3.ID, s4.ID}
	slices.SortFunc(wantIDs, func(x, y string) int {
		return int(mustSession(t, st, x).Version - mustSession(t, st, y).Version)
	})
	if got := ids(c.Sessions); !slices.Equal(got, wantIDs) {
		t.Fatalf("ChangesSince(0) = %s, want %s", shortIDs(got), shortIDs(wantIDs))
	}
	for _, s := range c.Sessions {
		cur := mustSession(t, st, s.ID)
		wantSession(t, "ChangesSince row", cur, s)
		if cur.Version != s.Version {
			t.Fatalf("ChangesSince row Version %d, stored %d", s.Version, cur.Version)
		}
	}
	// s2 was ended after mid, so it is included; nothing at or below mid is.
	c = mustChanges(t, st, mid, 100)
	if len(c.Sessions) != 4 || c.Version != highest {
		t.Fatalf("ChangesSince(%d) = %d rows, Version %d", mid, len(c.Sessions), c.Version)
	}
	c = mustChanges(t, st, highest, 100)
	if len(c.Sessions) != 0 || c.More || c.Version != highest {
		t.Fatalf("ChangesSince(highest) = %+v, want nothing and Version %d", c, highest)
	}
	// Users are not sessions: user writes do not show up as rows.
	mustUser(t, st, "zed", "viewer")
	if c := mustChanges(t, st, highest, 100); len(c.Sessions) != 0 {
		t.Fatalf("a user write produced session changes: %+v", c)
	}
}

func testChangesLimit(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "admin")
	var all []data.Session
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		all = append(all, mustCreate(t, st, newSession(u, n)))
	}
	// Extend two so the Version order differs from the creation order.
	for _, s := range []data.Session{all[1], all[4]} {
		if _, err := st.Extend(ctx(t), s.ID, time.Hour, at(time.Minute), auditEntry(data.ActionExtend, "root", "alice", s.ID)); err != nil {
			t.Fatal(err)
		}
	}
	full := mustChanges(t, st, 0, 100)
	if len(full.Sessions) != 7 {
		t.Fatalf("ChangesSince(0) = %d rows, want 7", len(full.Sessions))
	}
	for _, limit := range []int{1, 3, 7} {
		var walked []string
		since := int64(0)
		for range 10 {
			c := mustChanges(t, st, since, limit)
			if len(c.Sessions) > limit {
				t.Fatalf("limit %d: %d rows", limit, len(c.Sessions))
			}
			if c.Version != full.Version {
				t.Fatalf("limit %d: Version = %d, want the store's highest %d", limit, c.Version, full.Version)
			}
			walked = append(walked, ids(c.Sessions)...)
			if !c.More {
				break
			}
			if len(c.Sessions) == 0 {
				t.Fatalf("limit %d: More with no rows", limit)
			}
			since = c.Sessions[len(c.Sessions)-1].Version
		}
		if !slices.Equal(walked, ids(full.Sessions)) {
			t.Fatalf("limit %d: walked %s, want %s", limit, shortIDs(walked), shortIDs(ids(full.Sessions)))
		}
	}
	if c := mustChanges(t, st, 0, 7); c.More {
		t.Fatal("More with exactly limit rows left")
	}
}

func testChangesAfterPurge(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "admin")
	keep := mustCreate(t, st, newSession(u, "keep"))
	gone := mustCreate(t, st, newSession(u, "gone"))
	gone = mustEnd(t, st, gone.ID, data.End{At: at(time.Minute), Reason: data.EndLogout, By: "alice"})
	highest := gone.Version
	if c := mustChanges(t, st, 0, 10); c.Version != highest {
		t.Fatalf("Version = %d, want %d", c.Version, highest)
	}

	n, err := st.Purge(ctx(t), at(time.Hour), auditEntry(data.ActionPurge, "system", "", ""))
	if err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v; want 1", n, err)
	}
	// The newest row is gone, but its Version stays handed out.
	c := mustChanges(t, st, 0, 10)
	if c.Version != highest || len(c.Sessions) != 1 || c.Sessions[0].ID != keep.ID {
		t.Fatalf("after Purge ChangesSince(0) = %d rows, Version %d; want [keep] and %d", len(c.Sessions), c.Version, highest)
	}
	if c := mustChanges(t, st, highest, 10); len(c.Sessions) != 0 || c.Version != highest {
		t.Fatalf("after Purge ChangesSince(highest) = %+v", c)
	}
	next := mustCreate(t, st, newSession(u, "next"))
	if next.Version <= highest {
		t.Fatalf("Version %d reused after Purge (highest handed out was %d)", next.Version, highest)
	}
	extended, err := st.Extend(ctx(t), keep.ID, time.Hour, at(2*time.Minute), auditEntry(data.ActionExtend, "root", "alice", keep.ID))
	if err != nil || extended.Version <= next.Version {
		t.Fatalf("Extend after Purge: Version %d, %v; want above %d", extended.Version, err, next.Version)
	}
}

func testPurge(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "admin")
	before := at(3 * 24 * time.Hour)
	ended := func(name string, endAt time.Time) data.Session {
		return mustEnd(t, st, mustCreate(t, st, newSession(u, name)).ID, data.End{At: endAt, Reason: data.EndLogout, By: "alice"})
	}
	expiring := func(name string, exp time.Time) data.Session {
		s := newSession(u, name)
		s.ExpiresAt = exp
		return mustCreate(t, st, s)
	}
	endedOld := ended("ended-old", at(time.Hour))
	expiredOld := expiring("expired-old", at(2*24*time.Hour))
	endedRecent := ended("ended-recent", at(4*24*time.Hour))
	expiredRecent := expiring("expired-recent", at(4*24*time.Hour))
	active := mustCreate(t, st, newSession(u, "active"))

	p := auditEntry(data.ActionPurge, "system", "", "")
	p.Detail = "retention 7d"
	n, err := st.Purge(ctx(t), before, p)
	if err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want 2", n, err)
	}
	for _, s := range []data.Session{endedOld, expiredOld} {
		_, err := st.Session(ctx(t), s.ID)
		wantErr(t, "Session(purged)", err, data.ErrNotFound)
	}
	for _, s := range []data.Session{endedRecent, expiredRecent, active} {
		wantSession(t, "kept by Purge", s, mustSession(t, st, s.ID))
	}
	es := mustAudit(t, st, data.AuditQuery{Action: data.ActionPurge})
	if len(es) != 1 || es[0].Detail != "retention 7d" {
		t.Fatalf("purge audit = %+v, want the one entry passed", es)
	}

	n, err = st.Purge(ctx(t), before, auditEntry(data.ActionPurge, "system", "", ""))
	if err != nil || n != 0 {
		t.Fatalf("second Purge = %d, %v; want 0", n, err)
	}
	if es := mustAudit(t, st, data.AuditQuery{Action: data.ActionPurge}); len(es) != 1 {
		t.Fatalf("a Purge that deleted nothing wrote an audit entry (%d entries)", len(es))
	}
}
