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
// machine. Issue 10 wants Stats at most 10 s behind them. So every
// deleteCheckEvery (or four times the check's own duration, whichever is
// longer: at most a fifth of one database connection's time), a check
// compares counts instead:
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
// check or full sync. Checks run beside full syncs (which at a million
// rows take tens of seconds), not after them.

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

// rescan reads the keys and expiry dates of one hour's active rows, drops
// the entries of that hour the table no longer has, and decodes the rows
// it has not seen. It runs beside a full sync (it keeps no pass of its
// own): it drops only what was in the index, unchanged, before it read
// the table, so a row a refresh adds meanwhile stays.
func (x *index) rescan(ctx context.Context, now time.Time, hour int64) error {
	s := x.s
	d := s.dialect
	lo, hi := time.UnixMicro(hour*hourMicros).UTC(), time.UnixMicro((hour+1)*hourMicros).UTC()
	cut, from, to := now.UnixMicro(), lo.UnixMicro(), hi.UnixMicro()
	in := func(exp int64) bool { return exp > cut && exp >= from && exp < to }
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
	rows, err := s.db.QueryContext(ctx, "SELECT session_key, '', "+d.expireSel()+" FROM django_session WHERE expire_date > "+d.ph(1)+
		" AND expire_date >= "+d.ph(2)+" AND expire_date < "+d.ph(3), d.timeArg(now), d.timeArg(lo), d.timeArg(hi))
	if err != nil {
		return fmt.Errorf("django check: %w", err)
	}
	rs, err := s.scanRows(rows)
	if err != nil {
		return fmt.Errorf("django check: %w", err)
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
	for k, exp := range before {
		if there[k] {
			continue
		}
		if e, ok := x.m.get(k); ok && e.expire == exp {
			x.m.del(k)
		}
		if x.errExpire[k] == exp {
			delete(x.errs, k)
			delete(x.errExpire, k)
		}
	}
	x.mu.Unlock()
	return x.fetch(ctx, need)
}
