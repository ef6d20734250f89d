// Command plans loads N active sessions into a fresh SQLite file (and,
// with -pg, a fresh PostgreSQL schema) and prints the query plans and
// timings of the statements behind the dashboard's Stats, so a slow stats
// refresh can be explained:
//
//	cd bench && go run ./cmd/plans -n 100000
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"time"

	"sessionmon/bench/harness"
	"sessionmon/data"
	"sessionmon/data/postgres"
	"sessionmon/data/sqlite"
)

func main() {
	n := flag.Int("n", 100000, "active sessions")
	pg := flag.Bool("pg", false, "also PostgreSQL")
	roleIndex := flag.Bool("role-index", false, "then add a covering partial index (role, expires_at) and time again")
	flag.Parse()
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "plans-")
	defer os.RemoveAll(dir)
	path := harness.SQLiteFile(dir, "p")
	st, err := sqlite.Open(ctx, path)
	check(err)
	st.Close()
	check(harness.BulkLoadSQLite(ctx, path, 1, *n))
	db, err := sql.Open("sqlite", path)
	check(err)
	defer db.Close()
	now := time.Now().UnixMicro()
	hour := time.Hour.Microseconds()
	queries := []query{
		{`SELECT role, count(*), sum(expires_at <= ?2) FROM sessions WHERE ended_at IS NULL AND expires_at > ?1 GROUP BY role`, []any{now, now + hour}},
		{`SELECT count(*) FROM sessions WHERE login_time >= ? AND login_time <= ?`, []any{now - 5*60*1000000, now}},
		{`SELECT count(*) FROM sessions WHERE ended_at IS NULL AND expires_at > ?`, []any{now}},
	}
	explain(db, queries[:1])
	explain(db, queries[1:])
	if *roleIndex {
		t := time.Now()
		_, err := db.Exec(`CREATE INDEX sessions_active_role_expires ON sessions (role, expires_at) WHERE ended_at IS NULL`)
		check(err)
		fmt.Printf("with CREATE INDEX sessions_active_role_expires ON sessions (role, expires_at) WHERE ended_at IS NULL (built in %v):\n", time.Since(t))
		explain(db, queries[:1])
	}
	if *pg {
		explainPG(ctx, *n)
	}
}

type query struct {
	sql  string
	args []any
}

func explain(db *sql.DB, queries []query) {
	for _, q := range queries {
		fmt.Println("SQLite:", q.sql)
		rows, err := db.Query("EXPLAIN QUERY PLAN "+q.sql, q.args...)
		check(err)
		for rows.Next() {
			var id, parent, notused int
			var detail string
			check(rows.Scan(&id, &parent, &notused, &detail))
			fmt.Println("   ", detail)
		}
		rows.Close()
		t := time.Now()
		rows, err = db.Query(q.sql, q.args...)
		check(err)
		for rows.Next() {
		}
		rows.Close()
		fmt.Printf("    %v\n", time.Since(t))
	}
}

func explainPG(ctx context.Context, n int) {
	s, err := harness.NewSchema(ctx, harness.DefaultDSN, "plans")
	check(err)
	defer s.Drop()
	pst, err := postgres.OpenAndMigrate(ctx, s.DSN)
	check(err)
	defer pst.Close()
	check(harness.BulkLoadPG(ctx, s, 1, n))
	// The store's Stats (one statement over a CTE referenced three times)
	// against a single aggregate pass, 7 times each, alternating.
	var cur, one []float64
	c, err := s.Conn(ctx)
	check(err)
	defer c.Close(ctx)
	for range 7 {
		now := time.Now().UTC()
		t := time.Now()
		_, err := pst.Stats(ctx, data.StatsQuery{Now: now, ExpiryWindow: time.Hour, LoginWindow: 5 * time.Minute})
		check(err)
		cur = append(cur, harness.Ms(time.Since(t)))
		t = time.Now()
		rows, err := c.Query(ctx, `SELECT role, count(*), count(*) FILTER (WHERE expires_at <= $2),
			(SELECT count(*) FROM sessions WHERE login_time >= $3)
			FROM sessions WHERE ended_at IS NULL AND expires_at > $1 GROUP BY role`, now, now.Add(time.Hour), now.Add(-5*time.Minute))
		check(err)
		for rows.Next() {
		}
		rows.Close()
		one = append(one, harness.Ms(time.Since(t)))
	}
	fmt.Printf("PostgreSQL Stats at %d rows: store %.1f ms (median of 7), single aggregate pass %.1f ms\n",
		n, harness.Summarize(cur).Med, harness.Summarize(one).Med)
	conn, err := s.Conn(ctx)
	check(err)
	defer conn.Close(ctx)
	for _, q := range []string{
		`SELECT count(*) FROM sessions WHERE ended_at IS NULL AND expires_at > now()`,
		`SELECT role, count(*) FROM sessions WHERE ended_at IS NULL AND expires_at > now() GROUP BY role`,
		`SELECT count(*) FROM sessions WHERE login_time >= now() - interval '5 minutes'`,
		`SELECT count(*) FROM sessions WHERE ended_at IS NULL AND expires_at > now() AND expires_at <= now() + interval '1 hour'`,
	} {
		fmt.Println("PostgreSQL:", q)
		rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) "+q)
		check(err)
		for rows.Next() {
			var line string
			check(rows.Scan(&line))
			fmt.Println("   ", line)
		}
		rows.Close()
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
