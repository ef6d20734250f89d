// Command steady runs sessionmon serve on PostgreSQL under a constant
// GET /api/me load for a long time and prints each window's rate, latency
// and the sessions table's size and dead tuples: does throughput hold once
// every touch (a non-HOT update across the table's indexes) has left dead
// tuples behind, and does autovacuum keep up?
//
//	cd bench && go run ./cmd/steady -windows 9 -window 20s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"time"

	"sessionmon/bench/harness"
	"sessionmon/data/postgres"
)

func main() {
	dsn := flag.String("dsn", harness.DefaultDSN, "PostgreSQL server (loopback only)")
	windows := flag.Int("windows", 9, "measured windows")
	window := flag.Duration("window", 20*time.Second, "length of each window")
	conns := flag.Int("conns", 64, "load generator connections")
	sessions := flag.Int("sessions", 10000, "logged-in sessions")
	batch := flag.Int("touch-batch", postgres.DefaultTouchBatch, "postgres.WithTouchBatch (1: off)")
	vacuum := flag.Duration("vacuum", 0, "run VACUUM on the sessions table this often during the load (0: never; stands in for autovacuum where it is off)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *dsn, *windows, *window, *conns, *sessions, *batch, *vacuum); err != nil {
		fmt.Fprintln(os.Stderr, "steady:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dsn string, windows int, window time.Duration, conns, sessions, batch int, vacuum time.Duration) error {
	s, err := harness.NewSchema(ctx, dsn, "steady")
	if err != nil {
		return err
	}
	defer s.Drop()
	st, err := postgres.OpenAndMigrate(ctx, s.WithParam("pool_max_conns", strconv.Itoa(int(postgres.DefaultMaxConns()))), postgres.WithTouchBatch(batch))
	if err != nil {
		return err
	}
	defer st.Close()
	tokens := harness.NewTokens(sessions)
	if err := harness.SeedTokensPG(ctx, s, tokens); err != nil {
		return err
	}
	srv, _, err := harness.StartSessionmon(st)
	if err != nil {
		return err
	}
	defer srv.Stop()
	conn, err := s.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())

	var vacuums atomic.Int64
	if vacuum > 0 {
		vc, err := s.Conn(ctx)
		if err != nil {
			return err
		}
		defer vc.Close(context.Background())
		vctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			t := time.NewTicker(vacuum)
			defer t.Stop()
			for {
				select {
				case <-vctx.Done():
					return
				case <-t.C:
					if _, err := vc.Exec(vctx, "VACUUM sessions"); err == nil {
						vacuums.Add(1)
					}
				}
			}
		}()
	}

	// HOT % is the window's share of heap-only updates (issue 11), from
	// counters the server's backends flush about once a second: a window's
	// figure may include a second of its neighbour's.
	fmt.Printf("| window | req/s | p50 ms | p99 ms | non-2xx | errors | table+indexes MB | dead tuples | autovacuums | VACUUMs run | HOT %% |\n")
	fmt.Printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var lastUpd, lastHot int64
	for i := 1; i <= windows; i++ {
		res := harness.HTTPLoad(ctx, srv.URL+"/api/me", srv.Cookie, tokens, conns, 0, window)
		var size, dead, autovacuums, upd, hot int64
		if err := conn.QueryRow(ctx, `SELECT pg_total_relation_size('sessions'), n_dead_tup, autovacuum_count,
				n_tup_upd, n_tup_hot_upd
			FROM pg_stat_user_tables WHERE relid = 'sessions'::regclass`).Scan(&size, &dead, &autovacuums, &upd, &hot); err != nil {
			return err
		}
		hotPct := 0.0
		if upd > lastUpd {
			hotPct = 100 * float64(hot-lastHot) / float64(upd-lastUpd)
		}
		lastUpd, lastHot = upd, hot
		fmt.Printf("| %d | %.0f | %.2f | %.2f | %d | %d | %.1f | %d | %d | %d | %.1f |\n", i, res.Rate,
			harness.Ms(res.P50), harness.Ms(res.P99), res.Non2xx, res.Errors, float64(size)/(1<<20), dead, autovacuums, vacuums.Load(), hotPct)
		if ctx.Err() != nil {
			break
		}
	}
	return nil
}
