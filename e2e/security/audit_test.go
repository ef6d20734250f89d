package security_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
)

// auditRow is one row of the audit table, read with SQL.
type auditRow struct {
	action, actor, username, sessionID, detail string
}

func readAudit(t *testing.T, e *env) []auditRow {
	t.Helper()
	_, rows := e.raw.rows(t, "SELECT action, actor, username, session_id, detail FROM audit ORDER BY id")
	out := make([]auditRow, 0, len(rows))
	for _, r := range rows {
		s := make([]string, 5)
		for i, v := range r {
			if v != nil {
				s[i] = *v
			}
		}
		out = append(out, auditRow{s[0], s[1], s[2], s[3], s[4]})
	}
	return out
}

// TestEveryOperatorActionIsAuditedWithTheOperatorsName: force logout,
// force logout of a user, extend, purge and deactivate (and adding a user,
// changing a role, reactivating) each leave an audit row naming the
// operator who did it and what it was done to, in the audit table itself
// and in what Manager.Audit shows the dashboard; sessions an operator ended
// record that operator as ended_by.
func TestEveryOperatorActionIsAuditedWithTheOperatorsName(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, envOpts{manager: func(o *sessionlogic.Options) { o.Retention = time.Hour }})
		ctx := context.Background()
		s1, s2, s3 := e.Login(alice, alicePassword), e.Login(alice, alicePassword), e.Login(alice, alicePassword)
		bobs := e.Login(bob, bobPassword)
		id := sessionlogic.HashToken

		if _, err := e.mgr.AddUser(ctx, "op-add", sessionlogic.NewUser{Username: "carol", Password: "carol-password", Role: "viewer"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.mgr.SetRole(ctx, "op-role", "carol", "admin"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.mgr.Extend(ctx, "op-extend", id(s1), time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := e.mgr.ForceLogout(ctx, "op-force", id(s1)); err != nil {
			t.Fatal(err)
		}
		if n, err := e.mgr.ForceLogoutUser(ctx, "op-force-user", alice); err != nil || n != 2 {
			t.Fatalf("ForceLogoutUser = %d, %v", n, err)
		}
		if n, err := e.mgr.Deactivate(ctx, "op-deactivate", bob); err != nil || n != 1 {
			t.Fatalf("Deactivate = %d, %v", n, err)
		}
		if err := e.mgr.Activate(ctx, "op-activate", bob); err != nil {
			t.Fatal(err)
		}
		for tok, by := range map[string]string{s1: "op-force", s2: "op-force-user", s3: "op-force-user", bobs: "op-deactivate"} {
			s, err := e.mgr.Session(ctx, id(tok))
			if err != nil || s.EndedBy != by || s.EndReason != data.EndForced {
				t.Errorf("session ended by %q for %q (err %v), want %q, forced", s.EndedBy, s.EndReason, err, by)
			}
		}
		e.clock.Advance(2 * time.Hour) // past the retention of the ended rows
		if n, err := e.mgr.Purge(ctx, "op-purge"); err != nil || n != 4 {
			t.Fatalf("Purge = %d, %v; want 4", n, err)
		}

		want := []auditRow{
			{action: data.ActionUserAdd, actor: "op-add", username: "carol"},
			{action: data.ActionUserRole, actor: "op-role", username: "carol"},
			{action: data.ActionExtend, actor: "op-extend", username: alice, sessionID: id(s1)},
			{action: data.ActionForceLogout, actor: "op-force", username: alice, sessionID: id(s1)},
			{action: data.ActionForceLogoutAll, actor: "op-force-user", username: alice},
			{action: data.ActionUserDeactivate, actor: "op-deactivate", username: bob},
			{action: data.ActionUserActivate, actor: "op-activate", username: bob},
			{action: data.ActionPurge, actor: "op-purge"},
		}
		var got []auditRow
		for _, r := range readAudit(t, e) {
			if strings.HasPrefix(r.actor, "op-") {
				r.detail = ""
				got = append(got, r)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("operator rows in the audit table:\n%+v\nwant\n%+v", got, want)
		}

		// The dashboard's view (Manager.Audit) shows the same, with the time.
		entries, err := e.mgr.Audit(ctx, data.AuditQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			found := false
			for _, a := range entries {
				if a.Action == w.action && a.Actor == w.actor && a.Username == w.username &&
					a.SessionID == w.sessionID && !a.Time.IsZero() {
					found = true
				}
			}
			if !found {
				t.Errorf("Manager.Audit lacks %+v", w)
			}
		}
	})
}

// TestAuditRowsCannotBeAlteredOrDeleted: the audit table is append-only.
// The application has no call that changes or removes a row (Purge leaves
// the audit alone), and UPDATE, DELETE (and TRUNCATE on PostgreSQL) sent to
// the store's own database fail, refused by the triggers the stores'
// migrations install; afterwards every row is as it was.
func TestAuditRowsCannotBeAlteredOrDeleted(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, envOpts{manager: func(o *sessionlogic.Options) { o.Retention = time.Hour }})
		ctx := context.Background()
		tok := e.Login(alice, alicePassword)
		testkit.WantStatus(t, "failed login", e.PostLogin(alice, "wrong-password-9"), http.StatusUnauthorized)
		if _, err := e.mgr.ForceLogout(ctx, "oncall", sessionlogic.HashToken(tok)); err != nil {
			t.Fatal(err)
		}
		testkit.WantStatus(t, "logout", e.Do("POST", "/logout", url.Values{}, e.Sess(e.Login(bob, bobPassword))), http.StatusSeeOther)
		e.clock.Advance(2 * time.Hour)
		if _, err := e.mgr.Purge(ctx, "oncall"); err != nil {
			t.Fatal(err)
		}
		before := readAudit(t, e)
		if len(before) < 7 { // 2 user_add, 2 logins, failure, force, logout, purge
			t.Fatalf("only %d audit rows: %+v", len(before), before)
		}

		stmts := []string{
			"UPDATE audit SET actor = 'mallory'",
			"UPDATE audit SET detail = 'nothing happened' WHERE action = 'force_logout'",
			"DELETE FROM audit",
			"DELETE FROM audit WHERE action = 'login_failed'", // erase the throttle's evidence
		}
		if b.name == "postgres" {
			stmts = append(stmts, "TRUNCATE audit")
		}
		for _, stmt := range stmts {
			err := e.raw.exec(t, stmt)
			if err == nil {
				t.Errorf("%s: succeeded, want the store to refuse it", stmt)
				continue
			}
			if !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: failed with %v, want the append-only trigger's refusal", stmt, err)
			}
		}
		if after := readAudit(t, e); !reflect.DeepEqual(after, before) {
			t.Errorf("audit rows changed:\nbefore %+v\nafter  %+v", before, after)
		}

		// Purging again (more time passed) still leaves every audit row.
		e.clock.Advance(24 * time.Hour)
		if _, err := e.mgr.Purge(ctx, "oncall"); err != nil {
			t.Fatal(err)
		}
		after := readAudit(t, e)
		if len(after) < len(before) || !reflect.DeepEqual(after[:len(before)], before) {
			t.Errorf("a purge removed or changed audit rows (%d before, %d after)", len(before), len(after))
		}
		if n := count(t, e.raw, "SELECT count(*) FROM audit WHERE action = 'login_failed'"); n != 1 {
			t.Errorf("failed-login rows: %d, want 1", n)
		}
	})
}
