// Package djangotest finds the real Django that data/django's tests and
// e2e/django run against: Debian's python3-django on /usr/bin/python3
// (never a python3 found earlier on the PATH, which may be a virtualenv
// without Django or with another version).
//
// When Django is missing the test is skipped, or fails when
// SESSIONMON_REQUIRE_DJANGO=1 or SESSIONMON_REQUIRE_PG=1 (CI sets the
// latter), so a missing Django is never silently green in CI.
package djangotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"sessionmon/internal/pgtest"
)

// Python is the interpreter the tests use.
const Python = "/usr/bin/python3"

var (
	once    sync.Once
	version string
	probErr error
)

// Require returns Django's version on Python, skipping (or failing, see the
// package comment) when it is not installed.
func Require(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var out, errb bytes.Buffer
		cmd := exec.CommandContext(ctx, Python, "-c", "import django, psycopg2; print(django.get_version())")
		cmd.Stdout, cmd.Stderr = &out, &errb
		if probErr = cmd.Run(); probErr != nil {
			probErr = &probeError{err: probErr, stderr: strings.TrimSpace(errb.String())}
			return
		}
		version = strings.TrimSpace(out.String())
	})
	if probErr != nil {
		msg := "djangotest: Django not usable on " + Python + ": " + probErr.Error() +
			"\n\tinstall it with: apt-get install -y python3-django python3-psycopg2"
		if os.Getenv("SESSIONMON_REQUIRE_DJANGO") == "1" || os.Getenv("SESSIONMON_REQUIRE_PG") == "1" {
			t.Fatal(msg + " (SESSIONMON_REQUIRE_DJANGO or SESSIONMON_REQUIRE_PG is 1, so this is a failure)")
		}
		t.Skip(msg + " (set SESSIONMON_REQUIRE_DJANGO=1 to fail instead)")
	}
	return version
}

type probeError struct {
	err    error
	stderr string
}

func (e *probeError) Error() string {
	if e.stderr == "" {
		return e.err.Error()
	}
	lines := strings.Split(e.stderr, "\n")
	return e.err.Error() + ": " + lines[len(lines)-1]
}

// Run runs Python with args in dir, feeding stdin, and returns stdout. It
// fails the test, with stderr, when the command fails.
func Run(t testing.TB, dir string, env []string, stdin []byte, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Python, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("djangotest: %s %s: %v\n%s", Python, strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes()
}

// SiteDir is the test Django site (e2e/django/site, with manage.py).
func SiteDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "e2e", "django", "site")
}

// SeedUser is a user of the site's seed_sessions command.
type SeedUser struct {
	Username string `json:"username"`
	Password string `json:"password,omitempty"`
	Email    string `json:"email,omitempty"`
	FullName string `json:"full_name,omitempty"`
	Role     string `json:"role,omitempty"`
	Status   string `json:"status,omitempty"`
}

// SeedSession is a session of the seed_sessions command.
type SeedSession struct {
	SeedUser
	IP           string `json:"ip,omitempty"`
	UserAgent    string `json:"user_agent,omitempty"`
	LoginTime    string `json:"login_time,omitempty"`
	LastActivity string `json:"last_activity,omitempty"`
	ExpiresAt    string `json:"expires_at,omitempty"`
	Plain        bool   `json:"plain,omitempty"`
	Format       string `json:"format,omitempty"`
}

// Seed runs the site's seed_sessions command with env (DJANGO_DB,
// DJANGO_SECRET_KEY, ...): Django's own SessionStore writes the rows. It
// returns the new session keys, in order.
func Seed(t testing.TB, env []string, users []SeedUser, sessions []SeedSession) []string {
	t.Helper()
	req, _ := json.Marshal(map[string]any{"users": users, "sessions": sessions})
	var keys []string
	out := Run(t, SiteDir(), env, req, "manage.py", "seed_sessions")
	if err := json.Unmarshal(out, &keys); err != nil || len(keys) != len(sessions) {
		t.Fatalf("seed_sessions printed %q: %v", out, err)
	}
	return keys
}

// RandHex is n random bytes in hex.
func RandHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// BaseDSN is the test PostgreSQL server (SESSIONMON_TEST_DSN or pgtest's default).
func BaseDSN() string {
	if b := os.Getenv("SESSIONMON_TEST_DSN"); b != "" {
		return b
	}
	return pgtest.DefaultDSN
}

// CreateDatabase creates database name (from template, when given) on the
// test server and returns its URL. It skips, or fails under
// SESSIONMON_REQUIRE_PG=1, when PostgreSQL is down.
func CreateDatabase(t testing.TB, name, template string) string {
	t.Helper()
	pgtest.DSN(t)
	base := BaseDSN()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	q := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		q += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, q); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	u.RawQuery = ""
	return u.String()
}

// DropDatabase drops the database of URL u, ending its connections.
func DropDatabase(u string) error {
	pu, err := url.Parse(u)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(pu.Path, "/")
	c, err := pgx.Connect(context.Background(), BaseDSN())
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// DatabaseName is the database of a postgres:// URL.
func DatabaseName(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(pu.Path, "/")
}

// Templates make a migrated site database once per backend and test
// binary and hand out copies (a file copy; CREATE DATABASE … TEMPLATE):
// Django's migrate costs seconds, a copy milliseconds. Call Cleanup from
// TestMain after m.Run.
type Templates struct {
	mu    sync.Mutex
	dbs   map[string]string
	after []string
	// Prepare runs on a new template after Django's migrate (optional).
	Prepare func(t testing.TB, db string)
}

// Copy returns a fresh database for backend ("sqlite" or "postgres"),
// removed when t ends.
func (tp *Templates) Copy(t testing.TB, backend string) string {
	t.Helper()
	tmpl := tp.template(t, backend)
	if backend == "sqlite" {
		dst := filepath.Join(t.TempDir(), "db.sqlite3")
		b, err := os.ReadFile(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	u := CreateDatabase(t, "sessionmon_dj_"+RandHex(6), DatabaseName(tmpl))
	t.Cleanup(func() {
		if err := DropDatabase(u); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	return u
}

func (tp *Templates) template(t testing.TB, backend string) string {
	t.Helper()
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if db, ok := tp.dbs[backend]; ok {
		return db
	}
	var db string
	switch backend {
	case "sqlite":
		dir, err := os.MkdirTemp("", "sessionmon-django-template")
		if err != nil {
			t.Fatal(err)
		}
		tp.after = append(tp.after, dir)
		db = filepath.Join(dir, "db.sqlite3")
	case "postgres":
		db = CreateDatabase(t, "sessionmon_djt_"+RandHex(6), "")
		tp.after = append(tp.after, db)
	default:
		t.Fatalf("djangotest: backend %q", backend)
	}
	Run(t, SiteDir(), []string{"DJANGO_DB=" + db, "DJANGO_SECRET_KEY=template"}, nil, "manage.py", "migrate", "-v0")
	if tp.Prepare != nil {
		tp.Prepare(t, db)
	}
	if tp.dbs == nil {
		tp.dbs = map[string]string{}
	}
	tp.dbs[backend] = db
	return db
}

// Cleanup removes the templates.
func (tp *Templates) Cleanup() {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for _, d := range tp.after {
		if filepath.IsAbs(d) {
			os.RemoveAll(d)
		} else {
			DropDatabase(d)
		}
	}
	tp.after, tp.dbs = nil, nil
}
