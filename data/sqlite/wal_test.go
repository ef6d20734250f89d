package sqlite_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/data/sqlite"
	"sessionmon/data/storetest"
)

// WAL bounds the tests assert. SQLite's auto-checkpoint runs at 1,000
// frames; with nothing holding it back the WAL restarts right after, so it
// never holds much more than that plus one transaction. Today's main (no
// checkpoint after Touch) passes 1,000 frames after about 300 touches.
const (
	maxWALFrames = 2000
	maxWALBytes  = 8 << 20
)

// walFile is the size of path's -wal file and the frames that fit in it
// (its 32-byte header, then frames of a 24-byte header and one page).
func walFile(t testing.TB, path string) (size, frames int64) {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if os.IsNotExist(err) {
		return 0, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096 // SQLite's default, which the store keeps
	return fi.Size(), max(fi.Size()-32, 0) / (pageSize + 24)
}

// walWatch samples the WAL of path and keeps the largest it saw.
type walWatch struct {
	t                    testing.TB
	path                 string
	maxSize, maxFrames   int64
	samples, lastSampled int
}

func (w *walWatch) sample() {
	size, frames := walFile(w.t, w.path)
	w.maxSize, w.maxFrames = max(w.maxSize, size), max(w.maxFrames, frames)
	w.samples++
}

func (w *walWatch) check(what string, n int) {
	w.t.Helper()
	w.sample()
	if w.maxSize >= maxWALBytes || w.maxFrames >= maxWALFrames {
		w.t.Errorf("%s x%d: the WAL reached %d bytes, %d frames; want under %d bytes and %d frames (the WAL is not being checkpointed)",
			what, n, w.maxSize, w.maxFrames, maxWALBytes, maxWALFrames)
	}
}

// TestWALStaysBoundedForEveryWriterStatement runs each writer statement
// that returns rows (UPDATE/INSERT … RETURNING) many times with the
// Store's checkpointer off, so that SQLite's auto-checkpoint alone must
// keep the WAL bounded: it runs only when a statement steps to
// SQLITE_DONE, which a statement read with sql.Row never does.
func TestWALStaysBoundedForEveryWriterStatement(t *testing.T) {
	n := 6000
	if testing.Short() || raceEnabled {
		n = 2000 // still 10,000 frames without the fix
	}
	type op struct {
		name string
		n    int
		run  func(t *testing.T, st *sqlite.Store, ss []data.Session, i int) error
	}
	at := func(i int) time.Time { return storetest.T0.Add(time.Duration(i+1) * time.Millisecond) }
	audit := func(i int, a string) data.AuditEntry { return data.AuditEntry{Time: at(i), Action: a} }
	ops := []op{
		{"Touch (autocommit UPDATE … RETURNING)", n, func(t *testing.T, st *sqlite.Store, ss []data.Session, i int) error {
			_, err := st.Touch(t.Context(), ss[i%len(ss)].ID, at(i), at(i).Add(time.Hour))
			return err
		}},
		{"CreateSession (INSERT … RETURNING)", n / 4, func(t *testing.T, st *sqlite.Store, ss []data.Session, i int) error {
			s := ss[0]
			s.ID = storetest.SessionID(fmt.Sprint("new-", i))
			_, err := st.CreateSession(t.Context(), s, "", data.Guard{}, audit(i, data.ActionLogin))
			return err
		}},
		{"Extend (UPDATE … RETURNING in a transaction)", n / 4, func(t *testing.T, st *sqlite.Store, ss []data.Session, i int) error {
			_, err := st.Extend(t.Context(), ss[i%len(ss)].ID, time.Microsecond, storetest.T0, audit(i, data.ActionExtend))
			return err
		}},
		{"SetUserRole (UPDATE users … RETURNING)", n / 4, func(t *testing.T, st *sqlite.Store, ss []data.Session, i int) error {
			_, err := st.SetUserRole(t.Context(), "alice", fmt.Sprint("role-", i%7), audit(i, data.ActionUserRole))
			return err
		}},
		{"EndSession (UPDATE … RETURNING, ending)", n / 4, func(t *testing.T, st *sqlite.Store, ss []data.Session, i int) error {
			s := ss[0]
			s.ID = storetest.SessionID(fmt.Sprint("end-", i))
			if _, err := st.CreateSession(t.Context(), s, "", data.Guard{}, audit(i, data.ActionLogin)); err != nil {
				return err
			}
			_, err := st.EndSession(t.Context(), s.ID, data.End{At: at(i), Reason: data.EndForced, By: "root"}, audit(i, data.ActionForceLogout))
			return err
		}},
	}
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			st, err := sqlite.OpenWithCheckpointEvery(t.Context(), path, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ss := mkSessions(t, st, "a", "b", "c", "d")
			w := &walWatch{t: t, path: path}
			for i := range o.n {
				if err := o.run(t, st, ss, i); err != nil {
					t.Fatalf("op %d: %v", i, err)
				}
				if i%50 == 0 {
					w.sample()
				}
			}
			w.check(o.name, o.n)
		})
	}
}

