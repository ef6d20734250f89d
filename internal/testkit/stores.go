// Package testkit is what the tests of several packages share: a fresh
// store of either kind, a Manager with test defaults, a bounded log buffer,
// a polling wait, and an HTTP client for the login server that shows
// redirects and keeps no cookies. It is imported by _test files only.
//
// PostgreSQL stores come from internal/pgtest (a private schema per test):
// they skip when the server is unreachable, and fail instead with
// SESSIONMON_REQUIRE_PG=1 (CI).
package testkit

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"sessionmon/data"
	"sessionmon/data/postgres"
	"sessionmon/data/sqlite"
	"sessionmon/internal/pgtest"
	"sessionmon/sessionlogic"
)

// OpenSQLite opens a fresh SQLite store in t.TempDir() and closes it when
// the test ends (a test may close it earlier: Close is idempotent).
func OpenSQLite(t testing.TB) *sqlite.Store {
	t.Helper()
	return OpenSQLiteFile(t, filepath.Join(t.TempDir(), "sessions.db"))
}

// OpenSQLiteFile opens (creating and migrating) the SQLite store at path and
// closes it when the test ends.
func OpenSQLiteFile(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open sqlite %s: %v", path, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// OpenPostgres opens a migrated store on a fresh schema of the test server
// (see pgtest) with a small pool, and closes it when the test ends.
func OpenPostgres(t testing.TB) *postgres.Store {
	t.Helper()
	st, _ := OpenPostgresDSN(t)
	return st
}

// OpenPostgresDSN is OpenPostgres that also returns the schema's DSN, for a
// test that looks at the tables behind the store's back.
func OpenPostgresDSN(t testing.TB) (*postgres.Store, string) {
	t.Helper()
	dsn := pgtest.DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := postgres.OpenAndMigrate(ctx, SmallPool(dsn))
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st, dsn
}

// SmallPool limits a URL DSN's pool to 4 connections: parallel tests must
// not exhaust the server's connections. Other DSNs are returned as they are.
func SmallPool(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn
	}
	q := u.Query()
	q.Set("pool_max_conns", "4")
	u.RawQuery = q.Encode()
	return u.String()
}

// Kind is one kind of store a test runs on.
type Kind struct {
	Name string
	Open func(t testing.TB) data.Store
}

// Kinds are both stores: SQLite, the embedded default, and PostgreSQL, the
// scale-out store.
var Kinds = []Kind{
	{"sqlite", func(t testing.TB) data.Store { return OpenSQLite(t) }},
	{"postgres", func(t testing.TB) data.Store { return OpenPostgres(t) }},
}

// NewManager is a Manager on st with the defaults tests want: save every
// request, bcrypt.MinCost, a store timeout generous enough for -race on a
// loaded 2-core machine, and no log. tweak adjusts the options after that.
func NewManager(t testing.TB, st data.Store, tweak ...func(*sessionlogic.Options)) *sessionlogic.Manager {
	t.Helper()
	opts := sessionlogic.Options{
		Store:            st,
		SaveEveryRequest: true,
		PasswordCost:     bcrypt.MinCost,
		StoreTimeout:     10 * time.Second,
		Logger:           slog.New(slog.DiscardHandler),
	}
	for _, f := range tweak {
		f(&opts)
	}
	m, err := sessionlogic.New(opts)
	if err != nil {
		t.Fatalf("sessionlogic.New: %v", err)
	}
	return m
}

// WaitFor polls cond every few milliseconds until it holds, and fails the
// test when d passes first.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// LogBuffer collects a test's log, to print when the test fails. It keeps
// the last MaxLog bytes or so (a fuzzing run writes millions of lines): past
// that, the older half is dropped.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// MaxLog bounds what a LogBuffer keeps.
const MaxLog = 1 << 20

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.buf.Len() > MaxLog {
		b.buf.Next(b.buf.Len() - MaxLog/2)
	}
	return n, err
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Logger is a debug-level text logger writing to b.
func (b *LogBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Contains is a teatest.WaitFor condition: the output holds every one of
// subs.
func Contains(subs ...string) func([]byte) bool {
	return func(b []byte) bool {
		for _, s := range subs {
			if !bytes.Contains(b, []byte(s)) {
				return false
			}
		}
		return true
	}
}
