package sessionlogic_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/sessionlogic"
)

// foreign is a data.Source that is not a Store, shaped like a Django site:
// its ids are 32 characters of [a-z0-9] (IDChecker), and it may refuse
// actions (ActionRefuser). It counts the calls that reach it, so a test can
// tell a refusal in the Manager from one in the source.
type foreign struct {
	data.Source
	refuse map[string]string // action -> why
	calls  atomic.Int64
}

var djangoKey = regexp.MustCompile(`^[a-z0-9]{32}$`)

func (f *foreign) CheckID(id string) error {
	if !djangoKey.MatchString(id) {
		return errors.New("want 32 characters of a-z and 0-9")
	}
	return nil
}

func (f *foreign) Refuse(action string) error {
	if why, ok := f.refuse[action]; ok {
		return fmt.Errorf("%s: %w", why, data.ErrUnsupported)
	}
	return nil
}

func (f *foreign) Session(ctx context.Context, id string) (data.Session, error) {
	f.calls.Add(1)
	return f.Source.Session(ctx, id)
}

func (f *foreign) EndSession(ctx context.Context, id string, end data.End, audit data.AuditEntry) (data.Session, error) {
	f.calls.Add(1)
	return f.Source.EndSession(ctx, id, end, audit)
}

func (f *foreign) Extend(ctx context.Context, id string, d time.Duration, now time.Time, audit data.AuditEntry) (data.Session, error) {
	f.calls.Add(1)
	return f.Source.Extend(ctx, id, d, now, audit)
}

