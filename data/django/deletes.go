package django

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"sessionmon/internal/offheap"
)

// Rows the site deletes itself (its users' logouts, clearsessions) leave
// no trace that a query on expire_date can find, and a full sync, which
// finds them, reads every active key: tens of seconds at a million rows.
// Issue 10 wants Stats at most 10 s behind them. So every
// deleteCheckEvery (or four times the last check's counts took, whichever
// is longer: at most a fifth of one database connection's time; the rows
// a check then reads again are the site's deletions and do not count), a
// check compares counts instead, coarse to fine:
//   - where a long read makes no writer wait (PostgreSQL, SQLite in WAL
//     mode), one count(*) of the active rows (an index-only scan of
//     expire_date, 50 ms at a million rows) against the index's own count
//     at the same instant; equal (the usual case) ends it;
//   - there, the same counts per minute, in one GROUP BY; on SQLite with
//     a rollback journal (below), counts over ranges of expire_date that
//     hold about rangeRows of the index's entries each (cut from the
//     index's own distribution, so each count is a short range scan of
//     the expire_date index whatever the table's size: a fraction of a
//     ms), and in the ranges that differ the counts per minute, one GROUP
//     BY over the range (about 1 ms);
//   - and only the minutes that differ are read again, keys and
//     expire_date, as a full sync reads the whole table.
//
// On SQLite with a rollback journal (Django's default) every read holds
// the shared lock, and the site cannot commit until it is released: its
// commits wait (Python's sqlite3 waits up to 5 s, Django passes that on,
// then fails with "database is locked"). A count(*) of a million rows held
// it 50 ms on a quiet machine and its GROUP BY 0.8 s (2 s while Django
// wrote); so there the check skips the total and starts at the ranges:
// no statement of the check reads more than a few ranges' rows (a few ms;
// the minutes read again, rescanRows), and the site's commits wait no
// longer than that. At a million rows a check takes about 110 ms, 400 ms
// after a hundred scattered logouts.
//
// What the counts compare is the table now against the index as it was a
// moment before (its distribution is taken once, at the start of a
// check). A row the site saves meanwhile leaves its old range in the table
// before it does in the index: that range differs, and costs a minute
// read again, nothing more: a key the minute's read no longer finds is
// looked up by key before it is dropped, so a row that only moved (a save)
// is decoded anew, never dropped. A delete that a save hides from the
// counts (one row gone, another new in the same minute that the index had
// not read yet) shows at a later check, once the refresh has read the new
// row. Checks run beside full syncs (which at a million rows take tens of
// seconds), not after them.

const deleteCheckEvery = 2 * time.Second

// rangeRows is about how many of the index's entries one counted range
// holds: a range's count (an index range scan) and its per-minute GROUP
// BY stay about a ms at any table size, so a rollback-journal site's
// commits never wait longer (deletes_test.go), while a million rows cost
// 500 counts a check (about 110 ms in all; ranges of 5,000 made the
// check after a hundred logouts twice as long, for their GROUP BYs).
var rangeRows int64 = 2000 // a var: tests cut ranges of a few rows

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

