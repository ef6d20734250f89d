package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"sessionmon/backend"
	"sessionmon/internal/pgtest"
)

// oneLine fails unless err is a single line without the secret.
func oneLine(t *testing.T, what string, err error, secret string) string {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("%s: error of several lines:\n%s", what, msg)
	}
	if secret != "" && strings.Contains(msg, secret) {
		t.Errorf("%s: error shows the password: %s", what, msg)
	}
	return msg
}

// emptyDir fails when dir holds anything: a store name taken as a file
// path, or a -wal/-shm left behind.
func emptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("%s was created in %s", e.Name(), dir)
	}
}

// A store is named exactly or refused: an unknown scheme, a DSN pgx cannot
// read or an ambiguous sqlite:// gets one line that says what is accepted,
// never a new SQLite file named after the text, and never the password.
func TestUnknownStoreNamesAreRefusedInOneLine(t *testing.T) {
	c := newCLI(t)
	cwd := t.TempDir()
	t.Chdir(cwd) // where a name taken as a relative path would land
	for _, tc := range []struct {
		db, want string
	}{
		{"mysql://root:hunter2@db.internal:3306/app", `unknown scheme "mysql:"`},
		{"MySQL://root:hunter2@db.internal/app", `unknown scheme "MySQL:"`},
		{"redis://:hunter2@cache:6379/0", `unknown scheme "redis:"`},
		{"sqlserver://sa:hunter2@db?database=app", `unknown scheme "sqlserver:"`},
		{"jdbc:postgresql://db/app?password=hunter2", `unknown scheme "jdbc:"`},
		{"db.internal:5432", `unknown scheme "db.internal:"`},
		{"postgres:db.internal/app", "want a URL like postgres://"},
		{"postgres://app:hunter2@db.internal:port/app", "not a PostgreSQL DSN pgx can read"},
		{"host=db.internal port=five password=hunter2", "not a PostgreSQL DSN pgx can read: invalid port"},
		{"host=db.internal pool_max_conns=many password=hunter2", "pool_max_conns"},
		{"sqlite://sessions.db", "write sqlite:PATH"},
		{"file:sessions.db?mode=ro", "file: URI parameters are not supported"},
	} {
		c.db = tc.db
		for _, args := range [][]string{{"sessions", "list"}, {"serve", "--listen", "127.0.0.1:0"}, {"config"}} {
			what := fmt.Sprintf("--db %q %s", tc.db, strings.Join(args, " "))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, _, err := c.runCtx(ctx, "", args...)
			cancel()
			msg := oneLine(t, what, err, "hunter2")
			if !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "db from the command line: ") {
				t.Errorf("%s: %s\nwant it to name the source and say %q", what, msg, tc.want)
			}
			if strings.HasPrefix(tc.want, "unknown scheme") &&
				(!strings.Contains(msg, "SQLite file path") || !strings.Contains(msg, "postgres://") || !errors.Is(err, backend.ErrUnknown)) {
				t.Errorf("%s: %s\nwant it to list what is accepted (an SQLite path or a PostgreSQL DSN)", what, msg)
			}
		}
	}
	c.env["SESSIONMON_DB"] = "mongodb://x"
	c.db = "" // not given on the command line: the environment names it
	var out strings.Builder
	a := &app{flagValues: map[string]string{}, stdout: &out, stderr: &out, stdin: strings.NewReader(""),
		env: func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }}
	root := a.rootCmd()
	root.SetArgs([]string{"sessions", "list"})
	if err := root.Execute(); err == nil || !strings.HasPrefix(err.Error(), `db from SESSIONMON_DB: unknown scheme "mongodb:"`) {
		t.Errorf("SESSIONMON_DB=mongodb://x: %v, want it refused naming SESSIONMON_DB", err)
	}
	emptyDir(t, cwd)
}

// The explicit SQLite forms name the file they say, and a path with a
// colon or "=" is still a path when written as one.
func TestSQLitePathForms(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	t.Chdir(dir)
	for db, file := range map[string]string{
		"sqlite:a.db":                              "a.db",
		"SQLite:" + filepath.Join(dir, "b.db"):     "b.db",
		"file:c.db":                                "c.db",
		"file://" + filepath.Join(dir, "d%20e.db"): "d e.db",
		"./f:g.db":                                 "f:g.db",
		filepath.Join(dir, "h=i.db"):               "h=i.db",
		"plain.sqlite3":                            "plain.sqlite3",
	} {
		c.db = db
		out := c.must("", "migrate")
		if want := "migrated sqlite " + filepath.Join(dir, file) + "\n"; out != want {
			t.Errorf("--db %q migrate printed %q, want %q", db, out, want)
		}
		c.must("", "sessions", "list")
	}
}

