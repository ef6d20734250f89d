package django

import (
	"database/sql"
	"fmt"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sessionmon/data"
)

// eachJournal runs f on PostgreSQL and on SQLite in both journal modes a
// Django site may use: the rollback journal (Django's default, which
// readers block) and WAL.
func eachJournal(t *testing.T, f func(t *testing.T, site *testSite)) {
	for _, mode := range []string{"postgres", "sqlite-rollback", "sqlite-wal"} {
		t.Run(mode, func(t *testing.T) {
			site := newSite(t, strings.TrimSuffix(strings.TrimSuffix(mode, "-rollback"), "-wal"))
			if mode == "sqlite-wal" {
				site.exec("PRAGMA journal_mode=WAL")
			}
			f(t, site)
		})
	}
}

// smallRanges makes the checks cut ranges of a few rows, so that a test's
// table of dozens of rows has several, as a million-row table has.
func smallRanges(t *testing.T, n int64) {
	old := rangeRows
	rangeRows = n
	t.Cleanup(func() { rangeRows = old })
}

// TestSiteDeletesLeaveWithinTheCheckInterval: rows the site deletes leave
// Stats and the listings within a few check intervals although no full
// sync is due for an hour, while the site saves other rows (a login, a
// request that moves a row's expiry): on PostgreSQL, and on SQLite with
// either journal. On a rollback journal the checks used not to run at all
// (their counts held the lock the site's commits need), so deletions
// waited for the full sync.
func TestSiteDeletesLeaveWithinTheCheckInterval(t *testing.T) {
	smallRanges(t, 6)
	eachJournal(t, func(t *testing.T, site *testSite) {
		now := time.Now().UTC()
		var keys []string
		for i := 0; i < 40; i++ {
			k := randKey()
			keys = append(keys, k)
			site.put(k, now.Add(time.Hour+time.Duration(i)*17*time.Minute), siteMembers(fmt.Sprint("u", i%3), int64(i%3+1), "user", now, now)...)
		}
		src := site.open(Options{FullSyncEvery: time.Hour})
		stats := func() int64 {
			st, err := src.Stats(ctx, data.StatsQuery{Now: time.Now(), ExpiryWindow: time.Hour, LoginWindow: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			return st.Active
		}
		if n := stats(); n != 40 {
			t.Fatalf("at start: %d active, want 40", n)
		}
		// Logouts in three ranges, a login, and a request that moves a
		// row (a save: new expire_date, same key).
		gone := []string{keys[2], keys[17], keys[33]}
		for _, k := range gone {
			site.exec("DELETE FROM django_session WHERE session_key = "+site.ph(1), k)
		}
		site.put(randKey(), now.Add(14*24*time.Hour), siteMembers("new", 9, "user", now, now)...)
		site.exec("UPDATE django_session SET expire_date = "+site.ph(1)+" WHERE session_key = "+site.ph(2), site.d.timeArg(now.Add(14*24*time.Hour+time.Second)), keys[25])
		start := time.Now()
		for stats() != 38 && time.Since(start) < 5*deleteCheckEvery {
			time.Sleep(50 * time.Millisecond)
		}
		if n := stats(); n != 38 {
			t.Fatalf("%v after the site deleted 3 rows and saved 2: %d active, want 38", time.Since(start), n)
		}
		p, err := src.ListActive(ctx, data.Query{Now: time.Now(), Sort: data.SortUser, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		listed := map[string]bool{}
		for _, s := range p.Sessions {
			listed[s.ID] = true
		}
		for _, k := range gone {
			if listed[k] {
				t.Errorf("the listing still holds deleted row %s", k)
			}
		}
		if !listed[keys[25]] || len(p.Sessions) != 38 {
			t.Errorf("the listing holds %d sessions (the moved row: %v), want 38 with it", len(p.Sessions), listed[keys[25]])
		}
	})
}

// TestCheckKeepsARowTheSiteSaved: a row the site saved (its expiry moved
// to another minute) after the index last read it makes its old minute's
// count differ, as a deletion would. The check must find it at its new
// expiry, not drop it: it used to drop it until the next refresh read it
// again, and a live session left Stats and the listings meanwhile.
func TestCheckKeepsARowTheSiteSaved(t *testing.T) {
	smallRanges(t, 4)
	eachJournal(t, func(t *testing.T, site *testSite) {
		now := time.Now().UTC()
		var keys []string
		for i := 0; i < 12; i++ {
			k := randKey()
			keys = append(keys, k)
			site.put(k, now.Add(time.Hour+time.Duration(i)*time.Hour), siteMembers("u", 1, "user", now, now)...)
		}
		src := site.open(Options{FullSyncEvery: time.Hour})
		if _, err := src.Stats(ctx, data.StatsQuery{Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
		src.idx.wait() // the first check, if one started
		moved := now.Add(20 * 24 * time.Hour).Truncate(time.Microsecond)
		site.exec("UPDATE django_session SET expire_date = "+site.ph(1)+" WHERE session_key = "+site.ph(2), site.d.timeArg(moved), keys[5])
		site.exec("DELETE FROM django_session WHERE session_key = "+site.ph(1), keys[8])
		// The check alone, no refresh: the index has keys[5] at its old
		// expiry.
		if err := src.idx.checkDeletes(ctx); err != nil {
			t.Fatal(err)
		}
		src.idx.mu.Lock()
		e, ok := src.idx.m.get(keys[5])
		_, stale := src.idx.m.get(keys[8])
		n := src.idx.m.len()
		src.idx.mu.Unlock()
		if !ok || e.expire != moved.UnixMicro() {
			t.Errorf("the saved row after a check: in the index %v, expiry %v, want %v", ok, time.UnixMicro(e.expire).UTC(), moved)
		}
		if stale || n != 11 {
			t.Errorf("after a check the index holds the deleted row: %v, %d entries, want 11", stale, n)
		}
	})
}

// TestChecksNeverMakeTheSiteFailToCommit: on a rollback journal, a
// reader's statement holds the shared lock and the site's commit waits
// for it; Django waits 5 s (Python's sqlite3 default) and then fails with
// "database is locked". The checks must keep every statement short
// whatever the table's size: no statement of theirs may read more than a
// few ranges' rows (what they read is counted, not timed), in a table of
// 60 (under the race detector 20) ranges. Meanwhile a writer, as Django
// writes, saves, logs in and logs out, and none of its commits may be
// refused. It waits as Django does under the race detector, else briefly:
// a quarter of what one GROUP BY over the whole table (as the checks ran
// before) takes, which that GROUP BY would exceed. And the checks must
// find its deletions. The ranges hold 1,000 rows here (500 under the race
// detector), a sixtieth (a twentieth) of the table; at a million rows
// they hold 2,000, a five-hundredth.
func TestChecksNeverMakeTheSiteFailToCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a table of tens of thousands of rows")
	}
	site := newSite(t, "sqlite")
	rows, ranges := 60000, int64(1000)
	if raceEnabled {
		rows, ranges = 10000, 500
	}
	smallRanges(t, ranges)
	now := time.Now().UTC()
	// The index decodes every row: an empty dict (an anonymous session)
	// is the cheapest.
	emptySession, err := site.keys.Encode(PyDumps(), EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := site.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := 0; i < rows; i++ {
		k := randKey()
		keys = append(keys, k)
		if _, err := tx.Exec("INSERT INTO django_session VALUES (?, ?, ?)", k, emptySession, djangoTime(now.Add(time.Duration(i)*14*24*time.Hour/time.Duration(rows)+time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// What one statement over the whole table (the old check's GROUP BY)
	// takes here; the writer waits a quarter of it.
	src := site.open(Options{FullSyncEvery: time.Hour})
	var took []time.Duration
	for range 3 {
		t0 := time.Now()
		if _, err := src.db.Exec("SELECT " + src.bucketSel() + ", count(*) FROM django_session WHERE expire_date > '' GROUP BY 1"); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	slices.Sort(took)
	whole := took[1]
	wait := max(whole/4, 20*time.Millisecond)
	if raceEnabled {
		wait = 5 * time.Second // Django's: the race detector slows the checks tenfold, not the site
	}
	t.Logf("%d rows: one GROUP BY over the table took %v; the writer waits at most %v", rows, whole, wait)
	if _, err := src.Stats(ctx, data.StatsQuery{Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	src.idx.wait()
	var longest atomic.Int64
	readObserver = func(rows int64) {
		if rows > longest.Load() {
			longest.Store(rows)
		}
	}
	t.Cleanup(func() { readObserver = nil })

	writer, err := sql.Open("sqlite", fmt.Sprintf("file:%s?_pragma=busy_timeout(%d)", site.dsn, wait.Milliseconds()))
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	writer.SetMaxOpenConns(1)
	// As Django's atomic(): BEGIN (deferred), the write, COMMIT.
	write := func(q string, args ...any) error {
		tx, err := writer.Begin()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(q, args...); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var checks atomic.Int64
	var checkErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := src.idx.checkDeletes(ctx); err != nil {
				checkErr = err
				return
			}
			checks.Add(1)
		}
	}()
	var refused []error
	var deleted []string
	// For 3 s and at least 3 checks (a check takes seconds under the race
	// detector).
	start := time.Now()
	for i := 0; (time.Since(start) < 3*time.Second || checks.Load() < 3) && time.Since(start) < 2*time.Minute && checkErr == nil; i++ {
		var err error
		switch i % 3 {
		case 0: // a request: the row's expiry moves to now + age
			err = write("UPDATE django_session SET expire_date = ? WHERE session_key = ?", djangoTime(time.Now().Add(DefaultCookieAge)), keys[i%len(keys)])
		case 1: // a login
			err = write("INSERT INTO django_session VALUES (?, ?, ?)", randKey(), emptySession, djangoTime(time.Now().Add(DefaultCookieAge)))
		case 2: // a logout
			k := keys[(i*7919)%len(keys)]
			if err = write("DELETE FROM django_session WHERE session_key = ?", k); err == nil {
				deleted = append(deleted, k)
			}
		}
		if err != nil {
			refused = append(refused, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if checkErr != nil {
		t.Fatal(checkErr)
	}
	if n := longest.Load(); n > 4*ranges {
		t.Errorf("a statement of the checks read %d rows, want at most %d (4 ranges) of the table's %d", n, 4*ranges, rows)
	}
	if len(refused) > 0 {
		t.Fatalf("%d of the site's writes were refused during %d checks, the first: %v", len(refused), checks.Load(), refused[0])
	}
	// A refresh (what the dashboard's next poll makes) and one more
	// check after the last write find every deletion: a logout that a
	// login in the same minute hid from the counts shows once the
	// refresh has read the login.
	src.idx.syncMu.Lock()
	err = src.idx.incremental(ctx, time.Now())
	src.idx.syncMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := src.idx.checkDeletes(ctx); err != nil {
		t.Fatal(err)
	}
	src.idx.mu.Lock()
	var left int
	for _, k := range deleted {
		if _, ok := src.idx.m.get(k); ok {
			left++
		}
	}
	src.idx.mu.Unlock()
	if left > 0 || checks.Load() < 3 {
		t.Errorf("after %d checks, %d of the %d rows the site deleted are still in the index", checks.Load(), left, len(deleted))
	}
}

// TestCheckReadsABoundedPartEachTime: a check holds the index's slots of
// the minutes it reads again in memory, so one reads at most rescanMax
// rows of them; a deletion spread over more (clearsessions, a mass
// logout) leaves the index over several checks, all of it in the end.
// Unbounded, a dashboard whose index lagged a busy site read 200,000 keys
// into maps in one check, the process's memory peak; bounded in minutes
// (256), not rows, a busy site's recent minutes (thousands of rows each)
// were still 150,000 slots in one check.
func TestCheckReadsABoundedPartEachTime(t *testing.T) {
	defer func(n int64) { rescanMax = n }(rescanMax)
	rescanMax = 100
	eachJournal(t, func(t *testing.T, site *testSite) {
		now := time.Now().UTC()
		base := now.Truncate(time.Minute).Add(time.Hour) // a minute's rows in one bucket
		// 150 minutes of one row, then three of 60 rows (the busy site's
		// recent minutes).
		var perMinute []int
		for range 150 {
			perMinute = append(perMinute, 1)
		}
		perMinute = append(perMinute, 60, 60, 60)
		total := 0
		for i, n := range perMinute {
			for j := range n {
				site.put(randKey(), base.Add(time.Duration(i)*time.Minute+time.Duration(j)*time.Millisecond), siteMembers("u", 1, "user", now, now)...)
			}
			total += n
		}
		src := site.open(Options{FullSyncEvery: time.Hour})
		if _, err := src.Stats(ctx, data.StatsQuery{Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
		src.idx.wait()
		site.exec("DELETE FROM django_session")
		left := func() int {
			src.idx.mu.Lock()
			defer src.idx.mu.Unlock()
			return src.idx.m.len()
		}
		// 100 one-row minutes; the other 50 (a busy minute more would
		// pass the bound); then each busy minute alone.
		for i, want := range []int{total - 100, total - 150, total - 210, total - 270, 0} {
			if err := src.idx.checkDeletes(ctx); err != nil {
				t.Fatal(err)
			}
			if n := left(); n != want {
				t.Fatalf("after check %d, %d of %d deleted rows are left, want %d (rescanMax %d rows a check)", i+1, n, total, want, rescanMax)
			}
		}
	})
}

// TestCheckPicksEveryDifferingMinuteInTurn: the minutes that differ on
// nearly every check (a busy site's newest ones, where its saves land)
// cannot keep the others from being read: each check goes on from where
// the last one stopped.
func TestCheckPicksEveryDifferingMinuteInTurn(t *testing.T) {
	defer func(n int64) { rescanMax = n }(rescanMax)
	rescanMax = 100
	mine := &expirySpread{first: 0, counts: make([]int32, 64), beyond: map[int64]int64{}}
	differ := map[int64]int64{10: 80, 20: 80, 30: 1}
	var sc checkScratch
	var got [][]int64
	for range 4 {
		got = append(got, slices.Sorted(maps.Keys(sc.pick(differ, mine))))
	}
	want := [][]int64{{10}, {20, 30}, {10}, {20, 30}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("four checks on the same differing minutes read %v, want %v", got, want)
	}
	// What fits is read at once.
	if got := sc.pick(map[int64]int64{5: 0, 6: 0}, mine); len(got) != 2 {
		t.Fatalf("two small minutes: read %v, want both", got)
	}
}

// TestCheckMakesLittleGarbage: a check that reads back thousands of rows
// (buckets that differ: on a busy site the newest minutes, nearly every
// check) allocates little for each row it reads back. It held every key
// of those buckets as strings in two maps and a []row (~500 bytes a row,
// every two seconds): most of a busy site's garbage, and the live data
// behind the dashboard's RSS peaks.
func TestCheckMakesLittleGarbage(t *testing.T) {
	eachDialect(t, func(t *testing.T, site *testSite) {
		if site.d == (sqliteDialect{}) {
			site.exec("PRAGMA journal_mode=WAL") // the checks count on SQLite only in WAL mode
		}
		const n, buckets = 12_000, 200 // 60 rows a minute
		src := site.filled(n, time.Second)
		// The site deletes a row in every minute: every bucket differs.
		site.exec("DELETE FROM django_session WHERE CAST(session_key AS INTEGER) % 60 = 7")
		var read atomic.Int64
		readObserver = func(rows int64) { read.Add(rows) }
		t.Cleanup(func() { readObserver = nil })
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := src.idx.checkDeletes(ctx); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if got, want := src.idx.m.len(), n-buckets; got != want {
			t.Fatalf("after the check the index holds %d rows, want %d", got, want)
		}
		if read.Load() < n/2 {
			t.Fatalf("the check read back %d rows, want most of the %d", read.Load(), n)
		}
		perRow := float64(after.TotalAlloc-before.TotalAlloc) / float64(read.Load())
		// Counted or read back: 392 bytes a row before, on both stores.
		t.Logf("counted or read back %d rows, %.0f bytes a row", read.Load(), perRow)
		if perRow > 150 {
			t.Errorf("the check allocated %.0f bytes a row it counted or read back, want at most 150", perRow)
		}
	})
}