// longReadsFree reports whether one statement may read every active row
// without making the site's writes wait (see above): on PostgreSQL, and
// on SQLite in WAL mode. The journal mode is read once.
func (x *index) longReadsFree(ctx context.Context) (bool, error) {
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

// eachExpiry calls fn with the expiry of every live entry (a dead slot's
// is 0), column by column: a check's pass over a million entries must not
// unpack their keys.
func (m *keyMap) eachExpiry(fn func(exp int64)) {
	for c, ch := range m.chunks {
		for _, exp := range ch.expire[:m.live(c)] {
			fn(exp)
		}
	}
	for _, e := range m.other {
		fn(e.expire)
	}
}

// slotsExpiring appends to out the slot and expiry of every entry in the
// key table whose expiry in accepts, and returns out; into other, the
// keys of the other entries (not 32 of [a-z0-9], a few if any).
func (m *keyMap) slotsExpiring(in func(exp int64) bool, out []slotExpiry, other map[string]int64) []slotExpiry {
	for c, ch := range m.chunks {
		for i, exp := range ch.expire[:m.live(c)] {
			if exp != 0 && in(exp) {
				out = offheap.Append(m.mem, out, slotExpiry{uint32(c)<<chunkBits | uint32(i), exp})
			}
		}
	}
	for k, e := range m.other {
		if in(e.expire) {
			other[k] = e.expire
		}
	}
	return out
}

// checkScratch is what a check reuses from one check to the next (a check
// runs every two seconds or so).
type checkScratch struct {
	// before: the index's slots in the differing buckets, mapped for the
	// index (internal/offheap): a check after a burst of saves notes
	// tens of thousands, and on the Go heap the collector's target grew
	// by half as much again (and by every smaller copy append made) for
	// the seconds the check ran.
	before []slotExpiry
	there  []uint64 // a bit by slot: the table still holds it
	page   keyPage  // the rows read back
	next   int64    // pick's cursor: the bucket after the last one read
}

// pick chooses the differing buckets one check reads again: at most
// rescanMax rows (but at least one bucket), in bucket order from where
// the last check stopped, around to the start. A mass deletion
// (clearsessions, or a lagging index) is so taken a part per check, and
// the full sync takes the rest; and the buckets a busy site's saves make
// differ on nearly every check (its newest minutes, thousands of rows
// each) cannot keep the others waiting: each differing bucket is read
// within a few checks wherever it lies.
func (sc *checkScratch) pick(differ map[int64]int64, mine *expirySpread) map[int64]int64 {
	rows := func(b int64) int64 { return max(differ[b], mine.at(b)) }
	var total int64
	for b := range differ {
		total += rows(b)
	}
	if total <= rescanMax {
		return differ
	}
	sorted := slices.Sorted(maps.Keys(differ))
	start, _ := slices.BinarySearch(sorted, sc.next)
	part := map[int64]int64{}
	total = 0
	for i := range sorted {
		b := sorted[(start+i)%len(sorted)]
		if n := rows(b); len(part) == 0 || total+n <= rescanMax {
			part[b] = differ[b]
			total += n
			sc.next = b + 1
		} else {
			break
		}
	}
	return part
}

// scratchKeep bounds what a check keeps for the next: a check after a mass
// deletion (clearsessions) notes every slot of 256 minutes, and keeping
// that slice would hold its largest size for the life of the dashboard.
const scratchKeep = 16 << 10

// trim drops the buffers a check grew past scratchKeep rows.
func (sc *checkScratch) trim(mem *offheap.Owner) {
	if cap(sc.before) > scratchKeep {
		offheap.Free(mem, sc.before)
		sc.before = nil
	}
	if cap(sc.page.ends) > scratchKeep {
		sc.page = keyPage{}
	}
}

type slotExpiry struct {
	id  uint32
	exp int64
}

// expirySpread is the index's active entries (and rows it could not decode)
// counted per bucket of expiry: a slice from the first bucket after now
// over the site's cookie age, and a map for the few beyond (custom
// expiries).
type expirySpread struct {
	first  int64   // the bucket of counts[0]
	counts []int32 // by bucket - first
	beyond map[int64]int64
	total  int64
}

func (sp *expirySpread) add(b int64) {
	if i := b - sp.first; i < int64(len(sp.counts)) {
		sp.counts[i]++
	} else {
		sp.beyond[b]++
	}
	sp.total++
}

// at is the count of bucket b.
func (sp *expirySpread) at(b int64) int64 {
	if i := b - sp.first; i >= 0 && i < int64(len(sp.counts)) {
		return int64(sp.counts[i])
	}
	return sp.beyond[b]
}

// maxSpreadBuckets bounds the slice (4 MiB): a site with a cookie age of
// years counts its farthest entries in the map.
const maxSpreadBuckets = 1 << 20

// activeSpread counts the entries active at now (Unix microseconds) per
// bucket; under mu.
func (x *index) activeSpread(now int64) *expirySpread {
	n := int64(x.s.opts.CookieAge/time.Minute) + 24*60 + 2
	sp := &expirySpread{first: bucketOf(now), counts: make([]int32, min(n, maxSpreadBuckets)), beyond: map[int64]int64{}}
	add := func(exp int64) {
		if exp > now {
			sp.add(bucketOf(exp))
		}
	}
	x.m.eachExpiry(add)
	for _, exp := range x.errExpire {
		add(exp)
	}
	return sp
}

// span is a range of buckets, from inclusive, to exclusive; to 0: no upper
// bound (the last range).
type span struct{ from, to int64 }

// ranges cuts the buckets into consecutive ranges of about n entries
// each, the first from the bucket of now, the last without an upper bound,
// so that together they cover every active row the table may hold.
func (sp *expirySpread) ranges(n int64) []span {
	var out []span
	from, acc := sp.first, int64(0)
	cut := func(b int64, c int64) {
		acc += c
		if acc >= n {
			out = append(out, span{from, b + 1})
			from, acc = b+1, 0
		}
	}
	for i, c := range sp.counts {
		if c > 0 {
			cut(sp.first+int64(i), int64(c))
		}
	}
	beyond := make([]int64, 0, len(sp.beyond))
	for b := range sp.beyond {
		beyond = append(beyond, b)
	}
	slices.Sort(beyond)
	for _, b := range beyond {
		cut(b, sp.beyond[b])
	}
	return append(out, span{from, 0})
}

// count is the index's count over r.
func (sp *expirySpread) count(r span) int64 {
	var n int64
	end := sp.first + int64(len(sp.counts))
	if r.to != 0 {
		end = min(end, r.to)
	}
	for b := max(r.from, sp.first); b < end; b++ {
		n += int64(sp.counts[b-sp.first])
	}
	for b, c := range sp.beyond {
		if b >= r.from && (r.to == 0 || b < r.to) {
			n += c
		}
	}
	return n
}

// rangeWhere is the condition (and its arguments, from placeholder 1) that
// selects the active rows at now in r.
func (s *Source) rangeWhere(now time.Time, r span) (string, []any) {
	return s.rangeTerm(now, r, nil)
}

// rangeTerm appends to args the bounds of the active rows at now in r, and
// returns the condition that names them. It has one lower bound: given
// two (expire_date > now AND expire_date >= the range's start), SQLite
// scans the expire_date index from the first, now, whatever the second:
// each range's count read every active row before it.
func (s *Source) rangeTerm(now time.Time, r span, args []any) (string, []any) {
	d := s.dialect
	var cond string
	if from := time.UnixMicro(r.from * bucketMicros); from.After(now) {
		args = append(args, d.timeArg(from))
		cond = "expire_date >= " + d.ph(len(args))
	} else {
		args = append(args, d.timeArg(now))
		cond = "expire_date > " + d.ph(len(args))
	}
	if r.to != 0 {
		args = append(args, d.timeArg(time.UnixMicro(r.to*bucketMicros)))
		cond += " AND expire_date < " + d.ph(len(args))
	}
	return cond, args
}

// readObserver, when set (by a test), is told how many rows each
// statement of a check read or counted: what bounds how long the
// statement holds SQLite's lock.
var readObserver func(rows int64)

func observeRead(rows int64) {
	if readObserver != nil {
		readObserver(rows)
	}
}

// checkDeletes finds rows the site deleted by counting (see above), and
// drops them.
func (x *index) checkDeletes(ctx context.Context) error {
	_, err := x.checkDeletesTimed(ctx)
	return err
}

// checkDeletesTimed is checkDeletes, also returning how long its counts
// took: what every check costs, whatever it finds. The next check waits
// four times that (refreshMode); the rows it reads again after the counts
// are the site's deletions, work any later check would do, and do not
// push it back (a check that re-read a hundred logouts in 4 s under load
// had held the next one off 16 s, past issue 10's 10 s).
func (x *index) checkDeletesTimed(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	var counted time.Duration
	err := x.checkDeletesAt(ctx, func() { counted = time.Since(start) })
	if counted == 0 {
		counted = time.Since(start)
	}
	return counted, err
}

// checkDeletesAt is checkDeletes calling counted when its counts are done
// and it starts reading rows again.
func (x *index) checkDeletesAt(ctx context.Context, counted func()) error {
	s := x.s
	d := s.dialect
	free, err := x.longReadsFree(ctx)
	if err != nil {
		return err
	}
	// Compare the table with the index as up to date as a refresh makes
	// it, so that what differs is what the site deleted, not every
	// minute it saved in since the last poll. (A refresh or full sync
	// under way holds syncMu: then compare with the index as it is.)
	if x.syncMu.TryLock() {
		err := x.incremental(ctx, time.Now())
		x.syncMu.Unlock()
		if err != nil {
			return err
		}
	}
	c := &deleteCheck{x: x, now: time.Now(), differ: map[int64]int64{}, stmts: map[string]*sql.Stmt{}}
	defer c.close()
	x.mu.Lock()
	c.mine = x.activeSpread(c.now.UnixMicro())
	x.mu.Unlock()
	if free {
		var n int64
		if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM django_session WHERE expire_date > "+d.ph(1), d.timeArg(c.now)).Scan(&n); err != nil {
			return fmt.Errorf("django check: %w", err)
		}
		observeRead(n)
		if n == c.mine.total {
			return nil
		}
		// One GROUP BY over every active row: where it makes no writer
		// wait, it costs less than the ranges' hundreds of statements
		// (on PostgreSQL at a million rows, after a hundred logouts,
		// 1.3-2.1 s against 7.5-9.3 s).
		if err := c.differingBuckets(ctx, span{c.mine.first, 0}); err != nil {
			return err
		}
		counted()
		return x.rescan(ctx, c.now, c.differ, c.mine)
	}
	for _, r := range c.mine.ranges(rangeRows) {
		if err := c.compareRange(ctx, r, 0); err != nil {
			return err
		}
	}
	if len(c.differ) == 0 {
		return nil
	}
	counted()
	return x.rescan(ctx, c.now, c.differ, c.mine)
}

