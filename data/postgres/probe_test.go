package postgres

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"sessionmon/internal/pgtest"
)

// readOnlySQLState is PostgreSQL's read_only_sql_transaction.
const readOnlySQLState = "25006"

func wantReadOnly(t *testing.T, err error) {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != readOnlySQLState {
		t.Fatalf("ProbeWrite: %v, want SQLSTATE %s (read-only transaction)", err, readOnlySQLState)
	}
	if !strings.Contains(err.Error(), "probe write") {
		t.Errorf("error %q does not name the operation", err)
	}
}

// withParam adds a URL query parameter to a DSN (pgx sends unknown ones as
// run-time parameters).
func withParam(t *testing.T, dsn, k, v string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		t.Skipf("SESSIONMON_TEST_DSN is not a URL; this test adds parameters to one")
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestProbeWriteWritesNothing: the probe assigns no transaction id and
// leaves no row version behind, however often it runs.
func TestProbeWriteWritesNothing(t *testing.T) {
	st := openTest(t)
	ctx := t.Context()
	var before, after int64
	size := `SELECT pg_relation_size('sessions')`
	if err := st.pool.QueryRow(ctx, size).Scan(&before); err != nil {
		t.Fatal(err)
	}
	for range 500 {
		if err := st.ProbeWrite(ctx); err != nil {
			t.Fatalf("ProbeWrite: %v", err)
		}
	}
	if err := st.pool.QueryRow(ctx, size).Scan(&after); err != nil {
		t.Fatal(err)
	}
	// The probe's statement in a transaction of its own takes no
	// transaction id: it writes nothing.
	tx, err := st.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, probeSQL); err != nil {
		t.Fatal(err)
	}
	var assigned *int64
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id_if_assigned()::text::bigint`).Scan(&assigned); err != nil {
		t.Fatal(err)
	}
	if assigned != nil {
		t.Errorf("the probe's statement took transaction id %d: it writes", *assigned)
	}
	if after != before {
		t.Errorf("sessions grew from %d to %d bytes over 500 probes", before, after)
	}
}

// TestProbeWriteSeesDefaultTransactionReadOnly: with
// default_transaction_read_only=on for the connection, a ping answers and
// every write fails; so must the probe.
func TestProbeWriteSeesDefaultTransactionReadOnly(t *testing.T) {
	dsn := pgtest.DSN(t)
	rw, err := OpenAndMigrate(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	rw.Close()
	st, err := Open(t.Context(), withParam(t, dsn, "default_transaction_read_only", "on"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v (the point is that a ping still answers)", err)
	}
	wantReadOnly(t, st.ProbeWrite(t.Context()))
}

// TestProbeWriteSeesAReadOnlyRole: ALTER ROLE … SET
// default_transaction_read_only = on, as an operator would set it on a role
// (ALTER DATABASE works the same way, for every role).
func TestProbeWriteSeesAReadOnlyRole(t *testing.T) {
	dsn := pgtest.DSN(t)
	rw, err := OpenAndMigrate(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rw.Close() }) // after the role is dropped (cleanups run last first)
	ctx := t.Context()
	var schema string
	if err := rw.pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	role := "ro_" + schema // unique per test; roles are cluster-wide
	if len(role) > 63 {
		role = role[:63]
	}
	ident := `"` + role + `"`
	for _, q := range []string{
		`CREATE ROLE ` + ident + ` LOGIN`,
		`GRANT USAGE ON SCHEMA "` + schema + `" TO ` + ident,
		`GRANT ALL ON ALL TABLES IN SCHEMA "` + schema + `" TO ` + ident,
		`ALTER ROLE ` + ident + ` SET default_transaction_read_only = on`,
	} {
		if _, err := rw.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		for _, q := range []string{
			`REVOKE ALL ON ALL TABLES IN SCHEMA "` + schema + `" FROM ` + ident,
			`REVOKE USAGE ON SCHEMA "` + schema + `" FROM ` + ident,
			`DROP ROLE ` + ident,
		} {
			if _, err := rw.pool.Exec(context.Background(), q); err != nil {
				t.Errorf("cleanup: %s: %v", q, err)
			}
		}
	})
	u, _ := url.Parse(dsn)
	u.User = url.User(role)
	st, err := Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	wantReadOnly(t, st.ProbeWrite(ctx))
	if err := rw.ProbeWrite(ctx); err != nil {
		t.Errorf("ProbeWrite as the writable role: %v", err)
	}
}
