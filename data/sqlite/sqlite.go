// Package sqlite is the embedded default data.Store: one SQLite file in WAL
// mode, through modernc.org/sqlite (pure Go, no cgo), so one machine needs
// nothing installed.
//
// Connections. A Store holds two database/sql pools on the same file, and
// a third connection of its own:
//
//   - a writer pool of exactly one connection. Every write in this process
//     goes through it, so writers queue in Go (cheaply, honouring the
//     context) instead of contending for SQLite's single write lock and
//     failing with SQLITE_BUSY. Its transactions BEGIN IMMEDIATE, so a
//     transaction takes the write lock before it reads and can never fail
//     half-way with a stale snapshot when another process wrote meanwhile.
//   - a reader pool of a few query_only connections. In WAL mode readers
//     never block the writer nor each other, so the dashboard's listing does
//     not hold up logins and touches.
//   - a checkpointer's: a goroutine, stopped by Close, that keeps the WAL
//     bounded beside SQLite's auto-checkpoint (checkpoint.go).
//
// Other processes on the same file (a login server, a dashboard, `sessions
// purge`) are serialised by SQLite's own lock; busy_timeout makes them wait
// up to five seconds for it instead of failing at once.
//
// Versions. The next session version is max(max(sessions.version),
// counters.version) + 1, computed inside the statement that writes the row.
// SQLite runs one writer at a time, so the value is always new; the unique
// index on sessions.version makes max() one index probe and would refuse a
// duplicate. Purge raises the counter to the highest version before it
// deletes, so versions are never reused. This keeps Touch, the hot path, to a
// single UPDATE ... RETURNING with no explicit transaction.
//
// Times are stored as INTEGER unix microseconds in UTC, in STRICT tables.
//
// Change notices. Store implements data.Watcher in process: the methods that
// log a session in, end one or extend one tell this Store's watchers after
// they commit. Commits by other processes on the same file are not heard;
// their dashboards rely on polling (see Watch).
//
// Corrupt rows. A session row that cannot be decoded (bad JSON in data) is
// reported as a *CorruptRowError naming the session, never a panic. Reads
// of many rows (ListActive, ChangesSince) return the good rows together with
// that error, and ListActive's cursor steps past the bad row. EndSession
// still ends a corrupt session (a force-logout must not be blocked by it).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"sessionmon/data"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// BusyTimeout is how long a connection waits for a lock held by another
// process before it gives up with SQLITE_BUSY.
const BusyTimeout = 5 * time.Second

// Store is the SQLite data.Store. It is safe for concurrent use.
type Store struct {
	path string
	w    *sql.DB // exactly one connection: every write
	r    *sql.DB // query_only readers
	ws   *stmts  // statements of w, all prepared at Open
	rs   *stmts  // statements of r: fixed ones at Open, ListActive/Audit shapes on first use

	notices *notifier     // this Store's watchers (watch.go)
	ckpt    *checkpointer // the WAL checkpoint policy (checkpoint.go); nil when off
}

var _ data.Store = (*Store)(nil)

// Open opens the SQLite database at path, creating the file if needed (not
// its directory), and brings its schema up to date (Migrate).
//
// Every connection runs with foreign_keys=ON and busy_timeout=5000. The file
// is in WAL mode with synchronous=NORMAL, deliberately:
//
//   - In WAL mode, NORMAL appends each commit to the WAL without an fsync;
//     the WAL is fsynced at checkpoints. A committed transaction therefore
//     survives a crash of any process (it is in the WAL, which the next open
//     replays), and the database is never corrupted.
//   - What NORMAL gives up: after an OS crash or power loss, the
//     transactions committed since the last checkpoint can be rolled back
//     (whole transactions, each with its audit entry; never half of one).
//   - What it buys: FULL fsyncs every commit, about eight times slower on
//     this hardware (NOTES.md: ≈20k vs ≈2.5k UPDATE/s), and Touch runs on
//     every authenticated request.
//   - The exposure, for sessions: touches and logins of the last moments
//     before a power cut are lost (people log in again), and a logout or
//     force-logout made in those moments can be undone. An operator whose
//     machine lost power should repeat the force-logouts made just before.
//     Deployments that cannot accept that run on PostgreSQL.
//
// The WAL is kept bounded by the Store itself (checkpoint.go): SQLite's
// wal_autocheckpoint at 1000 pages, journal_size_limit so a WAL that was
// restarted is truncated back, and a goroutine the Store owns (stopped by
// Close) that checkpoints every CheckpointInterval and truncates the WAL
// when writes pause or it grows past WALTruncateFrames.
//
// Several processes may open the same new file at once: the steps that take
// SQLite's locks before busy_timeout can apply (switching the new file to
// WAL, the first migration) are retried on SQLITE_BUSY for up to
// BusyTimeout. A file that this process cannot write (the database, its
// -wal or -shm, or the directory) is refused with one line naming it and
// its permission.
func Open(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, CheckpointInterval)
}

