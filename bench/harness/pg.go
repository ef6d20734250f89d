// Package harness holds sessionmon's benchmark harness: fresh PostgreSQL
// schemas and SQLite files, bulk loaders, an HTTP load generator, the scs
// peer server, pgbench, and the dashboard poll cycle. cmd/compare drives it.
package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultDSN is the local PostgreSQL the harness uses (trust auth).
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test"

// Schema is a fresh PostgreSQL schema; DSN points connections at it via
// search_path. Drop removes it with everything in it.
type Schema struct {
	Base string // the server's DSN
	Name string
	DSN  string
}

// NewSchema creates a uniquely named schema "bench_<prefix>_<hex>".
func NewSchema(ctx context.Context, base, prefix string) (*Schema, error) {
	if err := loopbackOnly(base); err != nil {
		return nil, err
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "bench_" + prefix + "_" + hex.EncodeToString(b)
	conn, err := connect(ctx, base)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create schema %s: %w", name, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("search_path", name)
	// Tags the contender's connections in pg_stat_activity, so BackendCPU
	// finds its backends.
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return &Schema{Base: base, Name: name, DSN: u.String()}, nil
}

// WithParam returns the schema's DSN with one more query parameter.
func (s *Schema) WithParam(k, v string) string {
	u, _ := url.Parse(s.DSN)
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}

// Drop removes the schema and everything in it.
func (s *Schema) Drop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := connect(ctx, s.Base)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s.Name}.Sanitize()+" CASCADE")
	return err
}

// Conn opens one connection on the schema.
func (s *Schema) Conn(ctx context.Context) (*pgx.Conn, error) { return connect(ctx, s.DSN) }

func connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = 5 * time.Second
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	return c, nil
}

// loopbackOnly refuses a DSN that points anywhere but this machine.
func loopbackOnly(dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	h := cfg.Host
	if h == "127.0.0.1" || h == "localhost" || h == "::1" || strings.HasPrefix(h, "/") {
		return nil
	}
	return fmt.Errorf("the harness only targets this machine; DSN host is %q", h)
}

// PGVersion returns the server's version string.
func PGVersion(ctx context.Context, base string) string {
	conn, err := connect(ctx, base)
	if err != nil {
		return "unreachable: " + err.Error()
	}
	defer conn.Close(context.Background())
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return err.Error()
	}
	var sc string
	_ = conn.QueryRow(ctx, "SHOW synchronous_commit").Scan(&sc)
	return "PostgreSQL " + v + " (synchronous_commit=" + sc + ")"
}
