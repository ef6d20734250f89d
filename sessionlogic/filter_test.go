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