// sourceFixture is a Manager on a foreign source over a store that holds
// sessions with Django-shaped keys for alice, written as the foreign app
// would (straight into the store).
func sourceFixture(t *testing.T, refuse map[string]string) (fixture, *foreign, *sessionlogic.Manager, []string) {
	t.Helper()
	f := newFixture(t, nil)
	ctx := context.Background()
	u, err := f.store.UserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now().UTC()
	var keys []string
	for i := range 3 {
		key := fmt.Sprintf("%031dk", i)
		keys = append(keys, key)
		if _, err := f.store.CreateSession(ctx, data.Session{
			ID: key, UserID: u.ID, Username: u.Username, Role: u.Role, Status: u.Status,
			LoginTime: now, LastActivity: now, ExpiresAt: now.Add(time.Hour),
		}, "", data.Guard{}, data.AuditEntry{Time: now, Action: data.ActionLogin}); err != nil {
			t.Fatal(err)
		}
	}
	src := &foreign{Source: f.store, refuse: refuse}
	m, err := sessionlogic.New(sessionlogic.Options{Source: src, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return f, src, m, keys
}

func TestNewTakesExactlyOneOfStoreAndSource(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := sessionlogic.New(sessionlogic.Options{Store: f.store, Source: f.store}); err == nil {
		t.Fatal("New with both Store and Source succeeded")
	}
	if _, err := sessionlogic.New(sessionlogic.Options{}); err == nil {
		t.Fatal("New with neither Store nor Source succeeded")
	}
	if !f.m.HasLogins() {
		t.Fatal("a Manager on a Store says it has no logins")
	}
}

// TestSourceOnlyRefusesTheLoginSide: a Manager on a foreign source answers
// every login-side call with ErrUnsupported and writes nothing.
func TestSourceOnlyRefusesTheLoginSide(t *testing.T) {
	f, _, m, _ := sourceFixture(t, nil)
	ctx := context.Background()
	if m.HasLogins() {
		t.Fatal("a Manager on a Source says it has logins")
	}
	before, err := f.store.Audit(ctx, data.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	tok := sessionlogic.NewToken()
	for name, call := range map[string]func() error{
		"Login": func() error {
			_, _, err := m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: "alice-password"})
			return err
		},
		"Authenticate": func() error { _, err := m.Authenticate(ctx, tok); return err },
		"Logout":       func() error { return m.Logout(ctx, tok) },
		"AddUser": func() error {
			_, err := m.AddUser(ctx, "ops", sessionlogic.NewUser{Username: "carol", Password: "carol-password", Role: "viewer"})
			return err
		},
		"Users":       func() error { _, err := m.Users(ctx); return err },
		"SetRole":     func() error { _, err := m.SetRole(ctx, "ops", "alice", "viewer"); return err },
		"Deactivate":  func() error { _, err := m.Deactivate(ctx, "ops", "alice"); return err },
		"Activate":    func() error { return m.Activate(ctx, "ops", "alice") },
		"SetPassword": func() error { _, err := m.SetPassword(ctx, "ops", "alice", "a-new-password"); return err },
		"Purge":       func() error { _, err := m.Purge(ctx, "ops"); return err },
	} {
		if err := call(); !errors.Is(err, sessionlogic.ErrUnsupported) {
			t.Errorf("%s on a Source-only Manager: %v, want ErrUnsupported", name, err)
		}
	}
	after, err := f.store.Audit(ctx, data.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("refused login-side calls wrote %d audit entries", len(after)-len(before))
	}
	// The operator's half works.
	if u, err := m.User(ctx, "alice"); err != nil || u.Username != "alice" {
		t.Fatalf("User(alice) = %+v, %v", u, err)
	}
	if p, err := m.Active(ctx, sessionlogic.ListQuery{}); err != nil || len(p.Sessions) != 3 {
		t.Fatalf("Active = %d sessions, %v; want 3", len(p.Sessions), err)
	}
	if n, err := m.ForceLogoutUser(ctx, "oncall", "alice"); err != nil || n != 3 {
		t.Fatalf("ForceLogoutUser = %d, %v; want 3", n, err)
	}
}

// TestSourceIDCheckerIsHonoured: ids are checked by the source's own
// IDChecker, not by sessionmon's 64-hex rule, and a refused id never
// reaches the source.
func TestSourceIDCheckerIsHonoured(t *testing.T) {
	f, src, m, keys := sourceFixture(t, nil)
	ctx := context.Background()

	// sessionmon's own shape is refused by this source, before any query.
	hex := sessionlogic.HashToken(sessionlogic.NewToken())
	for name, call := range map[string]func() error{
		"Session":     func() error { _, err := m.Session(ctx, hex); return err },
		"ForceLogout": func() error { _, err := m.ForceLogout(ctx, "oncall", hex); return err },
		"Extend":      func() error { _, err := m.Extend(ctx, "oncall", hex, time.Hour); return err },
	} {
		if err := call(); !errors.Is(err, sessionlogic.ErrInvalidInput) {
			t.Errorf("%s(64 hex) on a source of 32-character keys: %v, want ErrInvalidInput", name, err)
		}
	}
	if n := src.calls.Load(); n != 0 {
		t.Fatalf("%d calls reached the source with ids it refuses", n)
	}

	// Its own shape is accepted (and the store's Manager refuses it).
	if _, err := m.Session(ctx, keys[0]); err != nil {
		t.Fatalf("Session(%s): %v", keys[0], err)
	}
	s, err := m.Extend(ctx, "oncall", keys[1], time.Hour)
	if err != nil {
		t.Fatalf("Extend(%s): %v", keys[1], err)
	}
	if s, err = m.ForceLogout(ctx, "oncall", keys[0]); err != nil || s.EndedBy != "oncall" {
		t.Fatalf("ForceLogout(%s) = ended by %q, %v", keys[0], s.EndedBy, err)
	}
	if _, err := f.m.ForceLogout(ctx, "oncall", keys[2]); !errors.Is(err, sessionlogic.ErrInvalidInput) {
		t.Fatalf("the Store's Manager took a 32-character key: %v, want ErrInvalidInput", err)
	}
}

// TestSourceRefusalIsReportedAndHonoured: an action the source refuses is
// refused by the Manager with the source's reason, before any call, and
// Refuse says so up front for the dashboard and the CLI.
func TestSourceRefusalIsReportedAndHonoured(t *testing.T) {
	const why = "extend needs the site's SECRET_KEY"
	f, src, m, keys := sourceFixture(t, map[string]string{data.ActionExtend: why})
	ctx := context.Background()

	if err := m.Refuse(data.ActionExtend); !errors.Is(err, sessionlogic.ErrUnsupported) || err.Error() != why+": "+data.ErrUnsupported.Error() {
		t.Fatalf("Refuse(extend) = %v, want the source's reason wrapping ErrUnsupported", err)
	}
	if err := m.Refuse(data.ActionForceLogout); err != nil {
		t.Fatalf("Refuse(force_logout) = %v, want nil", err)
	}
	if err := f.m.Refuse(data.ActionExtend); err != nil {
		t.Fatalf("a Store's Manager refuses extend: %v", err)
	}
	before, err := f.store.Session(ctx, keys[0])
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Extend(ctx, "oncall", keys[0], time.Hour)
	if !errors.Is(err, sessionlogic.ErrUnsupported) {
		t.Fatalf("Extend on a source that refuses it: %v, want ErrUnsupported", err)
	}
	if n := src.calls.Load(); n != 0 {
		t.Fatalf("a refused Extend made %d calls to the source", n)
	}
	after, err := f.store.Session(ctx, keys[0])
	if err != nil || !after.ExpiresAt.Equal(before.ExpiresAt) || after.Version != before.Version {
		t.Fatalf("a refused Extend changed the session: %v -> %v (%v)", before.ExpiresAt, after.ExpiresAt, err)
	}
}

// counting is a Store that counts the session reads and writes an operator
// action makes, to show the Manager reads nothing before ending or
// extending: the store names the user in the audit entry itself.
type counting struct {
	data.Store
	reads, ends, endMany, extends atomic.Int64
}

func (c *counting) Session(ctx context.Context, id string) (data.Session, error) {
	c.reads.Add(1)
	return c.Store.Session(ctx, id)
}

func (c *counting) EndSession(ctx context.Context, id string, end data.End, audit data.AuditEntry) (data.Session, error) {
	c.ends.Add(1)
	return c.Store.EndSession(ctx, id, end, audit)
}

func (c *counting) EndSessions(ctx context.Context, ids []string, end data.End, audit data.AuditEntry) (data.EndResult, error) {
	c.endMany.Add(1)
	return c.Store.EndSessions(ctx, ids, end, audit)
}

func (c *counting) Extend(ctx context.Context, id string, d time.Duration, now time.Time, audit data.AuditEntry) (data.Session, error) {
	c.extends.Add(1)
	return c.Store.Extend(ctx, id, d, now, audit)
}

func countingFixture(t *testing.T) (fixture, *counting) {
	t.Helper()
	var c *counting
	f := newFixture(t, func(o *sessionlogic.Options) {
		c = &counting{Store: o.Store}
		o.Store = c
	})
	return f, c
}

// auditOf returns the one audit entry of action for session id.
func auditOf(t *testing.T, st data.Source, action, id string) data.AuditEntry {
	t.Helper()
	es, err := st.Audit(context.Background(), data.AuditQuery{Action: action, SessionID: id})
	if err != nil || len(es) != 1 {
		t.Fatalf("%s audit of %s = %+v, %v; want one entry", action, sessionlogic.ShortID(id), es, err)
	}
	return es[0]
}

// TestOperatorActionsReadNothingFirst: ForceLogout, Extend and Logout make
// one store call each, and the audit entry still names the session's user.
func TestOperatorActionsReadNothingFirst(t *testing.T) {
	f, c := countingFixture(t)
	ctx := context.Background()
	_, s1 := f.login(t, "alice")
	_, s2 := f.login(t, "bob")
	tok3, s3 := f.login(t, "bob")
	c.reads.Store(0)

	if _, err := f.m.Extend(ctx, "oncall", s1.ID, time.Hour); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	if e := auditOf(t, f.store, data.ActionExtend, s1.ID); e.Username != "alice" || e.Actor != "oncall" {
		t.Fatalf("extend audit = %+v, want alice's, by oncall", e)
	}
	if _, err := f.m.ForceLogout(ctx, "oncall", s2.ID); err != nil {
		t.Fatalf("ForceLogout: %v", err)
	}
	if e := auditOf(t, f.store, data.ActionForceLogout, s2.ID); e.Username != "bob" || e.Actor != "oncall" {
		t.Fatalf("force_logout audit = %+v, want bob's, by oncall", e)
	}
	if err := f.m.Logout(ctx, tok3); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if e := auditOf(t, f.store, data.ActionLogout, s3.ID); e.Username != "bob" || e.Actor != "bob" {
		t.Fatalf("logout audit = %+v, want bob's, by bob", e)
	}
	if s, err := f.store.Session(ctx, s3.ID); err != nil || s.EndedBy != "bob" || s.EndReason != data.EndLogout {
		t.Fatalf("after Logout: ended %q by %q (%v), want logout by bob", s.EndReason, s.EndedBy, err)
	}
	if n := c.reads.Load(); n != 0 {
		t.Fatalf("Extend, ForceLogout and Logout read the session %d times before writing; want 0", n)
	}
	if c.ends.Load() != 2 || c.extends.Load() != 1 {
		t.Fatalf("store calls: %d ends, %d extends; want 2 and 1", c.ends.Load(), c.extends.Load())
	}
}

// TestForceLogoutManyEndsAllInOneCall: the marked sessions end in one
// store call with one audit entry each, naming each session and its user;
// already-ended and unknown ones are reported, not errors; a repeated id
// counts once; one malformed id refuses the lot.
func TestForceLogoutManyEndsAllInOneCall(t *testing.T) {
	f, c := countingFixture(t)
	ctx := context.Background()
	var marked []sessionlogic.Session
	for _, u := range []string{"alice", "bob", "alice", "bob", "alice"} {
		_, s := f.login(t, u)
		marked = append(marked, s)
	}
	_, bystander := f.login(t, "alice")
	_, early := f.login(t, "bob")
	if _, err := f.m.ForceLogout(ctx, "jane", early.ID); err != nil {
		t.Fatal(err)
	}
	unknown := sessionlogic.HashToken(sessionlogic.NewToken())

	ids := []string{marked[0].ID, marked[1].ID, early.ID, marked[2].ID, marked[0].ID, unknown, marked[3].ID, marked[4].ID}
	if _, err := f.m.ForceLogoutMany(ctx, "oncall", append(slices.Clone(ids), "not-an-id")); !errors.Is(err, sessionlogic.ErrInvalidInput) {
		t.Fatalf("ForceLogoutMany with a malformed id: %v, want ErrInvalidInput", err)
	}
	if c.endMany.Load() != 0 {
		t.Fatal("a refused ForceLogoutMany reached the store")
	}

	c.ends.Store(0)
	res, err := f.m.ForceLogoutMany(ctx, "oncall", ids)
	if err != nil {
		t.Fatalf("ForceLogoutMany: %v", err)
	}
	if c.endMany.Load() != 1 || c.ends.Load() != 0 || c.reads.Load() != 0 {
		t.Fatalf("store calls: %d EndSessions, %d EndSession, %d reads; want 1, 0, 0", c.endMany.Load(), c.ends.Load(), c.reads.Load())
	}
	if len(res.Ended) != len(marked) {
		t.Fatalf("Ended %d sessions, want %d", len(res.Ended), len(marked))
	}
	for i, s := range marked {
		if res.Ended[i].ID != s.ID || res.Ended[i].EndedBy != "oncall" || res.Ended[i].EndReason != data.EndForced {
			t.Fatalf("Ended[%d] = %s ended %q by %q; want %s forced by oncall", i, sessionlogic.ShortID(res.Ended[i].ID),
				res.Ended[i].EndReason, res.Ended[i].EndedBy, sessionlogic.ShortID(s.ID))
		}
		if got, err := f.m.Session(ctx, s.ID); err != nil || got.EndedAt.IsZero() {
			t.Fatalf("session %s after ForceLogoutMany: %+v, %v", sessionlogic.ShortID(s.ID), got, err)
		}
		if e := auditOf(t, f.store, data.ActionForceLogout, s.ID); e.Username != s.Username || e.Actor != "oncall" {
			t.Fatalf("audit of %s = %+v, want %s's, by oncall", sessionlogic.ShortID(s.ID), e, s.Username)
		}
	}
	if len(res.Already) != 1 || res.Already[0].ID != early.ID || res.Already[0].EndedBy != "jane" {
		t.Fatalf("Already = %+v, want the session jane ended", res.Already)
	}
	if len(res.Missing) != 1 || res.Missing[0] != unknown {
		t.Fatalf("Missing = %v, want the unknown id", res.Missing)
	}
	if s, err := f.m.Session(ctx, bystander.ID); err != nil || !s.EndedAt.IsZero() {
		t.Fatalf("a session not marked was ended: %+v, %v", s, err)
	}
	if res, err := f.m.ForceLogoutMany(ctx, "oncall", nil); err != nil || len(res.Ended)+len(res.Already)+len(res.Missing) != 0 {
		t.Fatalf("ForceLogoutMany(none) = %+v, %v", res, err)
	}
}

// TestSourceOnlyAggregatesAreUnsupportedNotPanics: the dashboard asks every
// source for groups, the login histogram and counts; a source without those
// capabilities (a Django site) answers ErrUnsupported. They once looked the
// capability up on the login server's half, nil for a Source-only manager,
// and the dashboard on a Django site panicked at start.
func TestSourceOnlyAggregatesAreUnsupportedNotPanics(t *testing.T) {
	_, _, m, _ := sourceFixture(t, nil)
	ctx := context.Background()
	if _, err := m.LoginHistogram(ctx); !errors.Is(err, sessionlogic.ErrUnsupported) {
		t.Errorf("LoginHistogram: %v, want ErrUnsupported", err)
	}
	if _, err := m.Groups(ctx, sessionlogic.GroupQuery{By: sessionlogic.GroupByUser}); !errors.Is(err, sessionlogic.ErrUnsupported) {
		t.Errorf("Groups: %v, want ErrUnsupported", err)
	}
	if _, err := m.Count(ctx, sessionlogic.ListQuery{}); !errors.Is(err, sessionlogic.ErrUnsupported) {
		t.Errorf("Count: %v, want ErrUnsupported", err)
	}
}
