// Command compare runs sessionmon's performance comparison end to end and
// prints markdown tables with ratios measured in the same run:
//
//	cd bench && go run ./cmd/compare -runs 3
//
// Parts (-parts, comma-separated; default all):
//
//	pg      GET /api/me throughput on PostgreSQL: sessionmon's real server vs
//	        the scs+pgxstore peer vs pgbench running Touch's one statement
//	sqlite  the same server on the embedded SQLite store vs the store's own
//	        Touch called directly from as many goroutines
//	poll    one dashboard poll cycle at -sizes active sessions on both stores
//	        vs the naive cycle that fetches every active row
//
// Every PostgreSQL contender gets a fresh schema (dropped afterwards) on the
// local server (-dsn, loopback only); SQLite files go to a temporary
// directory that is removed at the end.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"sessionmon/bench/harness"
	"sessionmon/data"
	"sessionmon/data/postgres"
	"sessionmon/data/sqlite"
	"sessionmon/sessionlogic"
)

type config struct {
	dsn                      string
	parts                    map[string]bool
	runs                     int
	duration, warmup         time.Duration
	conns, sessions, pool    int
	pgbenchClients, pgbenchJ int
	sizes                    []int
	cycles, naiveCycles      int
	statsCycles              int
	churn                    int
	profile                  string
	direct                   bool
	unbatched                bool
	sqliteSQL                string
	pgSQL                    string
	pollStores               map[string]bool
	peerPools                []int
	gens                     []string
	wrkThreads               int
	touchLanes               int
}

func main() {
	var c config
	var peerPools string
	var parts, sizes string
	flag.StringVar(&c.dsn, "dsn", harness.DefaultDSN, "PostgreSQL server (loopback only); each contender gets a fresh schema")
	flag.StringVar(&parts, "parts", "pg,sqlite,poll", "parts to run: pg, sqlite, poll")
	flag.IntVar(&c.runs, "runs", 3, "runs of each throughput contender (median, min, max are reported)")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "measured time of each throughput run")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each throughput run")
	flag.IntVar(&c.conns, "conns", 64, "load generator connections (and goroutines for the direct Touch rate)")
	flag.IntVar(&c.sessions, "sessions", 10000, "logged-in sessions for the throughput parts")
	flag.IntVar(&c.pool, "pool", 0, "PostgreSQL pool size of sessionmon (0: its default)")
	flag.StringVar(&peerPools, "peer-pools", "8,16", "the peer's pool sizes, each measured in every run; ratios use its best per run")
	flag.IntVar(&c.pgbenchClients, "pgbench-clients", 16, "pgbench -c")
	flag.IntVar(&c.pgbenchJ, "pgbench-threads", 2, "pgbench -j")
	flag.StringVar(&sizes, "sizes", "10000,100000,1000000", "active sessions for the poll part, ascending")
	flag.IntVar(&c.cycles, "cycles", 15, "measured poll cycles per size")
	flag.IntVar(&c.statsCycles, "stats-cycles", 5, "poll cycles (of -cycles) that include Stats: it is O(active rows), so large sizes are slow")
	flag.IntVar(&c.naiveCycles, "naive-cycles", 3, "measured naive cycles per size")
	flag.IntVar(&c.churn, "churn", 20, "sessions touched between two poll cycles")
	flag.StringVar(&c.profile, "cpuprofile", "", "write CPU profiles of sessionmon's first throughput run to PREFIX-pg-GEN.pprof (per generator) and PREFIX-sqlite.pprof")
	flag.StringVar(&c.pgSQL, "pg-sql", "", "SQL run on sessionmon's PostgreSQL schemas after migration, before seeding (e.g. a fillfactor), for what-if measurements")
	flag.StringVar(&c.sqliteSQL, "sqlite-sql", "", "SQL run on each SQLite file after migration (e.g. a candidate index), for what-if measurements")
	flag.DurationVar(&harness.TouchInterval, "touch-interval", 0, "sessionmon's session.touch_interval (0, the headline: a durable write on every request)")
	flag.BoolVar(&c.direct, "direct", true, "also measure sessionmon's store.Touch called directly on PostgreSQL")
	flag.BoolVar(&c.unbatched, "unbatched", true, "also measure sessionmon serve on PostgreSQL with touch batching off (postgres.WithTouchBatch(1)): the same-run baseline for batching")
	var pollStores, gens string
	flag.StringVar(&gens, "gen", "go", "HTTP load generators for the pg part, comma-separated: go (the in-process Go client), wrk (wrk with a random-cookie script; needs wrk on the PATH); with both, each run measures every contender with each, in turn")
	flag.IntVar(&c.touchLanes, "touch-lanes", 0, "sessionmon's touch batching lanes (postgres.WithTouchLanes; 0: its default, half the pool)")
	flag.IntVar(&c.wrkThreads, "wrk-threads", 1, "wrk -t (threads; the -conns connections are shared among them). 1: one thread drives 64 connections with ~30 % less CPU per request than 2 on this machine, the same for both contenders")
	flag.StringVar(&pollStores, "poll-stores", "pg,sqlite", "stores for the poll part: pg, sqlite")
	flag.Parse()
	for _, p := range strings.Split(peerPools, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n <= 0 {
			fatal(fmt.Errorf("-peer-pools: %q is not a positive pool size", p))
		}
		c.peerPools = append(c.peerPools, n)
	}
	for _, g := range strings.Split(gens, ",") {
		switch g = strings.TrimSpace(g); g {
		case "go", "wrk":
			c.gens = append(c.gens, g)
		default:
			fatal(fmt.Errorf("-gen: %q is neither go nor wrk", g))
		}
	}
	c.pollStores = map[string]bool{}
	for _, p := range strings.Split(pollStores, ",") {
		c.pollStores[strings.TrimSpace(p)] = true
	}
	c.parts = map[string]bool{}
	for _, p := range strings.Split(parts, ",") {
		c.parts[strings.TrimSpace(p)] = true
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fatal(fmt.Errorf("-sizes: %q is not a positive count", s))
		}
		c.sizes = append(c.sizes, n)
	}
	if c.pool <= 0 {
		c.pool = int(postgres.DefaultMaxConns())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := os.MkdirTemp("", "sessionmon-bench-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)

	machine(ctx, c)
	err = func() error {
		if c.parts["pg"] {
			if err := throughputPG(ctx, c, dir); err != nil {
				return err
			}
		}
		if c.parts["sqlite"] {
			if err := throughputSQLite(ctx, c, dir); err != nil {
				return err
			}
		}
		if c.parts["poll"] {
			return poll(ctx, c, dir)
		}
		return nil
	}()
	os.RemoveAll(dir) // fatal's os.Exit would skip the deferred removal
	if err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "compare:", err)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func machine(ctx context.Context, c config) {
	mem := ""
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "MemTotal:") {
				mem = strings.TrimSpace(strings.TrimPrefix(sc.Text(), "MemTotal:"))
			}
		}
		f.Close()
	}
	fmt.Printf("## Machine\n\n- CPUs: %d (GOMAXPROCS %d), memory %s\n- %s, %s/%s\n- %s\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), mem, runtime.Version(), runtime.GOOS, runtime.GOARCH,
		harness.PGVersion(ctx, c.dsn))
	fmt.Printf("- flags: %s\n\n", strings.Join(os.Args[1:], " "))
}