// pgForms returns the test schema's DSN as a URL with an upper-case scheme
// and in keyword/value form, built from the same settings.
func pgForms(t *testing.T, dsn string) (upperURL, keywordValue string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "POSTGRES", Host: net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)), Path: "/" + cfg.Database,
		RawQuery: url.Values{"search_path": {cfg.RuntimeParams["search_path"]}}.Encode()}
	u.User = url.User(cfg.User)
	if cfg.Password != "" {
		u.User = url.UserPassword(cfg.User, cfg.Password)
	}
	q := func(s string) string { return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'" }
	kv := fmt.Sprintf("host=%s port=%d user=%s dbname=%s search_path=%s",
		q(cfg.Host), cfg.Port, q(cfg.User), q(cfg.Database), q(cfg.RuntimeParams["search_path"]))
	if cfg.Password != "" {
		kv += " password=" + q(cfg.Password)
	}
	return u.String(), kv
}

// Every form pgx accepts reaches PostgreSQL: a URL whose scheme is in any
// letter case, and a libpq keyword/value string. Today both became SQLite
// file names, and users add wrote into a new file.
func TestPostgresDSNInEveryFormPgxAccepts(t *testing.T) {
	dsn := pgtest.DSN(t)
	upper, kv := pgForms(t, dsn)
	mixed := "PostgreSQL" + upper[len("POSTGRES"):]
	cwd := t.TempDir()
	t.Chdir(cwd)

	c := &cli{t: t, env: map[string]string{}}
	for _, db := range []string{upper, mixed, kv} {
		c.db = db
		if out := c.must("", "migrate"); !strings.HasPrefix(out, "migrated postgres ") {
			t.Fatalf("--db %q migrate printed %q, want the PostgreSQL store", db, out)
		}
	}
	c.db = kv
	c.must("correct-horse\n", "users", "add", "kvuser", "--role", "staff", "--password-stdin")
	c.db = upper
	c.must("correct-horse\n", "users", "add", "urluser", "--role", "staff", "--password-stdin")

	c.db = dsn
	var users []userJSON
	if err := json.Unmarshal([]byte(c.must("", "users", "list", "--json")), &users); err != nil || len(users) != 2 ||
		users[0].Username != "kvuser" || users[1].Username != "urluser" {
		t.Fatalf("users list on the test schema: %v %+v, want both users added through the other forms", err, users)
	}
	emptyDir(t, cwd)
}

// Only migrate, serve and demo create an SQLite file. Every other command
// on a path that does not exist says so in one line, naming the path and
// "sessionmon migrate", and leaves nothing behind (no file, no -wal, no
// -shm). Today watch showed an empty store marked live.
func TestCommandsDoNotCreateAMissingSQLiteStore(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	c.db = filepath.Join(dir, "typo-sesions.db")
	id := strings.Repeat("a", 64)
	for _, args := range [][]string{
		{"watch"},
		{"watch", "--read-only"},
		{"sessions", "list"},
		{"sessions", "revoke", id},
		{"sessions", "revoke-user", "bob"},
		{"sessions", "extend", id, "1h"},
		{"sessions", "purge"},
		{"users", "list"},
		{"users", "add", "bob", "--password-stdin"},
		{"users", "set-role", "bob", "admin"},
		{"users", "set-password", "bob", "--password-stdin"},
		{"users", "deactivate", "bob"},
		{"users", "activate", "bob"},
	} {
		what := "sessionmon " + strings.Join(args, " ")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _, err := c.runCtx(ctx, "correct-horse\n", args...)
		cancel()
		msg := oneLine(t, what, err, "")
		if !errors.Is(err, backend.ErrNoStore) || !strings.Contains(msg, c.db) || !strings.Contains(msg, "sessionmon migrate --db "+c.db) {
			t.Errorf("%s on a missing file: %s\nwant it to name the path and sessionmon migrate", what, msg)
		}
	}
	emptyDir(t, dir)

	// A relative path is named as given, and with where it resolves.
	t.Chdir(dir)
	c.db = "typo.db"
	_, _, err := c.run("", "sessions", "list")
	if msg := oneLine(t, "relative path", err, ""); !strings.Contains(msg, filepath.Join(dir, "typo.db")) || !strings.Contains(msg, "migrate --db typo.db") {
		t.Errorf("relative missing path: %s", msg)
	}
	emptyDir(t, dir)

	// migrate, serve and demo create it.
	c.db = filepath.Join(dir, "migrated.db")
	c.must("", "migrate")
	c.must("", "sessions", "list")
	for _, tc := range []struct {
		file string
		args []string
	}{
		{"served.db", []string{"serve"}},
		{"demo.db", []string{"demo", "--no-dashboard", "--users", "1"}},
	} {
		c.db = filepath.Join(dir, tc.file)
		addr := freeAddr(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { _, _, err := c.runCtx(ctx, "", append(tc.args, "--listen", addr)...); done <- err }()
		// Past its start-up once it answers.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("sessionmon %s: not answering after 20s: %v", strings.Join(tc.args, " "), err)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sessionmon %s: %v", strings.Join(tc.args, " "), err)
		}
		c.must("", "sessions", "list") // the store is there
	}
}

