package postgres

import (
	"cmp"
	"context"
	"errors"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"sessionmon/data"
)

// Touch batching: application-level group commit.
//
// With save-every-request, every authenticated request is a durable commit,
// and on PostgreSQL a commit costs a round trip, a statement's fixed
// overhead and a share of a WAL flush. When many requests arrive together
// (the only time throughput matters), the touchBatcher folds the touches
// that are waiting into ONE statement, UPDATE … FROM unnest(ids, nows,
// expiries) … RETURNING, so a batch of n requests costs one round trip and
// one commit. Nothing is written less often and nothing is acknowledged
// before its commit: each caller still waits for the statement that carries
// its own touch, so durability and revocation ("the very next request after
// a force-logout is refused") are exactly those of an unbatched Touch.
//
// There is no timer: a lane runs a batch as soon as it has one call, and
// whatever arrives while that statement is in flight forms the next batch.
// An idle server therefore sees no added latency, and batches grow only
// with concurrency.
//
// A lane's queue is a buffered channel (room for one full batch): a call
// that arrives while its lane's statement is in flight is queued without
// parking its goroutine, and parks once, for its result. (An unbuffered
// lane parked it twice, on the send and then on the result: on a 2-core
// server every park and wake-up is CPU taken from the requests.)
//
// Calls are spread over lanes by a hash of the session id, one statement in
// flight per lane, so two concurrent batches never touch the same row and
// cannot deadlock each other. Within a batch the ids are sorted, so row
// locks are taken in id order, and a deadlock against some other
// multi-row statement (which PostgreSQL breaks after deadlock_timeout) is
// retried once.

// DefaultTouchBatch is the most touches one batched statement carries.
const DefaultTouchBatch = 64

// touchBatchSQL is touchSQL for many sessions: same guard, same update
// (HOT: no indexed column but the once-a-minute buckets, no version).
var touchBatchSQL = `UPDATE sessions s
	SET last_activity = b.now,
	    expires_at = GREATEST(s.expires_at, LEAST(b.expires, coalesce(s.absolute_expires_at, 'infinity')))
	FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS b(id, now, expires)
	WHERE s.id = b.id AND s.ended_at IS NULL AND s.expires_at > b.now
	RETURNING ` + qualified("s", sessionCols)

// qualified prefixes each column of a comma-separated list with table.
func qualified(table, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = table + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// errStoreClosed answers touches made after Close.
var errStoreClosed = errors.New("store is closed")

type touchCall struct {
	ctx          context.Context
	id           string
	now, expires time.Time
	done         chan touchResult // buffered: the lane never waits for the caller
}

type touchResult struct {
	s   data.Session
	err error
}

type touchBatcher struct {
	pool  *pgxpool.Pool
	max   int
	seed  maphash.Seed
	lanes []chan *touchCall // each buffered for one batch; a full queue blocks senders

	ctx    context.Context // cancelled by close: aborts statements in flight
	cancel context.CancelFunc
	stop   chan struct{}
	closed chan struct{} // closed once the lanes are gone: no queued call will be taken
	once   sync.Once     // close may be called more than once
	wg     sync.WaitGroup
}

// newTouchBatcher starts lanes goroutines, each running one batch of at
// most max touches at a time.
func newTouchBatcher(pool *pgxpool.Pool, lanes, max int) *touchBatcher {
	ctx, cancel := context.WithCancel(context.Background())
	b := &touchBatcher{
		pool: pool, max: max, seed: maphash.MakeSeed(),
		lanes: make([]chan *touchCall, lanes),
		ctx:   ctx, cancel: cancel, stop: make(chan struct{}), closed: make(chan struct{}),
	}
	for i := range b.lanes {
		b.lanes[i] = make(chan *touchCall, max)
		b.wg.Add(1)
		go b.run(b.lanes[i])
	}
	return b
}

// close stops the lanes and waits for them. Calls that have not been taken
// into a batch get errStoreClosed; a statement in flight is cancelled.
func (b *touchBatcher) close() {
	b.once.Do(func() {
		close(b.stop)
		b.cancel()
		b.wg.Wait()
		// Answer what is still queued; a call queued after this sees closed.
		for _, lane := range b.lanes {
		drain:
			for {
				select {
				case c := <-lane:
					c.done <- touchResult{err: sessionErr("touch", c.id, errStoreClosed)}
				default:
					break drain
				}
			}
		}
		close(b.closed)
	})
	<-b.closed
}

// touch queues one touch on its lane and waits for its batch's result.
func (b *touchBatcher) touch(ctx context.Context, id string, now, expires time.Time) (data.Session, error) {
	c := &touchCall{ctx: ctx, id: id, now: now, expires: expires, done: make(chan touchResult, 1)}
	lane := b.lanes[maphash.String(b.seed, id)%uint64(len(b.lanes))]
	select {
	case lane <- c:
	case <-ctx.Done():
		return data.Session{}, sessionErr("touch", id, ctx.Err())
	case <-b.stop:
		return data.Session{}, sessionErr("touch", id, errStoreClosed)
	}
	// Once taken, a call always gets its result, even after close; one
	// still queued when the lanes stopped is answered by close or, if it
	// was queued after, here.
	select {
	case r := <-c.done:
		return r.s, r.err
	case <-ctx.Done():
		return data.Session{}, sessionErr("touch", id, ctx.Err())
	case <-b.closed:
		select {
		case r := <-c.done: // taken before the lanes stopped, or drained
			return r.s, r.err
		default:
			return data.Session{}, sessionErr("touch", id, errStoreClosed)
		}
	}
}

// run is one lane: take a call (blocking), then every call already waiting,
// up to max, and run them as one batch.
func (b *touchBatcher) run(lane chan *touchCall) {
	defer b.wg.Done()
	batch := make([]*touchCall, 0, b.max)
	for {
		select {
		case c := <-lane:
			batch = append(batch[:0], c)
		case <-b.stop:
			return
		}
	fill:
		for len(batch) < b.max {
			select {
			case c := <-lane:
				batch = append(batch, c)
			default:
				break fill
			}
		}
		b.flush(batch)
		clear(batch) // let finished calls be collected
	}
}

// flush runs a batch and answers every call in it.
func (b *touchBatcher) flush(batch []*touchCall) {
	live := batch[:0:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.done <- touchResult{err: sessionErr("touch", c.id, err)} // its caller has gone
			continue
		}
		live = append(live, c)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		b.runAlone(live[0])
		return
	}

	rows, err := b.touchMany(live)
	var pgErr *pgconn.PgError
	if err != nil && errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22") {
		// The server refused a value (class 22, data exception): one call's
		// input must not fail the others, so run each on its own.
		for _, c := range live {
			b.runAlone(c)
		}
		return
	}
	for _, c := range live {
		switch r, ok := rows[c.id]; {
		case err != nil:
			c.done <- touchResult{err: sessionErr("touch", c.id, err)}
		case !ok:
			c.done <- touchResult{err: sessionErr("touch", c.id, pgx.ErrNoRows)}
		default:
			c.done <- r
		}
	}
}

