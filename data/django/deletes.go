package django

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Rows the site deletes itself (its users' logouts, clearsessions) leave
// no trace that a query on expire_date can find, and a full sync, which
// finds them, reads every active key: 30 s at a million rows on a busy
// machine. Issue 10 wants Stats at most 10 s behind them. So every
// deleteCheckEvery (or four times the check's own duration, whichever is
// longer: at most a fifth of one database connection's time), a check
// compares counts instead:
//   - one count(*) of the active rows (an index-only scan of expire_date)
//     against the index's own count at the same instant; equal (the usual
//     case) ends it;
//   - else the same counts per minute of expire_date, in one GROUP BY;
//   - and only the minutes that differ are read again, keys and
//     expire_date, as a full sync reads the whole table.
//
// On SQLite the counts are one statement over every active row: on a site
// with a rollback journal (Django's default) that holds the shared lock
// for as long (a second at a million rows), and the site cannot commit
// meanwhile. So there the checks run only in WAL mode, where readers do
// not block the writer; a rollback-journal site finds deletions at the
// full syncs, whose statements are short (scanActive).
//
// A delete that a save in the same minute hides from the counts (one row
// gone, another new that the refresh had not read yet) waits for the next
// check or full sync. Checks run beside full syncs (which at a million
// rows take tens of seconds), not after them.

const deleteCheckEvery = 2 * time.Second

// A bucket is a minute of expire_date: at a million rows over Django's two
// weeks, about fifty rows, so that a hundred logouts scattered over the
// fortnight cost a few thousand rows read again, not the table.
const (
	bucketSeconds = 60
	bucketMicros  = bucketSeconds * int64(time.Second/time.Microsecond)
)

// bucketSel is expire_date's bucket (Unix minutes, UTC) in SQL.
func (s *Source) bucketSel() string {
	if _, pg := s.dialect.(postgresDialect); pg {
		return "floor(extract(epoch FROM expire_date) / 60)::bigint"
	}
	// SQLite stores the text of a naive UTC datetime; strftime reads it as
	// UTC.
	return "CAST(strftime('%s', expire_date) AS INTEGER) / 60"
}

// mayCount reports whether the checks may run (see above); the journal
// mode is read once.
func (x *index) mayCount(ctx context.Context) (bool, error) {
	if _, pg := x.s.dialect.(postgresDialect); pg {
		return true, nil
	}
	if x.journal == "" {
		var mode string
		if err := x.s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			return false, fmt.Errorf("django check: %w", err)
		}
		x.journal = strings.ToLower(mode)
	}
	return x.journal == "wal", nil
}

func bucketOf(us int64) int64 {
	b := us / bucketMicros
	if us%bucketMicros < 0 {
		b--
	}
	return b
}

// activeBuckets counts the index's active entries (and rows it could not
// decode) per bucket of expiry; under mu.
func (x *index) activeBuckets(now int64) (map[int64]int64, int64) {
	buckets := map[int64]int64{}
	var n int64
	add := func(expire int64) {
		if expire > now {
			buckets[bucketOf(expire)]++
			n++
		}
	}
	for c, ch := range x.m.chunks {
		for _, exp := range ch.expire[:x.m.live(c)] {
			add(exp) // a dead slot's is 0
		}
	}
	for _, e := range x.m.other {
		add(e.expire)
	}
	for _, exp := range x.errExpire {
		add(exp)
	}
	return buckets, n
}

