package sessionlogic_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"sessionmon/data"
	"sessionmon/sessionlogic"
)

func TestSetPasswordEndsTheUsersSessionsAndSwapsThePassword(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	a1, s1 := f.login(t, "alice")
	a2, _ := f.login(t, "alice")
	b, _ := f.login(t, "bob")

	n, err := f.m.SetPassword(ctx, "carol-oncall", "alice", "a-new-password")
	if err != nil || n != 2 {
		t.Fatalf("SetPassword = %d, %v; want 2 sessions ended", n, err)
	}
	for _, tok := range []string{a1, a2} {
		if _, err := f.m.Authenticate(ctx, tok); !errors.Is(err, sessionlogic.ErrNoSession) {
			t.Fatalf("alice's session survived the password reset: %v", err)
		}
	}
	if _, err := f.m.Authenticate(ctx, b); err != nil {
		t.Fatalf("bob was logged out by alice's reset: %v", err)
	}
	if s, err := f.m.Session(ctx, s1.ID); err != nil || s.EndReason != data.EndForced || s.EndedBy != "carol-oncall" {
		t.Fatalf("ended session = %+v, %v; want forced by carol-oncall", s, err)
	}
	audit, err := f.m.Audit(ctx, sessionlogic.AuditQuery{Username: "alice", Action: data.ActionForceLogoutAll})
	if err != nil || len(audit) != 1 || audit[0].Actor != "carol-oncall" || audit[0].Detail != "password changed" {
		t.Fatalf("audit = %+v, %v; want one force_logout_user by carol-oncall, detail \"password changed\"", audit, err)
	}

	if _, _, err := f.m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: "alice-password"}); !errors.Is(err, sessionlogic.ErrInvalidCredentials) {
		t.Fatalf("login with the old password: %v, want ErrInvalidCredentials", err)
	}
	if _, _, err := f.m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: "a-new-password"}); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}

	// No sessions left is not an error: the reset still counts (0).
	if _, err := f.m.ForceLogoutUser(ctx, "ops", "bob"); err != nil {
		t.Fatal(err)
	}
	if n, err := f.m.SetPassword(ctx, "ops", "bob", "bobs-second-password"); err != nil || n != 0 {
		t.Fatalf("SetPassword without sessions = %d, %v; want 0, nil", n, err)
	}
}

func TestSetPasswordRefusesAndChangesNothing(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	tok, _ := f.login(t, "alice")
	before, err := f.m.User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}

	_, err = f.m.SetPassword(ctx, "ops", "nobody", "long-enough")
	if !errors.Is(err, sessionlogic.ErrNotFound) || !strings.Contains(err.Error(), `"nobody"`) {
		t.Fatalf("unknown user: %v, want ErrNotFound naming the user", err)
	}
	for _, pw := range []string{"", "short", strings.Repeat("x", 73)} {
		if n, err := f.m.SetPassword(ctx, "ops", "alice", pw); !errors.Is(err, sessionlogic.ErrInvalidInput) || n != 0 {
			t.Errorf("SetPassword(%d-byte password) = %d, %v; want ErrInvalidInput", len(pw), n, err)
		}
	}

	after, err := f.m.User(ctx, "alice")
	if err != nil || after.PasswordHash != before.PasswordHash {
		t.Fatalf("a refused SetPassword changed the hash (err %v)", err)
	}
	if _, err := f.m.Authenticate(ctx, tok); err != nil {
		t.Fatalf("a refused SetPassword ended alice's session: %v", err)
	}
	if _, _, err := f.m.Login(ctx, sessionlogic.LoginRequest{Username: "alice", Password: "alice-password"}); err != nil {
		t.Fatalf("old password after refused resets: %v", err)
	}
}
