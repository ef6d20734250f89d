package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/jackc/pgx/v5"

	"sessionmon/config"
	"sessionmon/data/postgres"
	"sessionmon/internal/pgtest"
	"sessionmon/sessionlogic"
)

// cli runs sessionmon in-process with args and a private environment.
type cli struct {
	t   *testing.T
	db  string
	env map[string]string
}

// newCLI makes a CLI on a new SQLite store, created as an operator does
// (sessionmon migrate): the other commands do not create one.
func newCLI(t *testing.T) *cli {
	c := &cli{t: t, db: filepath.Join(t.TempDir(), "cli.db"), env: map[string]string{}}
	c.must("", "migrate")
	return c
}

func (c *cli) run(stdin string, args ...string) (stdout, stderr string, err error) {
	c.t.Helper()
	return c.runCtx(context.Background(), stdin, args...)
}

// runCtx is run with a context that ends the command (watch, serve).
func (c *cli) runCtx(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	c.t.Helper()
	var out, errb bytes.Buffer
	a := &app{
		flagValues: map[string]string{}, stdout: &out, stderr: &errb, stdin: strings.NewReader(stdin),
		env: func(k string) (string, bool) { v, ok := c.env[k]; return v, ok },
	}
	root := a.rootCmd()
	root.SetArgs(append([]string{"--db", c.db, "--operator", "oncall-test"}, args...))
	err = root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

func (c *cli) must(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run(stdin, args...)
	if err != nil {
		c.t.Fatalf("sessionmon %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func noEnv(string) (string, bool) { return "", false }

// withManager runs fn on a Manager wired the way the commands wire it.
func (c *cli) withManager(fn func(m *sessionlogic.Manager) error) {
	c.t.Helper()
	a := &app{flagValues: map[string]string{"db": c.db}, env: noEnv}
	cfg, err := config.Load(config.LoadOptions{Env: noEnv, Flags: a.flagValues})
	if err != nil {
		c.t.Fatal(err)
	}
	a.cfg = cfg
	if err := a.withManager(context.Background(), fn); err != nil {
		c.t.Fatal(err)
	}
}

// login opens a session for username and returns its token.
func (c *cli) login(username, password string) (tok string) {
	c.t.Helper()
	c.withManager(func(m *sessionlogic.Manager) error {
		var err error
		tok, _, err = m.Login(context.Background(), sessionlogic.LoginRequest{Username: username, Password: password, IP: "192.0.2.7"})
		return err
	})
	return tok
}

// loginErr is the error of a login attempt (nil when it succeeded).
func (c *cli) loginErr(username, password string) (err error) {
	c.t.Helper()
	c.withManager(func(m *sessionlogic.Manager) error {
		_, _, err = m.Login(context.Background(), sessionlogic.LoginRequest{Username: username, Password: password, IP: "192.0.2.7"})
		return nil
	})
	return err
}

// authenticated reports whether tok is a valid session now.
func (c *cli) authenticated(tok string) (ok bool) {
	c.t.Helper()
	c.withManager(func(m *sessionlogic.Manager) error {
		_, err := m.Authenticate(context.Background(), tok)
		ok = err == nil
		if err != nil && !errors.Is(err, sessionlogic.ErrNoSession) {
			return err
		}
		return nil
	})
	return ok
}

func TestUsersAndSessionsCommands(t *testing.T) {
	c := newCLI(t)
	out := c.must("", "users", "add", "alice", "--role", "admin", "--name", "Alice Liddell", "--email", "alice@example.com")
	if !strings.Contains(out, "added alice") || !strings.Contains(out, "password: ") {
		t.Fatalf("users add printed %q, want the user and a generated password", out)
	}
	c.must("correct-horse\n", "users", "add", "bob", "--role", "viewer", "--password-stdin")

	var users []userJSON
	if err := json.Unmarshal([]byte(c.must("", "users", "list", "--json")), &users); err != nil || len(users) != 2 {
		t.Fatalf("users list --json: %v %+v", err, users)
	}

	b1 := c.login("bob", "correct-horse")
	b2 := c.login("bob", "correct-horse")
	var sessions []sessionlogic.Fields
	if err := json.Unmarshal([]byte(c.must("", "sessions", "list", "--json")), &sessions); err != nil || len(sessions) != 2 {
		t.Fatalf("sessions list --json: %v %+v", err, sessions)
	}
	if s := sessions[0]; s.User != "bob" || s.Role != "viewer" || s.IP != "192.0.2.7" || s.ExpiresAt.IsZero() {
		t.Fatalf("session json = %+v", s)
	}
	if table := c.must("", "sessions", "list"); !strings.Contains(table, sessions[0].ID) || !strings.Contains(table, "EXPIRES IN") {
		t.Fatalf("sessions list table:\n%s", table)
	}

	out = c.must("", "sessions", "extend", sessions[0].ID, "2h")
	if !strings.Contains(out, "extended bob's session") {
		t.Fatalf("extend printed %q", out)
	}

	// Revoke one session: that cookie stops working, the other does not.
	victim := sessionlogic.HashToken(b1)
	c.must("", "sessions", "revoke", victim)
	if c.authenticated(b1) || !c.authenticated(b2) {
		t.Fatal("revoke must end exactly the named session")
	}
	out = c.must("", "sessions", "revoke-user", "bob")
	if !strings.Contains(out, "1 session") || c.authenticated(b2) {
		t.Fatalf("revoke-user printed %q; bob's other session must end", out)
	}

	b3 := c.login("bob", "correct-horse")
	if out := c.must("", "users", "deactivate", "bob"); !strings.Contains(out, "1 session ended") || c.authenticated(b3) {
		t.Fatalf("deactivate printed %q and must end bob's sessions", out)
	}
	if out := c.must("", "sessions", "purge"); !strings.Contains(out, "purged 0 sessions") {
		t.Fatalf("purge printed %q (nothing is past the retention yet)", out)
	}
}

func TestUsersSetPasswordLogsTheUserOutAndSwapsThePassword(t *testing.T) {
	c := newCLI(t)
	c.must("correct-horse\n", "users", "add", "bob", "--role", "viewer", "--password-stdin")
	b1 := c.login("bob", "correct-horse")
	b2 := c.login("bob", "correct-horse")

	out := c.must("battery-staple\n", "users", "set-password", "bob", "--password-stdin")
	if !strings.Contains(out, "password of bob changed; 2 sessions ended") || strings.Contains(out, "password: ") {
		t.Fatalf("set-password --password-stdin printed %q", out)
	}
	if c.authenticated(b1) || c.authenticated(b2) {
		t.Fatal("set-password must end all of bob's sessions")
	}
	if err := c.loginErr("bob", "correct-horse"); !errors.Is(err, sessionlogic.ErrInvalidCredentials) {
		t.Fatalf("login with the old password: %v, want ErrInvalidCredentials", err)
	}
	b3 := c.login("bob", "battery-staple")

	// Without --password-stdin a generated password is printed once.
	out = c.must("", "users", "set-password", "bob")
	_, generated, ok := strings.Cut(out, "password: ")
	generated = strings.TrimSpace(generated)
	if !strings.Contains(out, "1 session ended") || !ok || generated == "" || c.authenticated(b3) {
		t.Fatalf("set-password printed %q; want 1 session ended and the generated password", out)
	}
	b4 := c.login("bob", generated)

	c.withManager(func(m *sessionlogic.Manager) error {
		audit, err := m.Audit(context.Background(), sessionlogic.AuditQuery{Username: "bob", Action: "force_logout_user"})
		if err != nil || len(audit) != 2 || audit[0].Actor != "oncall-test" || audit[0].Detail != "password changed" {
			t.Fatalf("audit = %+v, %v; want both resets by oncall-test", audit, err)
		}
		return nil
	})

	// Refusals name the problem, exit non-zero, and change nothing.
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"long-enough\n", []string{"users", "set-password", "nobody", "--password-stdin"}, `"nobody": not found`},
		{"short\n", []string{"users", "set-password", "bob", "--password-stdin"}, "at least 8 characters"},
		{"", []string{"users", "set-password", "bob", "--password-stdin"}, "read password from stdin"},
		{"", []string{"users", "set-password"}, "want 1 argument"},
	} {
		if _, _, err := c.run(tc.stdin, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sessionmon %s: err = %v, want it to mention %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	if !c.authenticated(b4) || c.loginErr("bob", generated) != nil {
		t.Fatal("a refused set-password changed bob's password or sessions")
	}
}

func TestCommandsRefuseBadInputClearly(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sessions", "revoke", "'; DROP TABLE sessions; --"}, "not a session id"},
		{[]string{"sessions", "extend", strings.Repeat("a", 64), "soon"}, "want a Go duration"},
		{[]string{"sessions", "extend", strings.Repeat("a", 64), "2h"}, "not found"},
		{[]string{"sessions", "revoke-user", "nobody"}, "not found"},
		{[]string{"sessions", "list", "--sort", "password_hash"}, "sort"},
		{[]string{"users", "add", "bad name!", "--role", "admin"}, "username"},
		{[]string{"--set", "session.cookie_age=abc", "config"}, "session.cookie_age"},
		{[]string{"--set", "nokey", "config"}, "key=value"},
		{[]string{"sessions", "revoke"}, "want 1 argument"},
	} {
		_, _, err := c.run("", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sessionmon %s: err = %v, want it to mention %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

func TestConfigRedactsThePassword(t *testing.T) {
	c := newCLI(t)
	c.env["SESSIONMON_DB"] = "postgres://app:s3cret@db.internal:5432/sessions"
	a := &app{flagValues: map[string]string{}, env: func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }}
	var out bytes.Buffer
	a.stdout = &out
	root := a.rootCmd()
	root.SetArgs([]string{"config"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "s3cret") || !strings.Contains(out.String(), "db.internal") {
		t.Fatalf("config printed:\n%s", out.String())
	}
}

func TestSessionsListReportsACorruptRowByNameAndKeepsTheOthers(t *testing.T) {
	c := newCLI(t)
	c.must("correct-horse\n", "users", "add", "bob", "--role", "viewer", "--password-stdin")
	c.login("bob", "correct-horse")
	bad := sessionlogic.HashToken(c.login("bob", "correct-horse"))
	c.login("bob", "correct-horse")

	db, err := sql.Open("sqlite", c.db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE sessions SET data = '{not json' WHERE id = ?`, bad); err != nil {
		t.Fatal(err)
	}
	db.Close()

	out, errOut, err := c.run("", "sessions", "list", "--json")
	if err == nil || !strings.Contains(err.Error(), "1 corrupt session row") {
		t.Fatalf("err = %v, want the command to fail naming the corrupt row count", err)
	}
	if !strings.Contains(errOut, bad) {
		t.Fatalf("stderr %q does not name the corrupt session %s", errOut, bad)
	}
	var sessions []sessionlogic.Fields
	if err := json.Unmarshal([]byte(out), &sessions); err != nil || len(sessions) != 2 {
		t.Fatalf("good rows: %v %d, want the 2 good sessions printed", err, len(sessions))
	}
}

func TestDemoRefusesPostgres(t *testing.T) {
	c := newCLI(t)
	c.db = "postgres://app:secret@db.internal:5432/prod"
	_, _, err := c.run("", "demo", "--no-dashboard")
	if err == nil || !strings.Contains(err.Error(), "SQLite file only") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("demo on PostgreSQL: %v, want a refusal that names why (and no password)", err)
	}
}

// serve warns at start when PostgreSQL will not vacuum the sessions table
// (every request leaves a dead row version there) and names which setting
// to fix.
func TestServeWarnsWhenAutovacuumIsOff(t *testing.T) {
	dsn := pgtest.DSN(t)
	st, err := postgres.OpenAndMigrate(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var server bool
	if err := conn.QueryRow(t.Context(), `SELECT current_setting('autovacuum')::bool`).Scan(&server); err != nil {
		t.Fatal(err)
	}
	warn := func() string {
		var buf bytes.Buffer
		warnMaintenance(t.Context(), st, slog.New(slog.NewTextHandler(&buf, nil)))
		return buf.String()
	}
	if got := warn(); server != !strings.Contains(got, "autovacuum is off on the PostgreSQL server") {
		t.Errorf("server autovacuum %t: log = %q", server, got)
	}
	if !server {
		return // the table's own setting is only reported when the server's is on
	}
	if _, err := conn.Exec(t.Context(), `ALTER TABLE sessions SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	if got := warn(); !strings.Contains(got, "autovacuum is off for the sessions table") {
		t.Errorf("table autovacuum_enabled = false: log = %q, want a warning naming the table setting", got)
	}
}
