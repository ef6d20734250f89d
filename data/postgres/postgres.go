// Package postgres is sessionmon's production store: data.Store on
// PostgreSQL through pgx/v5 and a pgxpool connection pool.
//
// Open connects lazily and does not change the schema; Migrate (the CLI's
// `migrate`) applies the embedded migrations, and OpenAndMigrate does both
// for tests and the demo.
//
// Every state change is one SQL statement (data-modifying CTEs write the row,
// its audit entry and the notification together), so it is atomic and costs
// one round trip. Touch, the hot path, is a single UPDATE … RETURNING, and
// touches that arrive together share one (touchbatch.go: one round trip and
// one commit per batch, each caller answered after the commit carrying its
// touch). The exceptions are the user changes that end the user's sessions (a
// deactivation, a password reset): one transaction of two statements, so
// that they also end a login's session committed while they waited for the
// user's row (users.go, changeUser; data.Guard).
//
// Logins, ends and extends send a NOTIFY on the ChangeChannel channel in the
// same transaction (payload "login", "end" or "extend"); Touch does not.
// A listener should treat a notification only as a hint to call ChangesSince
// early, and keep polling, since touches are never announced. NOTIFY is not
// free: PostgreSQL serialises the commits of notifying transactions
// cluster-wide (on a loaded 2-core machine, 8 clients inserting managed
// ~2.9k commits/s plainly and ~1.2k/s with a NOTIFY each), which is fine for
// logins and operator actions and is why Touch never notifies.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"sessionmon/data"
)

// ChangeChannel prefixes the LISTEN/NOTIFY channel that logins, ends and
// extends are announced on: the channel is ChangeChannel + "_" + the schema
// (cut to 63 bytes), so installations sharing a database do not wake each
// other. Touch never notifies. Watch listens on it.
const ChangeChannel = "sessionmon_sessions"

// DefaultMaxConns returns the pool size used when the DSN has no
// pool_max_conns: 4 per CPU, between 8 and 16. On a 2-core database host
// more than 16 connections made every workload slower, while a durable
// commit waits ~1 ms for fsync, so a handful of concurrent commits are
// needed to share each flush (group commit).
func DefaultMaxConns() int32 {
	return int32(min(16, max(8, 4*runtime.GOMAXPROCS(0))))
}

// Store is a data.Store on PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	connCfg *pgx.ConnConfig // for Watch's own connection, outside the pool
	desc    string
	touches *touchBatcher // nil: every Touch runs its own statement
}

// Option changes how Open sets up a Store.
type Option func(*options)

type options struct {
	touchBatch int
	touchLanes int
}

// WithTouchLanes sets how many touch batches may be in flight at once
// (default: a quarter of the pool, at least 1). Fewer lanes make larger
// batches (fewer statements and commits per request) but less concurrency.
func WithTouchLanes(n int) Option {
	return func(o *options) { o.touchLanes = n }
}

// WithTouchBatch sets the most touches one statement carries (default
// DefaultTouchBatch); 1 or less turns batching off, so every Touch runs
// its own statement and commit. See touchbatch.go.
func WithTouchBatch(n int) Option {
	return func(o *options) { o.touchBatch = n }
}

var _ data.Store = (*Store)(nil)

// Open returns a Store for dsn (a postgres:// URL or keyword/value string).
// It does not connect yet (call Ping to check the server), so a process can
// start while the database is down and recover when it is back; nor does it
// migrate. pool_max_conns and the other pgxpool parameters in the DSN are
// honoured; without pool_max_conns the pool holds DefaultMaxConns. Without
// connect_timeout, connecting gives up after 5s; without application_name,
// connections show as "sessionmon" in pg_stat_activity.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn's parse errors can quote the DSN, password included.
		return nil, fmt.Errorf("postgres open: cannot parse the DSN (%s)", redactParseError(err))
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns()
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "sessionmon" // pg_stat_activity
	}
	return openConfig(ctx, cfg, opts...)
}

func openConfig(ctx context.Context, cfg *pgxpool.Config, opts ...Option) (*Store, error) {
	o := options{touchBatch: DefaultTouchBatch}
	for _, f := range opts {
		f(&o)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres open: %w", err)
	}
	s := &Store{pool: pool, connCfg: cfg.ConnConfig.Copy(), desc: describe(cfg.ConnConfig)}
	if o.touchBatch > 1 {
		// A quarter of the pool (2 lanes for the default 8 connections):
		// batches in flight leave connections for logins, operator actions
		// and the dashboard's reads. Fewer lanes make larger batches, and
		// the CPU per request (server and PostgreSQL) falls with the number
		// of statements: measured under wrk on 2 cores, 4 lanes cost
		// 20–40 % more CPU per request than 1 or 2, which were alike
		// (docs/PERFORMANCE.md, issue 11). Two rather than one, so a batch
		// stuck on a row lock (an operator's end or extend) holds up half
		// the touches, not all of them.
		lanes := o.touchLanes
		if lanes <= 0 {
			lanes = max(1, int(cfg.MaxConns)/4)
		}
		s.touches = newTouchBatcher(pool, lanes, o.touchBatch)
	}
	return s, nil
}

// OpenAndMigrate opens a Store and brings its schema up to date.
func OpenAndMigrate(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	s, err := Open(ctx, dsn, opts...)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// describe names the server without the password: "postgres user@host:port/db".
func describe(c *pgx.ConnConfig) string {
	host := c.Host
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "/") {
		host = "[" + host + "]" // IPv6 literal
	}
	return "postgres " + c.User + "@" + host + ":" + strconv.Itoa(int(c.Port)) + "/" + c.Database
}

// redactParseError returns a parse error's message without anything that
// may be the DSN itself.
func redactParseError(err error) string {
	var ue *url.Error // its message quotes the whole URL
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) && pe.Unwrap() != nil {
		return pe.Unwrap().Error()
	}
	return "invalid connection string"
}

// Describe names the store for operators, without the password.
func (s *Store) Describe() string { return s.desc }

// Ping checks the server is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres ping: %w", err)
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be returned.
func (s *Store) Close() error {
	if s.touches != nil {
		s.touches.close()
	}
	s.pool.Close()
	return nil
}

// wrap names the operation and maps PostgreSQL errors to data's sentinels.
func wrap(op string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
		return fmt.Errorf("postgres %s: %w (%s)", op, data.ErrConflict, pgErr.ConstraintName)
	}
	return fmt.Errorf("postgres %s: %w", op, err)
}

// nullTime maps the zero time to NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