// row collects one contender's runs.
type row struct {
	name            string
	rates, p50, p99 []float64
	non2xx, errs    int64
	note            string

	// Write amplification per run (PostgreSQL contenders; issue 11).
	writes []harness.TableWrites
	walReq []float64       // WAL bytes per request (whole cluster's WAL: see harness/writes.go)
	reqs   []int64         // requests in the run, warm-up included
	oldest []time.Duration // the oldest snapshot open in the database during the run

	// CPU per request, µs, per run (harness/cpu.go): this process, the
	// contender's PostgreSQL backends, a separate generator process.
	cpuProc, cpuPG, cpuGen []float64
	pending                struct { // the run being measured
		wal    float64
		reqs   int64
		oldest time.Duration
	}
}

func (r *row) add(res harness.Result) {
	r.rates = append(r.rates, res.Rate)
	r.p50 = append(r.p50, harness.Ms(res.P50))
	r.p99 = append(r.p99, harness.Ms(res.P99))
	r.non2xx += res.Non2xx
	r.errs += res.Errors
	if res.Note != "" {
		r.note = res.Note
	}
}

func (r *row) rate() harness.Summary { return harness.Summarize(r.rates) }

func printRows(title string, rows []*row) {
	fmt.Printf("### %s\n\n", title)
	fmt.Println("| contender | req/s median | min | max | p50 ms (median) | p99 ms (median) | non-2xx | errors |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		s := r.rate()
		p99 := fmt.Sprintf("%.2f", harness.Summarize(r.p99).Med)
		if harness.Summarize(r.p99).Med == 0 {
			p99 = "—"
		}
		fmt.Printf("| %s | %.0f | %.0f | %.0f | %.2f | %s | %d | %d |\n", r.name, s.Med, s.Min, s.Max,
			harness.Summarize(r.p50).Med, p99, r.non2xx, r.errs)
	}
	for _, r := range rows {
		if r.note != "" {
			fmt.Printf("\n%s: %s\n", r.name, r.note)
		}
	}
	fmt.Println()
}

// ratio prints a/b per run (same run) and its median, min, max.
func printRatio(name string, a, b *row, target float64) {
	var rs []float64
	for i := range min(len(a.rates), len(b.rates)) {
		if b.rates[i] > 0 {
			rs = append(rs, a.rates[i]/b.rates[i])
		}
	}
	s := harness.Summarize(rs)
	verdict := "MET"
	if s.Med < target {
		verdict = "NOT MET"
	}
	fmt.Printf("| %s | %.2f | %.2f | %.2f | ≥ %.2f | %s |\n", name, s.Med, s.Min, s.Max, target, verdict)
}

