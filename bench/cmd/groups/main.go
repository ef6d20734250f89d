// Command groups measures the dashboard's aggregate queries (migration
// 0004, 0007): sessions grouped by user and by IP, logins and failed logins per
// minute over the last hour, and a row's position in the listing, at N
// active sessions and M audit entries, on SQLite and (with -pg)
// PostgreSQL. It prints each statement's plan, then times it through the
// store with the 0004/0007 indexes and, as the baseline in the same run, with
// them dropped:
//
//	cd bench && go run ./cmd/groups -n 1000000 -audit 10000000 -pg
//
// With -touch D it measures instead what the two session indexes of 0007
// cost store.Touch (the hot path), alternating rounds of D with and
// without them:
//
//	cd bench && go run ./cmd/groups -n 100000 -touch 10s -pg
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

var (
	n     = flag.Int("n", 1000000, "active sessions")
	nAud  = flag.Int("audit", 10000000, "audit entries, spread over -span")
	span  = flag.Duration("span", 30*24*time.Hour, "the audit entries' time span, ending now")
	runs  = flag.Int("runs", 5, "timed runs per measurement (median reported)")
	pg    = flag.Bool("pg", false, "also PostgreSQL")
	noSQL = flag.Bool("no-sqlite", false, "skip SQLite")
	base  = flag.Bool("baseline", true, "also time each query with the 0004/0007 indexes dropped")
	hot   = flag.Int("hot", 1000, "with -touch: how many sessions the touches go to (a few, touched often, as in steady traffic: a bucket changes once a minute per session)")
	touch = flag.Duration("touch", 0, "instead: measure store.Touch for this long per round, with and without the 0007 session indexes (no audit seeding)")
)

type store interface {
	data.Grouper
	data.Histogrammer
	data.Counter
	ListActive(context.Context, data.Query) (data.Page, error)
}

func main() {
	flag.Parse()
	ctx := context.Background()
	if *touch > 0 {
		touchOnly(ctx)
		return
	}
	if !*noSQL {
		runSQLite(ctx)
	}
	if *pg {
		runPG(ctx)
	}
}

// measure times every aggregate through st and returns the medians in ms.
func measure(ctx context.Context, st store) map[string]float64 {
	now := time.Now().UTC()
	mid, err := st.ListActive(ctx, data.Query{Now: now, Limit: 1, After: &data.Cursor{Time: now.Add(7 * 24 * time.Hour)}})
	check(err)
	var cur *data.Cursor
	if len(mid.Sessions) > 0 {
		cur = data.CursorOf(mid.Sessions[0], data.SortExpires)
	}
	ops := []struct {
		name string
		f    func() error
	}{
		{"group by user (top 50)", func() error {
			_, err := st.GroupActive(ctx, data.GroupQuery{Now: time.Now(), By: data.GroupByUser})
			return err
		}},
		{"group by IP (top 50)", func() error {
			_, err := st.GroupActive(ctx, data.GroupQuery{Now: time.Now(), By: data.GroupByIP})
			return err
		}},
		{"logins per minute, last hour", func() error {
			_, err := st.AuditHistogram(ctx, data.HistogramQuery{Now: time.Now(), Step: time.Minute, Buckets: 60})
			return err
		}},
		{"position mid-list", func() error {
			_, err := st.CountActive(ctx, data.Query{Now: time.Now(), After: cur})
			return err
		}},
		{"total (as with a filter)", func() error {
			_, err := st.CountActive(ctx, data.Query{Now: time.Now()})
			return err
		}},
	}
	out := map[string]float64{}
	for _, op := range ops {
		check(op.f()) // warm
		var ms []float64
		for range *runs {
			t := time.Now()
			check(op.f())
			ms = append(ms, harness.Ms(time.Since(t)))
		}
		out[op.name] = harness.Summarize(ms).Med
	}
	h, err := st.AuditHistogram(ctx, data.HistogramQuery{Now: time.Now(), Step: time.Minute, Buckets: 60})
	check(err)
	var in int64
	for i := range h.Logins {
		in += h.Logins[i] + h.Failed[i]
	}
	fmt.Printf("  (the last hour holds %d logins and failed logins)\n", in)
	return out
}

var order = []string{"group by user (top 50)", "group by IP (top 50)", "logins per minute, last hour", "position mid-list", "total (as with a filter)"}