// deleteCheck is one check's state.
type deleteCheck struct {
	x      *index
	now    time.Time
	mine   *expirySpread
	differ map[int64]int64 // bucket: the table's count there
	// stmts are the check's statements, prepared once: hundreds of
	// counts a check differ only in their bounds.
	stmts map[string]*sql.Stmt
}

func (c *deleteCheck) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	st, err := c.x.s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("django check: %w", err)
	}
	c.stmts[query] = st
	return st, nil
}

func (c *deleteCheck) close() {
	for _, st := range c.stmts {
		st.Close()
	}
}

// compareRange counts the table's active rows in r and, when the count is
// not the index's, adds the buckets of r that differ to differ. A range
// that holds many more rows than the index said (rows the index has not
// read yet: a burst of logins, a restored table) is halved and each half
// counted, so that no GROUP BY covers more than a few times rangeRows.
func (c *deleteCheck) compareRange(ctx context.Context, r span, depth int) error {
	s := c.x.s
	cond, args := s.rangeWhere(c.now, r)
	st, err := c.stmt(ctx, "SELECT count(*) FROM django_session WHERE "+cond)
	if err != nil {
		return err
	}
	var n int64
	if err := st.QueryRowContext(ctx, args...).Scan(&n); err != nil {
		return fmt.Errorf("django check: %w", err)
	}
	observeRead(n)
	if n == c.mine.count(r) {
		return nil
	}
	if n > 4*rangeRows && depth < 32 {
		hi := r.to
		if hi == 0 { // the last range: halve up to the cookie age
			hi = max(r.from+2, bucketOf(c.now.Add(s.opts.CookieAge).UnixMicro())+2)
		}
		if hi-r.from >= 2 {
			mid := r.from + (hi-r.from)/2
			if err := c.compareRange(ctx, span{r.from, mid}, depth+1); err != nil {
				return err
			}
			return c.compareRange(ctx, span{mid, r.to}, depth+1)
		}
	}
	return c.differingBuckets(ctx, r)
}

