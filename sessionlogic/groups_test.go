package sessionlogic_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/sessionlogic"
)

func TestGroupsHistogramAndPosition(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.login(t, "alice")
	f.login(t, "alice")
	f.clock.Advance(2 * time.Minute)
	f.login(t, "bob")
	if _, _, err := f.m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: "wrong", IP: "198.51.100.7"}); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}

	g, err := f.m.Groups(ctx, sessionlogic.GroupQuery{By: sessionlogic.GroupByUser})
	if err != nil {
		t.Fatal(err)
	}
	if g.Total != 2 || len(g.Groups) != 2 || g.Groups[0].Key != "alice" || g.Groups[0].Sessions != 2 || g.Groups[1].Key != "bob" {
		t.Fatalf("Groups by user = %+v", g)
	}
	g, err = f.m.Groups(ctx, sessionlogic.GroupQuery{By: sessionlogic.GroupByIP, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Groups) != 1 || g.Groups[0].Key != "192.0.2.1" || g.Groups[0].Sessions != 3 || g.Groups[0].Others != 2 {
		t.Fatalf("Groups by IP = %+v", g)
	}

	h, err := f.m.LoginHistogram(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Logins) != sessionlogic.HistogramBuckets || h.Step != time.Minute {
		t.Fatalf("histogram shape: %d buckets of %s", len(h.Logins), h.Step)
	}
	// Now is the last bucket; the first two logins were two minutes ago.
	last := len(h.Logins) - 1
	if h.Logins[last] != 1 || h.Logins[last-2] != 2 || h.Failed[last] != 1 {
		t.Fatalf("histogram tail: logins %v failed %v", h.Logins[last-3:], h.Failed[last-3:])
	}

	n, err := f.m.Count(ctx, sessionlogic.ListQuery{Text: "ALI"})
	if err != nil || n != 2 {
		t.Fatalf("Count(ALI) = %d, %v; want 2", n, err)
	}
	page, err := f.m.Active(ctx, sessionlogic.ListQuery{Sort: sessionlogic.SortUser})
	if err != nil {
		t.Fatal(err)
	}
	n, err = f.m.Count(ctx, sessionlogic.ListQuery{Sort: sessionlogic.SortUser, After: sessionlogic.CursorOf(page.Sessions[1], sessionlogic.SortUser)})
	if err != nil || n != 2 {
		t.Fatalf("Count(after row 2 by user) = %d, %v; want 2", n, err)
	}
}

func TestGroupsRefusesBadInput(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	for _, q := range []sessionlogic.GroupQuery{
		{By: "role"},
		{By: sessionlogic.GroupByUser, Limit: -1},
		{By: sessionlogic.GroupByUser, Limit: sessionlogic.MaxGroups + 1},
		{By: sessionlogic.GroupByIP, Text: strings.Repeat("x", 201)},
	} {
		if _, err := f.m.Groups(ctx, q); !errors.Is(err, sessionlogic.ErrInvalidInput) {
			t.Errorf("Groups(%+v) = %v, want ErrInvalidInput", q, err)
		}
	}
	if _, err := f.m.Count(ctx, sessionlogic.ListQuery{Sort: "password_hash"}); !errors.Is(err, sessionlogic.ErrInvalidInput) {
		t.Errorf("Count(bad sort) = %v, want ErrInvalidInput", err)
	}
}

// plainStore hides the optional capabilities of the store it wraps.
type plainStore struct{ data.Store }

func TestGroupsWithoutTheCapability(t *testing.T) {
	f := newFixture(t, func(o *sessionlogic.Options) { o.Store = plainStore{o.Store} })
	ctx := context.Background()
	if _, err := f.m.Groups(ctx, sessionlogic.GroupQuery{By: sessionlogic.GroupByUser}); !errors.Is(err, sessionlogic.ErrUnsupported) {
		t.Errorf("Groups = %v, want ErrUnsupported", err)
	}
	if _, err := f.m.LoginHistogram(ctx); !errors.Is(err, sessionlogic.ErrUnsupported) {
		t.Errorf("LoginHistogram = %v, want ErrUnsupported", err)
	}
	if _, err := f.m.Count(ctx, sessionlogic.ListQuery{}); !errors.Is(err, sessionlogic.ErrUnsupported) {
		t.Errorf("Count = %v, want ErrUnsupported", err)
	}
}
