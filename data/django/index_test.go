package django

import (
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