// differingBuckets adds to differ the buckets of r whose count in the
// table is not the index's.
func (c *deleteCheck) differingBuckets(ctx context.Context, r span) error {
	s, mine := c.x.s, c.mine
	cond, args := s.rangeWhere(c.now, r)
	st, err := c.stmt(ctx, "SELECT "+s.bucketSel()+", count(*) FROM django_session WHERE "+cond+" GROUP BY 1")
	if err != nil {
		return err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("django check: %w", err)
	}
	theirs := map[int64]int64{}
	var covered int64
	for rows.Next() {
		var b, n int64
		if err := rows.Scan(&b, &n); err != nil {
			rows.Close()
			return fmt.Errorf("django check: %w", err)
		}
		theirs[b] = n
		covered += n
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("django check: %w", err)
	}
	observeRead(covered)
	for b, n := range theirs {
		if mine.at(b) != n {
			c.differ[b] = n
		}
	}
	// The index's buckets of r that the table no longer has.
	end := mine.first + int64(len(mine.counts))
	if r.to != 0 {
		end = min(end, r.to)
	}
	for b := max(r.from, mine.first); b < end; b++ {
		if _, ok := theirs[b]; !ok && mine.counts[b-mine.first] > 0 {
			c.differ[b] = 0
		}
	}
	for b := range mine.beyond {
		if _, ok := theirs[b]; !ok && b >= r.from && (r.to == 0 || b < r.to) {
			c.differ[b] = 0
		}
	}
	return nil
}