func report(what string, with, without map[string]float64) {
	fmt.Printf("\n%s, %d active sessions, %d audit entries over %s; median of %d runs:\n", what, *n, *nAud, *span, *runs)
	for _, k := range order {
		if without == nil {
			fmt.Printf("  %-30s %9.1f ms\n", k, with[k])
			continue
		}
		if w, ok := without[k]; ok {
			fmt.Printf("  %-30s %9.1f ms   without the 0004/0007 indexes %9.1f ms   (%.1fx)\n", k, with[k], w, w/with[k])
		} else {
			fmt.Printf("  %-30s %9.1f ms   (uses no 0004/0007 index)\n", k, with[k])
		}
	}
}

func runSQLite(ctx context.Context) {
	dir, err := os.MkdirTemp("", "groups-")
	check(err)
	defer os.RemoveAll(dir)
	path := harness.SQLiteFile(dir, "g")
	st, err := sqlite.Open(ctx, path)
	check(err)
	st.Close()
	t := time.Now()
	check(harness.BulkLoadSQLite(ctx, path, 1, *n))
	check(harness.SeedAuditSQLite(ctx, path, *nAud, *span))
	fmt.Printf("SQLite: loaded in %v\n", time.Since(t).Round(time.Second))

	db, err := sql.Open("sqlite", path)
	check(err)
	defer db.Close()
	now := time.Now().UnixMicro()
	for _, q := range []string{
		sqliteGroupSQL("username", "ip", "sessions_active_by_user"),
		sqliteGroupSQL("ip", "username", "sessions_active_by_ip"),
		`SELECT action, (time - ?1) / 60000000, count(*) FROM audit
		 WHERE action IN ('login', 'login_failed') AND time >= ?1 - 3600000000 AND time < ?1 GROUP BY 1, 2`,
		`SELECT count(*) FROM sessions WHERE ended_at IS NULL AND expires_at > ?1 AND (expires_at, id) <= (?1 + 604800000000, '')`,
	} {
		fmt.Println("SQLite:", q)
		rows, err := db.Query("EXPLAIN QUERY PLAN "+q, now)
		check(err)
		for rows.Next() {
			var id, parent, notused int
			var detail string
			check(rows.Scan(&id, &parent, &notused, &detail))
			fmt.Println("   ", detail)
		}
		rows.Close()
		fmt.Println("   ", tableReads(db, q, now))
	}

	st, err = sqlite.Open(ctx, path)
	check(err)
	with := measure(ctx, st)
	st.Close()
	var without map[string]float64
	if *base {
		// Without the covering indexes the groupings must name no index.
		_, err := db.Exec(`DROP INDEX sessions_active_by_user; DROP INDEX sessions_active_by_ip; DROP INDEX audit_action_time`)
		check(err)
		st, err = sqlite.Open(ctx, path)
		check(err)
		without = measureNoHint(ctx, st, db)
		st.Close()
	}
	report("SQLite", with, without)
}

// sqliteGroupSQL is the store's grouping statement (data/sqlite/groups.go)
// with the limit 50 written in.
func sqliteGroupSQL(key, other, index string) string {
	return fmt.Sprintf(`WITH top(k, n, total) AS MATERIALIZED (
	SELECT %[1]s, count(*), count(*) OVER () FROM sessions INDEXED BY %[3]s
	WHERE ended_at IS NULL AND expires_bucket >= ?1 / 60000000 AND (expires_bucket > ?1 / 60000000 OR expires_at > ?1)
	GROUP BY %[1]s ORDER BY count(*) DESC, %[1]s LIMIT 50)
SELECT top.k, top.n, count(DISTINCT s.%[2]s), group_concat(DISTINCT hex(s.role)),
	max(s.login_time), max(s.last_activity), top.total
FROM top CROSS JOIN sessions AS s INDEXED BY %[3]s
WHERE s.%[1]s = top.k AND s.ended_at IS NULL AND s.expires_bucket >= ?1 / 60000000 AND (s.expires_bucket > ?1 / 60000000 OR s.expires_at > ?1)
GROUP BY top.k ORDER BY top.n DESC, top.k`, key, other, index)
}

