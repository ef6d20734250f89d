package postgres

// PostgreSQL-specific tests. The behaviour every store shares is checked by
// data/storetest (TestConformance); these cover what only this store has:
// round trips, NOTIFY, migrations, the append-only trigger, corrupt rows,
// configuration and redaction.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"sessionmon/data"
	"sessionmon/internal/pgtest"
)

var t0 = time.Date(2031, time.March, 4, 5, 6, 7, 891011000, time.UTC)

// countingConn counts writes to the server: pgx writes each round trip's
// messages (Bind, Execute, Sync) with one Write.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// openCounting opens a migrated one-connection store whose writes to the
// server are counted.
func openCounting(t *testing.T, opts ...Option) (*Store, *atomic.Int64) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	writes := new(atomic.Int64)
	var d net.Dialer
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, writes}, nil
	}
	st, err := openConfig(t.Context(), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st, writes
}

func sessionID(name string) string { return fmt.Sprintf("%064x", name) }

func mkSession(t *testing.T, st *Store, u data.User, name string) data.Session {
	t.Helper()
	s, err := st.CreateSession(t.Context(), data.Session{
		ID: sessionID(name), UserID: u.ID, Username: u.Username, Role: u.Role, Status: u.Status,
		LoginTime: t0, LastActivity: t0, ExpiresAt: t0.Add(time.Hour),
		AbsoluteExpiresAt: t0.Add(2 * time.Hour),
	}, "", data.Guard{}, data.AuditEntry{Time: t0, Actor: u.Username, Action: data.ActionLogin, Username: u.Username, SessionID: sessionID(name)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mkUser(t *testing.T, st *Store, name string) data.User {
	t.Helper()
	u, err := st.CreateUser(t.Context(), data.User{Username: name, Role: "viewer", Status: data.StatusActive, CreatedAt: t0},
		data.AuditEntry{Time: t0, Actor: "root", Action: data.ActionUserAdd, Username: name})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Touch, the hot path, and every state change are one round trip once the
// connection has prepared the statement.
func TestOneRoundTrip(t *testing.T) {
	st, writes := openCounting(t)
	ctx := t.Context()
	u := mkUser(t, st, "alice")

	rounds := func(name string, want int64, f func() error) {
		t.Helper()
		if err := f(); err != nil { // prepares and caches the statement
			t.Fatalf("%s (warm-up): %v", name, err)
		}
		writes.Store(0)
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := writes.Load(); got != want {
			t.Errorf("%s took %d round trips, want %d", name, got, want)
		}
	}
	s := mkSession(t, st, u, "a")
	now := t0.Add(time.Minute)
	rounds("Touch", 1, func() error {
		_, err := st.Touch(ctx, s.ID, now, now.Add(time.Hour))
		return err
	})
	rounds("Touch of an unknown session", 1, func() error {
		if _, err := st.Touch(ctx, sessionID("nope"), now, now.Add(time.Hour)); !errors.Is(err, data.ErrNotFound) {
			return fmt.Errorf("got %v, want ErrNotFound", err)
		}
		return nil
	})
	n := 0
	rounds("CreateSession", 1, func() error {
		n++
		mkSession(t, st, u, fmt.Sprint("c", n))
		return nil
	})
	if err := st.RehashPassword(ctx, u.Username, u.PasswordHash, "hash"); err != nil {
		t.Fatal(err)
	}
	rounds("guarded CreateSession", 1, func() error {
		n++
		_, err := st.CreateSession(ctx, data.Session{
			ID: sessionID(fmt.Sprint("g", n)), UserID: u.ID, Username: u.Username, Status: u.Status,
			LoginTime: t0, LastActivity: t0, ExpiresAt: t0.Add(time.Hour),
		}, "", data.Guard{PasswordHash: "hash"}, data.AuditEntry{Action: data.ActionLogin})
		return err
	})
	rounds("Extend", 1, func() error {
		_, err := st.Extend(ctx, s.ID, time.Second, now, data.AuditEntry{Action: data.ActionExtend})
		return err
	})
	n = 0
	rounds("EndSession", 1, func() error {
		n++
		_, err := st.EndSession(ctx, sessionID(fmt.Sprint("c", n)), data.End{At: now, Reason: data.EndForced, By: "root"},
			data.AuditEntry{Action: data.ActionForceLogout})
		return err
	})
	rounds("ChangesSince", 1, func() error {
		_, err := st.ChangesSince(ctx, 0, 10)
		return err
	})
	rounds("RecentFailures", 1, func() error {
		_, err := st.RecentFailures(ctx, data.FailureQuery{
			Username: "alice", IP: "192.0.2.1", Since: t0, MaxByUser: 100, MaxByIP: 20, MaxByUserIP: 5,
		})
		return err
	})
}

// Logins, ends and extends notify on ChangeChannel in their transaction;
// Touch and calls that change nothing do not.
func TestNotify(t *testing.T) {
	dsn := pgtest.DSN(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1 // one backend, so its pid tells our notifications from other tests'
	st, err := openConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var pid uint32
	if err := st.pool.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}

	lc, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close(context.Background())
	if err := listen(ctx, lc); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 100)
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			n, err := lc.WaitForNotification(lctx)
			if err != nil {
				return
			}
			if n.PID == pid {
				got <- n.Payload
			}
		}
	})
	defer wg.Wait()
	defer stop()

	expect := func(what, want string) {
		t.Helper()
		// A notification sent after the one we want would arrive after it,
		// so waiting for a later expected one also proves none came between.
		select {
		case p := <-got:
			if p != want {
				t.Fatalf("after %s: notification %q, want %q", what, p, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("after %s: no notification %q", what, want)
		}
	}
	u := mkUser(t, st, "alice")
	s := mkSession(t, st, u, "a")
	expect("login", "login")

	now := t0.Add(time.Minute)
	if _, err := st.Touch(ctx, s.ID, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EndUserSessions(ctx, 999, data.End{At: now, Reason: data.EndForced}, data.AuditEntry{Action: data.ActionForceLogoutAll}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Extend(ctx, s.ID, 24*time.Hour, now, data.AuditEntry{Action: data.ActionExtend}); !errors.Is(err, data.ErrBeyondLimit) {
		t.Fatalf("Extend past the limit: %v", err)
	}
	if _, err := st.Extend(ctx, s.ID, time.Minute, now, data.AuditEntry{Action: data.ActionExtend}); err != nil {
		t.Fatal(err)
	}
	expect("touch, a no-op end and a refused extend, then an extend", "extend")

	if _, err := st.EndSession(ctx, s.ID, data.End{At: now, Reason: data.EndLogout}, data.AuditEntry{Action: data.ActionLogout}); err != nil {
		t.Fatal(err)
	}
	expect("end", "end")
	if _, err := st.EndSession(ctx, s.ID, data.End{At: now, Reason: data.EndLogout}, data.AuditEntry{Action: data.ActionLogout}); !errors.Is(err, data.ErrEnded) {
		t.Fatalf("second EndSession: %v", err)
	}
	mkSession(t, st, u, "b")
	expect("a refused end, then a login", "login")
	if _, _, err := st.SetUserStatus(ctx, "alice", data.StatusInactive, data.End{At: now, Reason: data.EndForced},
		data.AuditEntry{Action: data.ActionUserDeactivate}); err != nil {
		t.Fatal(err)
	}
	expect("deactivate", "end")
}

// Many replicas may migrate one schema at once; the schema is created once
// and migrating again changes nothing.
func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := t.Context()
	const replicas = 8
	var wg sync.WaitGroup
	errs := make(chan error, replicas)
	for range replicas {
		wg.Go(func() {
			st, err := Open(ctx, dsn)
			if err != nil {
				errs <- err
				return
			}
			defer st.Close()
			errs <- st.Migrate(ctx)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate: %v", err)
		}
	}

	st, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := mkUser(t, st, "alice")
	mkSession(t, st, u, "a")
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var rows, highest int
	if err := st.pool.QueryRow(ctx, "SELECT count(*), max(version) FROM schema_migrations").Scan(&rows, &highest); err != nil {
		t.Fatal(err)
	}
	if rows != len(ms) || highest != SchemaVersion() {
		t.Fatalf("schema_migrations: %d rows up to %d; want %d up to %d", rows, highest, len(ms), SchemaVersion())
	}
	if _, err := st.Session(ctx, sessionID("a")); err != nil {
		t.Fatalf("data lost by a second Migrate: %v", err)
	}
}

func TestCheckSchema(t *testing.T) {
	st, err := Open(t.Context(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CheckSchema(t.Context()); err == nil || !strings.Contains(err.Error(), "sessionmon migrate") {
		t.Fatalf("CheckSchema before Migrate: %v", err)
	}
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckSchema(t.Context()); err != nil {
		t.Fatalf("CheckSchema after Migrate: %v", err)
	}
}

func TestMigrateWithoutSchema(t *testing.T) {
	dsn := pgtest.DSN(t)
	st, err := Open(t.Context(), strings.Replace(dsn, "search_path=", "search_path=no_such_schema_", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(t.Context()); err == nil || !strings.Contains(err.Error(), "no schema") {
		t.Fatalf("Migrate into a missing schema: %v", err)
	}
}

func TestMigrationFiles(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.version != i+1 {
			t.Fatalf("migration %s: version %d, want %d (no gaps)", m.name, m.version, i+1)
		}
		if strings.Contains(strings.ToUpper(m.sql), "CONCURRENTLY") {
			t.Errorf("migration %s: CONCURRENTLY cannot run in Migrate's transaction", m.name)
		}
	}
}

// The audit table refuses UPDATE, DELETE and TRUNCATE even from SQL.
func TestAuditAppendOnly(t *testing.T) {
	st := openTest(t)
	ctx := t.Context()
	if err := st.AppendAudit(ctx, data.AuditEntry{Time: t0, Actor: "root", Action: data.ActionPurge}); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		"UPDATE audit SET actor = 'mallory'",
		"DELETE FROM audit",
		"TRUNCATE audit",
	} {
		if _, err := st.pool.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want append-only refusal", sql, err)
		}
	}
	es, err := st.Audit(ctx, data.AuditQuery{})
	if err != nil || len(es) != 1 || es[0].Actor != "root" {
		t.Fatalf("audit after the attempts = %+v, %v", es, err)
	}
}

// A corrupt row is an error naming the session, never a panic.
func TestCorruptRows(t *testing.T) {
	st := openTest(t)
	ctx := t.Context()
	u := mkUser(t, st, "alice")
	for _, c := range []struct{ name, set string }{
		{"array", `data = '[1, 2]'`},
		{"string", `data = '"x"'`},
		{"null", `data = 'null'`},
		{"infinite", `expires_at = 'infinity'`},
		{"minus-infinite", `login_time = '-infinity'`},
	} {
		s := mkSession(t, st, u, c.name)
		if _, err := st.pool.Exec(ctx, "UPDATE sessions SET "+c.set+" WHERE id = $1", s.ID); err != nil {
			t.Fatal(err)
		}
		_, err := st.Session(ctx, s.ID)
		if err == nil || !strings.Contains(err.Error(), s.ID) {
			t.Errorf("%s: Session err = %v, want one naming %s", c.name, err, s.ID)
		}
		if _, err := st.ChangesSince(ctx, 0, 100); err == nil || !strings.Contains(err.Error(), s.ID) {
			t.Errorf("%s: ChangesSince err = %v, want one naming the session", c.name, err)
		}
		if _, err := st.pool.Exec(ctx, "DELETE FROM sessions WHERE id = $1", s.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// A corrupt row never hides the good ones: listings return them together
// with a *data.RowError naming the bad session.
func TestCorruptRowDoesNotHideOthers(t *testing.T) {
	st := openTest(t)
	ctx := t.Context()
	u := mkUser(t, st, "alice")
	good1, bad, good2 := mkSession(t, st, u, "g1"), mkSession(t, st, u, "bad"), mkSession(t, st, u, "g2")
	if _, err := st.pool.Exec(ctx, `UPDATE sessions SET data = '[1]' WHERE id = $1`, bad.ID); err != nil {
		t.Fatal(err)
	}
	page, err := st.ListActive(ctx, data.Query{Now: t0})
	var re *data.RowError
	if !errors.As(err, &re) || re.SessionID != bad.ID {
		t.Fatalf("ListActive err = %v, want a RowError naming %s", err, bad.ID)
	}
	ids := map[string]bool{}
	for _, s := range page.Sessions {
		ids[s.ID] = true
	}
	if len(page.Sessions) != 2 || !ids[good1.ID] || !ids[good2.ID] {
		t.Fatalf("ListActive returned %d rows, want the two good ones", len(page.Sessions))
	}
	ch, err := st.ChangesSince(ctx, 0, 100)
	if !errors.As(err, &re) || len(ch.Sessions) != 2 {
		t.Fatalf("ChangesSince = %d rows, %v; want 2 and a RowError", len(ch.Sessions), err)
	}
}

// Purging every row keeps the highest version handed out, and the sequence
// never hands it out again.
func TestVersionAfterPurgingEverything(t *testing.T) {
	st := openTest(t)
	ctx := t.Context()
	u := mkUser(t, st, "alice")
	s := mkSession(t, st, u, "a")
	s, err := st.Touch(ctx, s.ID, t0.Add(time.Minute), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := st.Purge(ctx, t0.Add(3*time.Hour), data.AuditEntry{Action: data.ActionPurge}); err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	c, err := st.ChangesSince(ctx, 0, 10)
	if err != nil || len(c.Sessions) != 0 || c.Version != s.Version {
		t.Fatalf("ChangesSince on an empty table = %+v, %v; want Version %d", c, err, s.Version)
	}
	if next := mkSession(t, st, u, "b"); next.Version <= s.Version {
		t.Fatalf("version %d handed out again after purge (had %d)", next.Version, s.Version)
	}
}

func TestOpenConfig(t *testing.T) {
	ctx := t.Context()
	for _, c := range []struct{ dsn, desc string }{
		{"postgres://alice:s3cret@db.example:6543/prod?sslmode=disable", "postgres alice@db.example:6543/prod"},
		{"host=db.example port=6543 user=alice password=s3cret dbname=prod sslmode=disable", "postgres alice@db.example:6543/prod"},
		{"postgres://alice:s3cret@[2001:db8::1]:5432/prod?sslmode=disable", "postgres alice@[2001:db8::1]:5432/prod"},
	} {
		st, err := Open(ctx, c.dsn) // lazy: nothing listens there, and Open must not care
		if err != nil {
			t.Fatalf("Open(%s): %v", c.desc, err)
		}
		if got := st.Describe(); got != c.desc {
			t.Errorf("Describe = %q, want %q", got, c.desc)
		}
		if got := st.pool.Config().MaxConns; got != DefaultMaxConns() {
			t.Errorf("MaxConns = %d, want the default %d", got, DefaultMaxConns())
		}
		st.Close()
	}
	if d := DefaultMaxConns(); d < 8 || d > 16 {
		t.Errorf("DefaultMaxConns = %d, want 8..16", d)
	}

	st, err := Open(ctx, "postgres://alice@127.0.0.1:1/prod?pool_max_conns=3&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	if got := st.pool.Config().MaxConns; got != 3 {
		t.Errorf("pool_max_conns=3 gave MaxConns %d", got)
	}
	if err := st.Ping(ctx); err == nil {
		t.Error("Ping of a closed port succeeded")
	}
	st.Close()

	for _, bad := range []string{
		"postgres://alice:s3cret@db.example:notaport/prod",
		"postgres://alice:s3cret@db.example/prod?pool_max_conns=many",
		"host=db password=s3cret port=x",
	} {
		_, err := Open(ctx, bad)
		if err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open error shows the password: %v", err)
		}
	}
}

// BenchmarkTouch measures the hot path with the default pool, from as many
// goroutines as -cpu (try -cpu 16: the commit's fsync dominates).
func BenchmarkTouch(b *testing.B) {
	st := openTest(b)
	ctx := b.Context()
	u, err := st.CreateUser(ctx, data.User{Username: "alice", Status: data.StatusActive}, data.AuditEntry{Action: data.ActionUserAdd})
	if err != nil {
		b.Fatal(err)
	}
	const sessions = 1000
	for i := range sessions {
		if _, err := st.CreateSession(ctx, data.Session{
			ID: sessionID(fmt.Sprint(i)), UserID: u.ID, Username: u.Username,
			LoginTime: t0, LastActivity: t0, ExpiresAt: t0.Add(time.Hour),
		}, "", data.Guard{}, data.AuditEntry{Action: data.ActionLogin}); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			now := t0.Add(time.Duration(i) * time.Microsecond)
			if _, err := st.Touch(ctx, sessionID(fmt.Sprint(i%sessions)), now, now.Add(time.Hour)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// Usernames sort in byte order (as strings.Compare and the SQLite store do)
// whatever the database's locale: the columns are COLLATE "C".
func TestUserSortIsByteOrder(t *testing.T) {
	st := openTest(t)
	for _, name := range []string{"alice", "Bob", "_x", "Zed"} {
		mkSession(t, st, mkUser(t, st, name), name)
	}
	p, err := st.ListActive(t.Context(), data.Query{Now: t0, Sort: data.SortUser})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range p.Sessions {
		got = append(got, s.Username)
	}
	if want := []string{"Bob", "Zed", "_x", "alice"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sorted by user: %v, want %v", got, want)
	}
	users, err := st.ListUsers(t.Context())
	if err != nil || len(users) != 4 || users[0].Username != "Bob" || users[3].Username != "alice" {
		t.Fatalf("ListUsers = %+v, %v", users, err)
	}
}

// Autovacuum reports the server's setting and the table's own
// autovacuum_enabled separately, so an operator is told which one to fix.
func TestAutovacuumReportsServerAndTable(t *testing.T) {
	st, _ := openCounting(t)
	ctx := t.Context()
	var global bool
	if err := st.pool.QueryRow(ctx, `SELECT current_setting('autovacuum')::bool`).Scan(&global); err != nil {
		t.Fatal(err)
	}
	if server, table, err := st.Autovacuum(ctx); err != nil || server != global || !table {
		t.Errorf("fresh table: Autovacuum = %t, %t, %v; want server %t, table true", server, table, err, global)
	}
	for _, on := range []bool{false, true} {
		if _, err := st.pool.Exec(ctx, fmt.Sprintf(`ALTER TABLE sessions SET (autovacuum_enabled = %t)`, on)); err != nil {
			t.Fatal(err)
		}
		if server, table, err := st.Autovacuum(ctx); err != nil || server != global || table != on {
			t.Errorf("autovacuum_enabled = %t: Autovacuum = %t, %t, %v; want server %t, table %t", on, server, table, err, global, on)
		}
	}
}