// rescanMax bounds the rows one check reads again (counted in the
// buckets it picks, the larger of the table's count and the index's):
// a check holds 12 bytes of each of the index's slots there while it
// runs. Not a number of buckets: under SESSION_SAVE_EVERY_REQUEST every
// request moves its session into the newest minute, so a busy site's
// recent minutes hold thousands of rows each (6,000 at 100 requests a
// second), and 256 of them were 150,000 slots and a sudden 6 MB at the
// dashboard's RSS peak (issue 10's soak, after 20 minutes of writer).
// 65,536 rows (768 KB of slots, mapped outside the Go heap and returned
// after the check): under 100 saves a second a check finds several busy
// minutes differing (the newest, some its saves came from, some of the
// site's logouts), tens of thousands of rows, and a bound of 16,384 fell
// behind (the header 14 sessions high 30 s after the writer stopped). A
// var: tests use a few rows.
var rescanMax int64 = 1 << 16

// rescanRows bounds the rows (by the table's counts) that one statement
// of rescan reads: each is a lookup in the table (about 10 µs at a million
// rows), so a statement stays a few ms.
const rescanRows = 512

// readPaged hands fn the keys and expiry dates of the active rows in r,
// in statements of at most rescanRows rows, in expire_date order. A row
// may come twice (a page starts again at the last expiry read).
func (x *index) readPaged(ctx context.Context, now time.Time, r span, page *keyPage, fn func(*keyPage) error) error {
	s := x.s
	d := s.dialect
	for {
		cond, args := s.rangeTerm(now, r, nil)
		var first, last int64
		n, err := s.eachKeyPage(ctx, page, rescanRows, func(p *keyPage) error {
			first, last = p.expire[0], p.expire[p.len()-1]
			return fn(p)
		}, fmt.Sprintf("SELECT session_key, %s FROM django_session WHERE %s ORDER BY expire_date LIMIT %d",
			d.expireSel(), cond, rescanRows), args...)
		if err != nil {
			return fmt.Errorf("django check: %w", err)
		}
		observeRead(int64(n))
		// The next page starts at the last expiry read (again: rows may
		// share it); a page of one expiry ends it, as an incremental
		// refresh's does: the full sync reads the rest.
		if n < rescanRows || last <= first {
			return nil
		}
		now = time.UnixMicro(last - 1)
		r.from = bucketOf(last - 1)
	}
}

