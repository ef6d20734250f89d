package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"sessionmon/data"
)

var listCases = []sourceCase{
	{"OnlyActive", testListOnlyActive},
	{"Sort", testListSort},
	{"Paging", testListPaging},
	{"ExactWithinMinute", testListExactWithinMinute},
	{"Filters", testListFilters},
	{"TextIsLiteral", testListTextLiteral},
	{"DefaultLimit", testListDefaultLimit},
	{"InvalidSort", testListInvalidSort},
}

// listNow is the Query.Now of the ListActive cases.
var listNow = at(time.Hour)

func mustList(t *testing.T, st data.Source, q data.Query) data.Page {
	t.Helper()
	p, err := st.ListActive(ctx(t), q)
	if err != nil {
		t.Fatalf("ListActive(%+v): %v", q, err)
	}
	return p
}

func testListOnlyActive(t *testing.T, f *fixture) {
	alice := person("alice", "admin")
	a2, atNow, past := alice, alice, alice
	a2.ExpiresAt = listNow.Add(f.tick)
	atNow.ExpiresAt = listNow
	past.ExpiresAt = listNow.Add(-time.Hour)
	rows := f.seed(t, alice, a2, alice, atNow, past)
	a1, ended := rows[0], rows[2]
	a2, atNow = rows[1], rows[3]
	f.end(t, ended.ID, data.End{At: at(time.Minute), Reason: data.EndLogout, By: "alice"})

	p := mustList(t, f.src, data.Query{Now: listNow})
	got := ids(p.Sessions)
	want := []string{a2.ID, a1.ID} // by expiry
	if !slices.Equal(got, want) {
		t.Fatalf("ListActive = %s, want %s", shortIDs(got), shortIDs(want))
	}
	if p.Next != nil {
		t.Fatalf("Next = %+v on the only page", p.Next)
	}
	f.wantSession(t, "listed row", a2, p.Sessions[0])
	if p.Sessions[0].Version != a2.Version {
		t.Fatal("listed row has a different Version")
	}
	// Earlier, the one expiring at listNow was active too; the one that
	// expired at T0 was not, and an ended row never is.
	if got, want := ids(mustList(t, f.src, data.Query{Now: at(0)}).Sessions), []string{atNow.ID, a2.ID, a1.ID}; !slices.Equal(got, want) {
		t.Fatalf("ListActive at T0 = %s, want %s", shortIDs(got), shortIDs(want))
	}
}

// sortFixture stores 12 active sessions whose sort keys tie in several ways,
// plus rows that must never be listed, and returns the active ones.
func sortFixture(t *testing.T, f *fixture) []data.Session {
	t.Helper()
	users := []data.Session{
		person("dan", "viewer"),
		person("ann", "admin"),
		person("cat", "operator"),
		person("ben", "viewer"),
	}
	var seed []data.Session
	for i := range 12 {
		s := users[i%len(users)]
		s.LoginTime = at(-time.Duration(i%4) * time.Hour)
		s.LastActivity = at(time.Duration(i%3) * time.Minute)
		s.ExpiresAt = at(CookieAge + time.Duration(i%5)*time.Minute)
		seed = append(seed, s)
	}
	expired := users[1]
	expired.ExpiresAt = listNow.Add(-time.Minute)
	rows := f.seed(t, append(seed, users[0], expired)...)
	f.end(t, rows[12].ID, data.End{At: at(time.Minute), Reason: data.EndLogout, By: "dan"})
	return rows[:12]
}

// sortKey returns a row's position in the order of k, as the Cursor would
// carry it.
func sortKey(k data.SortKey, s data.Session) data.Cursor {
	switch k {
	case data.SortLastActivity:
		return data.Cursor{Time: s.LastActivity, ID: s.ID}
	case data.SortLoginTime:
		return data.Cursor{Time: s.LoginTime, ID: s.ID}
	case data.SortUser:
		return data.Cursor{User: s.Username, ID: s.ID}
	default:
		return data.Cursor{Time: s.ExpiresAt, ID: s.ID}
	}
}

func compareCursor(a, b data.Cursor) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	if c := strings.Compare(a.User, b.User); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

func expectedOrder(rows []data.Session, k data.SortKey, desc bool) []string {
	sorted := slices.Clone(rows)
	slices.SortFunc(sorted, func(a, b data.Session) int {
		c := compareCursor(sortKey(k, a), sortKey(k, b))
		if desc {
			return -c
		}
		return c
	})
	return ids(sorted)
}

