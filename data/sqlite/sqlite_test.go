package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/data/sqlite"
	"sessionmon/data/storetest"
)

type storeT = sqlite.Store

// openTB opens a store on a fresh file in a temporary directory, closed
// when the test ends.
func openTB(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "sessions.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

func open(t *testing.T) *sqlite.Store { return openTB(t) }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) data.Store { return open(t) })
}

// raw opens a second, plain connection to the store's file, as an operator
// with the sqlite3 shell would.
func raw(t *testing.T, st *sqlite.Store) *sql.DB {
	t.Helper()
	path := strings.TrimPrefix(st.Describe(), "sqlite ")
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mkSessions(t *testing.T, st *sqlite.Store, names ...string) []data.Session {
	t.Helper()
	u, err := st.CreateUser(t.Context(), data.User{Username: "alice", Role: "viewer", CreatedAt: storetest.T0},
		data.AuditEntry{Time: storetest.T0, Action: data.ActionUserAdd})
	if err != nil {
		t.Fatal(err)
	}
	var out []data.Session
	for i, n := range names {
		s := data.Session{
			ID: storetest.SessionID(n), UserID: u.ID, Username: "alice", Role: "viewer",
			Data:      map[string]any{"n": n},
			LoginTime: storetest.T0, LastActivity: storetest.T0,
			ExpiresAt: storetest.T0.Add(time.Duration(i+1) * time.Hour),
		}
		got, err := st.CreateSession(t.Context(), s, "", data.Guard{}, data.AuditEntry{Time: storetest.T0, Action: data.ActionLogin, SessionID: s.ID})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got)
	}
	return out
}

func TestDescribe(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, want := st.Describe(), "sqlite "+filepath.Join(dir, "s.db"); got != want {
		t.Fatalf("Describe = %q, want %q", got, want)
	}
}

func TestOpenOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a b?c#d%20e&f=g")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sessions?.db")
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	defer st.Close()
	if err := st.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not at the path asked for: %v", err)
	}
}

func TestOpenRefusesNonFiles(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db?mode=memory", filepath.Join(t.TempDir(), "no-such-dir", "s.db")} {
		if st, err := sqlite.Open(t.Context(), p); err == nil {
			st.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestReopenAndMigrateAreIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	mkSessions(t, st, "a")
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	st.Close()

	st, err = sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer st.Close()
	if _, err := st.Session(t.Context(), storetest.SessionID("a")); err != nil {
		t.Fatalf("session lost across reopen: %v", err)
	}
	var n int
	var mode string
	db := raw(t, st)
	files, _ := filepath.Glob("migrations/*.sql")
	if err := db.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != len(files) {
		t.Fatalf("schema_migrations rows = %d, %v; want one per migration (%d)", n, err, len(files))
	}
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
}

func TestConcurrentOpenOfANewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			st, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Errorf("Open: %v", err)
				return
			}
			st.Close()
		})
	}
	wg.Wait()
}