// rescan reads the keys and expiry dates of the active rows in the given
// buckets (with the table's count of each), decodes the rows it has not
// seen, and looks up by key the entries there that the buckets no longer
// hold: those the table still has (saved meanwhile, with a new expiry) are
// decoded anew, the others are dropped. It runs beside a full sync (it
// keeps no pass of its own): it drops only what was in the index,
// unchanged, before it read the table, so a row a refresh adds meanwhile
// stays.
func (x *index) rescan(ctx context.Context, now time.Time, buckets map[int64]int64, mine *expirySpread) error {
	s := x.s
	d := s.dialect
	buckets = x.scratch.pick(buckets, mine)
	cut := now.UnixMicro()
	in := func(exp int64) bool {
		if exp <= cut {
			return false
		}
		_, ok := buckets[bucketOf(exp)]
		return ok
	}
	// What the index holds in the buckets before the table is read: the
	// slots (and their expiry), and by key the few entries outside the
	// key table and the rows that failed to decode. Slots, not keys: on a
	// busy site the newest minutes differ on nearly every check, and
	// thousands of keys as strings in maps, twice, every two seconds,
	// were most of the dashboard's garbage.
	sc := &x.scratch
	defer sc.trim(x.mem)
	otherBefore := map[string]int64{}
	x.mu.Lock()
	sc.before = x.m.slotsExpiring(in, sc.before[:0], otherBefore)
	for k, exp := range x.errExpire {
		if in(exp) {
			otherBefore[k] = exp
		}
	}
	if n := int(x.m.used+63) / 64; cap(sc.there) < n {
		sc.there = make([]uint64, n)
	} else {
		sc.there = sc.there[:n]
		clear(sc.there)
	}
	x.mu.Unlock()
	// Consecutive buckets make one range (a run), of at most rescanRows
	// rows unless a single bucket holds more.
	sorted := make([]int64, 0, len(buckets))
	for b := range buckets {
		sorted = append(sorted, b)
	}
	slices.Sort(sorted)
	type run struct{ from, to int64 } // buckets, inclusive
	var stmts [][]run
	var cur []run
	var curRows int64
	for _, b := range sorted {
		c := buckets[b]
		if len(cur) > 0 && (curRows+c > rescanRows || len(cur) == 32 && cur[len(cur)-1].to+1 != b) {
			stmts, cur, curRows = append(stmts, cur), nil, 0
		}
		if n := len(cur); n > 0 && cur[n-1].to+1 == b {
			cur[n-1].to = b
		} else {
			cur = append(cur, run{b, b})
		}
		curRows += c
	}
	if len(cur) > 0 {
		stmts = append(stmts, cur)
	}
	// Read the buckets back: mark the slots the table still holds, and
	// note the rows to decode (new, or saved since the index read them).
	otherThere := map[string]bool{}
	needed := map[string]bool{}
	var need []string
	see := func(p *keyPage) error {
		x.mu.Lock()
		defer x.mu.Unlock()
		for i := range p.len() {
			k := p.key(i)
			if pk, ok := packKey(k); ok {
				if _, id, found := x.m.find(&pk); found {
					if int(id>>6) < len(sc.there) {
						sc.there[id>>6] |= 1 << (id & 63)
					}
					if x.m.entryOf(id).expire == p.expire[i] {
						continue
					}
				}
			} else {
				otherThere[string(k)] = true
				if e, ok := x.m.other[string(k)]; ok && e.expire == p.expire[i] {
					continue
				}
			}
			if !needed[string(k)] {
				needed[string(k)] = true
				need = append(need, string(k))
			}
		}
		return nil
	}
	for _, part := range stmts {
		if len(part) == 1 {
			// One run, perhaps a minute of thousands of rows (the
			// newest, on a busy site): in pages.
			if err := x.readPaged(ctx, now, span{part[0].from, part[0].to + 1}, &sc.page, see); err != nil {
				return err
			}
			continue
		}
		var args []any
		var or []string
		for _, r := range part {
			var cond string
			cond, args = s.rangeTerm(now, span{r.from, r.to + 1}, args)
			or = append(or, "("+cond+")")
		}
		n, err := s.eachKeyPage(ctx, &sc.page, rescanRows, see, "SELECT session_key, "+d.expireSel()+" FROM django_session WHERE "+strings.Join(or, " OR "), args...)
		if err != nil {
			return fmt.Errorf("django check: %w", err)
		}
		observeRead(int64(n))
	}
	if err := x.fetch(ctx, need); err != nil {
		return err
	}
	// The entries the buckets lost: moved (the site saved them since the
	// index read them) or deleted. Read them by key after the buckets, so
	// that a row saved in between is found at its new expiry. A slot whose
	// expiry changed meanwhile holds what a refresh read (or, rarely,
	// another key): it is not lost. (Nor is a slot past the map's end: a
	// full sync that found the index empty built a new map meanwhile.)
	lostExp := map[string]int64{}
	x.mu.Lock()
	for _, b := range sc.before {
		if b.id >= x.m.used || sc.there[b.id>>6]&(1<<(b.id&63)) != 0 || x.m.entryOf(b.id).expire != b.exp {
			continue
		}
		k := x.m.keyOf(b.id).unpack()
		lostExp[string(k[:])] = b.exp
	}
	x.mu.Unlock()
	for k, exp := range otherBefore {
		if !otherThere[k] {
			lostExp[k] = exp
		}
	}
	if len(lostExp) == 0 {
		return nil
	}
	lost := slices.Collect(maps.Keys(lostExp))
	moved := map[string]bool{}
	err := x.fetchSeeing(ctx, lost, func(rs []row) {
		observeRead(int64(len(rs)))
		for _, r := range rs {
			moved[r.key] = true
		}
	})
	if err != nil {
		return err
	}
	dropped := false
	x.mu.Lock()
	for _, k := range lost {
		if moved[k] {
			continue
		}
		exp := lostExp[k]
		if e, ok := x.m.get(k); ok && e.expire == exp {
			x.m.del(k)
			dropped = true
		}
		if x.errExpire[k] == exp {
			delete(x.errs, k)
			delete(x.errExpire, k)
			dropped = true
		}
	}
	x.mu.Unlock()
	if dropped {
		x.statsStale()
	}
	return nil
}
