// Package pgtest gives each test its own empty PostgreSQL schema.
//
// Usage:
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.DSN(t) // skips when PostgreSQL is not reachable
//		st, err := postgres.OpenAndMigrate(ctx, dsn)
//		...
//	}
//
// DSN reads SESSIONMON_TEST_DSN (default postgres://postgres@127.0.0.1:5432/test).
// When the server cannot be reached the test is skipped, or fails when
// SESSIONMON_REQUIRE_PG=1 (set it in CI so a missing database is not silently
// green). Every call creates a fresh, uniquely named schema, drops it with
// CASCADE when the test ends, and returns a DSN whose connections use that
// schema through the search_path runtime parameter, so parallel tests never
// see each other's tables.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultDSN is used when SESSIONMON_TEST_DSN is not set.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test"

const (
	envDSN     = "SESSIONMON_TEST_DSN"
	envRequire = "SESSIONMON_REQUIRE_PG"
)

// DSN returns a DSN for a fresh schema that lives as long as t. See the
// package comment.
func DSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(envDSN)
	if base == "" {
		base = DefaultDSN
	}
	shown := redact(base)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := connect(ctx, base)
	if err != nil {
		msg := fmt.Sprintf("pgtest: PostgreSQL not reachable at %s: %v\n"+
			"\tstart it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n"+
			"\tor point %s at a server", shown, err, envDSN)
		if os.Getenv(envRequire) == "1" {
			t.Fatal(msg + " (" + envRequire + "=1, so this is a failure)")
		}
		t.Skip(msg + " (set " + envRequire + "=1 to fail instead)")
	}
	defer conn.Close(context.Background())

	schema := "t_" + sanitize(t.Name()) + "_" + randomHex(6)
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("pgtest: create schema %s on %s: %v", schema, shown, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop schema %s: connect: %v", schema, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+ident+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})

	dsn, err := withSearchPath(base, schema)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

func connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > 3*time.Second {
		cfg.ConnectTimeout = 3 * time.Second
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// withSearchPath adds search_path=schema to a URL or keyword/value DSN.
func withSearchPath(dsn, schema string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", envDSN, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	// keyword/value form; the schema name is [a-z0-9_] so needs no quoting.
	return dsn + " search_path=" + schema, nil
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// sanitize turns a test name into a short lower-case identifier fragment.
func sanitize(name string) string {
	s := unsafeChars.ReplaceAllString(strings.ToLower(name), "_")
	s = strings.Trim(s, "_")
	if len(s) > 40 { // identifiers are cut at 63 bytes
		s = s[:40]
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// redact hides a password in a URL DSN for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if strings.Contains(dsn, "password") {
			return "(DSN with password, not shown)"
		}
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