// TestCheckpointerTruncatesTheWALWhenWritesPause: after a burst, the
// Store's own checkpointer empties the -wal file without any further
// write and without Close.
func TestCheckpointerTruncatesTheWALWhenWritesPause(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := sqlite.OpenWithCheckpointEvery(t.Context(), path, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ss := mkSessions(t, st, "a", "b")
	for i := range 500 {
		now := storetest.T0.Add(time.Duration(i+1) * time.Millisecond)
		if _, err := st.Touch(t.Context(), ss[i%2].ID, now, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		size, _ := walFile(t, path)
		if size == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the -wal file is still %d bytes 10 s after the last write; want it truncated to 0", size)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Still a working store, and the data is there.
	if got, err := st.Session(t.Context(), ss[0].ID); err != nil || !got.LastActivity.After(storetest.T0) {
		t.Fatalf("Session after the truncation = %v, %v", got.LastActivity, err)
	}
}

// TestCloseStopsTheCheckpointer: Close waits for the checkpointer's
// goroutine, so opening and closing stores leaks none.
func TestCloseStopsTheCheckpointer(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.OpenWithCheckpointEvery(t.Context(), filepath.Join(dir, "warm.db"), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if !st.CheckpointerRunning() {
		t.Fatal("the checkpointer is not running after Open")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if st.CheckpointerRunning() {
		t.Fatal("the checkpointer still runs after Close")
	}

	before := runtime.NumGoroutine()
	for i := range 20 {
		st, err := sqlite.OpenWithCheckpointEvery(t.Context(), filepath.Join(dir, fmt.Sprint(i, ".db")), time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Millisecond) // let it tick
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var after int
	for range 100 { // database/sql's own goroutines end shortly after Close
		if after = runtime.NumGoroutine(); after <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	t.Fatalf("goroutines: %d before 20 Open/Close, %d after\n%s", before, after, buf[:runtime.Stack(buf, true)])
}

// TestReadersHoldNoSnapshotBetweenCalls: after every kind of read (some
// stop before their last row), a TRUNCATE checkpoint from another
// connection, which must wait for every reader of an old snapshot,
// finishes at once. A reader left open would hold the WAL for ever.
func TestReadersHoldNoSnapshotBetweenCalls(t *testing.T) {
	st := openTB(t)
	ss := mkSessions(t, st, "a", "b", "c", "d", "e")
	ctx := t.Context()
	now := storetest.T0.Add(time.Minute)
	for _, s := range ss {
		if _, err := st.Touch(ctx, s.ID, now, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Session(ctx, ss[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UserByUsername(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ListUsers(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := st.ListActive(ctx, data.Query{Now: now, Limit: 2}); err != nil || p.Next == nil {
		t.Fatalf("ListActive stopping early: %v, %v", p.Next, err)
	}
	if _, err := st.Stats(ctx, data.StatsQuery{Now: now, ExpiryWindow: time.Hour, LoginWindow: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if c, err := st.ChangesSince(ctx, 0, 2); err != nil || !c.More {
		t.Fatalf("ChangesSince stopping early: %v, %v", c.More, err)
	}
	if _, err := st.Audit(ctx, data.AuditQuery{Limit: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecentFailures(ctx, data.FailureQuery{Username: "alice", IP: "1.2.3.4", Since: storetest.T0, MaxByUser: 5, MaxByIP: 5}); err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	conn, err := raw(t, st).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		t.Fatal(err)
	}
	var busy, frames, copied int
	if err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &copied); err != nil {
		t.Fatal(err)
	}
	if busy != 0 {
		t.Fatalf("wal_checkpoint(TRUNCATE) = busy (%d frames, %d copied): a connection of the store still holds a read snapshot", frames, copied)
	}
	if size, _ := walFile(t, strings.TrimPrefix(st.Describe(), "sqlite ")); size != 0 {
		t.Fatalf("-wal is %d bytes after TRUNCATE", size)
	}
}
