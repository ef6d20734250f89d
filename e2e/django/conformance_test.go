package djangoe2e

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"sessionmon/data"
	"sessionmon/data/django"
	"sessionmon/data/storetest"
	"sessionmon/internal/djangotest"
)

// The operator-side conformance suite (storetest.RunSource) on the Django
// source, with Django itself writing every row: the Seeder runs the site's
// seed_sessions command, which saves through Django's SessionStore.

const conformanceSecret = "conformance-secret-key"

// djangoSeeder seeds one site database through Django.
type djangoSeeder struct {
	dir string
	env []string
}

func (s djangoSeeder) Seed(t *testing.T, ss []data.Session) []string {
	t.Helper()
	const layout = "2006-01-02T15:04:05.000000Z07:00"
	var req []seedSession
	for _, x := range ss {
		req = append(req, seedSession{
			seedUser: seedUser{Username: x.Username, Email: x.Email, FullName: x.FullName, Role: x.Role, Status: x.Status},
			IP:       x.IP, UserAgent: x.UserAgent,
			LoginTime: x.LoginTime.UTC().Format(layout), LastActivity: x.LastActivity.UTC().Format(layout),
			ExpiresAt: x.ExpiresAt.UTC().Format(layout),
		})
	}
	body, _ := json.Marshal(map[string]any{"sessions": req})
	var keys []string
	out := djangotest.Run(t, s.dir, s.env, body, "manage.py", "seed_sessions")
	if err := json.Unmarshal(out, &keys); err != nil || len(keys) != len(ss) {
		t.Fatalf("seed_sessions printed %q: %v", out, err)
	}
	return keys
}

// templates: one database migrated by Django per backend and test binary,
// copied for every case (a file copy; CREATE DATABASE … TEMPLATE).
var (
	templateMu sync.Mutex
	templates  = map[string]string{}
	dropAfter  []string
)

func template(t *testing.T, backend string) string {
	t.Helper()
	templateMu.Lock()
	defer templateMu.Unlock()
	if db, ok := templates[backend]; ok {
		return db
	}
	var db string
	switch backend {
	case "sqlite":
		dir, err := os.MkdirTemp("", "sessionmon-django-template")
		if err != nil {
			t.Fatal(err)
		}
		dropAfter = append(dropAfter, dir)
		db = filepath.Join(dir, "db.sqlite3")
	case "postgres":
		db = createDatabase(t, "sessionmon_djt_"+randHex(6), "")
		dropAfter = append(dropAfter, db)
	}
	djangotest.Run(t, siteDir(t), []string{"DJANGO_DB=" + db, "DJANGO_SECRET_KEY=" + conformanceSecret}, nil, "manage.py", "migrate", "-v0")
	if err := django.Migrate(context.Background(), db, django.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	templates[backend] = db
	return db
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range dropAfter {
		if filepath.IsAbs(d) {
			os.RemoveAll(d)
		} else {
			dropDatabase(d)
		}
	}
	os.Exit(code)
}

// copyOf makes a fresh site database from the backend's template.
func copyOf(t *testing.T, backend string) string {
	t.Helper()
	tmpl := template(t, backend)
	if backend == "sqlite" {
		dst := filepath.Join(t.TempDir(), "db.sqlite3")
		in, err := os.Open(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		out, err := os.Create(dst)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	name := "sessionmon_dj_" + randHex(6)
	u := createDatabase(t, name, dbName(tmpl))
	t.Cleanup(func() { dropDatabase(u) })
	return u
}

func conformance(t *testing.T, backend string) {
	djangotest.Require(t)
	storetest.RunSource(t, storetest.SourceHarness{
		Open: func(t *testing.T) (data.Source, storetest.Seeder) {
			db := copyOf(t, backend)
			src, err := django.Open(context.Background(), db, django.Options{Keys: django.NewKeys(conformanceSecret)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { src.Close() })
			return src, djangoSeeder{dir: siteDir(t), env: []string{"DJANGO_DB=" + db, "DJANGO_SECRET_KEY=" + conformanceSecret}}
		},
	})
}

func TestConformanceSQLite(t *testing.T)   { conformance(t, "sqlite") }
func TestConformancePostgres(t *testing.T) { conformance(t, "postgres") }

// dbName is the database of a postgres:// URL.
func dbName(u string) string {
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		return ""
	}
	return cfg.Database
}
