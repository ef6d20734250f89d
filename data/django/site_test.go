package django

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"sessionmon/internal/pgtest"
)

// testSite is a database with Django 3.2's own tables (the DDL its
// migrations create), filled by these tests with rows encoded by Encode,
// which TestAgainstLiveDjango checks Django reads. e2e/django runs the same
// source against rows the real Django writes.
type testSite struct {
	t      testing.TB
	dsn    string
	db     *sql.DB
	d      dialect
	secret string
	keys   Keys
}

var djangoDDL = map[string][]string{
	"sqlite": {
		`CREATE TABLE "django_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" datetime NOT NULL)`,
		`CREATE INDEX "django_session_expire_date_a5c62663" ON "django_session" ("expire_date")`,
		`CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "password" varchar(128) NOT NULL, "last_login" datetime NULL, "is_superuser" bool NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_staff" bool NOT NULL, "is_active" bool NOT NULL, "date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL)`,
	},
	"postgres": {
		`CREATE TABLE "django_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" timestamp with time zone NOT NULL)`,
		`CREATE INDEX "django_session_expire_date_a5c62663" ON "django_session" ("expire_date")`,
		`CREATE TABLE "auth_user" ("id" serial NOT NULL PRIMARY KEY, "password" varchar(128) NOT NULL, "last_login" timestamp with time zone NULL, "is_superuser" boolean NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "first_name" varchar(150) NOT NULL, "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_staff" boolean NOT NULL, "is_active" boolean NOT NULL, "date_joined" timestamp with time zone NOT NULL)`,
	},
}

// eachDialect runs f on a fresh site on SQLite and on PostgreSQL.
func eachDialect(t *testing.T, f func(t *testing.T, site *testSite)) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			f(t, newSite(t, name))
		})
	}
}

func newSite(t testing.TB, name string) *testSite {
	t.Helper()
	site := &testSite{t: t, secret: "test-secret-" + randKey()}
	site.keys = NewKeys(site.secret)
	var err error
	if name == "postgres" {
		site.dsn = pgtest.DSN(t)
		site.d = postgresDialect{}
		site.db, err = sql.Open("pgx", site.dsn)
	} else {
		site.dsn = filepath.Join(t.TempDir(), "db.sqlite3")
		site.d = sqliteDialect{}
		// Django waits 5 s for a lock (sqlite3's default timeout); so does
		// this stand-in for it.
		site.db, err = sql.Open("sqlite", "file:"+site.dsn+"?_pragma=busy_timeout(5000)")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { site.db.Close() })
	for _, q := range djangoDDL[name] {
		site.exec(q)
	}
	return site
}

func (s *testSite) exec(q string, args ...any) {
	s.t.Helper()
	if _, err := s.db.Exec(q, args...); err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
}

func (s *testSite) ph(n int) string { return s.d.ph(n) }

// addUser inserts an auth_user row and returns its id.
func (s *testSite) addUser(username, first, last, email string, staff, super, active bool) int64 {
	s.t.Helper()
	now := s.d.timeArg(time.Now())
	q := fmt.Sprintf(`INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
		VALUES ('!', %s, %s, %s, %s, %s, %s, %s, %s, %s)`, s.ph(1), s.ph(2), s.ph(3), s.ph(4), s.ph(5), s.ph(6), s.ph(7), s.ph(8), s.ph(9))
	s.exec(q, now, super, username, first, last, email, staff, active, now)
	var id int64
	if err := s.db.QueryRow("SELECT id FROM auth_user WHERE username = "+s.ph(1), username).Scan(&id); err != nil {
		s.t.Fatal(err)
	}
	return id
}

// put writes a session row with the given dict, signed with the site's key.
func (s *testSite) put(key string, expire time.Time, members ...Member) {
	s.t.Helper()
	enc, err := s.keys.Encode(PyDumps(members...), EncodeOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	s.putRaw(key, enc, expire)
}

func (s *testSite) putRaw(key, sessionData string, expire time.Time) {
	s.t.Helper()
	s.exec("INSERT INTO django_session (session_key, session_data, expire_date) VALUES ("+s.ph(1)+", "+s.ph(2)+", "+s.ph(3)+")",
		key, sessionData, s.d.timeArg(expire))
}

// filled fills the site with n rows of one session's data, with keys of
// 32 digits, expiring from an hour on, step apart (one statement), and
// returns a source on it whose index has read them.
func (s *testSite) filled(n int, step time.Duration) *Source {
	s.t.Helper()
	now := time.Now()
	enc, err := s.keys.Encode(PyDumps(siteMembers("ann", 1, "user", now, now)...), EncodeOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	q := `INSERT INTO django_session SELECT lpad(i::text, 32, '0'), $1, now() + interval '1 hour' + i * $3 * interval '1 ms' FROM generate_series(1, $2) i`
	if s.d == (sqliteDialect{}) {
		q = `WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM g WHERE i < ?2)
			INSERT INTO django_session SELECT printf('%032d', i), ?1, strftime('%Y-%m-%d %H:%M:%f', 'now', '+1 hour', '+' || (i*?3/1000.0) || ' seconds') FROM g`
	}
	s.exec(q, enc, n, step.Milliseconds())
	src := s.open(Options{Keys: s.keys, FullSyncEvery: time.Hour})
	if err := src.SyncNow(ctx); err != nil { // the cold build
		s.t.Fatal(err)
	}
	if got := src.idx.m.len(); got != n {
		s.t.Fatalf("the index holds %d rows, want %d", got, n)
	}
	return src
}

func (s *testSite) count() int {
	var n int
	if err := s.db.QueryRow("SELECT count(*) FROM django_session").Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

// siteMembers is what the site's login view stores.
func siteMembers(user string, id int64, role string, login, last time.Time) []Member {
	return []Member{
		{"_auth_user_id", fmt.Sprint(id)}, {"_auth_user_backend", "django.contrib.auth.backends.ModelBackend"},
		{"_auth_user_hash", "0123abcd"},
		{"user", user}, {"user_id", id}, {"user_email", user + "@example.com"}, {"user_name", "Name of " + user},
		{"user_role", role}, {"user_status", "active"},
		{"login_time", login.UTC().Format("2006-01-02T15:04:05.000000+00:00")},
		{"last_activity", last.UTC().Format("2006-01-02T15:04:05.000000+00:00")},
		{"ip", "10.1.2.3"}, {"user_agent", "test-agent"},
	}
}

// open opens the source on the site, with an audit file of the test's own.
func (s *testSite) open(o Options) *Source {
	s.t.Helper()
	if o.AuditPath == "" {
		o.AuditPath = filepath.Join(s.t.TempDir(), "audit.db")
	}
	src, err := Open(context.Background(), s.dsn, o)
	if err != nil {
		s.t.Fatalf("Open: %v", err)
	}
	s.t.Cleanup(func() { src.Close() })
	return src
}

func randKey() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 32)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
