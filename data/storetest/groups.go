package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"sessionmon/data"
)

// The optional aggregate capabilities (data.Grouper, data.Histogrammer,
// data.Counter). A store without one skips its cases.
var groupCases = []testCase{
	{"GroupByUser", testGroupByUser},
	{"GroupByIP", testGroupByIP},
	{"GroupTextAndLimit", testGroupTextAndLimit},
	{"GroupInvalid", testGroupInvalid},
	{"Histogram", testHistogram},
	{"HistogramInvalid", testHistogramInvalid},
	{"CountMatchesListing", testCountMatchesListing},
}

func grouper(t *testing.T, st data.Store) data.Grouper {
	g, ok := st.(data.Grouper)
	if !ok {
		t.Skip("the store does not implement data.Grouper")
	}
	return g
}

// groupFixture stores, at groupNow:
//
//	alice: 3 active (2 from 192.0.2.1, 1 from 192.0.2.2; one logged in as staff)
//	bob:   2 active from 192.0.2.1
//	erin:  2 active from 192.0.2.3
//	carol: 1 active from 192.0.2.1, 1 ended, 1 expired, 1 expiring exactly at groupNow
var groupNow = at(time.Hour)

func groupFixture(t *testing.T, st data.Store) {
	mk := func(u data.User, name, ip string, login time.Duration) data.Session {
		s := newSession(u, name)
		s.IP = ip
		s.LoginTime = at(login)
		s.LastActivity = at(login + time.Minute)
		s.ExpiresAt = at(login + CookieAge)
		return s
	}
	alice := mustUser(t, st, "alice", "admin")
	bob := mustUser(t, st, "bob", "viewer")
	erin := mustUser(t, st, "erin", "viewer")
	carol := mustUser(t, st, "carol", "auditor")
	mustCreate(t, st, mk(alice, "a1", "192.0.2.1", 1*time.Minute))
	a2 := mk(alice, "a2", "192.0.2.1", 5*time.Minute)
	a2.Role = "staff" // the role at login, before a change
	mustCreate(t, st, a2)
	mustCreate(t, st, mk(alice, "a3", "192.0.2.2", 3*time.Minute))
	mustCreate(t, st, mk(bob, "b1", "192.0.2.1", 2*time.Minute))
	mustCreate(t, st, mk(bob, "b2", "192.0.2.1", 7*time.Minute))
	mustCreate(t, st, mk(erin, "e1", "192.0.2.3", 2*time.Minute))
	mustCreate(t, st, mk(erin, "e2", "192.0.2.3", 4*time.Minute))
	mustCreate(t, st, mk(carol, "c1", "192.0.2.1", 9*time.Minute))
	ended := mustCreate(t, st, mk(carol, "c-ended", "192.0.2.9", 20*time.Minute))
	mustEnd(t, st, ended.ID, data.End{At: at(30 * time.Minute), Reason: data.EndLogout, By: "carol"})
	expired := mk(carol, "c-expired", "192.0.2.9", 20*time.Minute)
	expired.ExpiresAt = groupNow.Add(-time.Second)
	mustCreate(t, st, expired)
	atNow := mk(carol, "c-at-now", "192.0.2.9", 20*time.Minute)
	atNow.ExpiresAt = groupNow // expired at groupNow (ExpiresAt <= now)
	mustCreate(t, st, atNow)
}

func mustGroup(t *testing.T, g data.Grouper, q data.GroupQuery) data.Groups {
	t.Helper()
	out, err := g.GroupActive(ctx(t), q)
	if err != nil {
		t.Fatalf("GroupActive(%+v): %v", q, err)
	}
	return out
}

func wantGroups(t *testing.T, got data.Groups, total int64, want ...data.Group) {
	t.Helper()
	if got.Total != total {
		t.Errorf("Total = %d, want %d", got.Total, total)
	}
	if len(got.Groups) != len(want) {
		t.Fatalf("groups = %+v, want %+v", got.Groups, want)
	}
	for i, w := range want {
		g := got.Groups[i]
		d := ""
		if g.Key != w.Key || g.Sessions != w.Sessions || g.Others != w.Others || !slices.Equal(g.Roles, w.Roles) {
			d = fmt.Sprintf("key %q sessions %d others %d roles %q; ", g.Key, g.Sessions, g.Others, g.Roles)
		}
		d += timeDiff("NewestLogin", w.NewestLogin, g.NewestLogin)
		d += timeDiff("LastActivity", w.LastActivity, g.LastActivity)
		if d != "" {
			t.Errorf("group %d: %s want %+v", i, d, w)
		}
	}
}

