package django

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"sessionmon/data"
)

// TestForceOutUserWithAndWithoutIndex: a user's force-out ends the same
// rows whether the index is built (a dashboard) or not (a one-shot
// revoke-user streams the table instead, and builds no index).
func TestForceOutUserWithAndWithoutIndex(t *testing.T) {
	for _, indexed := range []bool{true, false} {
		t.Run(fmt.Sprintf("indexed=%v", indexed), func(t *testing.T) {
			eachDialect(t, func(t *testing.T, site *testSite) {
				now := time.Now().UTC().Truncate(time.Microsecond)
				aliceID := site.addUser("alice", "Alice", "A", "a@example.com", false, false, true)
				bobID := site.addUser("bob", "Bob", "B", "b@example.com", false, false, true)
				rows := map[string]string{} // key: what it is
				put := func(what string, expire time.Time, m ...Member) {
					k := randKey()
					rows[k] = what
					site.put(k, expire, m...)
				}
				put("alice site", now.Add(time.Hour), siteMembers("alice", aliceID, "user", now, now)...)
				put("alice site 2", now.Add(2*time.Hour), siteMembers("alice", aliceID, "user", now, now)...)
				put("alice plain", now.Add(3*time.Hour), Member{"_auth_user_id", fmt.Sprint(aliceID)}, Member{"_auth_user_hash", "h"})
				put("alice expired", now.Add(-time.Minute), siteMembers("alice", aliceID, "user", now, now)...)
				put("bob", now.Add(time.Hour), siteMembers("bob", bobID, "user", now, now)...)
				put("bob plain", now.Add(time.Hour), Member{"_auth_user_id", fmt.Sprint(bobID)})
				put("anonymous", now.Add(time.Hour), Member{"cart", "1"})
				// A site key user with no _auth_user_id: the id is user_id.
				put("dave site only", now.Add(time.Hour), Member{"user", "dave"}, Member{"user_id", 4444}, Member{"user_role", "user"})
				forged := randKey()
				rows[forged] = "alice forged"
				bad, _ := NewKeys("attacker").Encode(PyDumps(siteMembers("alice", aliceID, "admin", now, now)...), EncodeOptions{})
				site.putRaw(forged, bad, now.Add(time.Hour))
				junk := randKey()
				rows[junk] = "undecodable"
				site.putRaw(junk, "not session data", now.Add(time.Hour))

				src := site.open(Options{Keys: site.keys})
				if indexed {
					if _, err := src.Stats(ctx, data.StatsQuery{Now: now}); err != nil {
						t.Fatal(err)
					}
				}
				end := data.End{At: now, Reason: data.EndForced, By: "oncall"}
				for _, c := range []struct {
					name string
					id   int64
					n    int
				}{{"alice", aliceID, 4}, {"dave", 4444, 1}} {
					u, err := src.UserByUsername(ctx, c.name)
					if err != nil || u.ID != c.id || u.Username != c.name {
						t.Fatalf("UserByUsername(%s) = %+v, %v; want id %d", c.name, u, err, c.id)
					}
					n, err := src.EndUserSessions(ctx, u.ID, end, data.AuditEntry{Time: now, Actor: "oncall", Action: data.ActionForceLogoutAll, Username: c.name})
					if err != nil || n != c.n {
						t.Fatalf("EndUserSessions(%s) = %d, %v; want %d", c.name, n, err, c.n)
					}
				}
				if _, err := src.UserByUsername(ctx, "nobody"); err == nil {
					t.Error("UserByUsername(nobody) found someone")
				}
				var left []string
				r, err := site.db.Query("SELECT session_key FROM django_session")
				if err != nil {
					t.Fatal(err)
				}
				for r.Next() {
					var k string
					r.Scan(&k)
					left = append(left, rows[k])
				}
				r.Close()
				slices.Sort(left)
				want := []string{"alice expired", "anonymous", "bob", "bob plain", "undecodable"}
				if fmt.Sprint(left) != fmt.Sprint(want) {
					t.Errorf("left %q, want %q", left, want)
				}
				if src.indexed() != indexed {
					t.Errorf("indexed() = %v after a user's force-out, want %v (a one-shot command builds no index)", src.indexed(), indexed)
				}
			})
		})
	}
}

