package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Touch must be a heap-only (HOT) update while the minute buckets of last
// activity and expiry stay the same: no indexed column may change, or every
// request writes an entry into every index of the table (issue 11). The
// statements run on one connection, each in its own transaction as Touch
// runs them, and the backend's statistics are flushed before each read, so
// pg_stat_user_tables counts exactly their updates. Few rows and touches:
// every new row version fits on the table's one page even if another
// session's open transaction holds back page pruning.
func TestTouchIsHeapOnlyWithinAMinute(t *testing.T) {
	st, _ := openCounting(t)
	u := mkUser(t, st, "alice")
	const n = 4
	ids := make([]string, n)
	for i := range ids {
		ids[i] = mkSession(t, st, u, fmt.Sprint("h", i)).ID // last activity t0, expires t0+1h
	}
	conn, err := st.pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()

	// counts runs fn and returns how many updates of sessions it made, and
	// how many of them were HOT.
	counts := func(t *testing.T, fn func(ctx context.Context, c *pgxpool.Conn) error) (upd, hot int64) {
		t.Helper()
		read := func() (u, h int64) {
			ctx := t.Context()
			if _, err := conn.Exec(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
				t.Fatal(err)
			}
			if err := conn.QueryRow(ctx, `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
				WHERE relid = 'sessions'::regclass`).Scan(&u, &h); err != nil {
				t.Fatal(err)
			}
			return u, h
		}
		u0, h0 := read()
		if err := fn(t.Context(), conn); err != nil {
			t.Fatal(err)
		}
		u1, h1 := read()
		return u1 - u0, h1 - h0
	}
	// t0 is 05:06:07.89: touches up to 50 s later stay in the minute of
	// the session's last activity and of its expiry (slid by as much).
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

	t.Run("one", func(t *testing.T) {
		upd, hot := counts(t, func(ctx context.Context, c *pgxpool.Conn) error {
			for r := 1; r <= 2; r++ {
				for _, id := range ids {
					if _, err := c.Exec(ctx, touchSQL, id, at(r), at(r).Add(time.Hour)); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if upd != 2*n || hot != upd {
			t.Fatalf("touches within one minute: %d updates, %d HOT; want all %d HOT", upd, hot, 2*n)
		}
	})
	t.Run("batch", func(t *testing.T) {
		nows, exps := make([]time.Time, n), make([]time.Time, n)
		for i := range ids {
			nows[i], exps[i] = at(30), at(30).Add(time.Hour)
		}
		upd, hot := counts(t, func(ctx context.Context, c *pgxpool.Conn) error {
			_, err := c.Exec(ctx, touchBatchSQL, ids, nows, exps)
			return err
		})
		if upd != n || hot != upd {
			t.Fatalf("a batched touch within one minute: %d updates, %d HOT; want all %d HOT", upd, hot, n)
		}
	})
	t.Run("next minute", func(t *testing.T) {
		// The buckets change: an index entry is due, so the update is not
		// HOT. This keeps the test honest about what it measures.
		upd, hot := counts(t, func(ctx context.Context, c *pgxpool.Conn) error {
			_, err := c.Exec(ctx, touchSQL, ids[0], at(60), at(60).Add(time.Hour))
			return err
		})
		if upd != 1 || hot != 0 {
			t.Fatalf("a touch into a new minute: %d updates, %d HOT; want 1 and 0", upd, hot)
		}
	})
}
