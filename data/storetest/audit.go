package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"sessionmon/data"
)

var auditCases = []testCase{
	{"AppendRoundTrip", testAuditRoundTrip},
	{"Queries", testAuditQueries},
	{"DefaultLimit", testAuditDefaultLimit},
	{"RecentFailures", testRecentFailures},
	{"RecentFailuresByUserIP", testRecentFailuresByUserIP},
}

func mustAppend(t *testing.T, st data.Store, e data.AuditEntry) {
	t.Helper()
	if err := st.AppendAudit(ctx(t), e); err != nil {
		t.Fatalf("AppendAudit(%+v): %v", e, err)
	}
}

func testAuditRoundTrip(t *testing.T, st data.Store) {
	want := data.AuditEntry{
		Time:      at(time.Second),
		Actor:     "operator-bob",
		Action:    data.ActionLoginFailed,
		Username:  "alice",
		SessionID: SessionID("x"),
		IP:        "2001:db8::7",
		Detail:    `bad password; "quoted" 'single' ünïcode`,
	}
	mustAppend(t, st, want)
	es := mustAudit(t, st, data.AuditQuery{})
	if len(es) != 1 {
		t.Fatalf("Audit = %d entries, want 1", len(es))
	}
	got := es[0]
	if got.ID <= 0 {
		t.Fatalf("ID = %d, want assigned", got.ID)
	}
	if d := timeDiff("Time", want.Time, got.Time); d != "" {
		t.Fatal(d)
	}
	got.ID, got.Time, want.Time = 0, time.Time{}, time.Time{}
	if got != want {
		t.Fatalf("Audit entry = %+v, want %+v", got, want)
	}
}

