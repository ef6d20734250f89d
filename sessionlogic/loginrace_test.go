package sessionlogic_test

import (
	"context"
	"errors"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"sessionmon/data"
	"sessionmon/sessionlogic"
)

// hookStore runs a hook once, just before the wrapped call, as if an
// operator's action landed at that moment of a login (between the password
// check and the write). e2e/reliability's TestLoginRacesUserChange races the
// same for real, on both stores.
type hookStore struct {
	data.Store
	beforeCreate, beforeRehash func()
}

func (h *hookStore) CreateSession(ctx context.Context, s data.Session, replace string, g data.Guard, a data.AuditEntry) (data.Session, error) {
	if f := h.beforeCreate; f != nil {
		h.beforeCreate = nil
		f()
	}
	return h.Store.CreateSession(ctx, s, replace, g, a)
}

func (h *hookStore) RehashPassword(ctx context.Context, username, old, hash string) error {
	if f := h.beforeRehash; f != nil {
		h.beforeRehash = nil
		f()
	}
	return h.Store.RehashPassword(ctx, username, old, hash)
}

// hooked returns a manager on f's store behind a hookStore, with bcrypt cost.
func hooked(t *testing.T, f fixture, cost int) (*sessionlogic.Manager, *hookStore) {
	t.Helper()
	h := &hookStore{Store: f.store}
	m, err := sessionlogic.New(sessionlogic.Options{Store: h, SaveEveryRequest: true, PasswordCost: cost, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return m, h
}

// wantNoSessionAndOneFailure checks that alice has no active session and
// that the refused login was recorded once, as a failed login for why.
func wantNoSessionAndOneFailure(t *testing.T, f fixture, why string) {
	t.Helper()
	ctx := context.Background()
	page, err := f.m.Active(ctx, sessionlogic.ListQuery{Username: "alice"})
	if err != nil || len(page.Sessions) != 0 {
		t.Fatalf("alice's active sessions = %d (err %v), want none", len(page.Sessions), err)
	}
	es, err := f.m.Audit(ctx, sessionlogic.AuditQuery{Username: "alice", Action: data.ActionLoginFailed})
	if err != nil || len(es) != 1 || es[0].Detail != why {
		t.Fatalf("failed-login audit = %+v (err %v), want one entry %q", es, err, why)
	}
	if es, _ := f.m.Audit(ctx, sessionlogic.AuditQuery{Username: "alice", Action: data.ActionLogin}); len(es) != 0 {
		t.Fatalf("login audit entries = %d, want none", len(es))
	}
}

func TestLoginRacingADeactivationIsRefusedAsInactive(t *testing.T) {
	f := newFixture(t, nil)
	m, h := hooked(t, f, bcrypt.MinCost)
	ctx := context.Background()
	h.beforeCreate = func() {
		if _, err := f.m.Deactivate(ctx, "ops", "alice"); err != nil {
			t.Error(err)
		}
	}
	_, _, err := m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: "alice-password"})
	if !errors.Is(err, sessionlogic.ErrInactive) {
		t.Fatalf("login racing a deactivation: %v, want ErrInactive (what the same login gets a moment later)", err)
	}
	wantNoSessionAndOneFailure(t, f, "inactive")
}

func TestLoginRacingAPasswordResetIsRefusedAsInvalid(t *testing.T) {
	f := newFixture(t, nil)
	m, h := hooked(t, f, bcrypt.MinCost)
	ctx := context.Background()
	h.beforeCreate = func() {
		if _, err := f.m.SetPassword(ctx, "ops", "alice", "after-the-reset"); err != nil {
			t.Error(err)
		}
	}
	_, _, err := m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: "alice-password"})
	if !errors.Is(err, sessionlogic.ErrInvalidCredentials) {
		t.Fatalf("login with the password a reset just replaced: %v, want ErrInvalidCredentials", err)
	}
	wantNoSessionAndOneFailure(t, f, "wrong password")
}

func TestLoginRehashNeverUndoesAReset(t *testing.T) {
	f := newFixture(t, nil) // users hashed at bcrypt.MinCost
	m, h := hooked(t, f, bcrypt.MinCost+1)
	ctx := context.Background()
	h.beforeRehash = func() {
		if _, err := f.m.SetPassword(ctx, "ops", "alice", "after-the-reset"); err != nil {
			t.Error(err)
		}
	}
	_, _, err := m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: "alice-password"})
	if !errors.Is(err, sessionlogic.ErrInvalidCredentials) {
		t.Fatalf("login whose re-hash met a reset: %v, want ErrInvalidCredentials", err)
	}
	u, err := f.m.User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte("after-the-reset")) != nil {
		t.Fatal("the login's re-hash of the old password overwrote the reset")
	}
	wantNoSessionAndOneFailure(t, f, "wrong password")
	if _, _, err := m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: "after-the-reset"}); err != nil {
		t.Fatalf("login with the reset password: %v", err)
	}
}

// Another login's re-hash of the same password changes the hash too; the
// login is judged again and goes through.
func TestLoginSurvivesAConcurrentRehash(t *testing.T) {
	f := newFixture(t, nil)
	m, h := hooked(t, f, bcrypt.MinCost)
	ctx := context.Background()
	h.beforeCreate = func() {
		u, err := f.m.User(ctx, "alice")
		if err != nil {
			t.Error(err)
			return
		}
		again, err := bcrypt.GenerateFromPassword([]byte("alice-password"), bcrypt.MinCost)
		if err != nil {
			t.Error(err)
			return
		}
		if err := f.store.RehashPassword(ctx, "alice", u.PasswordHash, string(again)); err != nil {
			t.Error(err)
		}
	}
	tok, _, err := m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: "alice-password"})
	if err != nil {
		t.Fatalf("login racing another login's re-hash: %v", err)
	}
	if _, err := m.Authenticate(ctx, tok); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if es, _ := f.m.Audit(ctx, sessionlogic.AuditQuery{Username: "alice", Action: data.ActionLoginFailed}); len(es) != 0 {
		t.Fatalf("failed-login audit entries = %+v, want none", es)
	}
}