func testGroupByUser(t *testing.T, st data.Store) {
	g := grouper(t, st)
	groupFixture(t, st)
	got := mustGroup(t, g, data.GroupQuery{Now: groupNow, By: data.GroupByUser})
	// Largest first; bob and erin tie at 2 and go by name; carol's ended,
	// expired and expiring-now sessions do not count.
	wantGroups(t, got, 4,
		data.Group{Key: "alice", Sessions: 3, Others: 2, Roles: []string{"admin", "staff"},
			NewestLogin: at(5 * time.Minute), LastActivity: at(6 * time.Minute)},
		data.Group{Key: "bob", Sessions: 2, Others: 1, Roles: []string{"viewer"},
			NewestLogin: at(7 * time.Minute), LastActivity: at(8 * time.Minute)},
		data.Group{Key: "erin", Sessions: 2, Others: 1, Roles: []string{"viewer"},
			NewestLogin: at(4 * time.Minute), LastActivity: at(5 * time.Minute)},
		data.Group{Key: "carol", Sessions: 1, Others: 1, Roles: []string{"auditor"},
			NewestLogin: at(9 * time.Minute), LastActivity: at(10 * time.Minute)},
	)
}

func testGroupByIP(t *testing.T, st data.Store) {
	g := grouper(t, st)
	groupFixture(t, st)
	got := mustGroup(t, g, data.GroupQuery{Now: groupNow, By: data.GroupByIP})
	// One address behind three accounts: Others counts the users.
	wantGroups(t, got, 3,
		data.Group{Key: "192.0.2.1", Sessions: 5, Others: 3, Roles: []string{"admin", "auditor", "staff", "viewer"},
			NewestLogin: at(9 * time.Minute), LastActivity: at(10 * time.Minute)},
		data.Group{Key: "192.0.2.3", Sessions: 2, Others: 1, Roles: []string{"viewer"},
			NewestLogin: at(4 * time.Minute), LastActivity: at(5 * time.Minute)},
		data.Group{Key: "192.0.2.2", Sessions: 1, Others: 1, Roles: []string{"admin"},
			NewestLogin: at(3 * time.Minute), LastActivity: at(4 * time.Minute)},
	)
	// Nothing active: no groups, no error.
	got = mustGroup(t, g, data.GroupQuery{Now: groupNow.Add(2 * CookieAge), By: data.GroupByIP})
	wantGroups(t, got, 0)
}

func testGroupTextAndLimit(t *testing.T, st data.Store) {
	g := grouper(t, st)
	groupFixture(t, st)
	keys := func(gs data.Groups) []string {
		var out []string
		for _, x := range gs.Groups {
			out = append(out, x.Key)
		}
		return out
	}
	for _, c := range []struct {
		q     data.GroupQuery
		want  []string
		total int64
	}{
		// The limit cuts the answer, not the total.
		{data.GroupQuery{By: data.GroupByUser, Limit: 2}, []string{"alice", "bob"}, 4},
		// Text is a case-insensitive substring of the key only.
		{data.GroupQuery{By: data.GroupByUser, Text: "R"}, []string{"erin", "carol"}, 2},
		{data.GroupQuery{By: data.GroupByIP, Text: ".2."}, []string{"192.0.2.1", "192.0.2.3", "192.0.2.2"}, 3},
		{data.GroupQuery{By: data.GroupByIP, Text: "2.3"}, []string{"192.0.2.3"}, 1},
		// Not the other key: "alice" is no IP.
		{data.GroupQuery{By: data.GroupByIP, Text: "alice"}, nil, 0},
		// Wildcards are literal.
		{data.GroupQuery{By: data.GroupByUser, Text: "%"}, nil, 0},
		{data.GroupQuery{By: data.GroupByUser, Text: "_"}, nil, 0},
		{data.GroupQuery{By: data.GroupByUser, Text: `' OR 1=1 --`}, nil, 0},
	} {
		c.q.Now = groupNow
		got := mustGroup(t, g, c.q)
		if !slices.Equal(keys(got), c.want) || (len(c.want) > 0 && got.Total != c.total) {
			t.Errorf("GroupActive(%+v) = %q total %d, want %q total %d", c.q, keys(got), got.Total, c.want, c.total)
		}
	}
}

func testGroupInvalid(t *testing.T, st data.Store) {
	g := grouper(t, st)
	if _, err := g.GroupActive(ctx(t), data.GroupQuery{Now: groupNow, By: "role; DROP TABLE sessions"}); err == nil {
		t.Fatal("GroupActive with an unknown grouping: no error")
	}
}

