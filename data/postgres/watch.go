package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"sessionmon/data"
)

var _ data.Watcher = (*Store)(nil)

// notifyChannel is where logins, ends and extends are announced (see
// sessionmon_notify in the migrations). Touch never notifies.
const notifyChannel = "sessionmon_sessions"

// Watch calls notify after every committed login, end and extend made by
// any process on this database, until ctx is done; it then returns
// ctx.Err(). It LISTENs on a connection of its own (outside the pool, so it
// never starves request handling), reconnects with backoff when the
// connection is lost, and calls notify once after every (re)connect,
// because changes may have been missed while it was away. A notice can
// come from another schema of the same database: it only means "look again".
func (s *Store) Watch(ctx context.Context, notify func()) error {
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		_ = s.listen(ctx, notify)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(start) > time.Minute {
			backoff = 100 * time.Millisecond // it was up a while: retry soon
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (s *Store) listen(ctx context.Context, notify func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.connCfg.Copy())
	if err != nil {
		return wrap("watch: connect", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return wrap("watch: listen", err)
	}
	notify()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return wrap("watch: wait", err)
		}
		notify()
	}
}