// measureNoHint times the SQLite statements without INDEXED BY (the
// indexes they name are gone), through a connection of their own.
func measureNoHint(ctx context.Context, st store, db *sql.DB) map[string]float64 {
	out := map[string]float64{}
	stmts := map[string]string{
		order[0]: `SELECT username, count(*), count(DISTINCT ip), group_concat(DISTINCT hex(role)), max(login_time), max(last_activity), count(*) OVER ()
		 FROM sessions WHERE ended_at IS NULL AND expires_at > ?1 GROUP BY username ORDER BY count(*) DESC, username LIMIT 50`,
		order[1]: `SELECT ip, count(*), count(DISTINCT username), group_concat(DISTINCT hex(role)), max(login_time), max(last_activity), count(*) OVER ()
		 FROM sessions WHERE ended_at IS NULL AND expires_at > ?1 GROUP BY ip ORDER BY count(*) DESC, ip LIMIT 50`,
		order[2]: `SELECT action, (time - ?1) / 60000000, count(*) FROM audit
		 WHERE action IN ('login', 'login_failed') AND time >= ?1 - 3600000000 AND time < ?1 GROUP BY 1, 2`,
	}
	for _, k := range order[:3] {
		var ms []float64
		for range max(1, *runs/2) {
			t := time.Now()
			rows, err := db.QueryContext(ctx, stmts[k], time.Now().UnixMicro())
			check(err)
			for rows.Next() {
			}
			check(rows.Err())
			rows.Close()
			ms = append(ms, harness.Ms(time.Since(t)))
		}
		out[k] = harness.Summarize(ms).Med
	}
	return out
}

// tableReads inspects the bytecode of q: SQLite's plan says "USING INDEX"
// rather than "USING COVERING INDEX" for a partial index whose WHERE names a
// column it does not hold (ended_at), yet the statement may still never
// read the table: its seek is deferred (DeferredSeek) and done only when a
// table column is read. This reports whether any Column opcode reads a
// table cursor.
func tableReads(db *sql.DB, q string, args ...any) string {
	rows, err := db.Query("EXPLAIN "+q, args...)
	check(err)
	defer rows.Close()
	tables := map[int64]bool{}
	reads := 0
	for rows.Next() {
		var (
			addr, p1, p2, p3 int64
			op               string
			p4, p5, comment  any
		)
		check(rows.Scan(&addr, &op, &p1, &p2, &p3, &p4, &p5, &comment))
		switch op {
		case "OpenRead":
			if _, isInt := p4.(int64); isInt { // an index has a KeyInfo "k(...)" here
				tables[p1] = true
			}
		case "Column", "Rowid":
			if tables[p1] {
				reads++
			}
		}
	}
	if reads == 0 {
		return "bytecode: no column is read from a table (index only)"
	}
	return fmt.Sprintf("bytecode: %d column reads from a table", reads)
}

// pgGroupSQL is the store's grouping statement (data/postgres/groups.go)
// with now() and the limit 50 written in.
func pgGroupSQL(key, other string) string {
	return fmt.Sprintf(`WITH top AS MATERIALIZED (
	SELECT %[1]s AS k, count(*) AS n, count(*) OVER () AS total FROM sessions
	WHERE ended_at IS NULL AND expires_bucket >= date_bin('1 minute', now(), timestamptz '2000-01-01')
		AND (expires_bucket > date_bin('1 minute', now(), timestamptz '2000-01-01') OR expires_at > now())
	GROUP BY %[1]s ORDER BY count(*) DESC, %[1]s COLLATE "C" LIMIT 50)
SELECT top.k, top.n, d.others, d.roles, d.login, d.seen, top.total
FROM top CROSS JOIN LATERAL (
	SELECT count(DISTINCT s.%[2]s) AS others, array_agg(DISTINCT s.role) AS roles,
		max(s.login_time) AS login, max(s.last_activity) AS seen
	FROM sessions s WHERE s.ended_at IS NULL AND s.%[1]s = top.k
		AND s.expires_bucket >= date_bin('1 minute', now(), timestamptz '2000-01-01')
		AND (s.expires_bucket > date_bin('1 minute', now(), timestamptz '2000-01-01') OR s.expires_at > now())) d
ORDER BY top.n DESC, top.k COLLATE "C"`, key, other)
}

