package django

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Rows the site deletes itself (its users' logouts, clearsessions) leave
// no trace that a query on expire_date can find, and a full sync, which
// finds them, reads every active key: 30 s at a million rows on a busy
// machine. Issue 10 wants Stats at most 10 s behind them. So between full
// syncs, every deleteCheckEvery (or ten times the check's own duration,
// whichever is longer), a check compares counts instead:
//   - one count(*) of the active rows (an index-only scan of expire_date)
//     against the index's own count at the same instant; equal (the usual
//     case) ends it;
//   - else the same counts per hour of expire_date, in one GROUP BY;
//   - and only the hours that differ are read again, keys and expire_date,
//     as a full sync reads the whole table: a logout's row is in the
//     hour of its expiry, so an operator's minute of logouts costs a few
//     hours of rows, not the table.
//
// A delete that a save in the same hour hides from the counts (one row
// gone, another new that the refresh had not read yet) waits for the next
// check or full sync.

const deleteCheckEvery = 2 * time.Second

const hourMicros = int64(time.Hour / time.Microsecond)

// hourSel is expire_date's hour (Unix hours, UTC) in SQL.
func (s *Source) hourSel() string {
	if _, pg := s.dialect.(postgresDialect); pg {
		return "floor(extract(epoch FROM expire_date) / 3600)::bigint"
	}
	// SQLite stores the text of a naive UTC datetime; strftime reads it as
	// UTC.
	return "CAST(strftime('%s', expire_date) AS INTEGER) / 3600"
}

func hourOf(us int64) int64 {
	h := us / hourMicros
	if us%hourMicros < 0 {
		h--
	}
	return h
}

// activeHours counts the index's active entries (and rows it could not
// decode) per hour of expiry; under mu.
func (x *index) activeHours(now int64) (map[int64]int64, int64) {
	hours := map[int64]int64{}
	var n int64
	add := func(expire int64) {
		if expire > now {
			hours[hourOf(expire)]++
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
	return hours, n
}

// checkDeletes finds rows the site deleted by counting (see above), and
// drops them.
func (x *index) checkDeletes(ctx context.Context) error {
	s := x.s
	d := s.dialect
	now := time.Now()
	// Rows saved since the last refresh would differ from the counts too.
	if err := x.incremental(ctx, now); err != nil {
		return err
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM django_session WHERE expire_date > "+d.ph(1), d.timeArg(now)).Scan(&n); err != nil {
		return fmt.Errorf("django check: %w", err)
	}
	x.mu.Lock()
	mine, have := x.activeHours(now.UnixMicro())
	x.mu.Unlock()
	if n == have {
		return nil
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+s.hourSel()+", count(*) FROM django_session WHERE expire_date > "+d.ph(1)+" GROUP BY 1", d.timeArg(now))
	if err != nil {
		return fmt.Errorf("django check: %w", err)
	}
	theirs := map[int64]int64{}
	for rows.Next() {
		var h, c int64
		if err := rows.Scan(&h, &c); err != nil {
			rows.Close()
			return fmt.Errorf("django check: %w", err)
		}
		theirs[h] = c
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("django check: %w", err)
	}
	var differ []int64
	for h, c := range theirs {
		if mine[h] != c {
			differ = append(differ, h)
		}
	}
	for h := range mine {
		if _, ok := theirs[h]; !ok {
			differ = append(differ, h)
		}
	}
	slices.Sort(differ)
	for _, h := range differ {
		if err := x.rescan(ctx, now, h); err != nil {
			return err
		}
	}
	return nil
}

// rescan reads the keys and expiry dates of one hour's active rows, as a
// full sync does the whole table's: it decodes the rows it has not seen
// and drops the entries of that hour the table no longer has.
func (x *index) rescan(ctx context.Context, now time.Time, hour int64) error {
	s := x.s
	d := s.dialect
	lo, hi := time.UnixMicro(hour*hourMicros).UTC(), time.UnixMicro((hour+1)*hourMicros).UTC()
	rows, err := s.db.QueryContext(ctx, "SELECT session_key, '', "+d.expireSel()+" FROM django_session WHERE expire_date > "+d.ph(1)+
		" AND expire_date >= "+d.ph(2)+" AND expire_date < "+d.ph(3), d.timeArg(now), d.timeArg(lo), d.timeArg(hi))
	if err != nil {
		return fmt.Errorf("django check: %w", err)
	}
	rs, err := s.scanRows(rows)
	if err != nil {
		return fmt.Errorf("django check: %w", err)
	}
	x.mu.Lock()
	x.m.beginPass()
	var need []string
	for _, r := range rs {
		if !x.m.seeSame(r.key, r.expire.UnixMicro()) {
			need = append(need, r.key)
		}
	}
	x.mu.Unlock()
	ok := false
	defer func() {
		if !ok {
			x.mu.Lock()
			x.m.endPass(nil)
			x.mu.Unlock()
		}
	}()
	if err := x.fetch(ctx, need); err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	cut, from, to := now.UnixMicro(), lo.UnixMicro(), hi.UnixMicro()
	x.m.endPass(func(e entry) bool { return e.expire > cut && e.expire >= from && e.expire < to })
	ok = true
	for k, exp := range x.errExpire {
		if exp >= from && exp < to && !slices.Contains(need, k) {
			delete(x.errs, k)
			delete(x.errExpire, k)
		}
	}
	return nil
}