// checkDeletes finds rows the site deleted by counting (see above), and
// drops them.
func (x *index) checkDeletes(ctx context.Context) error {
	s := x.s
	d := s.dialect
	if ok, err := x.mayCount(ctx); !ok || err != nil {
		return err
	}
	now := time.Now()
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM django_session WHERE expire_date > "+d.ph(1), d.timeArg(now)).Scan(&n); err != nil {
		return fmt.Errorf("django check: %w", err)
	}
	x.mu.Lock()
	mine, have := x.activeBuckets(now.UnixMicro())
	x.mu.Unlock()
	if n == have {
		return nil
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+s.bucketSel()+", count(*) FROM django_session WHERE expire_date > "+d.ph(1)+" GROUP BY 1", d.timeArg(now))
	if err != nil {
		return fmt.Errorf("django check: %w", err)
	}
	theirs := map[int64]int64{}
	for rows.Next() {
		var b, c int64
		if err := rows.Scan(&b, &c); err != nil {
			rows.Close()
			return fmt.Errorf("django check: %w", err)
		}
		theirs[b] = c
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("django check: %w", err)
	}
	differ := map[int64]bool{}
	for b, c := range theirs {
		if mine[b] != c {
			differ[b] = true
		}
	}
	for b := range mine {
		if _, ok := theirs[b]; !ok {
			differ[b] = true
		}
	}
	return x.rescan(ctx, now, differ)
}

// rescan reads the keys and expiry dates of the active rows in the given
// buckets, drops the entries there that the table no longer has, and
// decodes the rows it has not seen. It runs beside a full sync (it keeps
// no pass of its own): it drops only what was in the index, unchanged,
// before it read the table, so a row a refresh adds meanwhile stays.
func (x *index) rescan(ctx context.Context, now time.Time, buckets map[int64]bool) error {
	s := x.s
	d := s.dialect
	cut := now.UnixMicro()
	in := func(exp int64) bool { return exp > cut && buckets[bucketOf(exp)] }
	before := map[string]int64{}
	x.mu.Lock()
	m := &x.m
	for c, ch := range m.chunks {
		for i, exp := range ch.expire[:m.live(c)] {
			if in(exp) {
				k := ch.key[i].unpack()
				before[string(k[:])] = exp
			}
		}
	}
	for k, e := range m.other {
		if in(e.expire) {
			before[k] = e.expire
		}
	}
	for k, exp := range x.errExpire {
		if in(exp) {
			before[k] = exp
		}
	}
	x.mu.Unlock()
	// Consecutive buckets make one range (a run).
	sorted := make([]int64, 0, len(buckets))
	for b := range buckets {
		sorted = append(sorted, b)
	}
	slices.Sort(sorted)
	type run struct{ from, to int64 } // buckets, inclusive
	var runs []run
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && sorted[j] == sorted[j-1]+1 {
			j++
		}
		runs = append(runs, run{sorted[i], sorted[j-1]})
		i = j
	}
	// Up to 32 runs a statement, each a range on the expire_date index.
	var rs []row
	for start := 0; start < len(runs); start += 32 {
		part := runs[start:min(len(runs), start+32)]
		args := []any{d.timeArg(now)}
		var or []string
		for _, r := range part {
			lo, hi := time.UnixMicro(r.from*bucketMicros).UTC(), time.UnixMicro((r.to+1)*bucketMicros).UTC()
			args = append(args, d.timeArg(lo), d.timeArg(hi))
			or = append(or, "(expire_date >= "+d.ph(len(args)-1)+" AND expire_date < "+d.ph(len(args))+")")
		}
		rows, err := s.db.QueryContext(ctx, "SELECT session_key, '', "+d.expireSel()+" FROM django_session WHERE expire_date > "+d.ph(1)+
			" AND ("+strings.Join(or, " OR ")+")", args...)
		if err != nil {
			return fmt.Errorf("django check: %w", err)
		}
		got, err := s.scanRows(rows)
		if err != nil {
			return fmt.Errorf("django check: %w", err)
		}
		rs = append(rs, got...)
	}
	there := make(map[string]bool, len(rs))
	var need []string
	x.mu.Lock()
	for _, r := range rs {
		there[r.key] = true
		if e, ok := x.m.get(r.key); !ok || e.expire != r.expire.UnixMicro() {
			need = append(need, r.key)
		}
	}
	dropped := false
	for k, exp := range before {
		if there[k] {
			continue
		}
		if e, ok := x.m.get(k); ok && e.expire == exp {
			x.m.del(k)
			dropped = true
		}
		if x.errExpire[k] == exp {
			delete(x.errs, k)
			delete(x.errExpire, k)
		}
	}
	x.mu.Unlock()
	if dropped {
		x.statsStale()
	}
	return x.fetch(ctx, need)
}