func testHistogram(t *testing.T, st data.Store) {
	h, ok := st.(data.Histogrammer)
	if !ok {
		t.Skip("the store does not implement data.Histogrammer")
	}
	q := data.HistogramQuery{Now: at(time.Hour), Step: time.Minute, Buckets: 60}
	start := q.Start()
	if !start.Equal(q.Now.Truncate(time.Minute).Add(-59*time.Minute)) || !q.End().Equal(start.Add(time.Hour)) {
		t.Fatalf("Start, End = %v, %v", start, q.End())
	}
	add := func(action string, when time.Time, n int) {
		for range n {
			e := auditEntry(action, "x", "x", "")
			e.Time = when
			mustAppend(t, st, e)
		}
	}
	add(data.ActionLogin, start.Add(-time.Microsecond), 3)                  // before the first bucket
	add(data.ActionLogin, start, 2)                                         // first bucket, at its start
	add(data.ActionLoginFailed, start.Add(time.Minute-time.Microsecond), 1) // still the first
	add(data.ActionLoginFailed, start.Add(10*time.Minute+30*time.Second), 4)
	add(data.ActionLogout, start.Add(10*time.Minute), 5) // another action
	add(data.ActionLogin, q.Now, 1)                      // last bucket
	add(data.ActionLogin, q.End().Add(-time.Microsecond), 1)
	add(data.ActionLogin, q.End(), 7) // after the last bucket

	got, err := h.AuditHistogram(ctx(t), q)
	if err != nil {
		t.Fatalf("AuditHistogram: %v", err)
	}
	wantL, wantF := make([]int64, 60), make([]int64, 60)
	wantL[0], wantF[0], wantF[10], wantL[59] = 2, 1, 4, 2
	if !slices.Equal(got.Logins, wantL) || !slices.Equal(got.Failed, wantF) {
		t.Fatalf("AuditHistogram:\n logins %v\n failed %v\nwant\n logins %v\n failed %v", got.Logins, got.Failed, wantL, wantF)
	}
	if !got.Start.Equal(start) || got.Step != time.Minute {
		t.Fatalf("Start, Step = %v, %v; want %v, 1m", got.Start, got.Step, start)
	}

	// An empty audit window is zeros, not an error.
	got, err = h.AuditHistogram(ctx(t), data.HistogramQuery{Now: at(48 * time.Hour), Step: 5 * time.Second, Buckets: 3})
	if err != nil || !slices.Equal(got.Logins, []int64{0, 0, 0}) || !slices.Equal(got.Failed, []int64{0, 0, 0}) {
		t.Fatalf("empty window: %+v, %v", got, err)
	}
}

func testHistogramInvalid(t *testing.T, st data.Store) {
	h, ok := st.(data.Histogrammer)
	if !ok {
		t.Skip("the store does not implement data.Histogrammer")
	}
	for _, q := range []data.HistogramQuery{
		{Now: T0, Step: 0, Buckets: 60},
		{Now: T0, Step: time.Minute, Buckets: 0},
		{Now: T0, Step: time.Minute, Buckets: 100000},
	} {
		if _, err := h.AuditHistogram(ctx(t), q); err == nil {
			t.Errorf("AuditHistogram(%+v): no error", q)
		}
	}
}

func testCountMatchesListing(t *testing.T, st data.Store) {
	c, ok := st.(data.Counter)
	if !ok {
		t.Skip("the store does not implement data.Counter")
	}
	groupFixture(t, st)
	for _, q := range []data.Query{
		{},
		{Text: "ALI"},
		{Username: "bob"},
		{Role: "viewer"},
		{Text: "nobody-at-all"},
	} {
		for _, sk := range data.SortKeys {
			for _, desc := range []bool{false, true} {
				q.Now, q.Sort, q.Desc, q.Limit = groupNow, sk, desc, 1000
				list := mustList(t, st, q).Sessions
				n, err := c.CountActive(ctx(t), q)
				if err != nil {
					t.Fatalf("CountActive(%+v): %v", q, err)
				}
				if n != int64(len(list)) {
					t.Fatalf("CountActive(%+v) = %d, want %d", q, n, len(list))
				}
				for i, s := range list {
					q.After = data.CursorOf(s, sk)
					n, err := c.CountActive(ctx(t), q)
					if err != nil {
						t.Fatalf("CountActive(%+v): %v", q, err)
					}
					if n != int64(i+1) {
						t.Fatalf("CountActive(sort %s desc %v text %q, after row %d) = %d, want %d",
							sk, desc, q.Text, i, n, i+1)
					}
				}
				q.After = nil
			}
		}
	}
}