func TestRefusesNewerSchema(t *testing.T) {
	st := openTB(t)
	if _, err := raw(t, st).Exec("INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	err := st.Migrate(t.Context())
	if err == nil || !strings.Contains(err.Error(), "9999") {
		t.Fatalf("Migrate on a newer schema = %v, want an error naming 9999", err)
	}
}

func TestAuditIsAppendOnly(t *testing.T) {
	st := openTB(t)
	if err := st.AppendAudit(t.Context(), data.AuditEntry{Time: storetest.T0, Actor: "root", Action: data.ActionForceLogout, Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	db := raw(t, st)
	for _, q := range []string{
		"UPDATE audit SET actor = 'someone-else'",
		"DELETE FROM audit",
		"DELETE FROM audit WHERE id = 1",
		"INSERT OR REPLACE INTO audit (id, time, action) VALUES (1, 0, 'login')",
		"REPLACE INTO audit (id, time, action) VALUES (1, 0, 'login')",
		"INSERT INTO audit (id, time, action) VALUES (1, 0, 'login') ON CONFLICT (id) DO UPDATE SET actor = 'x'",
	} {
		_, err := db.Exec(q)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want refused as append-only", q, err)
		}
	}
	es, err := st.Audit(t.Context(), data.AuditQuery{})
	if err != nil || len(es) != 1 || es[0].Actor != "root" || es[0].Action != data.ActionForceLogout {
		t.Fatalf("audit after the attempts = %+v, %v; want the original entry", es, err)
	}
}

func TestBadTimestampIsRefusedByTheSchema(t *testing.T) {
	st := openTB(t)
	ss := mkSessions(t, st, "a")
	db := raw(t, st)
	for _, q := range []string{
		"UPDATE sessions SET expires_at = 'tomorrow'",
		"UPDATE sessions SET last_activity = 1.5",
		"UPDATE sessions SET ended_at = x'00'",
		"UPDATE users SET created_at = '2024-01-01'",
		"INSERT INTO audit (time, action) VALUES ('now', 'login')",
	} {
		if _, err := db.Exec(q); err == nil {
			t.Errorf("%s: accepted, want refused (STRICT tables)", q)
		}
	}
	if got, err := st.Session(t.Context(), ss[0].ID); err != nil || !got.ExpiresAt.Equal(ss[0].ExpiresAt) {
		t.Fatalf("Session after refused edits = %v, %v", got.ExpiresAt, err)
	}
}

func TestCorruptRowIsAnErrorNamingTheSession(t *testing.T) {
	st := openTB(t)
	ss := mkSessions(t, st, "good-1", "bad", "good-2")
	bad := ss[1].ID
	if _, err := raw(t, st).Exec("UPDATE sessions SET data = '{\"n\": oops' WHERE id = ?", bad); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := storetest.T0.Add(time.Minute)

	check := func(what string, err error) {
		t.Helper()
		var ce *sqlite.CorruptRowError
		if err == nil || !errors.As(err, &ce) || ce.SessionID != bad || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: err = %v, want a CorruptRowError naming %s", what, err, bad)
		}
		if errors.Is(err, data.ErrNotFound) || errors.Is(err, data.ErrEnded) {
			t.Errorf("%s: a corrupt row must not look like a missing or ended one: %v", what, err)
		}
	}

	_, err := st.Session(ctx, bad)
	check("Session", err)

	p, err := st.ListActive(ctx, data.Query{Now: now})
	check("ListActive", err)
	if len(p.Sessions) != 2 || p.Sessions[0].ID != ss[0].ID || p.Sessions[1].ID != ss[2].ID {
		t.Errorf("ListActive returned %d rows, want the 2 good ones", len(p.Sessions))
	}
	// Paging over the bad row: its neighbours still come through.
	var seen []string
	var after *data.Cursor
	for range 5 {
		p, err := st.ListActive(ctx, data.Query{Now: now, Limit: 1, After: after})
		if err != nil {
			check("ListActive page", err)
		}
		for _, s := range p.Sessions {
			seen = append(seen, s.ID)
		}
		if after = p.Next; after == nil {
			break
		}
	}
	if !slices.Equal(seen, []string{ss[0].ID, ss[2].ID}) {
		t.Errorf("paging over the corrupt row saw %d rows, want both good ones", len(seen))
	}

	c, err := st.ChangesSince(ctx, 0, 100)
	check("ChangesSince", err)
	if len(c.Sessions) != 2 || c.Version < ss[2].Version {
		t.Errorf("ChangesSince returned %d rows, Version %d", len(c.Sessions), c.Version)
	}

	_, err = st.Touch(ctx, bad, now, now.Add(time.Hour))
	check("Touch", err)
	_, err = st.Extend(ctx, bad, time.Minute, now, data.AuditEntry{Time: now, Action: data.ActionExtend})
	check("Extend", err)

	// A force-logout of the corrupt session still ends it.
	end := data.End{At: now, Reason: data.EndForced, By: "root"}
	got, err := st.EndSession(ctx, bad, end, data.AuditEntry{Time: now, Action: data.ActionForceLogout, SessionID: bad})
	check("EndSession", err)
	if got.ID != bad || !got.EndedAt.Equal(now) {
		t.Errorf("EndSession returned %+v", got)
	}
	_, err = st.EndSession(ctx, bad, end, data.AuditEntry{Time: now, Action: data.ActionForceLogout, SessionID: bad})
	if !errors.Is(err, data.ErrEnded) {
		t.Errorf("second EndSession = %v, want ErrEnded (the first one ended it)", err)
	}
	if es, _ := st.Audit(ctx, data.AuditQuery{SessionID: bad, Action: data.ActionForceLogout}); len(es) != 1 {
		t.Errorf("force_logout audit entries for the corrupt session = %d, want 1", len(es))
	}
	// The others are unaffected.
	if _, err := st.Touch(ctx, ss[0].ID, now, now.Add(time.Hour)); err != nil {
		t.Errorf("Touch of a good session: %v", err)
	}
}

func TestCancelledContext(t *testing.T) {
	st := openTB(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := st.Touch(ctx, storetest.SessionID("x"), storetest.T0, storetest.T0); err == nil {
		t.Error("Touch with a cancelled context succeeded")
	}
	if _, err := st.ListActive(ctx, data.Query{Now: storetest.T0}); err == nil {
		t.Error("ListActive with a cancelled context succeeded")
	}
	if err := st.Ping(t.Context()); err != nil {
		t.Fatalf("the store is unusable after cancelled calls: %v", err)
	}
}

// TestTwoProcesses: two Stores on one file (as a login server and a
// dashboard would be) write concurrently without SQLITE_BUSY failures or
// shared versions (Touch raises none, so each round also extends).
func TestTwoProcesses(t *testing.T) {
	a := openTB(t)
	b, err := sqlite.Open(t.Context(), strings.TrimPrefix(a.Describe(), "sqlite "))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ss := mkSessions(t, a, "s0", "s1", "s2", "s3")
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int64]bool{}
	for i, st := range []*sqlite.Store{a, b, a, b} {
		wg.Go(func() {
			for j := range 15 {
				now := storetest.T0.Add(time.Duration(j+1) * time.Second)
				if _, err := st.Touch(t.Context(), ss[i].ID, now, now.Add(time.Hour)); err != nil {
					t.Errorf("Touch: %v", err)
					return
				}
				got, err := st.Extend(t.Context(), ss[i].ID, time.Second, now,
					data.AuditEntry{Time: now, Actor: "root", Action: data.ActionExtend, SessionID: ss[i].ID})
				if err != nil {
					t.Errorf("Extend: %v", err)
					return
				}
				mu.Lock()
				if seen[got.Version] {
					t.Errorf("Version %d handed out twice", got.Version)
				}
				seen[got.Version] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
