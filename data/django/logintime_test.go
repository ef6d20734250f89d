package django

import (
	"fmt"
	"testing"
	"time"

	"sessionmon/data"
)

// TestLoginTimeWithoutLoginTimeKeyAgrees: a row with the site's own keys
// (user, user_id, …) but no login_time gets one login time, whichever
// path reads it: the window by expiry (rows read from the table) and the
// orders and filters answered from the index. Both give the user's
// auth_user.last_login, marked estimated, when it is no later than the
// session's last activity. The index used to say "unknown" and show the
// last activity instead, so the same session's login time changed with
// the sort order.
func TestLoginTimeWithoutLoginTimeKeyAgrees(t *testing.T) {
	eachDialect(t, func(t *testing.T, site *testSite) {
		now := time.Now().UTC().Truncate(time.Second)
		lastLogin := now.Add(-3 * time.Hour)
		last := now.Add(-time.Minute)
		id := site.addUser("erin", "Erin", "E", "erin@example.com", false, false, true)
		site.exec("UPDATE auth_user SET last_login = "+site.ph(1)+" WHERE id = "+site.ph(2), site.d.timeArg(lastLogin), id)
		k := randKey()
		var ms []Member
		for _, m := range siteMembers("erin", id, "user", now, last) {
			if m.Key != keyLoginTime {
				ms = append(ms, m)
			}
		}
		ms[0] = Member{"_auth_user_id", fmt.Sprint(id)}
		site.put(k, now.Add(time.Hour), ms...)
		src := site.open(Options{Keys: site.keys})

		login := func(q data.Query) (time.Time, any) {
			t.Helper()
			q.Now = time.Now()
			p, err := src.ListActive(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Sessions) != 1 || p.Sessions[0].ID != k {
				t.Fatalf("ListActive(%+v) = %v", q, ids(p.Sessions))
			}
			return p.Sessions[0].LoginTime, p.Sessions[0].Data[MarkLoginTime]
		}
		fromWindow, markW := login(data.Query{})
		fromIndex, markI := login(data.Query{Sort: data.SortLoginTime, Desc: true})
		filtered, _ := login(data.Query{Text: "erin"})
		if !fromWindow.Equal(lastLogin) || !fromIndex.Equal(lastLogin) || !filtered.Equal(lastLogin) {
			t.Errorf("login time: window %v, index %v, filter %v; want auth_user.last_login %v on every path", fromWindow, fromIndex, filtered, lastLogin)
		}
		if markW == nil || markI == nil {
			t.Errorf("the login time is not marked as an estimate: window %v, index %v", markW, markI)
		}
	})
}
