package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"
)

// The WAL checkpoint policy.
//
// In WAL mode every commit appends to the -wal file, and only a checkpoint
// copies the pages back into the database and lets the WAL start over. A
// WAL that is never checkpointed grows for ever (issue 8: 827 MB in ten
// seconds of GET /api/me, until the disk was full). Three things keep it
// bounded, none of which depends on the traffic having pauses:
//
//  1. wal_autocheckpoint: after a commit that leaves the WAL at
//     autoCheckpointPages frames or more, the committing connection runs a
//     PASSIVE checkpoint. SQLite runs it from the WAL hook, which fires
//     only when an autocommit statement steps to SQLITE_DONE: every
//     statement that returns rows is therefore read to the end
//     (drainedRow in stmts.go), or its commit would never checkpoint.
//  2. journal_size_limit: once the WAL restarts from its beginning, the
//     file is truncated back to journalSizeLimit bytes, so one burst does
//     not leave a large file behind for good.
//  3. A goroutine the Store owns, on a connection of its own, every
//     CheckpointInterval: a PASSIVE checkpoint (it never waits, never
//     blocks a writer), and a TRUNCATE one, which empties the file, when
//     no frame was added since the last look (writes paused) or when the
//     WAL holds WALTruncateFrames frames or more (readers kept the
//     passive ones from finishing). TRUNCATE waits for the write lock
//     and for readers of old snapshots, but at most checkpointBusy: under
//     load it gives up and tries again on the next tick, so a writer is
//     never held up for longer than that plus the copy itself.
//
// The readers never keep a snapshot between calls (every statement is
// reset when its call returns, readTx rolls back), so nothing in this
// process holds a checkpoint back for longer than one read.
const (
	// CheckpointInterval is how often the Store's checkpointer looks at
	// the WAL.
	CheckpointInterval = time.Second
	// WALTruncateFrames is the WAL length (in frames, one page each, 4 kB
	// by default) at which the checkpointer truncates the WAL even while
	// writes go on: four times wal_autocheckpoint, about 16 MB.
	WALTruncateFrames = 4 * autoCheckpointPages

	autoCheckpointPages = 1000    // SQLite's default, set explicitly
	journalSizeLimit    = 8 << 20 // bytes a restarted WAL is truncated back to
	checkpointBusy      = 100 * time.Millisecond
)

// checkpointer runs the periodic checkpoints of one Store.
type checkpointer struct {
	db    *sql.DB // one connection, busy_timeout checkpointBusy
	every time.Duration
	quit  context.CancelFunc
	done  chan struct{}
}

// startCheckpointer opens the checkpointer's connection on uri and starts
// its goroutine.
func startCheckpointer(uri string, every time.Duration) (*checkpointer, error) {
	db, err := sql.Open("sqlite", uri+"?_pragma=busy_timeout("+strconv.FormatInt(checkpointBusy.Milliseconds(), 10)+")"+
		"&_pragma=journal_size_limit("+strconv.FormatInt(journalSizeLimit, 10)+")")
	if err != nil {
		return nil, fmt.Errorf("checkpointer: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, every: every, quit: cancel, done: make(chan struct{})}
	go c.run(ctx)
	return c, nil
}

// stop ends the goroutine, waits for it and closes its connection. Safe on
// a nil checkpointer and twice.
func (c *checkpointer) stop() error {
	if c == nil {
		return nil
	}
	c.quit()
	<-c.done
	return c.db.Close()
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(c.every)
	defer t.Stop()
	last := int64(-1) // the WAL's frames at the last look; -1: unknown
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		last = c.tick(ctx, last)
	}
}

// tick is one look at the WAL: a PASSIVE checkpoint, then TRUNCATE when the
// WAL did not grow since the last look (last) or is too long. It returns
// the frames now in the WAL, -1 when unknown. Errors (a full disk, a lock
// held by another process) are not kept: the next tick tries again, and
// the store's own calls report the same condition to their callers.
func (c *checkpointer) tick(ctx context.Context, last int64) int64 {
	res, err := c.checkpoint(ctx, "PASSIVE")
	if err != nil {
		return -1
	}
	if res.frames == 0 {
		return 0
	}
	if res.frames == last || res.frames >= WALTruncateFrames {
		if res, err = c.checkpoint(ctx, "TRUNCATE"); err != nil {
			return -1
		}
	}
	return res.frames
}

// walCheckpoint is the answer of PRAGMA wal_checkpoint.
type walCheckpoint struct {
	busy   bool  // the checkpoint could not finish (a lock, a reader)
	frames int64 // frames in the WAL (0 after a TRUNCATE that finished)
	copied int64 // of which copied into the database
}

func (c *checkpointer) checkpoint(ctx context.Context, mode string) (walCheckpoint, error) {
	return walCheckpointOn(ctx, c.db, mode)
}

// querier is *sql.DB, *sql.Conn or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func walCheckpointOn(ctx context.Context, q querier, mode string) (walCheckpoint, error) {
	var busy int
	var r walCheckpoint
	rows, err := q.QueryContext(ctx, "PRAGMA wal_checkpoint("+mode+")")
	if err := (drainedRow{rows, err}).Scan(&busy, &r.frames, &r.copied); err != nil {
		return walCheckpoint{frames: -1}, fmt.Errorf("wal_checkpoint(%s): %w", mode, err)
	}
	r.busy = busy != 0
	// -1, -1 when the database is not in WAL mode (it always is here).
	r.frames, r.copied = max(r.frames, 0), max(r.copied, 0)
	return r, nil
}