func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		logf("cpuprofile: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		logf("cpuprofile: %v", err)
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// contender is one throughput measurement: set up, measure, tear down.
type contender struct {
	row     *row
	setup   func() error
	measure func(run int) (harness.Result, error)
	close   func()
}

// runContenders sets every contender up, measures them one after another in
// an order rotated on each run (so a burst of noise on the shared machine
// does not always hit the same one), and tears them down.
func runContenders(run int, cs []*contender) error {
	defer func() {
		for _, c := range cs {
			if c.close != nil {
				c.close()
			}
		}
	}()
	for _, c := range cs {
		if err := c.setup(); err != nil {
			return fmt.Errorf("%s: setup: %w", c.row.name, err)
		}
	}
	for i := range cs {
		c := cs[(i+run-1)%len(cs)]
		logf("run %d: %s", run, c.row.name)
		res, err := c.measure(run)
		if err != nil {
			return fmt.Errorf("%s: %w", c.row.name, err)
		}
		c.row.add(res)
		logf("  %.0f/s p50 %v p99 %v non2xx %d errors %d", res.Rate, res.P50.Round(time.Microsecond), res.P99.Round(time.Microsecond), res.Non2xx, res.Errors)
	}
	return nil
}

// pgSchema makes a fresh schema and registers its drop. With r, the
// write figures of r's table in it are read first: closers run in reverse,
// so by then the contender's own connections have closed and flushed their
// statistics.
func pgSchema(ctx context.Context, c config, prefix string, closers *[]func(), r *row) (*harness.Schema, error) {
	s, err := harness.NewSchema(ctx, c.dsn, prefix)
	if err != nil {
		return nil, err
	}
	*closers = append(*closers, func() {
		if r != nil && r.pending.reqs > 0 {
			if w, err := harness.ReadTableWrites(ctx, s, "sessions"); err != nil {
				logf("%s: %v", r.name, err)
			} else {
				r.writes = append(r.writes, w)
				r.walReq = append(r.walReq, r.pending.wal/float64(r.pending.reqs))
				r.reqs = append(r.reqs, r.pending.reqs)
				r.oldest = append(r.oldest, r.pending.oldest)
				logf("  %s: %d updates, %.1f %% HOT, %.0f WAL bytes/request, %.1f MB with %d indexes, oldest snapshot %s",
					r.name, w.Updates, 100*w.HOTRatio(), r.pending.wal/float64(r.pending.reqs), float64(w.Bytes)/1e6, w.Indexes,
					r.pending.oldest.Round(time.Second))
			}
			r.pending.reqs = 0
		}
		if err := s.Drop(); err != nil {
			logf("drop schema %s: %v", s.Name, err)
		}
	})
	return s, nil
}

// execPG runs sql (statements separated by semicolons) in the schema.
func execPG(ctx context.Context, s *harness.Schema, sql string) error {
	conn, err := s.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// withWAL runs one measurement and keeps the WAL it wrote and the requests
// it made in r.pending, for pgSchema's closer to turn into per-request
// figures once the table's counters are final.
func withWAL(ctx context.Context, r *row, s *harness.Schema, measure func() (harness.Result, error)) (harness.Result, error) {
	before, err := harness.WALLSN(ctx, s)
	if err != nil {
		return harness.Result{}, err
	}
	// Sample the oldest open snapshot in the database while it runs: it
	// explains a low HOT share (harness.OldestSnapshot).
	done := make(chan struct{})
	sampled := make(chan time.Duration, 1)
	go func() {
		var worst time.Duration
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			if d, err := harness.OldestSnapshot(ctx, s); err == nil {
				worst = max(worst, d)
			}
			select {
			case <-done:
				sampled <- worst
				return
			case <-t.C:
			}
		}
	}()
	cpu0 := harness.ProcessCPU()
	res, err := measure()
	cpu := harness.ProcessCPU() - cpu0
	close(done)
	r.pending.oldest = <-sampled
	if err != nil {
		return res, err
	}
	if pg, n, err := harness.BackendCPU(ctx, s); err != nil {
		logf("%s: backend CPU: %v", r.name, err)
	} else if n > 0 && res.All > 0 {
		per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(res.All) }
		r.cpuProc = append(r.cpuProc, per(cpu))
		r.cpuPG = append(r.cpuPG, per(pg))
		r.cpuGen = append(r.cpuGen, per(res.GenCPU))
		logf("  CPU µs/request: this process %.1f, %d PostgreSQL backends %.1f, generator process %.1f",
			per(cpu), n, per(pg), per(res.GenCPU))
	}
	after, err := harness.WALLSN(ctx, s)
	if err != nil {
		return res, err
	}
	r.pending.wal, r.pending.reqs = float64(after-before), res.All
	return res, nil
}

// loadFunc drives one HTTP measurement: cookie name=<random token> on
// every request to url.
type loadFunc func(ctx context.Context, url, cookie string, tokens []string) (harness.Result, error)

// generator returns the load function of gen ("go": the harness's own
// client in this process; "wrk": wrk, a separate C process). Both
// contenders of a run always get the same one with the same settings.
func generator(c config, gen, dir string) (loadFunc, string) {
	if gen == "wrk" {
		w := harness.Wrk{Threads: c.wrkThreads, Dir: dir}
		return func(ctx context.Context, url, cookie string, tokens []string) (harness.Result, error) {
			return w.Load(ctx, url, cookie, tokens, c.conns, c.warmup, c.duration)
		}, w.WrkCommand(c.conns, c.duration)
	}
	return func(ctx context.Context, url, cookie string, tokens []string) (harness.Result, error) {
		return harness.HTTPLoad(ctx, url, cookie, tokens, c.conns, c.warmup, c.duration), nil
	}, fmt.Sprintf("in-process Go client (bench/harness/loadgen.go), %d keep-alive connections", c.conns)
}