// runAlone touches one call's session with its own statement and answers it.
func (b *touchBatcher) runAlone(c *touchCall) {
	ctx, cancel := b.statementContext([]*touchCall{c})
	defer cancel()
	s, err := touchOne(ctx, b.pool, c.id, c.now, c.expires)
	c.done <- touchResult{s, err}
}

// touchMany runs one statement for calls (two or more, ids possibly
// repeated) and returns each touched session's result by id; an id absent
// from the map was unknown, ended or expired.
func (b *touchBatcher) touchMany(calls []*touchCall) (map[string]touchResult, error) {
	// One entry per id, sorted: the same session twice in a batch (two tabs
	// of one browser) is touched once, at the later time, and both calls get
	// that row; sorting fixes the order row locks are taken in.
	merged := make(map[string]*touchCall, len(calls))
	for _, c := range calls {
		if m, ok := merged[c.id]; ok {
			m.now, m.expires = later(m.now, c.now), later(m.expires, c.expires)
			continue
		}
		merged[c.id] = &touchCall{id: c.id, now: c.now, expires: c.expires}
	}
	ids := make([]string, 0, len(merged))
	for id := range merged {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, cmp.Compare)
	nows := make([]time.Time, len(ids))
	expires := make([]time.Time, len(ids))
	for i, id := range ids {
		nows[i], expires[i] = merged[id].now, merged[id].expires
	}

	ctx, cancel := b.statementContext(calls)
	defer cancel()
	var (
		out map[string]touchResult
		err error
	)
	for attempt := 0; attempt < 2; attempt++ {
		out, err = b.query(ctx, ids, nows, expires)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || (pgErr.Code != "40P01" && pgErr.Code != "40001") {
			break // retry only a deadlock or serialization failure
		}
	}
	return out, err
}

func (b *touchBatcher) query(ctx context.Context, ids []string, nows, expires []time.Time) (map[string]touchResult, error) {
	rows, err := b.pool.Query(ctx, touchBatchSQL, ids, nows, expires)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]touchResult, len(ids))
	for rows.Next() {
		s, err := scanSession(rows)
		var re *data.RowError
		switch {
		case errors.As(err, &re):
			out[re.SessionID] = touchResult{err: sessionErr("touch", re.SessionID, err)}
		case err != nil:
			return nil, err
		default:
			out[s.ID] = touchResult{s: s}
		}
	}
	return out, rows.Err()
}

// statementContext bounds a batch's statement by the latest deadline among
// its callers (it must not be cut short for any caller still waiting); with
// a caller without a deadline, only close bounds it, as an unbatched Touch
// would be bounded only by its caller.
func (b *touchBatcher) statementContext(calls []*touchCall) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, c := range calls {
		d, ok := c.ctx.Deadline()
		if !ok {
			return context.WithCancel(b.ctx)
		}
		latest = later(latest, d)
	}
	return context.WithDeadline(b.ctx, latest)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