// TestForceOutWithAuditInSite: with the audit table in the site's
// database, force-outs write one entry per session naming its user, in
// the order asked, and report what was missing or already over.
func TestForceOutWithAuditInSite(t *testing.T) {
	eachDialect(t, func(t *testing.T, site *testSite) {
		if err := Migrate(ctx, site.dsn, MigrateOptions{}); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		k1, k2, k3, expired, gone, junk := randKey(), randKey(), randKey(), randKey(), randKey(), randKey()
		site.put(k1, now.Add(time.Hour), siteMembers("ann", 1, "user", now, now)...)
		site.put(k2, now.Add(2*time.Hour), siteMembers("ben", 2, "user", now, now)...)
		site.put(k3, now.Add(3*time.Hour), siteMembers("cid", 3, "user", now, now)...)
		site.put(expired, now.Add(-time.Hour), siteMembers("dee", 4, "user", now, now)...)
		site.putRaw(junk, "not session data", now.Add(time.Hour))
		src, err := Open(ctx, site.dsn, Options{Keys: site.keys})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		if !src.audit.inSite() {
			t.Fatal("the audit is not in the site's database")
		}
		end := data.End{At: now, Reason: data.EndForced, By: "op"}
		tmpl := data.AuditEntry{Time: now, Actor: "op", Action: data.ActionForceLogout, IP: "10.0.0.9", Detail: "marked"}
		res, err := src.EndSessions(ctx, []string{k3, gone, k1, expired, junk, k2}, end, tmpl)
		if err == nil {
			t.Error("EndSessions: no RowError for the undecodable row")
		}
		if got := ids(res.Ended); fmt.Sprint(got) != fmt.Sprint([]string{k3, k1, junk, k2}) {
			t.Errorf("ended %v, want %v (in the order asked)", got, []string{k3, k1, junk, k2})
		}
		if fmt.Sprint(res.Missing) != fmt.Sprint([]string{gone}) || len(res.Already) != 1 || res.Already[0].ID != expired {
			t.Errorf("missing %v, already %v", res.Missing, ids(res.Already))
		}
		ss, err := src.EndSession(ctx, expired, end, tmpl)
		if err == nil {
			t.Errorf("EndSession(expired) = %+v, nil", ss)
		}
		es, err := src.Audit(ctx, data.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i := len(es) - 1; i >= 0; i-- {
			e := es[i]
			if e.Actor != "op" || e.Action != data.ActionForceLogout || e.IP != "10.0.0.9" || e.Detail != "marked" || !e.Time.Equal(now) {
				t.Errorf("audit entry %+v", e)
			}
			got = append(got, e.SessionID+" "+e.Username)
		}
		want := []string{k3 + " cid", k1 + " ann", junk + " ", k2 + " ben"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("audit\n got %q\nwant %q", got, want)
		}
		if site.count() != 1 {
			t.Errorf("%d rows left, want the expired one", site.count())
		}
	})
}

// TestDeleteAuditedOnlyRowsAsRead: the one-statement force-out deletes a
// row, and writes its audit entry, only if the row is as it was read: a
// row Django rewrote meanwhile (maybe for another user) is left for a new
// read.
func TestDeleteAuditedOnlyRowsAsRead(t *testing.T) {
	site := newSite(t, "postgres")
	if err := Migrate(ctx, site.dsn, MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	kept, saved, ok := randKey(), randKey(), randKey()
	for _, k := range []string{kept, saved, ok} {
		site.put(k, now.Add(time.Hour), siteMembers("ann", 1, "user", now, now)...)
	}
	src := site.open(Options{Keys: site.keys})
	src.audit = &auditTable{db: src.db, d: src.dialect, site: true}
	rs, err := src.readRows(ctx, []string{kept, saved, ok})
	if err != nil || len(rs) != 3 {
		t.Fatal(rs, err)
	}
	// Django saves two rows after our read: one with new data, one with a
	// new expiry.
	enc, _ := site.keys.Encode(PyDumps(siteMembers("bob", 2, "user", now, now)...), EncodeOptions{})
	site.exec("UPDATE django_session SET session_data = $1 WHERE session_key = $2", enc, kept)
	site.exec("UPDATE django_session SET expire_date = $1 WHERE session_key = $2", now.Add(2*time.Hour), saved)
	entry := data.AuditEntry{Time: now, Actor: "op", Action: data.ActionForceLogout, Username: "ann"}
	deleted, err := src.deleteAudited(ctx, []row{rs[kept], rs[saved], rs[ok]}, []data.AuditEntry{entry, entry, entry})
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 1 || !deleted[ok] {
		t.Errorf("deleted %v, want only %s", deleted, ok)
	}
	var n int
	if err := site.db.QueryRow("SELECT count(*) FROM sessionmon_django_audit WHERE session_key = $1", ok).Scan(&n); err != nil || n != 1 {
		t.Errorf("audit rows for the deleted row: %d, %v", n, err)
	}
	if err := site.db.QueryRow("SELECT count(*) FROM sessionmon_django_audit").Scan(&n); err != nil || n != 1 {
		t.Errorf("audit rows: %d, %v; want only the deleted row's", n, err)
	}
	// EndSession reads the rewritten row again and ends it, naming its
	// user now.
	ss, err := src.EndSession(ctx, kept, data.End{At: now}, data.AuditEntry{Time: now, Actor: "op", Action: data.ActionForceLogout})
	if err != nil || ss.Username != "bob" {
		t.Fatalf("EndSession(rewritten row) = %+v, %v", ss, err)
	}
}