// pgGen is one generator's rows of the PostgreSQL part.
type pgGen struct {
	name      string
	load      loadFunc
	line      string
	sm        *row
	peers     []*row
	peer      *row // per run, the best of peers
	unbatched *row
}

func throughputPG(ctx context.Context, c config, dir string) error {
	var gens []*pgGen
	for _, g := range c.gens {
		load, line := generator(c, g, dir)
		pg := &pgGen{name: g, load: load, line: line,
			sm:        &row{name: "sessionmon serve (PostgreSQL)"},
			peer:      &row{name: "peer at its best pool (per run)"},
			unbatched: &row{name: "sessionmon serve, touch batching off (baseline)"},
		}
		for _, p := range c.peerPools {
			pg.peers = append(pg.peers, &row{name: fmt.Sprintf("peer: scs v2.9.0 + pgxstore, pool %d", p)})
		}
		gens = append(gens, pg)
	}
	// The limit and the direct Touch use no HTTP generator: measured once
	// per run (in the first generator's turn), shown in every generator's table.
	limit := &row{name: fmt.Sprintf("limit: pgbench -c %d -j %d, Touch's UPDATE … RETURNING", c.pgbenchClients, c.pgbenchJ)}
	direct := &row{name: fmt.Sprintf("sessionmon store.Touch direct, %d goroutines", c.conns)}
	pool := strconv.Itoa(c.pool)
	var pgbenchLine string
	for run := 1; run <= c.runs; run++ {
		// The generators take turns within each run, so a change in the
		// machine's load between runs reaches both alike.
		for gi, g := range gens {
			if err := pgRun(ctx, c, dir, run, g, gi == 0, limit, direct, pool, &pgbenchLine); err != nil {
				return fmt.Errorf("pg run %d (%s generator): %w", run, g.name, err)
			}
		}
	}
	for _, g := range gens {
		g.pickBestPeer(c)
		reportPG(c, g, limit, direct, pgbenchLine)
	}
	if len(gens) > 1 {
		fmt.Println("The generators side by side (same sitting, runs interleaved):")
		fmt.Println()
		fmt.Println("| generator | sessionmon req/s median | p50 / p99 ms | peer at its best req/s median | p50 / p99 ms | sessionmon / peer at its best, median [min–max] |")
		fmt.Println("|---|---:|---:|---:|---:|---:|")
		for _, g := range gens {
			var rs []float64
			for i := range min(len(g.sm.rates), len(g.peer.rates)) {
				if g.peer.rates[i] > 0 {
					rs = append(rs, g.sm.rates[i]/g.peer.rates[i])
				}
			}
			r := harness.Summarize(rs)
			fmt.Printf("| %s | %.0f | %.2f / %.2f | %.0f | %.2f / %.2f | **%.2f×** [%.2f–%.2f] |\n", g.name,
				g.sm.rate().Med, harness.Summarize(g.sm.p50).Med, harness.Summarize(g.sm.p99).Med,
				g.peer.rate().Med, harness.Summarize(g.peer.p50).Med, harness.Summarize(g.peer.p99).Med,
				r.Med, r.Min, r.Max)
		}
		fmt.Println()
	}
	return nil
}

