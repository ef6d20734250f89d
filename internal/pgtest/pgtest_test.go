package pgtest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Parallel tests each get their own schema: the same table name never collides,
// and the schema is gone once the test ends.
func TestDSNIsolatesParallelTests(t *testing.T) {
	var (
		mu      sync.Mutex
		schemas []string // the ones this run made: another run of this test may be going on
	)
	t.Run("group", func(t *testing.T) {
		for i := range 4 {
			name := fmt.Sprintf("p%d", i)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				conn, err := pgx.Connect(ctx, DSN(t))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				if _, err := conn.Exec(ctx, "CREATE TABLE things (v int)"); err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Exec(ctx, "INSERT INTO things VALUES ($1)", i); err != nil {
					t.Fatal(err)
				}
				var n, v int
				if err := conn.QueryRow(ctx, "SELECT count(*), max(v) FROM things").Scan(&n, &v); err != nil {
					t.Fatal(err)
				}
				if n != 1 || v != i {
					t.Fatalf("saw %d rows, max %d; want 1 row %d", n, v, i)
				}
				var schema string
				if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(schema, "t_testdsnisolatesparalleltests_group_p") {
					t.Fatalf("current_schema() = %q, want this test's schema", schema)
				}
				mu.Lock()
				schemas = append(schemas, schema)
				mu.Unlock()
			})
		}
	})
	// After the group the schemas were dropped by Cleanup.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if len(schemas) != 4 {
		t.Fatalf("the group saw %d schemas, want 4", len(schemas))
	}
	var left []string
	if err := conn.QueryRow(ctx,
		"SELECT coalesce(array_agg(nspname::text), '{}') FROM pg_namespace WHERE nspname = ANY($1)", schemas).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("schemas left behind after cleanup: %v", left)
	}
}

func TestWithSearchPath(t *testing.T) {
	got, err := withSearchPath("postgres://u:p@h:5432/db?sslmode=disable", "t_x")
	if err != nil || got != "postgres://u:p@h:5432/db?search_path=t_x&sslmode=disable" {
		t.Fatalf("url form: %q %v", got, err)
	}
	got, err = withSearchPath("host=h dbname=db", "t_x")
	if err != nil || got != "host=h dbname=db search_path=t_x" {
		t.Fatalf("keyword form: %q %v", got, err)
	}
	if _, err := pgx.ParseConfig(got); err != nil {
		t.Fatal(err)
	}
}

func TestRedact(t *testing.T) {
	if got := redact("postgres://u:secret@h/db"); got != "postgres://u:xxxxx@h/db" {
		t.Fatal(got)
	}
}

// recorder stands in for a testing.TB to observe Skip and Fatal.
type recorder struct {
	testing.TB
	skipped, fatal string
}

func (r *recorder) Skip(args ...any)  { r.skipped = fmt.Sprint(args...); runtime.Goexit() }
func (r *recorder) Fatal(args ...any) { r.fatal = fmt.Sprint(args...); runtime.Goexit() }

func runDSN(r *recorder) {
	done := make(chan struct{})
	go func() { defer close(done); DSN(r) }()
	<-done
}

func TestUnreachableSkipsOrFails(t *testing.T) {
	const bad = "postgres://postgres:hunter2@127.0.0.1:1/test"
	t.Setenv(envDSN, bad)

	t.Setenv(envRequire, "")
	r := &recorder{TB: t}
	runDSN(r)
	if r.skipped == "" || r.fatal != "" {
		t.Fatalf("want a skip, got skip=%q fatal=%q", r.skipped, r.fatal)
	}
	for _, want := range []string{"127.0.0.1:1", "pg_ctlcluster", envRequire} {
		if !strings.Contains(r.skipped, want) {
			t.Errorf("skip message lacks %q: %s", want, r.skipped)
		}
	}
	if strings.Contains(r.skipped, "hunter2") {
		t.Errorf("skip message shows the password: %s", r.skipped)
	}

	t.Setenv(envRequire, "1")
	r = &recorder{TB: t}
	runDSN(r)
	if r.fatal == "" || r.skipped != "" {
		t.Fatalf("want a failure, got skip=%q fatal=%q", r.skipped, r.fatal)
	}
}