func runPG(ctx context.Context) {
	s, err := harness.NewSchema(ctx, harness.DefaultDSN, "groups")
	check(err)
	defer s.Drop()
	pst, err := postgres.OpenAndMigrate(ctx, s.DSN)
	check(err)
	defer pst.Close()
	t := time.Now()
	check(harness.BulkLoadPG(ctx, s, 1, *n))
	check(harness.SeedAuditPG(ctx, s, *nAud, *span))
	conn, err := s.Conn(ctx)
	check(err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "VACUUM ANALYZE sessions")
	check(err)
	fmt.Printf("PostgreSQL: loaded in %v (then VACUUM ANALYZE, as autovacuum does)\n", time.Since(t).Round(time.Second))
	explain := func() {
		for _, q := range []string{
			pgGroupSQL("username", "ip"),
			pgGroupSQL("ip", "username"),
			`SELECT action, (extract(epoch FROM time - (now() - interval '1 hour')) * 1000000)::bigint / 60000000 AS b, count(*) FROM audit
			 WHERE action IN ('login', 'login_failed') AND time >= now() - interval '1 hour' AND time < now() GROUP BY 1, 2`,
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
	explain()
	with := measure(ctx, pst)
	var without map[string]float64
	if *base {
		_, err := conn.Exec(ctx, `DROP INDEX sessions_active_by_user_idx, sessions_active_by_ip_idx, audit_action_time_idx`)
		check(err)
		fmt.Println("PostgreSQL without the 0004/0007 indexes:")
		explain()
		without = measure(ctx, pst)
	}
	report("PostgreSQL", with, without)
}

// touchOnly loads n sessions per store and compares Touch's rate with and
// without the two 0004/0007 indexes on sessions.
func touchOnly(ctx context.Context) {
	const rounds = 5
	if !*noSQL {
		dir, err := os.MkdirTemp("", "groups-touch-")
		check(err)
		defer os.RemoveAll(dir)
		path := harness.SQLiteFile(dir, "t")
		st, err := sqlite.Open(ctx, path)
		check(err)
		st.Close()
		check(harness.BulkLoadSQLite(ctx, path, 1, *n))
		st, err = sqlite.Open(ctx, path)
		check(err)
		defer st.Close()
		db, err := sql.Open("sqlite", path)
		check(err)
		defer db.Close()
		t := func() float64 {
			return touchRate(ctx, func(ctx context.Context, id string, now, exp time.Time) error {
				_, err := st.Touch(ctx, id, now, exp)
				return err
			}, min(*hot, *n), 4, *touch)
		}
		// One warm round first: each session's first touch moves it to
		// now's bucket (a bulk-loaded expiry is anywhere in 14 days).
		t()
		compareTouch(fmt.Sprintf("SQLite (%d sessions, touches to %d of them, 4 goroutines)", *n, min(*hot, *n)), rounds, t, t, func() {
			_, err := db.Exec(`DROP INDEX sessions_active_by_user; DROP INDEX sessions_active_by_ip`)
			check(err)
		}, func() {
			_, err := db.Exec(`CREATE INDEX sessions_active_by_user ON sessions (username, expires_bucket, ip, role, login_time) WHERE ended_at IS NULL;
				CREATE INDEX sessions_active_by_ip ON sessions (ip, expires_bucket, username, role, login_time) WHERE ended_at IS NULL`)
			check(err)
		})
	}
	if *pg {
		s, err := harness.NewSchema(ctx, harness.DefaultDSN, "groupstouch")
		check(err)
		defer s.Drop()
		pst, err := postgres.OpenAndMigrate(ctx, s.DSN)
		check(err)
		defer pst.Close()
		check(harness.BulkLoadPG(ctx, s, 1, *n))
		conn, err := s.Conn(ctx)
		check(err)
		defer conn.Close(ctx)
		t := func() float64 {
			return touchRate(ctx, func(ctx context.Context, id string, now, exp time.Time) error {
				_, err := pst.Touch(ctx, id, now, exp)
				return err
			}, min(*hot, *n), 16, *touch)
		}
		t()
		compareTouch(fmt.Sprintf("PostgreSQL (%d sessions, touches to %d of them, 16 goroutines)", *n, min(*hot, *n)), rounds, t, t, func() {
			_, err := conn.Exec(ctx, `DROP INDEX sessions_active_by_user_idx, sessions_active_by_ip_idx`)
			check(err)
		}, func() {
			_, err := conn.Exec(ctx, `CREATE INDEX sessions_active_by_user_idx ON sessions (username, expires_bucket)
				INCLUDE (ip, role, login_time) WHERE ended_at IS NULL;
				CREATE INDEX sessions_active_by_ip_idx ON sessions (ip, expires_bucket)
				INCLUDE (username, role, login_time) WHERE ended_at IS NULL`)
			check(err)
		})
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
