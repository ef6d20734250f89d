// Package conformance runs the operator-side conformance suite
// (storetest.RunSource) on the Django source, with the real Django writing
// every row. It is its own package (its own test binary and timeout): the
// suite opens a fresh site database per case.
package conformance

import (
	"context"
	"os"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/data/django"
	"sessionmon/data/storetest"
	"sessionmon/internal/djangotest"
	"sessionmon/internal/offheap"
)

// The operator-side conformance suite (storetest.RunSource) on the Django
// source, with Django itself writing every row: the Seeder runs the site's
// seed_sessions command, which saves through Django's SessionStore.

const conformanceSecret = "conformance-secret-key"

// djangoSeeder seeds one site database through Django.
type djangoSeeder struct {
	env []string
}

func (s djangoSeeder) Seed(t *testing.T, ss []data.Session) []string {
	t.Helper()
	const layout = "2006-01-02T15:04:05.000000Z07:00"
	var req []djangotest.SeedSession
	for _, x := range ss {
		req = append(req, djangotest.SeedSession{
			SeedUser: djangotest.SeedUser{Username: x.Username, Email: x.Email, FullName: x.FullName, Role: x.Role, Status: x.Status},
			IP:       x.IP, UserAgent: x.UserAgent,
			LoginTime: x.LoginTime.UTC().Format(layout), LastActivity: x.LastActivity.UTC().Format(layout),
			ExpiresAt: x.ExpiresAt.UTC().Format(layout),
		})
	}
	return djangotest.Seed(t, s.env, nil, req)
}

// templates: one database migrated by Django (and by migrate --source
// django: the audit table) per backend and test binary, copied per case.
var templates = djangotest.Templates{Prepare: func(t testing.TB, db string) {
	if err := django.Migrate(context.Background(), db, django.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
}}

func TestMain(m *testing.M) {
	offheap.Poison(true) // a use of memory the index freed faults here (internal/offheap)
	code := m.Run()
	templates.Cleanup()
	os.Exit(code)
}

func conformance(t *testing.T, backend string) {
	djangotest.Require(t)
	storetest.RunSource(t, storetest.SourceHarness{
		Open: func(t *testing.T) (data.Source, storetest.Seeder) {
			db := templates.Copy(t, backend)
			src, err := django.Open(context.Background(), db, django.Options{Keys: django.NewKeys(conformanceSecret)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { src.Close() })
			return src, djangoSeeder{env: []string{"DJANGO_DB=" + db, "DJANGO_SECRET_KEY=" + conformanceSecret}}
		},
		// Login and last activity to the second (data/django keeps them
		// so: 8 bytes a session less in the index at a million).
		TimePrecision: time.Second,
	})
}

func TestConformanceSQLite(t *testing.T)   { conformance(t, "sqlite") }
func TestConformancePostgres(t *testing.T) { conformance(t, "postgres") }