// pgRun is one run of the PostgreSQL part with one generator: sessionmon,
// the peer at each pool size, the unbatched baseline and (when first) the
// limit and the direct Touch, each on a fresh schema.
func pgRun(ctx context.Context, c config, dir string, run int, g *pgGen, first bool, limit, direct *row, pool string, pgbenchLine *string) error {
	var closers []func()
	// sessionmonC is sessionmon serve on a fresh schema; opts choose the
	// store's settings (batching on by default, off for the baseline).
	sessionmonC := func(r *row, prefix, profile string, opts ...postgres.Option) *contender {
		var st *postgres.Store
		var tokens []string
		var srv *harness.Running
		var sch *harness.Schema
		return &contender{row: r, setup: func() error {
			s, err := pgSchema(ctx, c, prefix, &closers, r)
			if err != nil {
				return err
			}
			sch = s
			if st, err = postgres.OpenAndMigrate(ctx, s.WithParam("pool_max_conns", pool), opts...); err != nil {
				return err
			}
			closers = append(closers, func() { st.Close() })
			if c.pgSQL != "" {
				if err := execPG(ctx, s, c.pgSQL); err != nil {
					return fmt.Errorf("-pg-sql: %w", err)
				}
			}
			tokens = harness.NewTokens(c.sessions)
			if err := harness.SeedTokensPG(ctx, s, tokens); err != nil {
				return err
			}
			if srv, _, err = harness.StartSessionmon(st); err != nil {
				return err
			}
			closers = append(closers, func() { _ = srv.Stop() })
			return nil
		}, measure: func(run int) (harness.Result, error) {
			prof := func() {}
			if run == 1 && c.profile != "" && profile != "" {
				prof = startProfile(c.profile + profile)
			}
			defer prof()
			return withWAL(ctx, r, sch, func() (harness.Result, error) {
				return g.load(ctx, srv.URL+"/api/me", srv.Cookie, tokens)
			})
		}}
	}
	var smOpts []postgres.Option
	if c.touchLanes > 0 {
		smOpts = append(smOpts, postgres.WithTouchLanes(c.touchLanes))
	}
	smC := sessionmonC(g.sm, "sm", "-pg-"+g.name+".pprof", smOpts...)
	unbatchedC := sessionmonC(g.unbatched, "unbatched", "", postgres.WithTouchBatch(1))
	// The direct Touch gets its own fresh schema and store: measured on
	// sessionmon's table it would meet the dead tuples and index entries
	// the HTTP run left, and vice versa.
	var dst *postgres.Store
	var dids []string
	var dsch *harness.Schema
	directC := &contender{row: direct, setup: func() error {
		s, err := pgSchema(ctx, c, "direct", &closers, direct)
		if err != nil {
			return err
		}
		dsch = s
		if dst, err = postgres.OpenAndMigrate(ctx, s.WithParam("pool_max_conns", pool)); err != nil {
			return err
		}
		closers = append(closers, func() { dst.Close() })
		dtokens := harness.NewTokens(c.sessions)
		if err := harness.SeedTokensPG(ctx, s, dtokens); err != nil {
			return err
		}
		dids = make([]string, len(dtokens))
		for i, t := range dtokens {
			dids[i] = sessionlogic.HashToken(t)
		}
		return nil
	}, measure: func(int) (harness.Result, error) {
		return withWAL(ctx, direct, dsch, func() (harness.Result, error) {
			return harness.OpLoad(ctx, len(dids), c.conns, c.warmup, c.duration, touchOp(dst, dids)), nil
		})
	}}
	// The peer at each of its pool sizes: its best is the yardstick.
	peerC := func(r *row, pool int) *contender {
		var peerSrv *harness.Running
		var peerTokens []string
		var sch *harness.Schema
		return &contender{row: r, setup: func() error {
			s, err := pgSchema(ctx, c, "peer", &closers, r)
			if err != nil {
				return err
			}
			sch = s
			if peerTokens, err = harness.SeedPeer(ctx, s, c.sessions); err != nil {
				return err
			}
			srv, closePool, err := harness.StartPeer(ctx, s, int32(pool))
			if err != nil {
				return err
			}
			peerSrv = srv
			closers = append(closers, closePool, func() { _ = srv.Stop() })
			return nil
		}, measure: func(int) (harness.Result, error) {
			return withWAL(ctx, r, sch, func() (harness.Result, error) {
				return g.load(ctx, peerSrv.URL+"/api/me", peerSrv.Cookie, peerTokens)
			})
		}}
	}
	var limitSchema *harness.Schema
	limitC := &contender{row: limit, setup: func() error {
		s, err := pgSchema(ctx, c, "limit", &closers, limit)
		if err != nil {
			return err
		}
		limitSchema = s
		lst, err := postgres.OpenAndMigrate(ctx, s.DSN)
		if err != nil {
			return err
		}
		lst.Close()
		return harness.BulkLoadPG(ctx, s, 1, c.sessions)
	}, measure: func(int) (harness.Result, error) {
		return withWAL(ctx, limit, limitSchema, func() (harness.Result, error) {
			res, line, err := harness.PGBench(ctx, limitSchema, c.sessions, c.pgbenchClients, c.pgbenchJ, c.duration, dir)
			*pgbenchLine = line
			return res, err
		})
	}}
	cs := []*contender{smC}
	for i, p := range c.peerPools {
		cs = append(cs, peerC(g.peers[i], p))
	}
	if first {
		cs = append(cs, limitC)
		if c.direct {
			cs = append(cs, directC)
		}
	}
	if c.unbatched {
		cs = append(cs, unbatchedC)
	}
	logf("generator %s", g.name)
	err := runContenders(run, cs)
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	return err
}

// pickBestPeer fills g.peer with, per run, the peer's best pool size.
func (g *pgGen) pickBestPeer(c config) {
	for run := range c.runs {
		best := g.peers[0]
		for _, p := range g.peers[1:] {
			if p.rates[run] > best.rates[run] {
				best = p
			}
		}
		g.peer.rates = append(g.peer.rates, best.rates[run])
		g.peer.p50 = append(g.peer.p50, best.p50[run])
		g.peer.p99 = append(g.peer.p99, best.p99[run])
		if len(best.writes) > run {
			g.peer.writes = append(g.peer.writes, best.writes[run])
			g.peer.walReq = append(g.peer.walReq, best.walReq[run])
			g.peer.reqs = append(g.peer.reqs, best.reqs[run])
		}
		g.peer.note = strings.TrimSpace(g.peer.note + fmt.Sprintf(" run %d: %s;", run+1, best.name))
	}
}

