package harness

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"sessionmon/data/django"
)

// DjangoSecret is the SECRET_KEY the generated Django sites sign their
// rows with.
const DjangoSecret = "bench-secret-key"

// djangoDDL is Django 3.2's migrations for sessions and auth_user, as
// `manage.py sqlmigrate` prints them per backend.
var djangoDDL = map[string][]string{
	"sqlite": {
		`CREATE TABLE "django_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" datetime NOT NULL)`,
		`CREATE INDEX "django_session_expire_date_a5c62663" ON "django_session" ("expire_date")`,
		`CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "password" varchar(128) NOT NULL, "last_login" datetime NULL, "is_superuser" bool NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_staff" bool NOT NULL, "is_active" bool NOT NULL, "date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL)`,
	},
	"pg": {
		`CREATE TABLE "django_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" timestamp with time zone NOT NULL)`,
		`CREATE INDEX "django_session_expire_date_a5c62663" ON "django_session" ("expire_date")`,
		`CREATE TABLE "auth_user" ("id" serial NOT NULL PRIMARY KEY, "password" varchar(128) NOT NULL, "last_login" timestamp with time zone NULL, "is_superuser" boolean NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "first_name" varchar(150) NOT NULL, "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_staff" boolean NOT NULL, "is_active" boolean NOT NULL, "date_joined" timestamp with time zone NOT NULL)`,
	},
}

// DjangoUsers is how many users a site of n sessions has: n/4, so each
// user holds about four sessions, as people with a laptop and a phone do.
func DjangoUsers(n int) int { return max(n/4, 1) }

// DjangoSession is one session of a generated site: its key and whose it
// is, so a writer playing the site can save it again for the same user.
type DjangoSession struct {
	Key   string
	User  int // 0 … DjangoUsers(n)-1
	Login time.Time
}

// DjangoData encodes the session data the site's login view stores for
// user u (username user%07d, one of 4 roles), signed at last as Django
// signs on save; rng draws the auth hash.
func DjangoData(keys django.Keys, rng *rand.Rand, u int, login, last time.Time) string {
	roles := []string{"user", "user", "editor", "admin"}
	js := django.PyDumps(
		django.Member{Key: "_auth_user_id", Value: fmt.Sprint(u + 1)},
		django.Member{Key: "_auth_user_backend", Value: "django.contrib.auth.backends.ModelBackend"},
		django.Member{Key: "_auth_user_hash", Value: fmt.Sprintf("%040x", rng.Uint64())},
		django.Member{Key: "user", Value: fmt.Sprintf("user%07d", u)},
		django.Member{Key: "user_id", Value: u + 1},
		django.Member{Key: "user_email", Value: fmt.Sprintf("user%07d@example.com", u)},
		django.Member{Key: "user_name", Value: fmt.Sprintf("User %d", u)},
		django.Member{Key: "user_role", Value: roles[u%len(roles)]},
		django.Member{Key: "user_status", Value: "active"},
		django.Member{Key: "login_time", Value: login.UTC().Format("2006-01-02T15:04:05.000000+00:00")},
		django.Member{Key: "last_activity", Value: last.UTC().Format("2006-01-02T15:04:05.000000+00:00")},
		django.Member{Key: "ip", Value: fmt.Sprintf("10.%d.%d.%d", u>>16&255, u>>8&255, u&255)},
		django.Member{Key: "user_agent", Value: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"},
	)
	enc, err := keys.Encode(js, django.EncodeOptions{Now: last})
	if err != nil {
		panic(err) // only without a secret, and keys always has one here
	}
	return enc
}

// DjangoKey draws a session key as Django makes them: 32 of [a-z0-9].
func DjangoKey(rng *rand.Rand) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	k := make([]byte, 32)
	for j := range k {
		k[j] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(k)
}

// DjangoRow makes row i of a site of n sessions: a session of user
// i%DjangoUsers(n), logged in up to 14 days ago, last active since then,
// expiring a cookie age after that; its data and its expire_date.
func DjangoRow(keys django.Keys, rng *rand.Rand, i, n int, now time.Time) (DjangoSession, string, time.Time) {
	u := i % DjangoUsers(n)
	login := now.Add(-time.Duration(rng.Int64N(int64(14 * 24 * time.Hour))))
	last := login.Add(time.Duration(rng.Int64N(int64(now.Sub(login)) + 1)))
	data := DjangoData(keys, rng, u, login, last)
	return DjangoSession{Key: DjangoKey(rng), User: u, Login: login}, data, last.Add(django.DefaultCookieAge)
}

type djangoRow struct {
	DjangoSession
	data   string
	expire time.Time
}

// djangoRows generates n rows on every core.
func djangoRows(n int) []djangoRow {
	keys := django.NewKeys(DjangoSecret)
	now := time.Now()
	out := make([]djangoRow, n)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for i := w; i < n; i += workers {
				s, d, e := DjangoRow(keys, rng, i, n, now)
				out[i] = djangoRow{s, d, e}
			}
		}(w)
	}
	wg.Wait()
	return out
}

