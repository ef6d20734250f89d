package django

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"sessionmon/data"
)

// The index's listings and counts (query.go) against the plain way they
// were answered before: every active entry made a Session, filtered,
// sorted with compare, cut after the cursor. Same pages, same cursors,
// same counts, in every order, direction and filter, across ties.

// compare orders sessions by k, then by id (what ListActive's orders
// mean).
func compare(a, b data.Session, k data.SortKey) int {
	var c int
	switch k {
	case data.SortLastActivity:
		c = a.LastActivity.Compare(b.LastActivity)
	case data.SortLoginTime:
		c = a.LoginTime.Compare(b.LoginTime)
	case data.SortUser:
		c = strings.Compare(a.Username, b.Username)
	default:
		c = a.ExpiresAt.Compare(b.ExpiresAt)
	}
	if c == 0 {
		c = strings.Compare(a.ID, b.ID)
	}
	return c
}

func refMatches(s data.Session, q data.Query) bool {
	if !s.ExpiresAt.After(q.Now) {
		return false
	}
	if q.Username != "" && s.Username != q.Username || q.Role != "" && s.Role != q.Role || q.IP != "" && s.IP != q.IP {
		return false
	}
	if q.Text == "" {
		return true
	}
	t := strings.ToLower(q.Text)
	for _, f := range []string{s.Username, s.FullName, s.Email, s.Role, s.IP} {
		if strings.Contains(strings.ToLower(f), t) {
			return true
		}
	}
	return false
}

// refSelect returns the sessions q selects in its order, and how many of
// them are after q's cursor.
func refSelect(x *index, q data.Query) (all []data.Session, after int) {
	x.m.each(func(k32 [32]byte, k string, e entry) {
		if s := x.session(keyString(k32, k), e); refMatches(s, q) {
			all = append(all, s)
		}
	})
	sort.Slice(all, func(i, j int) bool {
		c := compare(all[i], all[j], q.Sort)
		if q.Desc {
			return c > 0
		}
		return c < 0
	})
	if q.After == nil {
		return all, 0
	}
	cur := data.Session{ID: q.After.ID, Username: q.After.User, ExpiresAt: q.After.Time, LastActivity: q.After.Time, LoginTime: q.After.Time}
	i := sort.Search(len(all), func(i int) bool {
		c := compare(all[i], cur, q.Sort)
		if q.Desc {
			return c < 0
		}
		return c > 0
	})
	return all, i
}

func refList(x *index, q data.Query) data.Page {
	all, i := refSelect(x, q)
	hits := all[i:]
	page := data.Page{Sessions: hits}
	if len(hits) > q.Limit {
		page.Sessions = hits[:q.Limit]
		page.Next = data.CursorOf(page.Sessions[q.Limit-1], q.Sort)
	}
	if len(page.Sessions) == 0 {
		page.Sessions = []data.Session{}
	}
	return page
}

// testIndex fills an index with n sessions of few users, few distinct
// times (ties in every order), some keys of another length, some expired.
func testIndex(t *testing.T, rng *rand.Rand, n int, now time.Time) *index {
	t.Helper()
	x := newIndex(&Source{opts: Options{Keys: NewKeys("k")}})
	names := []string{"alice", "bob", "Carol", "dave", "Émile", "alice"} // alice twice: two users of one name
	roles := []string{"user", "editor", "admin"}
	for i := 0; i < n; i++ {
		u := rng.IntN(len(names))
		at := func() time.Time { return now.Add(time.Duration(rng.IntN(7)-2) * time.Minute) }
		ss := data.Session{
			UserID: int64(u + 1), Username: names[u], Email: fmt.Sprintf("%s@Example.com", strings.ToLower(names[u])),
			FullName: strings.ToUpper(names[u]) + " X", Role: roles[(u+rng.IntN(2))%len(roles)], Status: "active",
			IP: fmt.Sprintf("10.0.%d.%d", u, rng.IntN(3)), UserAgent: "ua",
			LoginTime: at(), LastActivity: at(), ExpiresAt: at(),
			Data: map[string]any{MarkSignature: "valid"},
		}
		key := randKey()
		if i%17 == 0 {
			key = key[:20] // another key scheme
		}
		x.m.set(key, x.entryOf(ss))
	}
	return x
}

func TestIndexListingsMatchTheReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UTC().Truncate(time.Microsecond)
	x := testIndex(t, rng, 400, now)
	var keys []string
	x.m.each(func(k32 [32]byte, k string, e entry) { keys = append(keys, keyString(k32, k)) })
	// Rounds: the index as built (kept orders sorted at the first
	// listing), then changed as the site changes it between polls (saves
	// that move a session in every order, logins, logouts), so listings
	// merge the changes into the kept orders; in the last round they
	// read so little of a kept order that they fall back to the pass.
	for round := range 4 {
		if round > 0 {
			churn(x, rng, &keys, now, 60)
		}
		if round == 3 {
			defer func(old int) { keptReadMin = old }(keptReadMin)
			keptReadMin = 5
		}
		checkListings(t, x, now)
	}
}

// churn changes n sessions of x as a site does between two polls: saves
// that move a session in every order, logins (added to keys) and logouts.
func churn(x *index, rng *rand.Rand, keys *[]string, now time.Time, n int) {
	for range n {
		k := (*keys)[rng.IntN(len(*keys))]
		switch rng.IntN(3) {
		case 0:
			if e, ok := x.m.get(k); ok {
				e.expire += int64(rng.IntN(5)-2) * 60e6
				e.last += int64(rng.IntN(5)-2) * 60e6
				e.user = uint32(rng.IntN(x.users.len()))
				x.m.set(k, e)
			}
		case 1:
			x.m.del(k)
		case 2:
			k := randKey()
			*keys = append(*keys, k)
			x.m.set(k, entry{expire: now.Add(time.Duration(rng.IntN(7)-2) * time.Minute).UnixMicro(), login: now.UnixMicro(),
				last: now.Add(time.Duration(rng.IntN(7)-2) * time.Minute).UnixMicro(), user: uint32(rng.IntN(x.users.len()))})
		}
	}
}

func checkListings(t *testing.T, x *index, now time.Time) {
	t.Helper()
	filters := []data.Query{{}, {Username: "alice"}, {Role: "editor"}, {Text: "ALI"}, {Text: "10.0.2"}, {Text: "émile"}, {Text: "nobody"}, {Username: "bob", Text: "edit"},
		{IP: "10.0.2.1"}, {IP: "10.0.2"}, {IP: "10.0.0.1", Text: "ali"}, {IP: "10.0.3.0", Username: "dave"}}
	for _, f := range filters {
		for _, sk := range data.SortKeys {
			for _, desc := range []bool{false, true} {
				q := f
				q.Now, q.Sort, q.Desc, q.Limit = now, sk, desc, 7
				name := fmt.Sprintf("%+v", q)
				// Walk the whole listing page by page, as the dashboard
				// scrolls it; each page and each count as the reference.
				for pages := 0; ; pages++ {
					got, want := x.list(q), refList(x, q)
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%s: page %d\ngot  %v\nwant %v", name, pages, ids(got.Sessions), ids(want.Sessions))
					}
					all, after := refSelect(x, q)
					if n := countOf(x, q); n != int64(after) && q.After != nil || q.After == nil && n != int64(len(all)) {
						t.Fatalf("%s: count %d, want %d (of %d)", name, n, after, len(all))
					}
					if got.Next == nil {
						break
					}
					q.After = got.Next
				}
				// Cursors that are no row's: a time between microseconds,
				// a name between names, before and after everything.
				for _, c := range []data.Cursor{
					{Time: now.Add(time.Minute + 500), User: "b", ID: "m"},
					{Time: now.Add(-time.Hour), User: "", ID: ""},
					{Time: now.Add(time.Hour), User: "zzz", ID: "zzz"},
					{Time: now, User: "alice", ID: "g"},
					{User: "Carol"},
				} {
					q.After = &c
					if got, want := x.list(q), refList(x, q); !reflect.DeepEqual(got, want) {
						t.Fatalf("%s after %+v\ngot  %v\nwant %v", name, c, ids(got.Sessions), ids(want.Sessions))
					}
					if _, after := refSelect(x, q); countOf(x, q) != int64(after) {
						t.Fatalf("%s after %+v: count %d, want %d", name, c, countOf(x, q), after)
					}
				}
			}
		}
	}
}

func countOf(x *index, q data.Query) int64 {
	return x.selection(q).count(true)
}