// open is Open with the checkpointer's interval (0: no checkpointer, for
// the tests that check SQLite's own auto-checkpoint alone).
func open(ctx context.Context, path string, checkpointEvery time.Duration) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open: want a file path, got %q", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := checkWritable(abs); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	// A file: URI with the path escaped, so names with '?', '#' or '%'
	// reach SQLite intact.
	uri := (&url.URL{Scheme: "file", Path: abs}).String()
	common := "_pragma=busy_timeout(" + strconv.FormatInt(BusyTimeout.Milliseconds(), 10) + ")&_pragma=foreign_keys(1)"

	s := &Store{path: abs, notices: newNotifier()}
	s.w, err = sql.Open("sqlite", uri+"?"+common+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"+
		"&_pragma=wal_autocheckpoint("+strconv.Itoa(autoCheckpointPages)+")"+
		"&_pragma=journal_size_limit("+strconv.FormatInt(journalSizeLimit, 10)+")")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)

	fail := func(err error) (*Store, error) {
		s.Close()
		// A read-only -shm left by another user's run, say, shows up
		// only now, as "attempt to write a readonly database": name the
		// file in the way if there is one.
		if werr := checkWritable(abs); werr != nil {
			err = fmt.Errorf("%w (%w)", werr, err)
		}
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	if err := retryBusy(ctx, func() error { return s.setUp(ctx) }); err != nil {
		return fail(err)
	}

	s.r, err = sql.Open("sqlite", uri+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		return fail(err)
	}
	readers := min(max(runtime.GOMAXPROCS(0), 2), 8)
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)

	s.ws, s.rs = newStmts(s.w), newStmts(s.r)
	if err := s.ws.prepare(ctx, writerSQL...); err != nil {
		return fail(err)
	}
	if err := s.rs.prepare(ctx, readerSQL...); err != nil {
		return fail(err)
	}
	if checkpointEvery > 0 {
		if s.ckpt, err = startCheckpointer(uri, checkpointEvery); err != nil {
			return fail(err)
		}
	}
	return s, nil
}

// setUp opens the writer connection (which switches a new file to WAL) and
// brings the schema up to date: the steps of Open that can meet SQLITE_BUSY
// when several processes open a new file at once.
func (s *Store) setUp(ctx context.Context) error {
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	return s.Migrate(ctx)
}

// retryBusy runs fn until it returns anything but SQLITE_BUSY, for up to
// BusyTimeout, with a growing pause between tries.
//
// busy_timeout does not cover every lock: a connection that opens a file
// another process is switching to WAL, or that holds a read lock while it
// asks for the write lock on a file still in rollback-journal mode, gets
// SQLITE_BUSY at once (SQLite does not wait where waiting could deadlock).
// Those happen only while a new file is being set up, so Open retries
// them; a file in use is in WAL mode and never hits them.
func retryBusy(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(BusyTimeout)
	pause := 5 * time.Millisecond
	for {
		err := fn()
		if !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(pause + time.Duration(rand.Int64N(int64(pause))))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

func isBusy(err error) bool { return sqliteCode(err)&0xff == sqlite3.SQLITE_BUSY }

// Close stops the checkpointer, ends every Watch and closes both pools.
// Closing the last connection checkpoints the WAL and removes it.
func (s *Store) Close() error {
	errs := []error{s.ckpt.stop()}
	s.notices.close()
	for _, c := range []*stmts{s.ws, s.rs} {
		if c != nil {
			errs = append(errs, c.close())
		}
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// Describe names the store for operators: "sqlite /abs/path/file.db".
func (s *Store) Describe() string { return "sqlite " + s.path }

// Ping checks that the file can be read through both pools.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.rs.queryRow(ctx, pingSQL).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// ---- migrations --------------------------------------------------------------

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration %q: want NNNN_name.sql", name)
		}
		b, err := migrationFS.ReadFile("migrations/" + name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %q and %q share version %d", out[i-1].name, out[i].name, out[i].version)
		}
	}
	return out, nil
}

// Migrate applies the embedded migrations that the database has not seen,
// each in its own transaction together with its schema_migrations row. It is
// idempotent and safe to run from several processes at once: the write lock
// is taken before the applied versions are read. A database migrated by a
// newer binary (versions this one does not know) is refused.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	known := map[int]bool{}
	for _, m := range ms {
		known[m.version] = true
		if err := s.apply(ctx, m); err != nil {
			return fmt.Errorf("sqlite: migrate %s: %w", m.name, err)
		}
	}
	rows, err := s.w.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		if !known[v] {
			return fmt.Errorf("sqlite: migrate: the database has migration %d, unknown to this binary (newer version?)", v)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

func (s *Store) apply(ctx context.Context, m migration) error {
	tx, err := s.w.BeginTx(ctx, nil) // IMMEDIATE: holds the write lock from here
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		m.version, m.name, time.Now().UTC().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}

// ---- helpers -----------------------------------------------------------------

// inTx runs fn in one write transaction (BEGIN IMMEDIATE) and wraps its
// error with the operation's name.
func (s *Store) inTx(ctx context.Context, op string, fn func(t tq) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	if err := fn(tq{ctx, tx, s.ws}); err != nil {
		tx.Rollback()
		return wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// readTx runs fn in one read transaction on the reader pool: every query in
// it sees the same snapshot. Only statements prepared at Open run in it (a
// lazy prepare would need a second reader connection while holding one).
func (s *Store) readTx(ctx context.Context, op string, fn func(t tq) error) error {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback()
	if err := fn(tq{ctx, tx, s.rs}); err != nil {
		return wrap(op, err)
	}
	return nil
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// sqliteCode returns the extended result code of err, or 0.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

func isUniqueViolation(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func isForeignKeyViolation(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// micros converts t to the stored form.
func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros stores the zero time as NULL.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func insertAudit(t tq, e data.AuditEntry) error {
	_, err := t.exec(insertAuditSQL, micros(e.Time), e.Actor, e.Action, e.Username, e.SessionID, e.IP, e.Detail)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}
