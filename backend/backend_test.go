package backend

import (
	"errors"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		db, kind, target string
	}{
		{"sessionmon.db", "sqlite", "sessionmon.db"},
		{"data/sessions.sqlite3", "sqlite", "data/sessions.sqlite3"},
		{"/var/lib/sessionmon/s.db", "sqlite", "/var/lib/sessionmon/s.db"},
		{"./backup:2026.db", "sqlite", "./backup:2026.db"},
		{"/srv/a=b.db", "sqlite", "/srv/a=b.db"},
		{"../x.db", "sqlite", "../x.db"},
		{"C:/x.db", "sqlite", "C:/x.db"}, // a drive letter is no scheme
		{"sqlite:s.db", "sqlite", "s.db"},
		{"SQLITE:/abs/s.db", "sqlite", "/abs/s.db"},
		{"file:s.db", "sqlite", "s.db"},
		{"file:/abs/s.db", "sqlite", "/abs/s.db"},
		{"file:///abs/a%20b.db", "sqlite", "/abs/a b.db"},
		{"file://localhost/abs/s.db", "sqlite", "/abs/s.db"},
		{"postgres://u@h/db", "postgres", "postgres://u@h/db"},
		{"postgresql://u@h:5433/db?sslmode=disable", "postgres", "postgresql://u@h:5433/db?sslmode=disable"},
		{"POSTGRES://u:p@h/db", "postgres", "postgres://u:p@h/db"},
		{"PostgreSQL://u@h/db", "postgres", "postgresql://u@h/db"},
		{"host=h user=u dbname=d", "postgres", "host=h user=u dbname=d"},
		{" host=h port=5432 ", "postgres", " host=h port=5432 "},
		{"host=/var/run/postgresql dbname=d", "postgres", "host=/var/run/postgresql dbname=d"},
		{"host=h password='a b' dbname=d pool_max_conns=4", "postgres", "host=h password='a b' dbname=d pool_max_conns=4"},
	} {
		got, err := Resolve(tc.db)
		if err != nil {
			t.Errorf("Resolve(%q): %v", tc.db, err)
			continue
		}
		if got.Kind.Name != tc.kind || got.target != tc.target {
			t.Errorf("Resolve(%q) = %s %q, want %s %q", tc.db, got.Kind.Name, got.target, tc.kind, tc.target)
		}
	}
}

func TestResolveRefuses(t *testing.T) {
	for _, tc := range []struct {
		db, want string
		unknown  bool
	}{
		{"mysql://root:hunter2@h/db", `unknown scheme "mysql:"`, true},
		{"redis://h:6379", `unknown scheme "redis:"`, true},
		{"sqlserver://sa:hunter2@h", `unknown scheme "sqlserver:"`, true},
		{"db:5432", `unknown scheme "db:"; want an SQLite file path`, true},
		{"", "empty", true},
		{"postgres:h/db", "without //", false},
		{"postgres://u:hunter2@h:x/db", "not a PostgreSQL DSN pgx can read", false},
		{"host=h port=x password=hunter2", "invalid port", false},
		{"host=h sslmode=bogus password=hunter2", "sslmode", false},
		{"host h password=hunter2", `missing "=" after "host"`, false},
		{"sqlite://s.db", "write sqlite:PATH", false},
		{"sqlite:", "names no file", false},
		{"file:s.db?mode=ro", "parameters are not supported", false},
		{"file://db.internal/s.db", `names host "db.internal"`, false},
	} {
		_, err := Resolve(tc.db)
		if err == nil {
			t.Errorf("Resolve(%q): no error", tc.db)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, "hunter2") || strings.Contains(msg, "\n") ||
			errors.Is(err, ErrUnknown) != tc.unknown {
			t.Errorf("Resolve(%q) = %q (unknown %t), want one line with %q (unknown %t) and no password",
				tc.db, msg, errors.Is(err, ErrUnknown), tc.want, tc.unknown)
		}
	}
}

func TestNoStoreErrorQuotesThePathForTheShell(t *testing.T) {
	err := error(&NoStoreError{Path: "/tmp/my sessions.db"})
	if !errors.Is(err, ErrNoStore) || !strings.HasSuffix(err.Error(), "sessionmon migrate --db '/tmp/my sessions.db'") {
		t.Errorf("%v", err)
	}
}
