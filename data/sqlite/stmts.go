package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// stmts holds the prepared statements of one pool, by SQL text.
//
// Preparing is most of the cost of a small statement (SQLite parses and plans
// it), so every statement the store runs is prepared once per connection and
// reused. All SQL text is built from constants (values are always bound), so
// the set is finite: the fixed statements, plus at most 4 sort keys x 2
// directions x 16 filter shapes for ListActive and 16 shapes for Audit.
type stmts struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

func newStmts(db *sql.DB) *stmts { return &stmts{db: db, m: map[string]*sql.Stmt{}} }

// prepare prepares qs now (at Open).
func (c *stmts) prepare(ctx context.Context, qs ...string) error {
	for _, q := range qs {
		if _, err := c.get(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// get returns the statement for q, preparing it on the pool if needed. The
// caller must not hold a connection of the pool while a statement is
// prepared (the writer pool has only one): in transactions use tx instead.
func (c *stmts) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.RLock()
	st := c.m[q]
	c.mu.RUnlock()
	if st != nil {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[q]; old != nil {
		st.Close()
		return old, nil
	}
	c.m[q] = st
	return st, nil
}

// tx returns q bound to tx: the statement prepared at Open when there is one
// (database/sql reuses it on the transaction's connection), else one
// prepared on the transaction's connection for this transaction only.
func (c *stmts) tx(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	c.mu.RLock()
	st := c.m[q]
	c.mu.RUnlock()
	if st != nil {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, q)
}

func (c *stmts) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	for q, st := range c.m {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
		delete(c.m, q)
	}
	return first
}

// errRow is a scanner that fails with err (a statement that did not prepare).
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// queryRow runs q through its prepared statement outside any transaction.
// The row is read by drainedRow, never by sql.Row: see there why.
func (c *stmts) queryRow(ctx context.Context, q string, args ...any) scanner {
	st, err := c.get(ctx, q)
	if err != nil {
		return errRow{err}
	}
	rows, err := st.QueryContext(ctx, args...)
	return drainedRow{rows, err}
}

// drainedRow is sql.Row that steps its statement to the end before closing
// it.
//
// sql.Row scans the first row and closes the statement, which SQLite then
// resets without ever stepping it to SQLITE_DONE. For a statement that
// writes (UPDATE … RETURNING, INSERT … RETURNING) outside an explicit
// transaction, the reset is what commits, and that is the problem:
// sqlite3_step runs the WAL hook, and with it wal_autocheckpoint, only
// when a statement in autocommit mode returns SQLITE_DONE (sqlite3Step ->
// doWalCallbacks); a reset never does. Touch, one such statement per
// request, therefore committed without ever checkpointing and the WAL grew
// without bound (issue 8: 827 MB in 10 s). Stepping to SQLITE_DONE costs
// one more sqlite3_step. Reads are drained too, so no statement of either
// pool is ever left between rows.
type drainedRow struct {
	rows *sql.Rows
	err  error
}

func (r drainedRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	err := r.rows.Scan(dest...)
	for r.rows.Next() { // to SQLITE_DONE, even when Scan failed: see above
	}
	if err != nil {
		return err
	}
	return r.rows.Err()
}

func (c *stmts) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := c.get(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (c *stmts) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := c.get(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// tq is a transaction with the pool's statements at hand.
type tq struct {
	ctx context.Context
	tx  *sql.Tx
	c   *stmts
}

// queryRow is drained like stmts.queryRow. In a transaction the COMMIT is
// the statement that reaches SQLITE_DONE (and runs the WAL hook), so this is
// for uniformity rather than need.
func (t tq) queryRow(q string, args ...any) scanner {
	st, err := t.c.tx(t.ctx, t.tx, q)
	if err != nil {
		return errRow{err}
	}
	rows, err := st.QueryContext(t.ctx, args...)
	return drainedRow{rows, err}
}

func (t tq) query(q string, args ...any) (*sql.Rows, error) {
	st, err := t.c.tx(t.ctx, t.tx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.ctx, args...)
}

func (t tq) exec(q string, args ...any) (sql.Result, error) {
	st, err := t.c.tx(t.ctx, t.tx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}
