// Command djangopoll measures the Django source (data/django) on a large
// django_session table, against a naive poll that decodes every row, in the
// same run (issue 10's targets):
//
//	cd bench && go run ./cmd/djangopoll -sizes 10000,1000000 -stores pg,sqlite
//
// For each store and size it creates Django 3.2's tables (a fresh
// PostgreSQL schema, a temporary SQLite file), generates the rows in Go with
// data/django's encoder (the format Django itself reads back:
// data/django's TestAgainstLiveDjango) with the site's session keys for
// n/4 users in 4 roles and expiries spread over 14 days, and loads them
// (COPY on PostgreSQL, one transaction on SQLite). Then it starts a fresh
// process of itself (-child), which opens the source with the secret and:
//   - builds the decode index (the first full sync: what `sessions
//     revoke-user` pays once, and a dashboard at start);
//   - times -cycles dashboard poll cycles: ListActive (the default window
//     of 100 by expiry) + Stats, while a writer saves 50 sessions between
//     cycles as Django would (new expire_date, same key), so each cycle
//     decodes what changed;
//   - times the dashboard's cycle in each order it offers (user ▲, its
//     default; last activity; login; expiry; a text filter): the window of
//     60 rows, Stats, and the position line's two counts (CountActive);
//   - times a revoke-user lookup (the sessions of one user, from the index);
//   - times the full sync that bounds how stale Stats can be for rows the
//     site deleted (Stats are at most FullSyncEvery + that old);
//   - measures how stale Stats are for rows the site deletes itself (its
//     users' logouts): from the DELETE to Stats counting them gone; and
//     meanwhile how long a Django-like writer's commits take (on SQLite,
//     whose journal mode it prints, they wait for the source's reads, up
//     to Django's 5 s);
//   - times EndSession (the DELETE that Django's next request finds);
//   - reads its peak RSS (VmHWM) — before the naive poll, which would
//     otherwise dominate it;
//   - times -naive naive polls: select every active row, decode and verify
//     each, sort, count.
//
// With -memlimits, the child runs once per GOMEMLIMIT given (an operator's
// setting for the dashboard's process; "" for none) on the same table.
//
// It prints medians (min–max) and the naive/source ratios. Schemas and
// files are removed at the end.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"sessionmon/bench/harness"
	"sessionmon/data"
	"sessionmon/data/django"
)

// sortResult is one dashboard order's poll cycle: the window it lists
// (ListActive) and Stats, what every poll sends; and apart, the two counts
// of its position line (CountActive: the rows before the window's top,
// and the total), which the dashboard asks on the stats' 5 s cadence and
// once the window holds still after a move (tui/position.go).
type sortResult struct {
	Name        string    `json:"name"`
	CycleMs     []float64 `json:"cycle_ms"`
	ListMs      []float64 `json:"list_ms"`
	StatsMs     []float64 `json:"stats_ms"`
	CountMs     []float64 `json:"count_ms"` // both counts, after the cycle
	Counted     bool      `json:"counted"`  // the source implements data.Counter
	FirstListMs float64   `json:"first_list_ms"`
}

type result struct {
	Store      string    `json:"store"`
	N          int       `json:"n"`
	BuildMs    float64   `json:"build_ms"`
	CycleMs    []float64 `json:"cycle_ms"`
	WindowMs   []float64 `json:"window_ms"`
	StatsMs    []float64 `json:"stats_ms"`
	UserMs     []float64 `json:"user_ms"`
	FullSyncMs []float64 `json:"full_sync_ms"`
	CountMs    []float64 `json:"count_ms"`
	EndMs      []float64 `json:"end_ms"`
	NaiveMs    []float64 `json:"naive_ms"`
	// Sorts: the dashboard's cycle per order it offers (dashboardQueries).
	Sorts []sortResult `json:"sorts"`
	// StaleMs: from the site's own DELETE of rows to Stats counting them
	// gone (issue 10: at most 10 s), one figure per trial.
	StaleMs []float64 `json:"stale_ms"`
	// Journal: SQLite's journal mode (the site's: this loads it with
	// Django's default, a rollback journal).
	Journal string `json:"journal,omitempty"`
	// CommitMs: a Django-like writer's commits (one UPDATE a transaction,
	// as a request's session save) while the staleness trials run, the
	// source's background checks and syncs beside them; Refused: those
	// that failed (SQLite: "database is locked" after Django's 5 s).
	CommitMs  []float64 `json:"commit_ms"`
	Refused   int       `json:"refused"`
	VmHWMkB   int64     `json:"vm_hwm_kb"`
	HeapInuse uint64    `json:"heap_inuse"`
	Err       string    `json:"err,omitempty"`
}

