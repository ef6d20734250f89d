package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"sessionmon/data"
)

var _ data.Watcher = (*Store)(nil)

// Watch calls notify after every committed login, end and extend made by
// any process on this database, until ctx is done; it then returns
// ctx.Err(). It LISTENs on a connection of its own (outside the pool, so it
// never starves request handling), reconnects with backoff when the
// connection is lost, and calls notify once after every (re)connect,
// because changes may have been missed while it was away. Only this
// schema's changes are heard: the channel is named after it.
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
	if err := listen(ctx, conn); err != nil {
		return wrap("watch", err)
	}
	notify()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return wrap("watch: wait", err)
		}
		notify()
	}
}

// listen subscribes conn to this schema's change channel, named as
// sessionmon_notify names it (migration 0002): ChangeChannel + "_" +
// current_schema(), cut to PostgreSQL's 63-byte identifiers.
func listen(ctx context.Context, conn *pgx.Conn) error {
	var channel string
	if err := conn.QueryRow(ctx, `SELECT left($1 || current_schema(), 63)`, ChangeChannel+"_").Scan(&channel); err != nil {
		return fmt.Errorf("channel name: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen %s: %w", channel, err)
	}
	return nil
}