func testListSort(t *testing.T, f *fixture) {
	rows := sortFixture(t, f)
	for _, k := range append([]data.SortKey{""}, data.SortKeys...) {
		for _, desc := range []bool{false, true} {
			p := mustList(t, f.src, data.Query{Now: listNow, Sort: k, Desc: desc, Limit: 50})
			got, want := ids(p.Sessions), expectedOrder(rows, cmp.Or(k, data.SortExpires), desc)
			if !slices.Equal(got, want) {
				t.Errorf("sort %q desc=%v:\n got %s\nwant %s", k, desc, shortIDs(got), shortIDs(want))
			}
			if p.Next != nil {
				t.Errorf("sort %q desc=%v: Next = %+v, want nil", k, desc, p.Next)
			}
		}
	}
}

func testListPaging(t *testing.T, f *fixture) {
	rows := sortFixture(t, f)
	for _, k := range data.SortKeys {
		for _, desc := range []bool{false, true} {
			want := expectedOrder(rows, k, desc)
			for _, limit := range []int{1, 4, 5, 12, 13} {
				name := fmt.Sprintf("sort %q desc=%v limit=%d", k, desc, limit)
				var got []string
				var after *data.Cursor
				for page := 0; ; page++ {
					if page > len(rows)+1 {
						t.Fatalf("%s: paging does not end", name)
					}
					p := mustList(t, f.src, data.Query{Now: listNow, Sort: k, Desc: desc, Limit: limit, After: after})
					if len(p.Sessions) > limit {
						t.Fatalf("%s: page of %d rows", name, len(p.Sessions))
					}
					got = append(got, ids(p.Sessions)...)
					if p.Next == nil {
						break
					}
					if len(p.Sessions) == 0 {
						t.Fatalf("%s: empty page with a Next cursor", name)
					}
					last := p.Sessions[len(p.Sessions)-1]
					if wantC := sortKey(k, last); compareCursor(*p.Next, wantC) != 0 {
						t.Fatalf("%s: Next = %+v, want the last row's position %+v", name, *p.Next, wantC)
					}
					after = p.Next
				}
				if !slices.Equal(got, want) {
					t.Fatalf("%s: walked\n %s\nwant %s", name, shortIDs(got), shortIDs(want))
				}
			}
		}
	}
}

// Expiry and last activity are ordered exactly (to the source's precision),
// even when rows share a minute (a store may index a coarser bucket of
// them, as both of sessionmon's do since migration 0005, but its order must
// stay exact), and on a Store the order follows touches. Paging through
// both orders at small limits must walk the exact order, across minute
// boundaries too.
func testListExactWithinMinute(t *testing.T, f *fixture) {
	base := at(30 * time.Minute).Truncate(time.Minute)
	tk := f.tick
	// Ties, neighbours, and both sides of minute boundaries.
	offs := []time.Duration{
		0, tk, tk, time.Minute - tk, time.Minute, time.Minute + tk, 30 * time.Second, 30 * time.Second,
		2*time.Minute - tk, 2 * time.Minute, 2 * tk, time.Minute - 2*tk, 90 * time.Second,
	}
	alice := person("alice", "admin")
	var seed []data.Session
	for i, off := range offs {
		s := alice
		la := base.Add(off)
		s.LoginTime, s.LastActivity = base.Add(-time.Hour), la
		s.ExpiresAt = la.Add(CookieAge)
		if i%3 == 0 { // expiry order differs from activity order
			s.ExpiresAt = la.Add(CookieAge - time.Duration(i)*time.Second)
		}
		seed = append(seed, s)
	}
	rows := f.seed(t, seed...)
	if f.st != nil {
		// Touches move rows within and across minutes; the listing follows.
		for i, off := range map[int]time.Duration{1: 45*time.Second + tk, 4: tk, 9: time.Minute} {
			now := base.Add(off)
			got, err := f.st.Touch(ctx(t), rows[i].ID, now, now.Add(CookieAge))
			if err != nil {
				t.Fatalf("Touch: %v", err)
			}
			rows[i] = got
		}
	}
	for _, k := range []data.SortKey{data.SortExpires, data.SortLastActivity} {
		for _, desc := range []bool{false, true} {
			want := expectedOrder(rows, k, desc)
			for _, limit := range []int{1, 2, 3, len(rows)} {
				name := fmt.Sprintf("sort %q desc=%v limit=%d", k, desc, limit)
				var got []string
				var after *data.Cursor
				for page := 0; page <= len(rows)+1; page++ {
					p := mustList(t, f.src, data.Query{Now: listNow, Sort: k, Desc: desc, Limit: limit, After: after})
					got = append(got, ids(p.Sessions)...)
					if p.Next == nil {
						break
					}
					after = p.Next
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s: walked\n %s\nwant %s", name, shortIDs(got), shortIDs(want))
				}
			}
		}
	}
}