func reportPG(c config, g *pgGen, limit, direct *row, pgbenchLine string) {
	rows := append(append([]*row{g.sm}, g.peers...), g.peer, limit)
	if c.direct {
		rows = append(rows, direct)
	}
	if c.unbatched {
		rows = append(rows, g.unbatched)
	}
	printRows(fmt.Sprintf("PostgreSQL: GET /api/me, generator %s, %d connections, %d sessions, %s × %d runs, pool %d",
		g.name, c.conns, c.sessions, c.duration, c.runs, c.pool), rows)
	fmt.Printf("generator: %s\n\n", g.line)
	fmt.Printf("pgbench command: `%s` (PGOPTIONS=-c search_path=<fresh schema>)\n\n", pgbenchLine)
	fmt.Println("| ratio (same run) | median | min | max | target | verdict |")
	fmt.Println("|---|---:|---:|---:|---:|---|")
	printRatio("sessionmon / peer at its best pool", g.sm, g.peer, 3.0)
	printRatio("sessionmon / pgbench limit", g.sm, limit, 0.70)
	if c.direct {
		printRatio("sessionmon / its own store.Touch direct", g.sm, direct, 0)
	}
	if c.unbatched {
		printRatio("sessionmon / itself with touch batching off", g.sm, g.unbatched, 0)
		printRatio("batching off: sessionmon / peer at its best pool", g.unbatched, g.peer, 0)
	}
	fmt.Println()
	printWrites(rows)
	printCPU(g, rows)
	printRunsSideBySide(c, g.sm, g.peer, limit)
}

// printCPU is each HTTP contender's CPU per request, and what it predicts:
// on 2 cores that every process shares, a CPU-bound rate is about 2 cores
// over the total, so peer total / sessionmon total estimates the ratio a
// quiet machine would give (it leaves out waits: fsync, locks, idle).
func printCPU(g *pgGen, rows []*row) {
	fmt.Println("CPU per request, µs (median of runs; warm-up included; this process = the server under test, plus the generator when it is the in-process Go client):")
	fmt.Println()
	fmt.Println("| contender | this process | its PostgreSQL backends | generator process | total |")
	fmt.Println("|---|---:|---:|---:|---:|")
	for _, r := range rows {
		if len(r.cpuProc) == 0 {
			continue
		}
		var tot []float64
		for i := range r.cpuProc {
			tot = append(tot, r.cpuProc[i]+r.cpuPG[i]+r.cpuGen[i])
		}
		fmt.Printf("| %s | %.1f | %.1f | %.1f | %.1f |\n", r.name, harness.Summarize(r.cpuProc).Med,
			harness.Summarize(r.cpuPG).Med, harness.Summarize(r.cpuGen).Med, harness.Summarize(tot).Med)
	}
	// Per run: the peer's best pool that run, by rate, as everywhere else.
	var est []float64
	for i := range g.sm.cpuProc {
		best := -1
		for j, p := range g.peers {
			if i < len(p.rates) && i < len(p.cpuProc) && (best < 0 || p.rates[i] > g.peers[best].rates[i]) {
				best = j
			}
		}
		if best < 0 {
			continue
		}
		p := g.peers[best]
		sm := g.sm.cpuProc[i] + g.sm.cpuPG[i] + g.sm.cpuGen[i]
		est = append(est, (p.cpuProc[i]+p.cpuPG[i]+p.cpuGen[i])/sm)
	}
	if len(est) > 0 {
		e := harness.Summarize(est)
		fmt.Printf("\nCPU-bound estimate of sessionmon / peer at its best pool (peer's CPU per request over sessionmon's, per run): %.2f [%.2f–%.2f]\n", e.Med, e.Min, e.Max)
	}
	fmt.Println()
}

// printWrites is the write amplification of each PostgreSQL contender.
func printWrites(rows []*row) {
	fmt.Println("Write amplification (per run: HOT share of the table's updates, cluster WAL bytes per request, table + indexes after the run):")
	fmt.Println()
	fmt.Println("| contender | HOT updates % median [min–max] | WAL bytes / request median [min–max] | table + indexes MB median [min–max] | requests per run (median) | indexes |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		if len(r.writes) == 0 {
			continue
		}
		var hot, mb, reqs []float64
		for i, w := range r.writes {
			hot = append(hot, 100*w.HOTRatio())
			mb = append(mb, float64(w.Bytes)/1e6)
			reqs = append(reqs, float64(r.reqs[i]))
		}
		h, wl, m := harness.Summarize(hot), harness.Summarize(r.walReq), harness.Summarize(mb)
		fmt.Printf("| %s | %.1f [%.1f–%.1f] | %.0f [%.0f–%.0f] | %.1f [%.1f–%.1f] | %.0f | %d |\n", r.name,
			h.Med, h.Min, h.Max, wl.Med, wl.Min, wl.Max, m.Med, m.Min, m.Max, harness.Summarize(reqs).Med, r.writes[0].Indexes)
	}
	fmt.Println()
}

