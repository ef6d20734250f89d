package harness

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Write amplification (issue 11): what one request costs PostgreSQL in
// WAL, heap and index writes, per contender.
//
// WAL is read from pg_current_wal_lsn() before and after a run. That is the
// whole cluster's WAL: on a machine shared with other work it includes
// theirs, so compare contenders measured in the same run, at a quiet
// moment, and repeat. The update counts come from pg_stat_user_tables for
// the contender's own table in its own fresh schema, read after its store's
// connections have closed (a backend flushes its statistics at exit; a busy
// one only every second or so), so they cover the whole run exactly.

// OldestSnapshot returns how long the oldest transaction in the database
// that holds a snapshot (backend_xmin) has been open, other than the
// caller's. While it is open, no row version that died after it began can
// be pruned, so HOT updates run out of room on their page and fall back to
// ordinary updates: on a shared server, another workload's long
// transaction (a bulk load, a long report) lowers every table's HOT share.
func OldestSnapshot(ctx context.Context, s *Schema) (time.Duration, error) {
	c, err := s.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close(context.Background())
	var us int64
	err = c.QueryRow(ctx, `SELECT coalesce(max(extract(epoch FROM now() - xact_start) * 1e6), 0)::bigint
		FROM pg_stat_activity
		WHERE datname = current_database() AND backend_xmin IS NOT NULL AND pid <> pg_backend_pid()`).Scan(&us)
	return time.Duration(us) * time.Microsecond, err
}

// WALLSN returns the cluster's current WAL insert position, in bytes.
func WALLSN(ctx context.Context, s *Schema) (int64, error) {
	c, err := s.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close(context.Background())
	var n int64
	err = c.QueryRow(ctx, `SELECT pg_current_wal_lsn() - '0/0'::pg_lsn`).Scan(&n)
	return n, err
}

// TableWrites is what pg_stat_user_tables and the catalog say about one
// table.
type TableWrites struct {
	Updates, HOT int64 // n_tup_upd, n_tup_hot_upd
	Bytes        int64 // pg_total_relation_size: heap, indexes, TOAST
	Indexes      int   // indexes on the table
}

// HOTRatio is the share of updates that were heap-only.
func (w TableWrites) HOTRatio() float64 {
	if w.Updates == 0 {
		return 0
	}
	return float64(w.HOT) / float64(w.Updates)
}

// ReadTableWrites reads table's counters in the schema. Close every other
// connection to the schema first (see above).
func ReadTableWrites(ctx context.Context, s *Schema, table string) (TableWrites, error) {
	c, err := s.Conn(ctx)
	if err != nil {
		return TableWrites{}, err
	}
	defer c.Close(context.Background())
	var w TableWrites
	err = c.QueryRow(ctx, `SELECT coalesce(n_tup_upd, 0), coalesce(n_tup_hot_upd, 0),
			pg_total_relation_size(format('%I.%I', $1::text, $2::text)),
			(SELECT count(*) FROM pg_index WHERE indrelid = format('%I.%I', $1::text, $2::text)::regclass)
		FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2`, s.Name, table).
		Scan(&w.Updates, &w.HOT, &w.Bytes, &w.Indexes)
	if err != nil {
		return TableWrites{}, fmt.Errorf("table writes %s.%s: %w", s.Name, table, err)
	}
	return w, nil
}

// ProcWriteBytes is this process's write_bytes from /proc/self/io: bytes it
// caused to be written to storage (SQLite's WAL appends and checkpoints,
// in process). Sockets do not count. 0 and an error where /proc is absent.
func ProcWriteBytes() (int64, error) {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/self/io: no write_bytes")
}