type filterCase struct {
	q    data.Query
	want []string // session names
}

// checkFilters runs each case's query; names maps the session names of
// the cases to their ids.
func checkFilters(t *testing.T, st data.Source, names map[string]string, cases []filterCase) {
	t.Helper()
	for _, c := range cases {
		c.q.Now = listNow
		c.q.Sort = data.SortUser
		c.q.Limit = 100
		p := mustList(t, st, c.q)
		var want []string
		for _, n := range c.want {
			id, ok := names[n]
			if !ok {
				t.Fatalf("filter case names an unknown session %q", n)
			}
			want = append(want, id)
		}
		got := ids(p.Sessions)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("ListActive(Username=%q Role=%q Text=%q) = %s, want %v",
				c.q.Username, c.q.Role, c.q.Text, shortIDs(got), c.want)
		}
	}
}

func testListFilters(t *testing.T, f *fixture) {
	mk := func(username, email, fullName, role, ip string) data.Session {
		s := person(username, role)
		s.Email, s.FullName, s.IP = email, fullName, ip
		return s
	}
	bob := mk("bob", "bob@Corp.Example", "Robert Smith", "operator", "10.2.2.2")
	// A second session of bob, from elsewhere, and an ended one that
	// matches every filter below and must never show.
	b2, ghost := bob, bob
	b2.IP = "2001:db8::b0b"
	rows := f.seed(t,
		mk("alice", "alice@example.com", "Alice Liddell", "admin", "10.1.1.1"),
		bob,
		mk("carol", "carol@example.com", "Carol Jones", "viewer", "192.0.2.33"),
		b2,
		ghost)
	names := map[string]string{}
	for i, n := range []string{"alice-1", "bob-1", "carol-1", "bob-2", "bob-ended"} {
		names[n] = rows[i].ID
	}
	f.end(t, names["bob-ended"], data.End{At: at(time.Minute), Reason: data.EndLogout, By: "bob"})

	all := []string{"alice-1", "bob-1", "bob-2", "carol-1"}
	checkFilters(t, f.src, names, []filterCase{
		{data.Query{}, all},
		{data.Query{Username: "bob"}, []string{"bob-1", "bob-2"}},
		{data.Query{Username: "BOB"}, nil}, // exact
		{data.Query{Username: "bo"}, nil},  // exact
		{data.Query{Role: "viewer"}, []string{"carol-1"}},
		{data.Query{Role: "VIEWER"}, nil},
		{data.Query{Role: "operator", Username: "bob"}, []string{"bob-1", "bob-2"}},
		{data.Query{Role: "admin", Username: "bob"}, nil},
		{data.Query{Text: "ALICE"}, []string{"alice-1"}},            // username, email, full name
		{data.Query{Text: "liddell"}, []string{"alice-1"}},          // full name
		{data.Query{Text: "rOBERT sm"}, []string{"bob-1", "bob-2"}}, // full name, case-insensitive
		{data.Query{Text: "corp.example"}, []string{"bob-1", "bob-2"}},
		{data.Query{Text: "@EXAMPLE.com"}, []string{"alice-1", "carol-1"}},
		{data.Query{Text: "EXAMPLE"}, all},
		{data.Query{Text: "OPERAT"}, []string{"bob-1", "bob-2"}}, // role
		{data.Query{Text: "192.0.2"}, []string{"carol-1"}},       // IP
		{data.Query{Text: "10."}, []string{"alice-1", "bob-1"}},
		{data.Query{Text: "DB8::B0"}, []string{"bob-2"}},
		{data.Query{Text: "zzz"}, nil},
		{data.Query{Text: "a"}, all},
		{data.Query{Text: "10.1", Role: "admin"}, []string{"alice-1"}},
		{data.Query{Text: "10.1", Role: "viewer"}, nil},
		{data.Query{Text: "bob", Username: "alice"}, nil},
		{data.Query{IP: "10.2.2.2"}, []string{"bob-1"}},
		{data.Query{IP: "10.2.2"}, nil}, // exact, not a prefix
		{data.Query{IP: "10.2.2.20"}, nil},
		{data.Query{IP: "2001:db8::b0b", Username: "bob"}, []string{"bob-2"}},
		{data.Query{IP: "10.1.1.1", Text: "bob"}, nil},
	})
}