// freeAddr is a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// fakePostgres is a server without TLS (as ssl = off) that refuses every
// login with refusal, the way PostgreSQL refuses a wrong password. pgx's
// default sslmode=prefer asks for TLS first, so it makes two attempts.
func fakePostgres(t *testing.T, refusal *pgproto3.ErrorResponse) (port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				be := pgproto3.NewBackend(conn, conn)
				for {
					msg, err := be.ReceiveStartupMessage()
					if err != nil {
						return
					}
					switch msg.(type) {
					case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
						if _, err := conn.Write([]byte("N")); err != nil {
							return
						}
					case *pgproto3.StartupMessage:
						be.Send(refusal)
						_ = be.Flush()
						return
					default:
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// A failed PostgreSQL connection is one line with the cause first: the
// server's refusal, not pgx's "tls error: server refused TLS connection"
// from its first attempt. The line names user, host and port, never the
// password, and the error still unwraps to pgx's.
func TestPostgresConnectErrorIsOneLineCauseFirst(t *testing.T) {
	port := fakePostgres(t, &pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "28P01",
		Message: `password authentication failed for user "app"`})
	t.Chdir(t.TempDir()) // where a DSN taken as a path would land
	c := &cli{t: t, env: map[string]string{}}
	for _, db := range []string{
		fmt.Sprintf("postgres://app:hunter2@127.0.0.1:%d/sessions", port),
		fmt.Sprintf("host=127.0.0.1 port=%d user=app password=hunter2 dbname=sessions", port),
	} {
		c.db = db
		for _, args := range [][]string{{"sessions", "list"}, {"migrate"}, {"serve", "--listen", "127.0.0.1:0"}, {"watch"}} {
			what := fmt.Sprintf("--db %q %s", db, strings.Join(args, " "))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			_, _, err := c.runCtx(ctx, "", args...)
			cancel()
			msg := oneLine(t, what, err, "hunter2")
			want := fmt.Sprintf(`password authentication failed for user "app" (SQLSTATE 28P01), connecting to postgres app@127.0.0.1:%d/sessions`, port)
			if msg != want {
				t.Errorf("%s:\n got  %s\n want %s", what, msg, want)
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
				t.Errorf("%s: errors.As PgError = %v", what, pgErr)
			}
		}
	}

	// Nothing listening: the network error, once (pgx tried twice).
	addr := freeAddr(t)
	c.db = fmt.Sprintf("postgres://app:hunter2@%s/sessions", addr)
	_, _, err := c.run("", "sessions", "list")
	msg := oneLine(t, "closed port", err, "hunter2")
	if want := fmt.Sprintf("dial tcp %s: connect: connection refused, connecting to postgres app@%s/sessions", addr, addr); msg != want {
		t.Errorf("closed port:\n got  %s\n want %s", msg, want)
	}
}

// The same on the test PostgreSQL, in keyword/value form: a database that
// does not exist is named first, in one line.
func TestPostgresMissingDatabaseIsOneLine(t *testing.T) {
	_, kv := pgForms(t, pgtest.DSN(t))
	t.Chdir(t.TempDir())
	c := &cli{t: t, env: map[string]string{}, db: kv + " dbname=sessionmon_no_such_db"}
	_, _, err := c.run("", "users", "list")
	msg := oneLine(t, "missing database", err, "")
	if !strings.HasPrefix(msg, `database "sessionmon_no_such_db" does not exist (SQLSTATE 3D000), connecting to postgres `) ||
		!strings.HasSuffix(msg, "/sessionmon_no_such_db") {
		t.Errorf("missing database: %s", msg)
	}
}

// --set of a sub-second timeout is refused at the command line, naming the
// key, the value and what is allowed; 0.5ns used to turn the timeout off.
func TestSubSecondTimeoutIsRefused(t *testing.T) {
	c := newCLI(t)
	for _, kv := range []string{"session.idle_timeout=0.5ns", "session.absolute_timeout=500ms", "session.purge_retention=1ns", "session.touch_interval=0.1s"} {
		_, _, err := c.run("", "--set", kv, "sessions", "list")
		key, value, _ := strings.Cut(kv, "=")
		msg := oneLine(t, kv, err, "")
		if !strings.HasPrefix(msg, fmt.Sprintf("%s: %q from the command line: want ", key, value)) || !strings.Contains(msg, "0, or ") || !strings.Contains(msg, "1s") {
			t.Errorf("--set %s: %s", kv, msg)
		}
	}
	if out := c.must("", "--set", "session.idle_timeout=0", "--set", "session.absolute_timeout=1s", "config"); !strings.Contains(out, "idle_timeout = 0") {
		t.Errorf("config printed:\n%s", out)
	}
}
