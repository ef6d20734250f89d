package django

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"sessionmon/data"
)

var ctx = context.Background()

func ids(ss []data.Session) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

func TestListShowsSiteKeysFallbackAndBadRows(t *testing.T) {
	eachDialect(t, func(t *testing.T, site *testSite) {
		now := time.Now().UTC().Truncate(time.Microsecond)
		login := now.Add(-time.Hour)
		last := now.Add(-time.Minute)
		aliceID := site.addUser("alice", "Alice", "A", "alice@example.com", false, false, true)
		carolID := site.addUser("carol", "Carol", "C", "carol@example.com", true, false, true)

		kAlice, kCarol, kAnon, kExpired, kBad, kPickle, kLegacy := randKey(), randKey(), randKey(), randKey(), randKey(), randKey(), randKey()
		site.put(kAlice, now.Add(3*time.Hour), siteMembers("alice", aliceID, "admin", login, last)...)
		// A plain Django session: only Django's own keys.
		site.put(kCarol, now.Add(2*time.Hour), Member{"_auth_user_id", fmt.Sprint(carolID)}, Member{"_auth_user_backend", "x"}, Member{"_auth_user_hash", "h"})
		site.put(kAnon, now.Add(time.Hour), Member{"cart", "3 items"})
		site.put(kExpired, now.Add(-time.Hour), siteMembers("alice", aliceID, "admin", login, last)...)
		site.putRaw(kBad, "definitely not session data", now.Add(4*time.Hour))
		legacy, err := site.keys.Encode(PyDumps(siteMembers("dave", 44, "user", login, last)...), EncodeOptions{Format: FormatLegacy})
		if err != nil {
			t.Fatal(err)
		}
		site.putRaw(kLegacy, legacy, now.Add(5*time.Hour))

		src := site.open(Options{Keys: site.keys})
		// Added after Open (whose check refuses a pickle site outright).
		site.putRaw(kPickle, "gAWVEQAAAAAAAAB9lIwEdXNlcpSMA2JvYpRzLg:1xYKU4:sig", now.Add(6*time.Hour))

		page, err := src.ListActive(ctx, data.Query{Now: now})
		var re *data.RowError
		if !errors.As(err, &re) {
			t.Fatalf("ListActive error = %v, want the bad rows as RowErrors", err)
		}
		for _, k := range []string{kBad, kPickle} {
			if !strings.Contains(err.Error(), k) {
				t.Errorf("the row error does not name %s: %v", k, err)
			}
		}
		if !errors.Is(err, ErrPickle) {
			t.Errorf("a pickled row is not reported as such: %v", err)
		}
		want := []string{kAnon, kCarol, kAlice, kLegacy}
		if got := ids(page.Sessions); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("listed %v, want %v (by expiry, active and decodable only)", got, want)
		}
		a := page.Sessions[2]
		if a.Username != "alice" || a.UserID != aliceID || a.Role != "admin" || a.Email != "alice@example.com" ||
			a.FullName != "Name of alice" || a.Status != "active" || !a.LoginTime.Equal(login.Truncate(time.Second)) || !a.LastActivity.Equal(last.Truncate(time.Second)) ||
			a.IP != "10.1.2.3" || a.UserAgent != "test-agent" {
			t.Errorf("site-key session = %+v", a)
		}
		if a.Data[MarkSignature] != "valid" || a.Data["_auth_user_hash"] != nil {
			t.Errorf("site-key session data = %v (want a valid signature and no _auth_user_hash)", a.Data)
		}
		c := page.Sessions[1]
		if c.Username != "carol" || c.UserID != carolID || c.Role != "staff" || c.FullName != "Carol C" || c.Email != "carol@example.com" {
			t.Errorf("fallback session = %+v", c)
		}
		if !c.LastActivity.Equal(c.ExpiresAt.Add(-DefaultCookieAge).Truncate(time.Second)) || c.Data[MarkLastActivity] == nil {
			t.Errorf("fallback last activity %v (marks %v), want expire_date − cookie age (to the second), labelled an estimate", c.LastActivity, c.Data)
		}
		if page.Sessions[0].Role != RoleAnonymous || page.Sessions[0].Data["cart"] != "3 items" {
			t.Errorf("anonymous session = %+v", page.Sessions[0])
		}
		l := page.Sessions[3]
		if l.Username != "dave" || l.Data[MarkFormat] != "legacy" || l.Data[MarkSignature] != "valid (sha1)" {
			t.Errorf("legacy session = %+v", l)
		}

		// Paging in windows of one visits every row once.
		var seen []string
		q := data.Query{Now: now, Limit: 1}
		for i := 0; i < 10; i++ {
			p, _ := src.ListActive(ctx, q)
			seen = append(seen, ids(p.Sessions)...)
			if p.Next == nil {
				break
			}
			q.After = p.Next
		}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Errorf("paged %v, want %v", seen, want)
		}
		q = data.Query{Now: now, Desc: true, Limit: 3}
		p, _ := src.ListActive(ctx, q)
		q.After = p.Next
		p2, _ := src.ListActive(ctx, q)
		if got := append(ids(p.Sessions), ids(p2.Sessions)...); fmt.Sprint(got) != fmt.Sprint([]string{kLegacy, kAlice, kCarol, kAnon}) {
			t.Errorf("descending pages %v", got)
		}

		// Filters and the other orders come from the index.
		p, err = src.ListActive(ctx, data.Query{Now: now, Username: "alice"})
		if fmt.Sprint(ids(p.Sessions)) != fmt.Sprint([]string{kAlice}) {
			t.Errorf("Username filter: %v, %v", ids(p.Sessions), err)
		}
		p, _ = src.ListActive(ctx, data.Query{Now: now, Role: "staff"})
		if fmt.Sprint(ids(p.Sessions)) != fmt.Sprint([]string{kCarol}) {
			t.Errorf("Role filter: %v", ids(p.Sessions))
		}
		p, _ = src.ListActive(ctx, data.Query{Now: now, Text: "CAROL@"})
		if fmt.Sprint(ids(p.Sessions)) != fmt.Sprint([]string{kCarol}) {
			t.Errorf("Text filter: %v", ids(p.Sessions))
		}
		p, _ = src.ListActive(ctx, data.Query{Now: now, Sort: data.SortUser, Limit: 2})
		p2, _ = src.ListActive(ctx, data.Query{Now: now, Sort: data.SortUser, Limit: 2, After: p.Next})
		if got := append(ids(p.Sessions), ids(p2.Sessions)...); fmt.Sprint(got) != fmt.Sprint([]string{kAnon, kAlice, kCarol, kLegacy}) {
			t.Errorf("by user %v", got)
		}

		st, err := src.Stats(ctx, data.StatsQuery{Now: now, ExpiryWindow: 90 * time.Minute, LoginWindow: 2 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if st.Active != 4 || st.ByRole["admin"] != 1 || st.ByRole["staff"] != 1 || st.ByRole[RoleAnonymous] != 1 || st.ExpiringWithin != 1 || st.RecentLogins != 2 {
			t.Errorf("stats = %+v", st)
		}
	})
}