// printRunsSideBySide prints the figures of each run next to each other:
// the targets are per run, against the peer's best pool that run.
func printRunsSideBySide(c config, sm, peer, limit *row) {
	fmt.Println("Each run side by side (sessionmon against the peer at its best pool in the same run):")
	fmt.Println()
	fmt.Println("| run | sessionmon req/s | peer best req/s | ratio (≥ 3) | / pgbench | sessionmon HOT % (≥ 90) | peer HOT % | WAL B/req sessionmon | peer | WAL ratio (≤ 1) | MB sessionmon | peer | size ratio (≤ 2) | oldest other snapshot during sessionmon's run |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for i := range c.runs {
		if i >= len(sm.writes) || i >= len(peer.writes) || i >= len(sm.rates) || i >= len(peer.rates) || i >= len(limit.rates) {
			continue
		}
		a, b := sm.writes[i], peer.writes[i]
		oldest := "—"
		if i < len(sm.oldest) {
			oldest = sm.oldest[i].Round(time.Second).String()
		}
		fmt.Printf("| %d | %.0f | %.0f | %.2f | %.2f | %.1f | %.1f | %.0f | %.0f | %.2f | %.1f | %.1f | %.2f | %s |\n", i+1,
			sm.rates[i], peer.rates[i], sm.rates[i]/peer.rates[i], sm.rates[i]/limit.rates[i],
			100*a.HOTRatio(), 100*b.HOTRatio(), sm.walReq[i], peer.walReq[i], sm.walReq[i]/peer.walReq[i],
			float64(a.Bytes)/1e6, float64(b.Bytes)/1e6, float64(a.Bytes)/float64(b.Bytes), oldest)
	}
	fmt.Println()
}

func touchOp(st data.Store, ids []string) func(ctx context.Context, i int) error {
	return func(ctx context.Context, i int) error {
		now := time.Now().UTC().Truncate(time.Microsecond)
		_, err := st.Touch(ctx, ids[i], now, now.Add(14*24*time.Hour))
		return err
	}
}

// withWrites runs one SQLite measurement and records the bytes this
// process wrote to storage per request (the store runs in process: WAL
// frames appended plus checkpoint writes into the database file).
func withWrites(r *row, measure func() harness.Result) harness.Result {
	before, err := harness.ProcWriteBytes()
	res := measure()
	after, err2 := harness.ProcWriteBytes()
	if err == nil && err2 == nil && res.All > 0 {
		r.walReq = append(r.walReq, float64(after-before)/float64(res.All))
	}
	return res
}

func throughputSQLite(ctx context.Context, c config, dir string) error {
	sm := &row{name: "sessionmon serve (SQLite)"}
	raw := &row{name: fmt.Sprintf("raw: store.Touch direct on the same file, %d goroutines", c.conns)}
	for run := 1; run <= c.runs; run++ {
		path := harness.SQLiteFile(dir, fmt.Sprintf("tp%d", run))
		var st *sqlite.Store
		var srv *harness.Running
		var tokens, ids []string
		smC := &contender{row: sm, setup: func() error {
			var err error
			if st, err = sqlite.Open(ctx, path); err != nil {
				return err
			}
			if c.sqliteSQL != "" {
				if err := harness.ExecSQLite(ctx, path, c.sqliteSQL); err != nil {
					return err
				}
			}
			tokens = harness.NewTokens(c.sessions)
			if err := harness.SeedTokensSQLite(ctx, path, tokens); err != nil {
				return err
			}
			ids = make([]string, len(tokens))
			for i, t := range tokens {
				ids[i] = sessionlogic.HashToken(t)
			}
			srv, _, err = harness.StartSessionmon(st)
			return err
		}, measure: func(run int) (harness.Result, error) {
			prof := func() {}
			if run == 1 && c.profile != "" {
				prof = startProfile(c.profile + "-sqlite.pprof")
			}
			defer prof()
			return withWrites(sm, func() harness.Result {
				return harness.HTTPLoad(ctx, srv.URL+"/api/me", srv.Cookie, tokens, c.conns, c.warmup, c.duration)
			}), nil
		}, close: func() {
			if srv != nil {
				_ = srv.Stop()
			}
			if st != nil {
				st.Close()
			}
		}}
		rawC := &contender{row: raw, setup: func() error { return nil }, measure: func(int) (harness.Result, error) {
			return withWrites(raw, func() harness.Result {
				return harness.OpLoad(ctx, len(ids), c.conns, c.warmup, c.duration, touchOp(st, ids))
			}), nil
		}}
		err := runContenders(run, []*contender{smC, rawC})
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(path + suffix)
		}
		if err != nil {
			return fmt.Errorf("sqlite run %d: %w", run, err)
		}
	}
	printRows(fmt.Sprintf("SQLite: GET /api/me, %d connections, %d sessions, %s × %d runs", c.conns, c.sessions, c.duration, c.runs),
		[]*row{sm, raw})
	fmt.Println("| ratio (same run) | median | min | max | target | verdict |")
	fmt.Println("|---|---:|---:|---:|---:|---|")
	printRatio("sessionmon / raw validate-and-touch", sm, raw, 0.60)
	fmt.Println()
	fmt.Println("| contender | bytes written to storage / request, median [min–max] (/proc/self/io write_bytes: WAL frames + checkpoints) |")
	fmt.Println("|---|---:|")
	for _, r := range []*row{sm, raw} {
		if len(r.walReq) > 0 {
			w := harness.Summarize(r.walReq)
			fmt.Printf("| %s | %.0f [%.0f–%.0f] |\n", r.name, w.Med, w.Min, w.Max)
		}
	}
	fmt.Println()
	return nil
}

