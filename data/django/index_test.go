package django

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"sessionmon/data"
)

// TestFullSyncDropsRowsSeenOnlyByARefresh: a session the index learnt of
// between two full syncs (a login, read by the incremental refresh) and
// that the site then deleted (the user logged out) leaves the index at the
// next full sync. It used to stay until it expired: such entries were
// marked "added by a refresh", and a full sync kept whatever carried that
// mark.
func TestFullSyncDropsRowsSeenOnlyByARefresh(t *testing.T) {
	eachDialect(t, func(t *testing.T, site *testSite) {
		now := time.Now().UTC()
		site.put(randKey(), now.Add(time.Hour), siteMembers("old", 1, "user", now, now)...)
		src := site.open(Options{FullSyncEvery: time.Hour})
		users := func() map[string]int {
			p, err := src.ListActive(ctx, data.Query{Now: time.Now(), Sort: data.SortUser, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]int{}
			for _, s := range p.Sessions {
				m[s.Username]++
			}
			return m
		}
		if got := users(); got["old"] != 1 || len(got) != 1 {
			t.Fatalf("at start: %v", got)
		}
		k := randKey()
		site.put(k, now.Add(2*time.Hour), siteMembers("new", 2, "user", now, now)...)
		if got := users(); got["new"] != 1 {
			t.Fatalf("the refresh did not read the login: %v", got)
		}
		site.exec("DELETE FROM django_session WHERE session_key = "+site.ph(1), k)
		if err := src.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
		if got := users(); got["new"] != 0 || got["old"] != 1 {
			t.Errorf("after the site deleted the row and a full sync: %v, want only old", got)
		}
		st, err := src.Stats(ctx, data.StatsQuery{Now: time.Now(), ExpiryWindow: time.Hour, LoginWindow: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if st.Active != 1 {
			t.Errorf("Stats count %d active, want 1", st.Active)
		}
	})
}

// TestDeletedRowsLeaveBetweenFullSyncs: rows the site deletes leave the
// listings and Stats within seconds (checkDeletes) although no full sync
// is due for an hour, while the site keeps saving rows in other hours; on
// SQLite, in WAL mode.
func TestDeletedRowsLeaveBetweenFullSyncs(t *testing.T) {
	eachDialect(t, func(t *testing.T, site *testSite) {
		if site.d == (sqliteDialect{}) {
			// The checks count on SQLite only in WAL mode (deletes.go).
			site.exec("PRAGMA journal_mode=WAL")
		}
		now := time.Now().UTC()
		var keys []string
		for i := 0; i < 12; i++ {
			k := randKey()
			keys = append(keys, k)
			site.put(k, now.Add(time.Duration(i*7)*time.Hour/2), siteMembers("u", 1, "user", now, now)...)
		}
		src := site.open(Options{FullSyncEvery: time.Hour})
		stats := func() int64 {
			st, err := src.Stats(ctx, data.StatsQuery{Now: time.Now(), ExpiryWindow: time.Hour, LoginWindow: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			return st.Active
		}
		if n := stats(); n != 11 { // the first row expires now
			t.Fatalf("at start: %d active, want 11", n)
		}
		site.exec("DELETE FROM django_session WHERE session_key IN ("+site.ph(1)+", "+site.ph(2)+")", keys[3], keys[8])
		site.put(randKey(), now.Add(24*time.Hour), siteMembers("v", 2, "user", now, now)...)
		deadline := time.Now().Add(15 * time.Second)
		for stats() != 10 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := stats(); n != 10 {
			t.Fatalf("after the site deleted 2 rows and saved 1: %d active, want 10", n)
		}
		p, err := src.ListActive(ctx, data.Query{Now: time.Now(), Sort: data.SortUser, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Sessions {
			if s.ID == keys[3] || s.ID == keys[8] {
				t.Errorf("the listing still holds deleted row %s", s.ID)
			}
		}
	})
}

// TestBucketOfMatchesTheDatabase: checkDeletes compares the index's
// counts per minute with the database's; both must put a row in the same
// minute, or every check would read those minutes again.
func TestBucketOfMatchesTheDatabase(t *testing.T) {
	eachDialect(t, func(t *testing.T, site *testSite) {
		src := site.open(Options{})
		base := time.Date(2031, 5, 6, 7, 0, 0, 0, time.UTC)
		want := map[string]int64{}
		for _, at := range []time.Time{base, base.Add(-time.Microsecond), base.Add(time.Microsecond), base.Add(59*time.Second + 999999*time.Microsecond), base.Add(time.Minute), base.Add(time.Hour)} {
			k := randKey()
			site.putRaw(k, "x", at)
			want[k] = bucketOf(at.UnixMicro())
		}
		rows, err := src.db.Query("SELECT session_key, " + src.bucketSel() + " FROM django_session")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var h int64
			if err := rows.Scan(&k, &h); err != nil {
				t.Fatal(err)
			}
			if h != want[k] {
				t.Errorf("row %s: minute %d in the database, %d in the index", k, h, want[k])
			}
		}
	})
}

// TestPackedKeysSortAsKeys: the index stores Django's keys packed; they
// must come back unchanged and compare as the keys do (ties in every
// order are broken by key), and anything else must not pack.
func TestPackedKeysSortAsKeys(t *testing.T) {
	keys := []string{strings.Repeat("0", 32), strings.Repeat("z", 32), strings.Repeat("9", 31) + "a", "a" + strings.Repeat("0", 31)}
	for range 300 {
		keys = append(keys, randKey())
	}
	for _, a := range keys {
		pa, ok := packKey(a)
		if !ok || !pa.live() {
			t.Fatalf("packKey(%q) = %v, live %v", a, ok, pa.live())
		}
		if u := pa.unpack(); string(u[:]) != a {
			t.Fatalf("unpack(packKey(%q)) = %q", a, u)
		}
		for _, b := range keys[:40] {
			pb, _ := packKey(b)
			if got, want := bytes.Compare(pa[:], pb[:]), strings.Compare(a, b); got != want {
				t.Fatalf("packed %q vs %q: %d, keys: %d", a, b, got, want)
			}
		}
	}
	for _, bad := range []string{"", "abc", strings.Repeat("A", 32), strings.Repeat("a", 31) + "-", strings.Repeat("a", 33), strings.Repeat("a", 31) + "\x00"} {
		if _, ok := packKey(bad); ok {
			t.Errorf("packKey(%q) packed", bad)
		}
	}
}

// TestStatsCountAgainWhenSessionsLeave: counts up to StatsMaxAge old are
// the answer only while no session left the index; after a force-out the
// next Stats counts again.
func TestStatsCountAgainWhenSessionsLeave(t *testing.T) {
	site := newSite(t, "sqlite")
	now := time.Now().UTC()
	k := randKey()
	site.put(k, now.Add(time.Hour), siteMembers("a", 1, "user", now, now)...)
	site.put(randKey(), now.Add(time.Hour), siteMembers("b", 2, "user", now, now)...)
	src := site.open(Options{StatsMaxAge: time.Hour})
	q := data.StatsQuery{Now: time.Now(), ExpiryWindow: time.Hour, LoginWindow: time.Hour}
	if st, err := src.Stats(ctx, q); err != nil || st.Active != 2 {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	if _, err := src.EndSession(ctx, k, data.End{At: time.Now(), Reason: data.EndForced, By: "op"}, data.AuditEntry{Time: time.Now(), Actor: "op", Action: data.ActionForceLogout}); err != nil {
		t.Fatal(err)
	}
	if st, _ := src.Stats(ctx, q); st.Active != 1 {
		t.Errorf("after a force-out Stats still count %d active, want 1", st.Active)
	}
}

// TestFullSyncMakesLittleGarbage: a full sync of an index already in step
// with the table allocates next to nothing per row. It used to read every
// row as a []row of driver strings and boxed times: ~270 bytes a row on
// PostgreSQL, 270 MB every full sync of a 1M-row site (every ten times its
// duration), which showed as the dashboard's RSS bumps. SQLite's driver
// still makes a string of each column (~90 bytes a row; was 480).
func TestFullSyncMakesLittleGarbage(t *testing.T) {
	eachDialect(t, func(t *testing.T, site *testSite) {
		const n = 20_000
		src := site.filled(n, time.Millisecond)
		const passes = 3
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range passes {
			if err := src.SyncNow(ctx); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		perRow := float64(after.TotalAlloc-before.TotalAlloc) / passes / n
		allocs := float64(after.Mallocs-before.Mallocs) / passes / n
		// What a pass allocates once (its page of 5000 keys: 240 KB) is
		// 12 bytes a row at this size.
		maxBytes, maxAllocs := 32.0, 0.1
		if site.d == (sqliteDialect{}) {
			maxBytes, maxAllocs = 160, 5
		}
		if perRow > maxBytes || allocs > maxAllocs {
			t.Errorf("a full sync allocated %.1f bytes in %.2f allocations a row, want at most %.0f in %.1f", perRow, allocs, maxBytes, maxAllocs)
		}
		t.Logf("%.1f bytes in %.3f allocations a row", perRow, allocs)
	})
}

// TestSiteEmptiedThenListedAgain: a site whose sessions all leave (a
// mass force-out, a purge) and then fill again. The full sync after the
// last one left rebuilds the index from scratch (cold), with new slot
// numbers; the listing's kept order, made on the old ones, must go with
// them, or the next listing reads slots that are not there.
func TestSiteEmptiedThenListedAgain(t *testing.T) {
	eachDialect(t, func(t *testing.T, site *testSite) {
		now := time.Now().UTC()
		for i := range 3 {
			site.put(randKey(), now.Add(time.Duration(i+1)*time.Hour), siteMembers(fmt.Sprintf("old%d", i), int64(i+1), "user", now, now)...)
		}
		src := site.open(Options{FullSyncEvery: time.Hour})
		list := func() []string {
			t.Helper()
			p, err := src.ListActive(ctx, data.Query{Now: time.Now(), Sort: data.SortUser, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range p.Sessions {
				names = append(names, s.Username)
			}
			return names
		}
		if got := list(); len(got) != 3 {
			t.Fatalf("at start: %v", got)
		}
		site.exec("DELETE FROM django_session")
		for range 2 { // the first drops the rows, the second finds none and starts afresh
			if err := src.SyncNow(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if got := list(); len(got) != 0 {
			t.Fatalf("after the site emptied: %v, want none", got)
		}
		// Two logins, in the slots the old sessions had, in the other
		// order by name. A login's expiry is past every earlier one (now
		// + cookie age).
		site.put(randKey(), now.Add(4*time.Hour), siteMembers("zed", 8, "user", now, now)...)
		site.put(randKey(), now.Add(5*time.Hour), siteMembers("amy", 9, "user", now, now)...)
		if got := list(); !slices.Equal(got, []string{"amy", "zed"}) {
			t.Fatalf("after the site emptied and two logins: %v, want [amy zed]", got)
		}
	})
}