func testAuditQueries(t *testing.T, st data.Store) {
	users := []string{"alice", "bob", "carol"}
	acts := []string{data.ActionLogin, data.ActionLogout, data.ActionExtend}
	sids := []string{SessionID("s0"), SessionID("s1")}
	type key struct{ user, action, sid string }
	var appended []key
	for i := range 30 {
		k := key{users[i%3], acts[(i/3)%3], sids[i%2]}
		appended = append(appended, k)
		mustAppend(t, st, data.AuditEntry{
			Time: at(time.Duration(i) * time.Second), Actor: k.user, Action: k.action,
			Username: k.user, SessionID: k.sid, Detail: fmt.Sprint(i),
		})
	}
	check := func(q data.AuditQuery) []data.AuditEntry {
		t.Helper()
		es := mustAudit(t, st, q)
		var want []string
		for i := len(appended) - 1; i >= 0; i-- {
			k := appended[i]
			if (q.Username == "" || q.Username == k.user) && (q.Action == "" || q.Action == k.action) &&
				(q.SessionID == "" || q.SessionID == k.sid) {
				want = append(want, fmt.Sprint(i))
			}
		}
		if q.Limit > 0 && len(want) > q.Limit {
			want = want[:q.Limit]
		}
		var got []string
		for j, e := range es {
			got = append(got, e.Detail)
			if j > 0 && e.ID >= es[j-1].ID {
				t.Fatalf("Audit(%+v) not newest first: ID %d after %d", q, e.ID, es[j-1].ID)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("Audit(%+v) = %v, want %v", q, got, want)
		}
		return es
	}
	check(data.AuditQuery{})
	check(data.AuditQuery{Username: "bob"})
	check(data.AuditQuery{Action: data.ActionExtend})
	check(data.AuditQuery{SessionID: sids[1]})
	check(data.AuditQuery{Username: "alice", Action: data.ActionLogin})
	check(data.AuditQuery{Username: "alice", Action: data.ActionLogout, SessionID: sids[0]})
	check(data.AuditQuery{Username: "nobody"})
	check(data.AuditQuery{Username: "' OR '1'='1"})
	check(data.AuditQuery{Limit: 4})
	check(data.AuditQuery{Username: "carol", Limit: 2})

	// BeforeID paging walks everything, newest first, exactly once.
	for _, q := range []data.AuditQuery{{Limit: 7}, {Limit: 3, Username: "bob"}} {
		all := mustAudit(t, st, data.AuditQuery{Username: q.Username})
		var walked []int64
		for range 50 {
			es := mustAudit(t, st, q)
			for _, e := range es {
				walked = append(walked, e.ID)
			}
			if len(es) < q.Limit {
				break
			}
			q.BeforeID = es[len(es)-1].ID
		}
		if len(walked) != len(all) {
			t.Fatalf("BeforeID paging walked %d entries, want %d", len(walked), len(all))
		}
		for i, e := range all {
			if walked[i] != e.ID {
				t.Fatalf("BeforeID paging: entry %d is ID %d, want %d", i, walked[i], e.ID)
			}
		}
	}
}

func testAuditDefaultLimit(t *testing.T, st data.Store) {
	for i := range 101 {
		mustAppend(t, st, data.AuditEntry{Time: at(time.Duration(i) * time.Millisecond), Actor: "x", Action: data.ActionLogin, Detail: fmt.Sprint(i)})
	}
	es := mustAudit(t, st, data.AuditQuery{})
	if len(es) != 100 || es[0].Detail != "100" {
		t.Fatalf("Audit with Limit 0 = %d entries (first %q), want 100 newest first", len(es), es[0].Detail)
	}
	if es := mustAudit(t, st, data.AuditQuery{BeforeID: es[99].ID}); len(es) != 1 || es[0].Detail != "0" {
		t.Fatalf("the rest = %+v", es)
	}
}

func testRecentFailures(t *testing.T, st data.Store) {
	add := func(d time.Duration, action, user, ip string) {
		mustAppend(t, st, data.AuditEntry{Time: at(d), Actor: user, Action: action, Username: user, IP: ip})
	}
	add(30*time.Minute, data.ActionLoginFailed, "alice", "198.51.100.1") // too old for Since = 1h
	add(61*time.Minute, data.ActionLoginFailed, "alice", "198.51.100.1")
	add(62*time.Minute, data.ActionLoginFailed, "alice", "198.51.100.1")
	add(63*time.Minute, data.ActionLoginFailed, "alice", "203.0.113.2")
	add(64*time.Minute, data.ActionLoginFailed, "bob", "198.51.100.1")
	add(65*time.Minute, data.ActionLogin, "alice", "198.51.100.1") // not a failure
	// carol: appended out of time order, two at the same instant.
	add(72*time.Minute, data.ActionLoginFailed, "carol", "192.0.2.50")
	add(70*time.Minute, data.ActionLoginFailed, "carol", "192.0.2.50")
	add(70*time.Minute, data.ActionLoginFailed, "carol", "192.0.2.50")

	var zero time.Time
	for _, c := range []struct {
		since time.Duration
		q     data.FailureQuery
		want  data.Failures
	}{
		// Counts; a limit above the count (or none) gives no ClearsAt.
		{time.Hour, data.FailureQuery{Username: "alice", IP: "198.51.100.1"}, data.Failures{ByUser: 3, ByIP: 3}},
		{time.Hour, data.FailureQuery{Username: "alice", IP: "198.51.100.1", MaxByUser: 4, MaxByIP: 4}, data.Failures{ByUser: 3, ByIP: 3}},
		{time.Hour, data.FailureQuery{Username: "alice", MaxByUser: 9}, data.Failures{ByUser: 3}},
		{time.Hour, data.FailureQuery{Username: "nobody", IP: "192.0.2.99", MaxByUser: 1, MaxByIP: 1}, data.Failures{}},
		{time.Hour, data.FailureQuery{Username: "' OR '1'='1", IP: "' OR '1'='1", MaxByUser: 1, MaxByIP: 1}, data.Failures{}},
		// c = L: the oldest counted failure clears the count.
		{time.Hour, data.FailureQuery{Username: "alice", IP: "198.51.100.1", MaxByUser: 3, MaxByIP: 3},
			data.Failures{ByUser: 3, ByIP: 3, UserClearsAt: at(61 * time.Minute), IPClearsAt: at(61 * time.Minute)}},
		{time.Hour, data.FailureQuery{Username: "bob", IP: "203.0.113.2", MaxByUser: 1, MaxByIP: 1},
			data.Failures{ByUser: 1, ByIP: 1, UserClearsAt: at(64 * time.Minute), IPClearsAt: at(63 * time.Minute)}},
		// c > L: the (c-L+1)-th oldest.
		{time.Hour, data.FailureQuery{Username: "alice", IP: "198.51.100.1", MaxByUser: 2, MaxByIP: 1},
			data.Failures{ByUser: 3, ByIP: 3, UserClearsAt: at(62 * time.Minute), IPClearsAt: at(64 * time.Minute)}},
		// By time, not by insertion order; equal times leave together.
		{time.Hour, data.FailureQuery{Username: "carol", IP: "192.0.2.50", MaxByUser: 1, MaxByIP: 2},
			data.Failures{ByUser: 3, ByIP: 3, UserClearsAt: at(72 * time.Minute), IPClearsAt: at(70 * time.Minute)}},
		{time.Hour, data.FailureQuery{Username: "carol", MaxByUser: 3},
			data.Failures{ByUser: 3, UserClearsAt: at(70 * time.Minute)}},
		// An empty username or IP counts 0 and has no ClearsAt, whatever its limit.
		{time.Hour, data.FailureQuery{Username: "alice", MaxByUser: 3, MaxByIP: 1},
			data.Failures{ByUser: 3, UserClearsAt: at(61 * time.Minute)}},
		{time.Hour, data.FailureQuery{IP: "203.0.113.2", MaxByUser: 1, MaxByIP: 1},
			data.Failures{ByIP: 1, IPClearsAt: at(63 * time.Minute)}},
		// Since is inclusive: a failure exactly at Since counts, and clears.
		{62 * time.Minute, data.FailureQuery{Username: "alice", IP: "198.51.100.1", MaxByUser: 2, MaxByIP: 2},
			data.Failures{ByUser: 2, ByIP: 2, UserClearsAt: at(62 * time.Minute), IPClearsAt: at(62 * time.Minute)}},
		{62*time.Minute + time.Microsecond, data.FailureQuery{Username: "alice", IP: "198.51.100.1", MaxByUser: 2, MaxByIP: 2},
			data.Failures{ByUser: 1, ByIP: 1}},
		// Everything, from long ago.
		{0, data.FailureQuery{Username: "alice", IP: "198.51.100.1"}, data.Failures{ByUser: 4, ByIP: 4}},
		{0, data.FailureQuery{Username: "alice", IP: "198.51.100.1", MaxByUser: 4, MaxByIP: 2},
			data.Failures{ByUser: 4, ByIP: 4, UserClearsAt: at(30 * time.Minute), IPClearsAt: at(62 * time.Minute)}},
	} {
		c.q.Since = at(c.since)
		got, err := st.RecentFailures(ctx(t), c.q)
		if err != nil {
			t.Fatalf("RecentFailures(%+v): %v", c.q, err)
		}
		if got.ByUser != c.want.ByUser || got.ByIP != c.want.ByIP {
			t.Errorf("RecentFailures(%+v) counts = (%d, %d), want (%d, %d)", c.q, got.ByUser, got.ByIP, c.want.ByUser, c.want.ByIP)
		}
		if d := timeDiff("UserClearsAt", c.want.UserClearsAt, got.UserClearsAt) +
			timeDiff("IPClearsAt", c.want.IPClearsAt, got.IPClearsAt); d != "" {
			t.Errorf("RecentFailures(%+v): %s", c.q, d)
		}
		if c.want.UserClearsAt.IsZero() && got.UserClearsAt != zero || c.want.IPClearsAt.IsZero() && got.IPClearsAt != zero {
			t.Errorf("RecentFailures(%+v) = %+v: a missing ClearsAt must be the zero time.Time", c.q, got)
		}
	}
}

// testRecentFailuresByUserIP: the count for one username from one IP (the
// throttle's low limit) and the failure that clears it, beside the
// username's and the IP's own counts in the same answer.
func testRecentFailuresByUserIP(t *testing.T, st data.Store) {
	const a, b = "198.51.100.1", "203.0.113.2"
	add := func(d time.Duration, action, user, ip string) {
		mustAppend(t, st, data.AuditEntry{Time: at(d), Actor: user, Action: action, Username: user, IP: ip})
	}
	add(30*time.Minute, data.ActionLoginFailed, "alice", a) // too old for Since = 1h
	add(61*time.Minute, data.ActionLoginFailed, "alice", a)
	add(62*time.Minute, data.ActionLoginFailed, "alice", a)
	add(63*time.Minute, data.ActionLoginFailed, "alice", b)
	add(64*time.Minute, data.ActionLoginFailed, "bob", a)
	add(65*time.Minute, data.ActionLogin, "alice", a) // not a failure
	add(66*time.Minute, data.ActionLoginFailed, "alice", a)
	add(67*time.Minute, data.ActionLoginFailed, "alice", a+"0") // another IP that a is a prefix of
	// carol: appended out of time order, two at the same instant.
	add(72*time.Minute, data.ActionLoginFailed, "carol", "192.0.2.50")
	add(70*time.Minute, data.ActionLoginFailed, "carol", "192.0.2.50")
	add(70*time.Minute, data.ActionLoginFailed, "carol", "192.0.2.50")

	for _, c := range []struct {
		since time.Duration
		q     data.FailureQuery
		want  data.Failures
	}{
		// The three counts side by side: alice from a is 3 of alice's 5
		// and of a's 4.
		{time.Hour, data.FailureQuery{Username: "alice", IP: a},
			data.Failures{ByUser: 5, ByIP: 4, ByUserIP: 3}},
		{time.Hour, data.FailureQuery{Username: "alice", IP: a, MaxByUser: 9, MaxByIP: 9, MaxByUserIP: 4},
			data.Failures{ByUser: 5, ByIP: 4, ByUserIP: 3}},
		// c = L: the oldest counted failure clears the count; the other
		// limits, not reached, give no ClearsAt.
		{time.Hour, data.FailureQuery{Username: "alice", IP: a, MaxByUser: 9, MaxByIP: 9, MaxByUserIP: 3},
			data.Failures{ByUser: 5, ByIP: 4, ByUserIP: 3, UserIPClearsAt: at(61 * time.Minute)}},
		// c > L: the (c-L+1)-th oldest.
		{time.Hour, data.FailureQuery{Username: "alice", IP: a, MaxByUserIP: 2},
			data.Failures{ByUser: 5, ByIP: 4, ByUserIP: 3, UserIPClearsAt: at(62 * time.Minute)}},
		// All three at their limits, each with its own failure.
		{time.Hour, data.FailureQuery{Username: "alice", IP: a, MaxByUser: 2, MaxByIP: 4, MaxByUserIP: 1},
			data.Failures{ByUser: 5, ByIP: 4, ByUserIP: 3,
				UserClearsAt: at(66 * time.Minute), IPClearsAt: at(61 * time.Minute), UserIPClearsAt: at(66 * time.Minute)}},
		// Other pairs.
		{time.Hour, data.FailureQuery{Username: "alice", IP: b, MaxByUserIP: 1},
			data.Failures{ByUser: 5, ByIP: 1, ByUserIP: 1, UserIPClearsAt: at(63 * time.Minute)}},
		{time.Hour, data.FailureQuery{Username: "bob", IP: a, MaxByUserIP: 1},
			data.Failures{ByUser: 1, ByIP: 4, ByUserIP: 1, UserIPClearsAt: at(64 * time.Minute)}},
		{time.Hour, data.FailureQuery{Username: "bob", IP: b, MaxByUserIP: 1},
			data.Failures{ByUser: 1, ByIP: 1}},
		{time.Hour, data.FailureQuery{Username: "alice", IP: a + "0", MaxByUserIP: 1},
			data.Failures{ByUser: 5, ByIP: 1, ByUserIP: 1, UserIPClearsAt: at(67 * time.Minute)}},
		{time.Hour, data.FailureQuery{Username: "' OR '1'='1", IP: "' OR '1'='1", MaxByUserIP: 1}, data.Failures{}},
		// By time, not by insertion order; equal times leave together.
		{time.Hour, data.FailureQuery{Username: "carol", IP: "192.0.2.50", MaxByUserIP: 1},
			data.Failures{ByUser: 3, ByIP: 3, ByUserIP: 3, UserIPClearsAt: at(72 * time.Minute)}},
		{time.Hour, data.FailureQuery{Username: "carol", IP: "192.0.2.50", MaxByUserIP: 2},
			data.Failures{ByUser: 3, ByIP: 3, ByUserIP: 3, UserIPClearsAt: at(70 * time.Minute)}},
		// An empty username or IP counts 0 for the pair, whatever its limit.
		{time.Hour, data.FailureQuery{Username: "alice", MaxByUserIP: 1}, data.Failures{ByUser: 5}},
		{time.Hour, data.FailureQuery{IP: a, MaxByUserIP: 1}, data.Failures{ByIP: 4}},
		// Since is inclusive: a failure exactly at Since counts, and clears.
		{62 * time.Minute, data.FailureQuery{Username: "alice", IP: a, MaxByUserIP: 2},
			data.Failures{ByUser: 4, ByIP: 3, ByUserIP: 2, UserIPClearsAt: at(62 * time.Minute)}},
		{62*time.Minute + time.Microsecond, data.FailureQuery{Username: "alice", IP: a, MaxByUserIP: 2},
			data.Failures{ByUser: 3, ByIP: 2, ByUserIP: 1}},
		// Everything, from long ago.
		{0, data.FailureQuery{Username: "alice", IP: a, MaxByUserIP: 4},
			data.Failures{ByUser: 6, ByIP: 5, ByUserIP: 4, UserIPClearsAt: at(30 * time.Minute)}},
	} {
		c.q.Since = at(c.since)
		got, err := st.RecentFailures(ctx(t), c.q)
		if err != nil {
			t.Fatalf("RecentFailures(%+v): %v", c.q, err)
		}
		if got.ByUser != c.want.ByUser || got.ByIP != c.want.ByIP || got.ByUserIP != c.want.ByUserIP {
			t.Errorf("RecentFailures(%+v) counts (user, ip, user+ip) = (%d, %d, %d), want (%d, %d, %d)", c.q,
				got.ByUser, got.ByIP, got.ByUserIP, c.want.ByUser, c.want.ByIP, c.want.ByUserIP)
		}
		if d := timeDiff("UserClearsAt", c.want.UserClearsAt, got.UserClearsAt) +
			timeDiff("IPClearsAt", c.want.IPClearsAt, got.IPClearsAt) +
			timeDiff("UserIPClearsAt", c.want.UserIPClearsAt, got.UserIPClearsAt); d != "" {
			t.Errorf("RecentFailures(%+v): %s", c.q, d)
		}
		if c.want.UserIPClearsAt.IsZero() && got.UserIPClearsAt != (time.Time{}) {
			t.Errorf("RecentFailures(%+v) = %+v: a missing UserIPClearsAt must be the zero time.Time", c.q, got)
		}
	}
}
