package sessionlogic_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
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
