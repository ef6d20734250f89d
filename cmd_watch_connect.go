package main

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"

	"sessionmon/backend"
	"sessionmon/data"
	"sessionmon/server"
	"sessionmon/sessionlogic"
	"sessionmon/tui"
)

// watch's store at start: when PostgreSQL does not answer, the dashboard
// opens in its connecting state and retries with backoff (tui.Options.
// Connect); a DSN that can never work still ends with one clear line.

// retryable reports whether opening the store failed for a reason a retry
// can mend: the server did not answer (refused, unreachable, timed out).
// A server that answered and refused (authentication, no such database),
// a DSN that does not parse and a schema to migrate are not.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return false // the server answered: it refused
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded)
}

// oneLineError is an error on one line: driver errors span lines ("failed
// to connect to …:\n\t127.0.0.1:5432: dial error …" for every address).
type oneLineError struct{ err error }

func (e oneLineError) Error() string {
	return strings.Join(strings.Fields(strings.ReplaceAll(e.err.Error(), ":\n", ": ")), " ")
}
func (e oneLineError) Unwrap() error { return e.err }

// heldStore is the store watch opened, from whichever goroutine opened it;
// close closes it, and a store opened after close is closed at once.
type heldStore struct {
	mu     sync.Mutex
	st     data.Store
	closed bool
}

func (h *heldStore) set(st data.Store) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		st.Close()
		return false
	}
	h.st = st
	return true
}

// close closes the store within server.CloseReserve (closeStore), so a
// hung database never holds the dashboard's exit.
func (h *heldStore) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.st == nil {
		return nil
	}
	return closeStore(h.st, server.CloseReserve)
}

// openWatched opens the store and its Manager for watch.
func openWatched(ctx context.Context, t backend.Target, h *heldStore, build func(data.Store) (*sessionlogic.Manager, error)) (*sessionlogic.Manager, error) {
	st, err := t.OpenStore(ctx, backend.Existing)
	if err != nil {
		return nil, oneLineError{err}
	}
	if !h.set(st) {
		return nil, errors.New("watch: stopped")
	}
	return build(st)
}

// watchConnect sets opts to open the store now or, when its server does
// not answer, from the dashboard with backoff. It returns the error that
// ends watch at once.
func watchConnect(ctx context.Context, t backend.Target, h *heldStore, opts *tui.Options, build func(data.Store) (*sessionlogic.Manager, error)) error {
	m, err := openWatched(ctx, t, h, build)
	var ce *backend.ConnectError
	switch {
	case err == nil:
		opts.Manager = m
		return nil
	case t.Kind.Embedded || !retryable(err) || !errors.As(err, &ce):
		return err
	}
	opts.Store = ce.Store // the header names it, without the password
	opts.Connect = func(ctx context.Context) (*sessionlogic.Manager, error) {
		m, err := openWatched(ctx, t, h, build)
		if err != nil && !retryable(err) {
			return nil, tui.Fatal(err)
		}
		return m, err
	}
	return nil
}