// TestIndexListingsFollowNewUsers: the ranks and filter results kept
// between polls extend to users and clients interned after them, and gc's
// renumbering resets them.
func TestIndexListingsFollowNewUsers(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	now := time.Now().UTC().Truncate(time.Microsecond)
	x := testIndex(t, rng, 50, now)
	q := data.Query{Now: now, Sort: data.SortUser, Text: "a", Limit: 1000}
	check := func(when string) {
		t.Helper()
		if got, want := x.list(q), refList(x, q); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\ngot  %v\nwant %v", when, ids(got.Sessions), ids(want.Sessions))
		}
	}
	check("first")
	for _, name := range []string{"aaron", "zara", "bob", "anna"} {
		ss := data.Session{UserID: 99, Username: name, Role: "user", IP: "192.168.7.1", ExpiresAt: now.Add(time.Hour), LoginTime: now, LastActivity: now}
		x.m.set(randKey(), x.entryOf(ss))
		check("after " + name)
	}
	x.m.deleteIf(func(e entry) bool { return x.users.name(e.user) == "alice" })
	for i := range 2*x.m.len() + 64 { // unused users, so that gc renumbers
		x.users.intern(userInfo{id: int64(1000 + i), username: "unused"})
	}
	x.gc()
	for i := range x.users.len() {
		if n := x.users.name(uint32(i)); n == "unused" || n == "alice" {
			t.Fatalf("gc kept user %d, %q, that no session has", i, n)
		}
	}
	check("after gc")
}

func TestContainsFold(t *testing.T) {
	for _, s := range []string{"", "abc", "ABC", "xAbCx", "Émile", "ÉMILE", "straße", "10.0.0.1", "K"} {
		for _, text := range []string{"", "a", "ab", "bc", "abcd", "é", "émi", "ss", "0.0", "k", "K"} {
			tt := strings.ToLower(text)
			if got, want := containsFold(s, tt), strings.Contains(strings.ToLower(s), tt); got != want {
				t.Errorf("containsFold(%q, %q) = %v, want %v", s, tt, got, want)
			}
		}
	}
}

// TestIndexStatsMatchTheReference: Stats' pass over the columns counts
// what a walk over the sessions counts.
func TestIndexStatsMatchTheReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	now := time.Now().UTC().Truncate(time.Microsecond)
	x := testIndex(t, rng, 300, now)
	x.m.deleteIf(func(e entry) bool { return rng.IntN(5) == 0 }) // dead slots among the live
	for _, q := range []data.StatsQuery{
		{Now: now, ExpiryWindow: time.Minute, LoginWindow: time.Minute},
		{Now: now.Add(-time.Minute), ExpiryWindow: time.Hour, LoginWindow: 100 * 365 * 24 * time.Hour},
	} {
		want := data.Stats{ByRole: map[string]int64{}}
		x.m.each(func(k32 [32]byte, k string, e entry) {
			s := x.session(keyString(k32, k), e)
			if !s.LoginTime.Before(q.Now.Add(-q.LoginWindow)) && !s.LoginTime.After(q.Now) && e.flags()&flagLoginEst == 0 {
				want.RecentLogins++
			}
			if s.ExpiresAt.After(q.Now) {
				want.Active++
				want.ByRole[s.Role]++
				if !s.ExpiresAt.After(q.Now.Add(q.ExpiryWindow)) {
					want.ExpiringWithin++
				}
			}
		})
		if got := x.count(q); !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: got %+v, want %+v", q, got, want)
		}
	}
}

// TestQueryCacheByUserIsMappedAndReturned: the arrays by user that
// listings keep (ranks, names in order, roles: 12 bytes a user) are mapped
// for the index, not left on the Go heap, where at 250,000 users they were
// most of what the dashboard kept live; and a reset (gc's renumbering)
// returns them.
func TestQueryCacheByUserIsMappedAndReturned(t *testing.T) {
	x := benchIndex(200000) // 50,000 users
	x.mu.Lock()
	defer x.mu.Unlock()
	nu := x.users.len()
	before := x.mem.Size()
	rank := x.ranks()
	roleOf, _ := x.userRoles()
	if len(rank) != nu || len(roleOf) != nu {
		t.Fatalf("%d ranks and %d roles for %d users", len(rank), len(roleOf), nu)
	}
	if grown := x.mem.Size() - before; grown < 3*4*nu {
		t.Fatalf("the index mapped %d bytes more for %d users' ranks, names and roles; want at least %d (are they on the Go heap?)", grown, nu, 3*4*nu)
	}
	x.resetQueryCache()
	if after := x.mem.Size(); after != before {
		t.Fatalf("after a reset the index maps %d bytes, %d before the ranks were built", after, before)
	}
}
