package storetest

import (
	"fmt"
	"regexp"
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
}

var miscCases = []testCase{
	{"PingDescribe", testPingDescribe},
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
	since := at(time.Hour)
	add := func(d time.Duration, action, user, ip string) {
		mustAppend(t, st, data.AuditEntry{Time: at(d), Actor: user, Action: action, Username: user, IP: ip})
	}
	add(30*time.Minute, data.ActionLoginFailed, "alice", "198.51.100.1") // too old
	add(61*time.Minute, data.ActionLoginFailed, "alice", "198.51.100.1")
	add(62*time.Minute, data.ActionLoginFailed, "alice", "198.51.100.1")
	add(63*time.Minute, data.ActionLoginFailed, "alice", "203.0.113.2")
	add(64*time.Minute, data.ActionLoginFailed, "bob", "198.51.100.1")
	add(65*time.Minute, data.ActionLogin, "alice", "198.51.100.1") // not a failure

	for _, c := range []struct {
		q            data.FailureQuery
		byUser, byIP int64
	}{
		{data.FailureQuery{Username: "alice", IP: "198.51.100.1"}, 3, 3},
		{data.FailureQuery{Username: "alice"}, 3, 0},
		{data.FailureQuery{IP: "203.0.113.2"}, 0, 1},
		{data.FailureQuery{Username: "bob", IP: "203.0.113.2"}, 1, 1},
		{data.FailureQuery{Username: "nobody", IP: "192.0.2.99"}, 0, 0},
		{data.FailureQuery{Username: "' OR '1'='1", IP: "' OR '1'='1"}, 0, 0},
	} {
		c.q.Since = since
		u, ip, err := st.RecentFailures(ctx(t), c.q)
		if err != nil {
			t.Fatalf("RecentFailures(%+v): %v", c.q, err)
		}
		if u != c.byUser || ip != c.byIP {
			t.Errorf("RecentFailures(%+v) = (%d, %d), want (%d, %d)", c.q, u, ip, c.byUser, c.byIP)
		}
	}
	// Everything, from long ago.
	u, ip, err := st.RecentFailures(ctx(t), data.FailureQuery{Username: "alice", IP: "198.51.100.1", Since: at(0)})
	if err != nil || u != 4 || ip != 4 {
		t.Fatalf("RecentFailures(since T0) = (%d, %d), %v; want (4, 4)", u, ip, err)
	}
}

var passwordInURL = regexp.MustCompile(`://[^/@\s]*:[^/@\s]+@`)

func testPingDescribe(t *testing.T, st data.Store) {
	if err := st.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	d := st.Describe()
	if strings.TrimSpace(d) == "" {
		t.Fatal("Describe is empty")
	}
	low := strings.ToLower(d)
	if strings.Contains(low, "password") || passwordInURL.MatchString(d) {
		t.Fatalf("Describe shows a password: %q", d)
	}
}