func testListTextLiteral(t *testing.T, f *fixture) {
	names := []string{
		"per%cent", "under_score", "quote'single", `dq"user`, `back\slash`,
		"plain", "star*", "brack[et]", "caret^", "dollar$", "dot.ted",
	}
	var seed []data.Session
	for i, n := range names {
		s := person(n, "viewer")
		s.Email, s.FullName = fmt.Sprintf("user%d@example.com", i), "User "+fmt.Sprint(i)
		seed = append(seed, s)
	}
	byName := map[string]string{}
	for i, s := range f.seed(t, seed...) {
		byName[names[i]] = s.ID
	}
	checkFilters(t, f.src, byName, []filterCase{
		{data.Query{Text: "%"}, []string{"per%cent"}},
		{data.Query{Text: "_"}, []string{"under_score"}},
		{data.Query{Text: "r%c"}, []string{"per%cent"}},
		{data.Query{Text: "r_c"}, nil}, // "_" is not a wildcard
		{data.Query{Text: "er_s"}, []string{"under_score"}},
		{data.Query{Text: "%%"}, nil},
		{data.Query{Text: "%c%"}, nil},
		{data.Query{Text: "'"}, []string{"quote'single"}},
		{data.Query{Text: `"`}, []string{`dq"user`}},
		{data.Query{Text: `\`}, []string{`back\slash`}},
		{data.Query{Text: `k\s`}, []string{`back\slash`}},
		{data.Query{Text: `\%`}, nil},
		{data.Query{Text: `\_`}, nil},
		{data.Query{Text: "*"}, []string{"star*"}},
		{data.Query{Text: "[et]"}, []string{"brack[et]"}},
		{data.Query{Text: "[a-z]"}, nil},
		{data.Query{Text: "^"}, []string{"caret^"}},
		{data.Query{Text: "$"}, []string{"dollar$"}},
		{data.Query{Text: ".*"}, nil},
		{data.Query{Text: "t.t"}, []string{"dot.ted"}},
		{data.Query{Text: "'; DROP TABLE sessions; --"}, nil},
		{data.Query{Text: `"; DROP TABLE sessions; --`}, nil},
		{data.Query{Text: "' OR '1'='1"}, nil},
		{data.Query{Text: "') OR 1=1 --"}, nil},
		{data.Query{Username: "' OR '1'='1"}, nil},
		{data.Query{Role: "viewer' OR 'x'='x"}, nil},
	})
	// Nothing was harmed.
	if p := mustList(t, f.src, data.Query{Now: listNow, Limit: 100}); len(p.Sessions) != len(names) {
		t.Fatalf("after hostile filters ListActive = %d rows, want %d", len(p.Sessions), len(names))
	}
	if f.st == nil {
		return
	}
	if us, err := f.st.ListUsers(ctx(t)); err != nil || len(us) != len(names) {
		t.Fatalf("after hostile filters ListUsers = %d, %v", len(us), err)
	}
}

func testListDefaultLimit(t *testing.T, f *fixture) {
	f.seed(t, slices.Repeat([]data.Session{person("alice", "admin")}, 101)...)
	p := mustList(t, f.src, data.Query{Now: listNow})
	if len(p.Sessions) != 100 || p.Next == nil {
		t.Fatalf("Limit 0: %d rows, Next=%v; want 100 and a cursor", len(p.Sessions), p.Next)
	}
	p = mustList(t, f.src, data.Query{Now: listNow, Limit: -1, After: p.Next})
	if len(p.Sessions) != 1 || p.Next != nil {
		t.Fatalf("second page: %d rows, Next=%v; want 1 and nil", len(p.Sessions), p.Next)
	}
}

func testListInvalidSort(t *testing.T, f *fixture) {
	if _, err := f.src.ListActive(ctx(t), data.Query{Now: listNow, Sort: "expires_at; DROP TABLE sessions"}); err == nil {
		t.Fatal("ListActive with an unknown sort key succeeded")
	}
}