func poll(ctx context.Context, c config, dir string) error {
	fmt.Printf("### Dashboard poll cycle (window %d rows by expiry + changes since last; %d cycles, the first %d also with stats; %d sessions touched between cycles; naive: every active row, %d cycles)\n\n",
		harness.Window, c.cycles, min(c.statsCycles, c.cycles), c.churn, c.naiveCycles)
	fmt.Println("| store | active | window ms | changes ms | cycle w/o stats ms (med / min / max) | stats ms | full cycle with stats ms (med / min / max) | naive ms (med / min / max) | naive / cycle w/o stats |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	// PostgreSQL
	if err := func() error {
		if !c.pollStores["pg"] {
			return nil
		}
		s, err := harness.NewSchema(ctx, c.dsn, "poll")
		if err != nil {
			return err
		}
		defer s.Drop()
		st, err := postgres.OpenAndMigrate(ctx, s.DSN)
		if err != nil {
			return err
		}
		defer st.Close()
		return pollSizes(ctx, c, "PostgreSQL", st, func(from, to int) error { return harness.BulkLoadPG(ctx, s, from, to) })
	}(); err != nil {
		return fmt.Errorf("poll postgres: %w", err)
	}
	// SQLite
	if err := func() error {
		if !c.pollStores["sqlite"] {
			return nil
		}
		path := harness.SQLiteFile(dir, "poll")
		defer func() {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(path + suffix)
			}
		}()
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			return err
		}
		st.Close()
		if c.sqliteSQL != "" {
			if err := harness.ExecSQLite(ctx, path, c.sqliteSQL); err != nil {
				return err
			}
		}
		var cur *sqlite.Store
		defer func() {
			if cur != nil {
				cur.Close()
			}
		}()
		// The loader writes through its own connection; reopen the store
		// after each load so it starts with fresh connections, as a
		// dashboard started against an existing file would.
		load := func(from, to int) error {
			if cur != nil {
				cur.Close()
				cur = nil
			}
			if err := harness.BulkLoadSQLite(ctx, path, from, to); err != nil {
				return err
			}
			cur, err = sqlite.Open(ctx, path)
			return err
		}
		return pollSizesDyn(ctx, c, "SQLite", func() data.Store { return cur }, load)
	}(); err != nil {
		return fmt.Errorf("poll sqlite: %w", err)
	}
	fmt.Println()
	return nil
}

func pollSizes(ctx context.Context, c config, name string, st data.Store, load func(from, to int) error) error {
	return pollSizesDyn(ctx, c, name, func() data.Store { return st }, load)
}

func pollSizesDyn(ctx context.Context, c config, name string, st func() data.Store, load func(from, to int) error) error {
	have := 0
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range c.sizes {
		if n > have {
			t := time.Now()
			logf("poll %s: loading rows %d..%d", name, have+1, n)
			if err := load(have+1, n); err != nil {
				return err
			}
			logf("  loaded in %v", time.Since(t).Round(time.Millisecond))
			have = n
		}
		m, err := harness.NewManager(st())
		if err != nil {
			return err
		}
		p, err := harness.NewPoller(ctx, m)
		if err != nil {
			return err
		}
		var win, chg, sts, nostats, full, naive []float64
		for i := -2; i < c.cycles; i++ { // two unmeasured warm-up cycles
			if err := harness.Churn(ctx, st(), rng, n, c.churn); err != nil {
				return err
			}
			withStats := i >= 0 && i < c.statsCycles
			ct, err := p.CycleStats(ctx, withStats)
			if err != nil {
				return err
			}
			if i < 0 {
				continue
			}
			win = append(win, harness.Ms(ct.Window))
			chg = append(chg, harness.Ms(ct.Changes))
			nostats = append(nostats, harness.Ms(ct.NoStats()))
			if withStats {
				sts = append(sts, harness.Ms(ct.Stats))
				full = append(full, harness.Ms(ct.Total()))
			}
		}
		for range c.naiveCycles {
			d, rows, err := harness.Naive(ctx, m)
			if err != nil {
				return err
			}
			if rows < n {
				return fmt.Errorf("naive saw %d rows, want %d", rows, n)
			}
			naive = append(naive, harness.Ms(d))
		}
		ns, f, nv := harness.Summarize(nostats), harness.Summarize(full), harness.Summarize(naive)
		fmt.Printf("| %s | %d | %.2f | %.2f | %.2f / %.2f / %.2f | %.1f | %.1f / %.1f / %.1f | %.0f / %.0f / %.0f | %.0f× |\n",
			name, n, harness.Summarize(win).Med, harness.Summarize(chg).Med, ns.Med, ns.Min, ns.Max,
			harness.Summarize(sts).Med, f.Med, f.Min, f.Max, nv.Med, nv.Min, nv.Max, nv.Med/ns.Med)
		logf("poll %s %d: full %.2f ms, stats %.2f ms, naive %.0f ms", name, n, f.Med, harness.Summarize(sts).Med, nv.Med)
	}
	return nil
}
