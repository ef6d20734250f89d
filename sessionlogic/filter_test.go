package sessionlogic_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"sessionmon/sessionlogic"
)

// The exact terms of a filter (user:, ip:, role:) select that field
// exactly in every listing, count and match: a group's Enter lists the
// group's own sessions, not those of every key it is a substring of.
func TestFilterExactTerms(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	login := func(user, ip string) {
		t.Helper()
		if _, _, err := f.m.Login(ctx, sessionlogic.LoginRequest{Username: user, Password: user + "-password", IP: ip, UserAgent: "t"}); err != nil {
			t.Fatalf("login %s: %v", user, err)
		}
	}
	login("alice", "10.0.0.1")
	login("bob", "10.0.0.12")
	login("bob", "10.0.0.1")

	cases := []struct {
		filter string
		want   []string // username@ip, sorted
	}{
		{"10.0.0.1", []string{"alice@10.0.0.1", "bob@10.0.0.1", "bob@10.0.0.12"}}, // a substring
		{"ip:10.0.0.1", []string{"alice@10.0.0.1", "bob@10.0.0.1"}},
		{"IP:10.0.0.12", []string{"bob@10.0.0.12"}},
		{"ip:10.0.0", nil},
		{"user:bob", []string{"bob@10.0.0.1", "bob@10.0.0.12"}},
		{"user:bo", nil},
		{"user:bob ip:10.0.0.12", []string{"bob@10.0.0.12"}},
		{"ip:10.0.0.1 ALI", []string{"alice@10.0.0.1"}}, // term and substring
		{"user:", nil}, // no value: a substring, which nothing holds
	}
	for _, c := range cases {
		p, err := f.m.Active(ctx, sessionlogic.ListQuery{Text: c.filter})
		if err != nil {
			t.Fatalf("Active(%q): %v", c.filter, err)
		}
		var got []string
		for _, s := range p.Sessions {
			got = append(got, s.Username+"@"+s.IP)
			if !sessionlogic.MatchesFilter(s, c.filter) {
				t.Errorf("MatchesFilter(%s, %q) = false for a listed session", s.Username+"@"+s.IP, c.filter)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("Active(%q) = %v, want %v", c.filter, got, c.want)
		}
		n, err := f.m.Count(ctx, sessionlogic.ListQuery{Text: c.filter})
		if err != nil || n != int64(len(c.want)) {
			t.Errorf("Count(%q) = %d, %v; want %d", c.filter, n, err, len(c.want))
		}
	}

	for _, bad := range []sessionlogic.ListQuery{
		{Text: "ip:10.0.0.1 ip:10.0.0.12"},
		{Text: "user:alice", Username: "bob"},
	} {
		if _, err := f.m.Active(ctx, bad); !errors.Is(err, sessionlogic.ErrInvalidInput) {
			t.Errorf("Active(%+v) = %v, want ErrInvalidInput", bad, err)
		}
	}
	if _, err := f.m.Groups(ctx, sessionlogic.GroupQuery{By: sessionlogic.GroupByUser, Text: "ip:10.0.0.1"}); !errors.Is(err, sessionlogic.ErrInvalidInput) {
		t.Errorf("Groups by user with an ip: term = %v, want ErrInvalidInput", err)
	}
	g, err := f.m.Groups(ctx, sessionlogic.GroupQuery{By: sessionlogic.GroupByIP, Text: "ip:10.0.0.12"})
	if err != nil || len(g.Groups) != 1 || g.Groups[0].Key != "10.0.0.12" {
		t.Errorf("Groups by IP with ip:10.0.0.12 = %+v, %v", g, err)
	}
	if sessionlogic.FilterSubstring("ip:10.0.0.1  ali ") != "ali" {
		t.Errorf("FilterSubstring = %q", sessionlogic.FilterSubstring("ip:10.0.0.1 ali"))
	}
}

// A term's value may be quoted (Term writes it so when it holds a space, a
// quote or a backslash) and is then matched whole; a quote left open or an
// empty quoted value is refused, not read as something else.
func TestFilterQuotedTerms(t *testing.T) {
	mary := sessionlogic.Session{Username: "mary ann", IP: "10.0.0.1", Role: "user"}
	odd := sessionlogic.Session{Username: `o"brien\x`, IP: "10.0.0.2", Role: "user"}
	for _, c := range []struct {
		filter    string
		mary, odd bool
	}{
		{sessionlogic.Term(sessionlogic.QualUser, "mary ann"), true, false},
		{`user:"mary ann" ip:10.0.0.1`, true, false},
		{`USER:"mary ann"  role:user`, true, false},
		{sessionlogic.Term(sessionlogic.QualUser, `o"brien\x`), false, true},
		{`user:mary`, false, false},
		{`user:"mary`, false, false},
		{`user:""`, false, false},
		{`"mary ann"`, false, false}, // free text, quotes and all: a substring nobody holds
		{`mary ann`, true, false},
	} {
		if got := sessionlogic.MatchesFilter(mary, c.filter); got != c.mary {
			t.Errorf("MatchesFilter(mary ann, %s) = %v", c.filter, got)
		}
		if got := sessionlogic.MatchesFilter(odd, c.filter); got != c.odd {
			t.Errorf("MatchesFilter(o\"brien, %s) = %v", c.filter, got)
		}
	}
	if got := sessionlogic.Term(sessionlogic.QualIP, "10.0.0.1"); got != "ip:10.0.0.1" {
		t.Errorf("Term(ip:, 10.0.0.1) = %s, want it unquoted", got)
	}
	for _, bad := range []string{`user:"mary`, `user:""`} {
		if _, err := newFixture(t, nil).m.Active(context.Background(), sessionlogic.ListQuery{Text: bad}); !errors.Is(err, sessionlogic.ErrInvalidInput) {
			t.Errorf("Active(%s) = %v, want ErrInvalidInput", bad, err)
		}
	}
}