// DjangoSite is a generated Django site's database: Django 3.2's tables
// holding n sessions, on PostgreSQL (a fresh schema) or SQLite (a
// temporary file).
type DjangoSite struct {
	Store    string // pg or sqlite
	DSN      string // the schema's postgres:// URL, or the SQLite file's path
	Sessions []DjangoSession
	cleanup  func()
}

// Close drops the schema or removes the file.
func (s *DjangoSite) Close() {
	if s.cleanup != nil {
		s.cleanup()
		s.cleanup = nil
	}
}

// LoadDjango creates a site's tables on store ("pg" on the server base,
// or "sqlite") and loads n generated rows: COPY then VACUUM ANALYZE on
// PostgreSQL, one transaction then ANALYZE on SQLite.
func LoadDjango(ctx context.Context, store, base string, n int) (*DjangoSite, error) {
	t0 := time.Now()
	rows := djangoRows(n)
	genTime := time.Since(t0)
	t0 = time.Now()
	site := &DjangoSite{Store: store}
	var err error
	switch store {
	case "pg":
		err = site.loadPG(ctx, base, rows)
	case "sqlite":
		err = site.loadSQLite(ctx, rows)
	default:
		err = fmt.Errorf("store %q: want pg or sqlite", store)
	}
	if err != nil {
		site.Close()
		return nil, err
	}
	site.Sessions = make([]DjangoSession, len(rows))
	for i, r := range rows {
		site.Sessions[i] = r.DjangoSession
	}
	fmt.Fprintf(os.Stderr, "harness: django %s n=%d: generated in %v, loaded in %v\n", store, n, genTime.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	return site, nil
}

func (site *DjangoSite) loadPG(ctx context.Context, base string, rows []djangoRow) error {
	s, err := NewSchema(ctx, base, "django")
	if err != nil {
		return err
	}
	site.cleanup = func() { s.Drop() }
	site.DSN = s.DSN
	conn, err := s.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, q := range djangoDDL["pg"] {
		if _, err := conn.Exec(ctx, q); err != nil {
			return err
		}
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"django_session"}, []string{"session_key", "session_data", "expire_date"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) { return []any{rows[i].Key, rows[i].data, rows[i].expire}, nil }))
	if err != nil {
		return err
	}
	// VACUUM as autovacuum does on a site's table: a table just COPYed
	// has no visibility map, so every count on the expire_date index (the
	// deletion check's) would read the heap too.
	_, err = conn.Exec(ctx, "VACUUM ANALYZE django_session")
	return err
}

func (site *DjangoSite) loadSQLite(ctx context.Context, rows []djangoRow) error {
	dir, err := os.MkdirTemp("", "djangosite")
	if err != nil {
		return err
	}
	site.cleanup = func() { os.RemoveAll(dir) }
	site.DSN = filepath.Join(dir, "db.sqlite3")
	db, err := sql.Open("sqlite", site.DSN)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range djangoDDL["sqlite"] {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, "INSERT INTO django_session VALUES (?, ?, ?)")
	if err != nil {
		return err
	}
	for _, r := range rows {
		if _, err := st.ExecContext(ctx, r.Key, r.data, DjangoTime(r.expire)); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, "ANALYZE")
	return err
}

// DjangoTime is t as Django writes a datetime into SQLite with USE_TZ:
// naive UTC text, microseconds only when there are some.
func DjangoTime(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02 15:04:05")
	}
	return t.Format("2006-01-02 15:04:05.000000")
}