func TestTamperedRowIsMarked(t *testing.T) {
	eachDialect(t, func(t *testing.T, site *testSite) {
		now := time.Now().UTC()
		k := randKey()
		// Signed with another key: what someone with write access to the
		// table but not the site's secret could forge.
		forged, err := NewKeys("attacker").Encode(PyDumps(siteMembers("root", 1, "admin", now, now)...), EncodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		site.putRaw(k, forged, now.Add(time.Hour))
		ss, err := site.open(Options{Keys: site.keys}).Session(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if ss.Status != StatusTampered || !strings.HasPrefix(fmt.Sprint(ss.Data[MarkSignature]), "tampered") {
			t.Errorf("forged row: status %q, signature %v; want it marked tampered", ss.Status, ss.Data[MarkSignature])
		}
		p, _ := site.open(Options{Keys: site.keys}).ListActive(ctx, data.Query{Now: now, Role: "admin"})
		if len(p.Sessions) != 1 || p.Sessions[0].Status != StatusTampered {
			t.Errorf("the index does not mark it: %+v", p.Sessions)
		}
		ss, _ = site.open(Options{}).Session(ctx, k)
		if ss.Status != "active" || ss.Data[MarkSignature] != "unchecked (no SECRET_KEY)" {
			t.Errorf("without the secret: status %q, signature %v", ss.Status, ss.Data[MarkSignature])
		}
		// With the forger's key as a fallback it verifies (key rotation).
		ss, _ = site.open(Options{Keys: NewKeys(site.secret, "attacker")}).Session(ctx, k)
		if ss.Data[MarkSignature] != "valid (fallback key 1)" {
			t.Errorf("with the fallback key: %v", ss.Data[MarkSignature])
		}
	})
}

func TestEndSessionAndUser(t *testing.T) {
	eachDialect(t, func(t *testing.T, site *testSite) {
		now := time.Now().UTC().Truncate(time.Microsecond)
		aliceID := site.addUser("alice", "", "", "", false, false, true)
		bobID := site.addUser("bob", "", "", "", false, false, true)
		a1, a2, a3, b1, gone := randKey(), randKey(), randKey(), randKey(), randKey()
		site.put(a1, now.Add(time.Hour), siteMembers("alice", aliceID, "user", now, now)...)
		site.put(a2, now.Add(2*time.Hour), siteMembers("alice", aliceID, "user", now, now)...)
		site.put(b1, now.Add(time.Hour), siteMembers("bob", bobID, "user", now, now)...)
		expired := randKey()
		site.put(expired, now.Add(-time.Minute), siteMembers("alice", aliceID, "user", now, now)...)
		src := site.open(Options{})
		// Index built before a3 exists: revoke-user must still find it.
		if _, err := src.ListActive(ctx, data.Query{Now: now, Username: "alice"}); err != nil {
			t.Fatal(err)
		}
		site.put(a3, now.Add(3*time.Hour), siteMembers("alice", aliceID, "user", now, now)...)

		end := data.End{At: now, Reason: data.EndForced, By: "oncall"}
		ss, err := src.EndSession(ctx, b1, end, data.AuditEntry{Time: now, Actor: "oncall", Action: data.ActionForceLogout})
		if err != nil {
			t.Fatal(err)
		}
		if ss.Username != "bob" || !ss.EndedAt.Equal(now) || ss.EndReason != data.EndForced {
			t.Errorf("ended %+v", ss)
		}
		if _, err := src.EndSession(ctx, b1, end, data.AuditEntry{Actor: "oncall", Action: data.ActionForceLogout}); !errors.Is(err, data.ErrNotFound) {
			t.Errorf("second end = %v, want ErrNotFound", err)
		}
		if _, err := src.EndSession(ctx, gone, end, data.AuditEntry{Actor: "oncall", Action: data.ActionForceLogout}); !errors.Is(err, data.ErrNotFound) {
			t.Errorf("unknown key = %v, want ErrNotFound", err)
		}
		if _, err := src.EndSession(ctx, expired, end, data.AuditEntry{Actor: "oncall", Action: data.ActionForceLogout}); !errors.Is(err, data.ErrEnded) {
			t.Errorf("expired row = %v, want ErrEnded", err)
		}
		if _, err := src.EndSession(ctx, "NOT-A-KEY", end, data.AuditEntry{}); err == nil || !strings.Contains(err.Error(), "32 characters") {
			t.Errorf("bad key = %v", err)
		}

		u, err := src.UserByUsername(ctx, "alice")
		if err != nil || u.ID != aliceID {
			t.Fatalf("UserByUsername = %+v, %v", u, err)
		}
		n, err := src.EndUserSessions(ctx, u.ID, end, data.AuditEntry{Time: now, Actor: "oncall", Action: data.ActionForceLogoutAll, Detail: "laptop stolen"})
		if err != nil || n != 3 {
			t.Fatalf("EndUserSessions = %d, %v; want 3", n, err)
		}
		if site.count() != 1 { // the expired row stays for clearsessions
			t.Errorf("%d rows left, want only the expired one", site.count())
		}
		audit, err := src.Audit(ctx, data.AuditQuery{})
		if err != nil || len(audit) != 2 {
			t.Fatalf("audit = %+v, %v", audit, err)
		}
		if audit[0].Action != data.ActionForceLogoutAll || audit[0].Username != "alice" || audit[0].Actor != "oncall" || audit[0].Detail != "laptop stolen" {
			t.Errorf("audit[0] = %+v", audit[0])
		}
		if audit[1].Action != data.ActionForceLogout || audit[1].Username != "bob" || audit[1].SessionID != b1 || !audit[1].Time.Equal(now) {
			t.Errorf("audit[1] = %+v (the store names the user from the row it ends)", audit[1])
		}
	})
}

func TestExtendReSignsTheRow(t *testing.T) {
	eachDialect(t, func(t *testing.T, site *testSite) {
		now := time.Now().UTC().Truncate(time.Microsecond)
		k, forged := randKey(), randKey()
		exp := now.Add(time.Hour)
		site.put(k, exp, siteMembers("alice", 1, "user", now, now)...)
		bad, _ := NewKeys("attacker").Encode(PyDumps(Member{"user", "x"}), EncodeOptions{})
		site.putRaw(forged, bad, exp)

		if _, err := site.open(Options{}).Extend(ctx, k, time.Hour, now, data.AuditEntry{Actor: "op", Action: data.ActionExtend}); !errors.Is(err, data.ErrUnsupported) ||
			!strings.Contains(err.Error(), "SECRET_KEY") {
			t.Fatalf("Extend without the secret = %v, want ErrUnsupported naming SECRET_KEY", err)
		}
		src := site.open(Options{Keys: site.keys})
		ss, err := src.Extend(ctx, k, 2*time.Hour, now, data.AuditEntry{Time: now, Actor: "op", Action: data.ActionExtend, Detail: "2h"})
		if err != nil {
			t.Fatal(err)
		}
		if want := exp.Add(2 * time.Hour); !ss.ExpiresAt.Equal(want) {
			t.Errorf("ExpiresAt %v, want %v", ss.ExpiresAt, want)
		}
		var raw string
		if err := site.db.QueryRow("SELECT session_data FROM django_session WHERE session_key = "+site.ph(1), k).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		d, err := Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := site.keys.Verify(d); err != nil {
			t.Errorf("the re-signed row does not verify: %v", err)
		}
		if n, _ := fieldsOf(d.Dict)[fSessionExpiry].int(); n != 3*3600 {
			t.Errorf("_session_expiry = %v, want %d (seconds from now to the new expiry)", d.Dict[keySessionExpiry], 3*3600)
		}
		if d.Dict["user"] != "alice" || !strings.HasPrefix(string(d.JSON), `{"_auth_user_id":"1",`) {
			t.Errorf("the other keys were not kept in order: %s", d.JSON)
		}
		if _, err := src.Extend(ctx, forged, time.Hour, now, data.AuditEntry{Actor: "op", Action: data.ActionExtend}); !errors.Is(err, ErrTamperedRow) {
			t.Errorf("Extend(tampered) = %v, want ErrTamperedRow", err)
		}
		if _, err := src.Extend(ctx, k, time.Hour, now.Add(10*time.Hour), data.AuditEntry{Actor: "op", Action: data.ActionExtend}); !errors.Is(err, data.ErrEnded) {
			t.Errorf("Extend(expired) = %v, want ErrEnded", err)
		}
		if _, err := src.Extend(ctx, randKey(), time.Hour, now, data.AuditEntry{Actor: "op", Action: data.ActionExtend}); !errors.Is(err, data.ErrNotFound) {
			t.Errorf("Extend(unknown) = %v, want ErrNotFound", err)
		}
		a, _ := src.Audit(ctx, data.AuditQuery{Action: data.ActionExtend})
		if len(a) != 1 || a[0].Username != "alice" || a[0].SessionID != k {
			t.Errorf("audit = %+v", a)
		}
	})
}

// TestExtendIsCompareAndSwap: a Django save landing between Extend's read
// and its write is not overwritten; Extend reads again and extends that.
func TestExtendIsCompareAndSwap(t *testing.T) {
	site := newSite(t, "sqlite")
	now := time.Now().UTC().Truncate(time.Microsecond)
	k := randKey()
	site.put(k, now.Add(time.Hour), siteMembers("alice", 1, "user", now, now)...)
	src := site.open(Options{Keys: site.keys})
	r, _ := src.readRow(ctx, src.db, k, false)
	// Django saves the row (a request), then our stale write must fail.
	site.exec("UPDATE django_session SET expire_date = "+site.ph(1)+" WHERE session_key = "+site.ph(2), site.d.timeArg(now.Add(90*time.Minute)), k)
	ph := src.dialect.ph
	res, err := src.db.Exec("UPDATE django_session SET session_data = 'x' WHERE session_key = "+ph(1)+" AND session_data = "+ph(2)+" AND expire_date = "+ph(3), k, r.data, r.rawExpire)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 0 {
		t.Fatal("the compare-and-swap matched a row Django had rewritten")
	}
	ss, err := src.Extend(ctx, k, time.Hour, now, data.AuditEntry{Actor: "op", Action: data.ActionExtend})
	if err != nil || !ss.ExpiresAt.Equal(now.Add(150*time.Minute)) {
		t.Fatalf("Extend after a Django save = %v, %v; want the save's expiry + 1h", ss.ExpiresAt, err)
	}
}

func TestPickleSiteIsRefused(t *testing.T) {
	eachDialect(t, func(t *testing.T, site *testSite) {
		site.putRaw(randKey(), "gAWVEQAAAAAAAAB9lIwEdXNlcpSMA2JvYpRzLg:1xYKU4:qFMCkCnw58RMC3SyQOcuKtOzfYlrB_UjsEXBZbPZljo", time.Now().Add(time.Hour))
		_, err := Open(ctx, site.dsn, Options{})
		if !errors.Is(err, ErrPickle) {
			t.Fatalf("Open(pickle site) = %v, want ErrPickle", err)
		}
		if strings.Count(err.Error(), "\n") != 0 || !strings.Contains(err.Error(), "never unpickles") {
			t.Errorf("want one clear line, got %q", err)
		}
	})
}

func TestNotADjangoDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.sqlite3")
	if _, err := Open(ctx, path, Options{}); err == nil || !os.IsNotExist(errors.Unwrap(err)) {
		t.Errorf("Open(missing file) = %v, want not-exist (and no file created)", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("Open created the missing database file")
	}
	site := newSite(t, "sqlite")
	site.exec("DROP TABLE django_session")
	if _, err := Open(ctx, site.dsn, Options{}); err == nil || !strings.Contains(err.Error(), "no django_session table") {
		t.Errorf("Open(no table) = %v", err)
	}
}

func TestAuditStoreChoice(t *testing.T) {
	eachDialect(t, func(t *testing.T, site *testSite) {
		now := time.Now().UTC()
		k := randKey()
		site.put(k, now.Add(time.Hour), siteMembers("alice", 1, "user", now, now)...)
		src, err := Open(ctx, site.dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := src.Refuse(data.ActionForceLogout); !errors.Is(err, data.ErrUnsupported) || !strings.Contains(err.Error(), "migrate") {
			t.Errorf("Refuse with no audit store = %v", err)
		}
		if _, err := src.EndSession(ctx, k, data.End{At: now}, data.AuditEntry{Actor: "op"}); !errors.Is(err, data.ErrUnsupported) {
			t.Errorf("EndSession with no audit store = %v", err)
		}
		src.Close()
		if site.count() != 1 {
			t.Fatal("a refused force-out deleted the row")
		}

		if err := Migrate(ctx, site.dsn, MigrateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := Migrate(ctx, site.dsn, MigrateOptions{}); err != nil {
			t.Fatalf("Migrate is not idempotent: %v", err)
		}
		src, err = Open(ctx, site.dsn, Options{AuditPath: filepath.Join(t.TempDir(), "unused.db")})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		if !strings.Contains(src.AuditStore(), "site's database") {
			t.Errorf("with the table, audit goes to %q", src.AuditStore())
		}
		if _, err := src.EndSession(ctx, k, data.End{At: now, Reason: data.EndForced}, data.AuditEntry{Time: now, Actor: "op", Action: data.ActionForceLogout}); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := site.db.QueryRow("SELECT count(*) FROM sessionmon_django_audit WHERE actor = 'op' AND username = 'alice'").Scan(&n); err != nil || n != 1 {
			t.Errorf("audit rows in the site's table = %d, %v", n, err)
		}
	})
}

func TestReadOnlyRole(t *testing.T) {
	site := newSite(t, "postgres")
	now := time.Now().UTC()
	k := randKey()
	site.put(k, now.Add(time.Hour), siteMembers("alice", 1, "user", now, now)...)
	role := "sessionmon_ro_" + randKey()[:8]
	var schema string
	if err := site.db.QueryRow("SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	site.exec("CREATE ROLE " + role + " LOGIN")
	t.Cleanup(func() {
		site.db.Exec("DROP OWNED BY " + role)
		site.db.Exec("DROP ROLE " + role)
	})
	site.exec("GRANT USAGE ON SCHEMA " + schema + " TO " + role)
	site.exec("GRANT SELECT ON django_session, auth_user TO " + role)
	dsn := strings.Replace(site.dsn, "postgres://postgres@", "postgres://"+role+"@", 1)
	src, err := Open(ctx, dsn, Options{Keys: site.keys, AuditPath: filepath.Join(t.TempDir(), "a.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, a := range []string{data.ActionForceLogout, data.ActionForceLogoutAll, data.ActionExtend} {
		if err := src.Refuse(a); !errors.Is(err, data.ErrUnsupported) || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("Refuse(%s) = %v, want a read-only refusal", a, err)
		}
	}
	if !strings.Contains(src.Describe(), "read-only") {
		t.Errorf("Describe = %q", src.Describe())
	}
	p, err := src.ListActive(ctx, data.Query{Now: now})
	if err != nil || len(p.Sessions) != 1 {
		t.Errorf("a read-only role cannot list: %v", err)
	}
}

func TestIndexFollowsTheTable(t *testing.T) {
	eachDialect(t, func(t *testing.T, site *testSite) {
		now := time.Now().UTC()
		src := site.open(Options{FullSyncEvery: time.Millisecond})
		var keys []string
		for i := 0; i < 30; i++ {
			k := randKey()
			keys = append(keys, k)
			site.put(k, now.Add(time.Duration(i+1)*time.Minute), siteMembers(fmt.Sprintf("u%d", i%3), int64(i%3+1), "user", now, now)...)
		}
		count := func() int {
			p, err := src.ListActive(ctx, data.Query{Now: time.Now(), Username: "u1", Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			return len(p.Sessions)
		}
		if n := count(); n != 10 {
			t.Fatalf("u1 has %d sessions, want 10", n)
		}
		// The site saves a session (new expiry, another user now) and deletes one.
		site.exec("UPDATE django_session SET expire_date = "+site.ph(1)+" WHERE session_key = "+site.ph(2), site.d.timeArg(now.Add(time.Hour)), keys[0])
		enc, _ := site.keys.Encode(PyDumps(siteMembers("u1", 2, "user", now, now)...), EncodeOptions{})
		site.exec("UPDATE django_session SET session_data = "+site.ph(1)+", expire_date = "+site.ph(2)+" WHERE session_key = "+site.ph(3), enc, site.d.timeArg(now.Add(2*time.Hour)), keys[0])
		// The dashboard's listing sees the save at its next refresh, or
		// once a full sync under way is done.
		deadline := time.Now().Add(5 * time.Second)
		for count() != 11 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := count(); n != 11 {
			t.Errorf("after a save: u1 has %d sessions, want 11", n)
		}
		site.exec("DELETE FROM django_session WHERE session_key = "+site.ph(1), keys[1]) // u1's
		deadline = time.Now().Add(5 * time.Second)
		for count() != 10 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // the background full sync drops the deleted row
		}
		if n := count(); n != 10 {
			t.Errorf("after a delete: u1 has %d sessions, want 10", n)
		}
		all, _ := src.ListActive(ctx, data.Query{Now: time.Now(), Sort: data.SortUser, Limit: 1000})
		got := ids(all.Sessions)
		sort.Strings(got)
		if len(got) != 29 {
			t.Errorf("%d sessions in the index, want 29", len(got))
		}
	})
}

func TestCheckID(t *testing.T) {
	s := &Source{}
	for _, ok := range []string{"abcdefghijklmnopqrstuvwxyz012345", "00000000000000000000000000000000"} {
		if err := s.CheckID(ok); err != nil {
			t.Errorf("CheckID(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "abc", strings.Repeat("a", 33), strings.Repeat("a", 31) + "'", strings.Repeat("a", 64)} {
		if err := s.CheckID(bad); err == nil {
			t.Errorf("CheckID(%q) = nil", bad)
		}
	}
}

func TestStatsMaxAge(t *testing.T) {
	site := newSite(t, "sqlite")
	now := time.Now().UTC()
	site.put(randKey(), now.Add(time.Hour), siteMembers("a", 1, "user", now, now)...)
	src := site.open(Options{StatsMaxAge: 50 * time.Millisecond})
	q := func() data.StatsQuery {
		return data.StatsQuery{Now: time.Now(), ExpiryWindow: time.Hour, LoginWindow: time.Hour}
	}
	st, _ := src.Stats(ctx, q())
	if st.Active != 1 {
		t.Fatalf("Active = %d", st.Active)
	}
	site.put(randKey(), now.Add(time.Hour), siteMembers("b", 2, "user", now, now)...)
	if st, _ := src.Stats(ctx, q()); st.Active != 1 {
		t.Errorf("counts younger than StatsMaxAge were recounted: %d", st.Active)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		time.Sleep(60 * time.Millisecond)
		if st, _ := src.Stats(ctx, q()); st.Active == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the counts were never refreshed")
		}
	}
}

// TestCacheSeesARewriteThatKeepsTheExpiry: a row rewritten in place with
// the same expire_date (a forger with write access to the table) is decoded
// again, not served from the window's cache.
func TestCacheSeesARewriteThatKeepsTheExpiry(t *testing.T) {
	site := newSite(t, "sqlite")
	now := time.Now().UTC()
	k := randKey()
	site.put(k, now.Add(time.Hour), siteMembers("alice", 1, "user", now, now)...)
	src := site.open(Options{Keys: site.keys})
	if p, _ := src.ListActive(ctx, data.Query{Now: now}); len(p.Sessions) != 1 || p.Sessions[0].Status != "active" {
		t.Fatalf("first list: %+v", p.Sessions)
	}
	forged, _ := NewKeys("attacker").Encode(PyDumps(siteMembers("alice", 1, "root", now, now)...), EncodeOptions{}) // same length as the original
	site.exec("UPDATE django_session SET session_data = ? WHERE session_key = ?", forged, k)
	if p, _ := src.ListActive(ctx, data.Query{Now: now}); len(p.Sessions) != 1 || p.Sessions[0].Status != StatusTampered {
		t.Fatalf("after the rewrite: %+v", p.Sessions)
	}
}