func main() {
	child := flag.Bool("child", false, "internal: measure one store")
	store := flag.String("store", "", "internal: pg or sqlite")
	dsn := flag.String("dsn", "", "internal: the site's database")
	sizes := flag.String("sizes", "10000,1000000", "table sizes")
	stores := flag.String("stores", "pg,sqlite", "stores to measure")
	cycles := flag.Int("cycles", 30, "poll cycles timed")
	naive := flag.Int("naive", 3, "naive polls timed")
	base := flag.String("pg", harness.DefaultDSN, "PostgreSQL server")
	n := flag.Int("n", 0, "internal: rows")
	keep := flag.Bool("keep", false, "keep the tables and print where they are (to run -child on them again)")
	memLimits := flag.String("memlimits", "", "GOMEMLIMIT values for the measuring child, one child each on the same table (\"\": Go's default, no limit), e.g. ,110MiB")
	flag.Parse()
	if *child {
		r := measure(*store, *dsn, *n, *cycles, *naive)
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	ctx := context.Background()
	fmt.Printf("djangopoll: %s, GOMAXPROCS %d, %s\n", runtime.Version(), runtime.GOMAXPROCS(0), time.Now().UTC().Format(time.RFC3339))
	for _, st := range strings.Split(*stores, ",") {
		for _, ns := range strings.Split(*sizes, ",") {
			n, err := strconv.Atoi(ns)
			if err != nil {
				fail(err)
			}
			site, err := harness.LoadDjango(ctx, st, *base, n)
			if err != nil {
				fail(err)
			}
			dsn, cleanup := site.DSN, site.Close
			if *keep {
				fmt.Printf("%-6s n=%-8d kept: -child -store %s -n %d -dsn '%s'\n", st, n, st, n, dsn)
				cleanup = func() {}
			}
			for _, limit := range strings.Split(*memLimits, ",") {
				cmd := exec.Command(os.Args[0], "-child", "-store", st, "-dsn", dsn, "-n", ns, "-cycles", fmt.Sprint(*cycles), "-naive", fmt.Sprint(*naive))
				cmd.Stderr = os.Stderr
				if limit != "" {
					// As an operator would run the dashboard:
					// GOMEMLIMIT=… sessionmon watch …
					cmd.Env = append(os.Environ(), "GOMEMLIMIT="+limit)
					fmt.Printf("%-6s n=%-8d with GOMEMLIMIT=%s:\n", st, n, limit)
				}
				out, err := cmd.Output()
				if err != nil {
					cleanup()
					fail(fmt.Errorf("child %s %d: %w", st, n, err))
				}
				var r result
				if err := json.Unmarshal(out, &r); err != nil {
					cleanup()
					fail(fmt.Errorf("child %s %d printed %q: %w", st, n, out, err))
				}
				report(r)
			}
			cleanup()
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "djangopoll:", err)
	os.Exit(1)
}

func sum(xs []float64) string {
	s := harness.Summarize(xs)
	return fmt.Sprintf("%.2f (%.2f–%.2f)", s.Med, s.Min, s.Max)
}

func report(r result) {
	if r.Err != "" {
		fmt.Printf("%-6s n=%-8d error: %s\n", r.Store, r.N, r.Err)
		return
	}
	c, nv := harness.Summarize(r.CycleMs), harness.Summarize(r.NaiveMs)
	fmt.Printf("%-6s n=%-8d index build %.0f ms | poll cycle %s ms (window %s, stats %s) | naive poll %s ms | naive/cycle %.0fx\n",
		r.Store, r.N, r.BuildMs, sum(r.CycleMs), sum(r.WindowMs), sum(r.StatsMs), sum(r.NaiveMs), nv.Med/c.Med)
	fmt.Printf("%-6s n=%-8d revoke-user lookup %s ms | stats count %s ms (+ StatsMaxAge 4 s = staleness) | full sync %s ms (+ FullSyncEvery = staleness of rows the site deleted) | EndSession %s ms | VmHWM %d MB, heap in use %d MB\n",
		r.Store, r.N, sum(r.UserMs), sum(r.CountMs), sum(r.FullSyncMs), sum(r.EndMs), r.VmHWMkB/1024, r.HeapInuse>>20)
	for _, sr := range r.Sorts {
		count := "not offered (no data.Counter)"
		if sr.Counted {
			count = sum(sr.CountMs) + " ms"
		}
		fmt.Printf("%-6s n=%-8d dashboard %-22s cycle (list + stats) %s ms | list %s (first %.1f) | stats %s | position line's 2 counts (every 5 s, after moves) %s\n",
			r.Store, r.N, sr.Name, sum(sr.CycleMs), sum(sr.ListMs), sr.FirstListMs, sum(sr.StatsMs), count)
	}
	fmt.Printf("%-6s n=%-8d staleness of Stats for rows the site deleted: %s ms\n", r.Store, r.N, sum(r.StaleMs))
	if len(r.CommitMs) > 0 {
		c := slices.Sorted(slices.Values(r.CommitMs))
		journal := ""
		if r.Journal != "" {
			journal = " (journal_mode " + r.Journal + ")"
		}
		fmt.Printf("%-6s n=%-8d the site's commits meanwhile%s: %d, median %.1f ms, p99 %.1f ms, max %.1f ms, refused %d\n",
			r.Store, r.N, journal, len(c), c[len(c)/2], c[len(c)*99/100], c[len(c)-1], r.Refused)
	}
}

// dashboardQueries are the listings the dashboard sends (tui/window.go
// windowReq.query): a window of rows + max(5, rows/2) = 60 rows on a
// 40-row table, in the order the operator picked; user ▲ is the default
// (tui.DefaultSort), a text filter keeps the order.
var dashboardQueries = []struct {
	name string
	q    data.Query
}{
	{"user asc (default)", data.Query{Sort: data.SortUser}},
	{"last activity desc", data.Query{Sort: data.SortLastActivity, Desc: true}},
	{"login time desc", data.Query{Sort: data.SortLoginTime, Desc: true}},
	{"expiry asc", data.Query{Sort: data.SortExpires}},
	{"filter user00012, user", data.Query{Sort: data.SortUser, Text: "user00012"}},
	{"filter editor, user", data.Query{Sort: data.SortUser, Text: "editor"}},
}

func measure(store, dsn string, n, cycles, naives int) (r result) {
	r.Store, r.N = store, n
	defer func() {
		if p := recover(); p != nil {
			r.Err = fmt.Sprint(p)
		}
	}()
	ctx := context.Background()
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	// The audit table in the site's database (migrate --source django): a
	// force-out is then one transaction, as an operator would run it.
	must(django.Migrate(ctx, dsn, django.MigrateOptions{}))
	audit := ""
	// As the dashboard opens it (cmd_watch.go, cmd_django.go): counts at
	// most 4 s old, the default full-sync cadence.
	src, err := django.Open(ctx, dsn, django.Options{Keys: django.NewKeys(harness.DjangoSecret), AuditPath: audit, StatsMaxAge: 4 * time.Second})
	must(err)
	defer src.Close()
	stq := func() data.StatsQuery {
		return data.StatsQuery{Now: time.Now(), ExpiryWindow: time.Hour, LoginWindow: 5 * time.Minute}
	}
	t0 := time.Now()
	_, err = src.Stats(ctx, stq())
	must(err)
	r.BuildMs = harness.Ms(time.Since(t0))

	// A writer saving sessions as Django does between cycles.
	siteDSN := dsn
	if store == "sqlite" {
		// Django's SQLite connections wait 5 s for a lock (Python's
		// sqlite3 default timeout, which Django passes on), then fail.
		siteDSN = "file:" + dsn + "?_pragma=busy_timeout(5000)"
	}
	db, err := sql.Open(map[string]string{"pg": "pgx", "sqlite": "sqlite"}[store], siteDSN)
	must(err)
	defer db.Close()
	if store == "sqlite" {
		must(db.QueryRow("PRAGMA journal_mode").Scan(&r.Journal))
	}
	var keys []string
	rows, err := db.Query("SELECT session_key FROM django_session ORDER BY session_key LIMIT 2000")
	must(err)
	for rows.Next() {
		var k string
		rows.Scan(&k)
		keys = append(keys, k)
	}
	rows.Close()
	rng := rand.New(rand.NewPCG(7, 7))
	siteKeys := django.NewKeys(harness.DjangoSecret)
	save := func() {
		upd := "UPDATE django_session SET expire_date = $1, session_data = $2 WHERE session_key = $3"
		if store == "sqlite" {
			upd = "UPDATE django_session SET expire_date = ?, session_data = ? WHERE session_key = ?"
		}
		tx, err := db.Begin()
		must(err)
		for i := 0; i < 50; i++ {
			_, d, _ := harness.DjangoRow(siteKeys, rng, rng.IntN(n), n, time.Now())
			var exp any = time.Now().Add(django.DefaultCookieAge)
			if store == "sqlite" {
				exp = harness.DjangoTime(exp.(time.Time))
			}
			_, err := tx.Exec(upd, exp, d, keys[rng.IntN(len(keys))])
			must(err)
		}
		must(tx.Commit())
	}
	for i := 0; i < cycles; i++ {
		save()
		t0 := time.Now()
		_, err := src.ListActive(ctx, data.Query{Now: time.Now(), Limit: 100})
		must(err)
		t1 := time.Now()
		_, err = src.Stats(ctx, stq())
		must(err)
		t2 := time.Now()
		r.WindowMs = append(r.WindowMs, harness.Ms(t1.Sub(t0)))
		r.StatsMs = append(r.StatsMs, harness.Ms(t2.Sub(t1)))
		r.CycleMs = append(r.CycleMs, harness.Ms(t2.Sub(t0)))
	}
	counter, counted := any(src).(data.Counter)
	perSort := max(cycles/3, 3)
	for _, dq := range dashboardQueries {
		sr := sortResult{Name: dq.name, Counted: counted}
		for i := 0; i < perSort; i++ {
			save()
			q := dq.q
			q.Now, q.Limit = time.Now(), 60
			t0 := time.Now()
			p, err := src.ListActive(ctx, q)
			must(err)
			t1 := time.Now()
			_, err = src.Stats(ctx, stq())
			must(err)
			t2 := time.Now()
			if counted {
				// The position line: the rows before the window's top
				// (the cursor of a row in it) and the listing's total.
				cq := q
				cq.Limit = 0
				if len(p.Sessions) > 0 {
					cq.After = data.CursorOf(p.Sessions[len(p.Sessions)/2], q.Sort)
				}
				_, err = counter.CountActive(ctx, cq)
				must(err)
				cq.After = nil
				_, err = counter.CountActive(ctx, cq)
				must(err)
			}
			t3 := time.Now()
			if i == 0 {
				sr.FirstListMs = harness.Ms(t1.Sub(t0))
			}
			sr.ListMs = append(sr.ListMs, harness.Ms(t1.Sub(t0)))
			sr.StatsMs = append(sr.StatsMs, harness.Ms(t2.Sub(t1)))
			if counted {
				sr.CountMs = append(sr.CountMs, harness.Ms(t3.Sub(t2)))
			}
			sr.CycleMs = append(sr.CycleMs, harness.Ms(t2.Sub(t0)))
		}
		r.Sorts = append(r.Sorts, sr)
	}
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		p, err := src.ListActive(ctx, data.Query{Now: time.Now(), Username: fmt.Sprintf("user%07d", rng.IntN(max(n/4, 1))), Limit: 1000})
		must(err)
		if len(p.Sessions) == 0 {
			panic("revoke-user lookup found no session")
		}
		r.UserMs = append(r.UserMs, harness.Ms(time.Since(t0)))
	}
	for i := 0; i < 3; i++ {
		// Another window is a new set of counts: Stats counts at once.
		t0 := time.Now()
		_, err := src.Stats(ctx, data.StatsQuery{Now: time.Now(), ExpiryWindow: time.Duration(61+i) * time.Minute, LoginWindow: 5 * time.Minute})
		must(err)
		r.CountMs = append(r.CountMs, harness.Ms(time.Since(t0)))
	}
	for i := 0; i < 3; i++ {
		t0 := time.Now()
		must(src.SyncNow(ctx))
		r.FullSyncMs = append(r.FullSyncMs, harness.Ms(time.Since(t0)))
	}
	// Staleness: the site deletes rows itself (its users log out), and the
	// dashboard polls as it does by default (its window of user ▲ every
	// second), while Stats is asked every 250 ms here until the count
	// drops by as many; sessions that expire meanwhile only make it drop
	// sooner. Meanwhile a Django-like writer saves one session a
	// transaction every 20 ms, and its commit times are kept.
	wdb, err := sql.Open(map[string]string{"pg": "pgx", "sqlite": "sqlite"}[store], siteDSN)
	must(err)
	defer wdb.Close()
	wdb.SetMaxOpenConns(1)
	stopWriter := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		upd := "UPDATE django_session SET expire_date = $1 WHERE session_key = $2"
		if store == "sqlite" {
			upd = "UPDATE django_session SET expire_date = ? WHERE session_key = ?"
		}
		for i := 0; ; i++ {
			select {
			case <-stopWriter:
				return
			case <-time.After(20 * time.Millisecond):
			}
			var exp any = time.Now().Add(django.DefaultCookieAge)
			if store == "sqlite" {
				exp = harness.DjangoTime(exp.(time.Time))
			}
			t0 := time.Now()
			err := func() error { // as Django's atomic(): BEGIN, the save, COMMIT
				tx, err := wdb.Begin()
				if err != nil {
					return err
				}
				if _, err := tx.Exec(upd, exp, keys[1000+i%1000]); err != nil {
					tx.Rollback()
					return err
				}
				return tx.Commit()
			}()
			if err != nil {
				r.Refused++
			}
			r.CommitMs = append(r.CommitMs, harness.Ms(time.Since(t0)))
		}
	}()
	for trial := 0; trial < 2; trial++ {
		st, err := src.Stats(ctx, stq())
		must(err)
		del := keys[100*trial : 100*trial+100]
		args := make([]any, len(del))
		ph := make([]string, len(del))
		for i, k := range del {
			args[i] = k
			ph[i] = "$" + strconv.Itoa(i+1)
			if store == "sqlite" {
				ph[i] = "?"
			}
		}
		_, err = db.Exec("DELETE FROM django_session WHERE session_key IN ("+strings.Join(ph, ",")+")", args...)
		must(err)
		t0 := time.Now()
		for i := 0; ; i++ {
			if i%4 == 0 {
				_, err := src.ListActive(ctx, data.Query{Now: time.Now(), Sort: data.SortUser, Limit: 60})
				must(err)
			}
			now, err := src.Stats(ctx, stq())
			must(err)
			if now.Active <= st.Active-int64(len(del)) {
				break
			}
			if time.Since(t0) > 3*time.Minute {
				break // reported as 180 s: not met
			}
			time.Sleep(250 * time.Millisecond)
		}
		r.StaleMs = append(r.StaleMs, harness.Ms(time.Since(t0)))
	}
	close(stopWriter)
	<-writerDone
	for i := 0; i < 10; i++ {
		k := keys[len(keys)-1-i]
		t0 := time.Now()
		_, err := src.EndSession(ctx, k, data.End{At: time.Now(), Reason: data.EndForced, By: "bench"},
			data.AuditEntry{Time: time.Now(), Actor: "bench", Action: data.ActionForceLogout})
		must(err)
		r.EndMs = append(r.EndMs, harness.Ms(time.Since(t0)))
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.HeapInuse = ms.HeapInuse
	r.VmHWMkB = harness.ProcStatus("VmHWM")["VmHWM"]
	if p := os.Getenv("DJANGOPOLL_HEAPPROFILE"); p != "" {
		// What the heap holds at the peak's end: go tool pprof -sample_index=inuse_space.
		f, err := os.Create(p)
		must(err)
		must(pprof.WriteHeapProfile(f))
		must(f.Close())
	}

	for i := 0; i < naives; i++ {
		d, err := naivePoll(ctx, db, store)
		must(err)
		r.NaiveMs = append(r.NaiveMs, harness.Ms(d))
	}
	return r
}

// naivePoll is what a poller without the window and the index does: read
// every active row, decode and verify it, sort by expiry, count by role.
func naivePoll(ctx context.Context, db *sql.DB, store string) (time.Duration, error) {
	keys := django.NewKeys(harness.DjangoSecret)
	t0 := time.Now()
	q := "SELECT session_key, session_data, expire_date FROM django_session WHERE expire_date > $1"
	var now any = time.Now()
	if store == "sqlite" {
		q = "SELECT session_key, session_data, CAST(expire_date AS TEXT) FROM django_session WHERE expire_date > ?"
		now = harness.DjangoTime(time.Now())
	}
	rows, err := db.QueryContext(ctx, q, now)
	if err != nil {
		return 0, err
	}
	type s struct {
		key    string
		expire any
		role   string
	}
	var all []s
	byRole := map[string]int{}
	for rows.Next() {
		var k, d string
		var e any
		if err := rows.Scan(&k, &d, &e); err != nil {
			rows.Close()
			return 0, err
		}
		dec, err := django.Decode(d)
		if err != nil {
			continue
		}
		keys.Verify(dec)
		role, _ := dec.Dict["user_role"].(string)
		byRole[role]++
		all = append(all, s{k, e, role})
	}
	rows.Close()
	slices.SortFunc(all, func(a, b s) int { return strings.Compare(fmt.Sprint(a.expire), fmt.Sprint(b.expire)) })
	return time.Since(t0), rows.Err()
}
