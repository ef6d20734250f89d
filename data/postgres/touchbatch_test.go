package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"sessionmon/data"
)

// Concurrent touches share statements (fewer round trips than calls), and
// every caller still gets its own session back, touched at its own time.
// With batching off, every touch is its own round trip: the count is real.
func TestTouchBatchFoldsConcurrentTouches(t *testing.T) {
	const n, rounds = 48, 4
	run := func(t *testing.T, opts ...Option) (calls, trips int64) {
		st, writes := openCounting(t, opts...)
		u := mkUser(t, st, "alice")
		ids := make([]string, n)
		for i := range ids {
			ids[i] = mkSession(t, st, u, fmt.Sprint("s", i)).ID
		}
		// Warm the connection's statement cache, so each touch or batch
		// costs exactly one write.
		if _, err := st.Touch(t.Context(), ids[0], t0, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		var batch []*touchCall
		for _, id := range ids[:2] {
			batch = append(batch, &touchCall{ctx: t.Context(), id: id, now: t0, expires: t0.Add(time.Hour), done: make(chan touchResult, 1)})
		}
		if st.touches != nil {
			st.touches.flush(batch)
		}
		writes.Store(0)

		for r := range rounds {
			now := t0.Add(time.Duration(r+1) * time.Minute)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, id := range ids {
				now := now.Add(time.Duration(i) * time.Microsecond) // each caller's own time
				wg.Go(func() {
					<-start
					s, err := st.Touch(t.Context(), id, now, now.Add(time.Hour))
					if err != nil {
						t.Errorf("touch %d: %v", i, err)
						return
					}
					if s.ID != id || !s.LastActivity.Equal(now) || !s.ExpiresAt.Equal(now.Add(time.Hour)) {
						t.Errorf("touch %d got session %.8s last %v expires %v, want %.8s last %v", i, s.ID, s.LastActivity, s.ExpiresAt, id, now)
					}
				})
			}
			close(start)
			wg.Wait()
		}
		return n * rounds, writes.Load()
	}

	t.Run("batched", func(t *testing.T) {
		calls, trips := run(t)
		t.Logf("%d touches in %d round trips", calls, trips)
		if trips > calls/2 {
			t.Errorf("%d concurrent touches took %d round trips; batching should fold them into far fewer", calls, trips)
		}
	})
	t.Run("off", func(t *testing.T) {
		calls, trips := run(t, WithTouchBatch(1))
		if trips != calls {
			t.Errorf("with batching off, %d touches took %d round trips, want one each", calls, trips)
		}
	})
}

// One batch holding an active session twice, an unknown, an ended and an
// expired one: each call gets what an unbatched Touch would have given it.
func TestTouchBatchAnswersEachCall(t *testing.T) {
	st, _ := openCounting(t)
	ctx := t.Context()
	u := mkUser(t, st, "alice")
	active := mkSession(t, st, u, "active")
	ended := mkSession(t, st, u, "ended")
	expired := mkSession(t, st, u, "expired")
	if _, err := st.EndSession(ctx, ended.ID, data.End{At: t0, Reason: data.EndForced, By: "root"}, data.AuditEntry{Action: data.ActionForceLogout}); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Minute)
	call := func(id string, now time.Time) *touchCall {
		return &touchCall{ctx: ctx, id: id, now: now, expires: now.Add(90 * time.Minute), done: make(chan touchResult, 1)}
	}
	first, second := call(active.ID, now), call(active.ID, now.Add(time.Second))
	unknown, endedCall := call(sessionID("nobody"), now), call(ended.ID, now)
	expiredCall := call(expired.ID, t0.Add(2*time.Hour)) // after its expiry
	st.touches.flush([]*touchCall{first, unknown, endedCall, second, expiredCall})

	for _, c := range []*touchCall{first, second} {
		r := <-c.done
		if r.err != nil {
			t.Fatalf("active session: %v", r.err)
		}
		// Touched once, at the later of the two times.
		if !r.s.LastActivity.Equal(now.Add(time.Second)) || !r.s.ExpiresAt.Equal(now.Add(time.Second+90*time.Minute)) {
			t.Errorf("active session: last %v expires %v, want the later call's", r.s.LastActivity, r.s.ExpiresAt)
		}
	}
	for name, c := range map[string]*touchCall{"unknown": unknown, "ended": endedCall, "expired": expiredCall} {
		if r := <-c.done; !errors.Is(r.err, data.ErrNotFound) {
			t.Errorf("%s session: got %v, want ErrNotFound", name, r.err)
		}
	}
	// The ended session stays ended: a touch never revives one.
	if s, err := st.Session(ctx, ended.ID); err != nil || s.EndedAt.IsZero() {
		t.Errorf("ended session after a batched touch: %+v, %v", s, err)
	}
}

// A value the server refuses fails only the call that carried it.
func TestTouchBatchBadValueFailsOnlyItsCall(t *testing.T) {
	st, _ := openCounting(t)
	ctx := t.Context()
	u := mkUser(t, st, "alice")
	a, b := mkSession(t, st, u, "a"), mkSession(t, st, u, "b")
	now := t0.Add(time.Minute)
	good := &touchCall{ctx: ctx, id: a.ID, now: now, expires: now.Add(time.Hour), done: make(chan touchResult, 1)}
	// 5000 BC: before PostgreSQL's first timestamp, "timestamp out of range".
	ancient := time.Date(-5000, time.January, 1, 0, 0, 0, 0, time.UTC)
	bad := &touchCall{ctx: ctx, id: b.ID, now: ancient, expires: now.Add(time.Hour), done: make(chan touchResult, 1)}
	st.touches.flush([]*touchCall{bad, good})

	if r := <-good.done; r.err != nil || !r.s.LastActivity.Equal(now) {
		t.Errorf("good call: %v (last activity %v)", r.err, r.s.LastActivity)
	}
	if r := <-bad.done; r.err == nil || errors.Is(r.err, data.ErrNotFound) {
		t.Errorf("bad call: got %v, want the server's refusal", r.err)
	}
}

// A caller that has given up is answered with its own error and does not
// fail the others; its touch is not written.
func TestTouchBatchSkipsCallersThatLeft(t *testing.T) {
	st, _ := openCounting(t)
	ctx := t.Context()
	u := mkUser(t, st, "alice")
	a, b := mkSession(t, st, u, "a"), mkSession(t, st, u, "b")
	gone, cancel := context.WithCancel(ctx)
	cancel()
	now := t0.Add(time.Minute)
	left := &touchCall{ctx: gone, id: a.ID, now: now, expires: now.Add(time.Hour), done: make(chan touchResult, 1)}
	stays := &touchCall{ctx: ctx, id: b.ID, now: now, expires: now.Add(time.Hour), done: make(chan touchResult, 1)}
	st.touches.flush([]*touchCall{left, stays})
	if r := <-left.done; !errors.Is(r.err, context.Canceled) {
		t.Errorf("caller that left: got %v, want context.Canceled", r.err)
	}
	if r := <-stays.done; r.err != nil {
		t.Errorf("caller that stayed: %v", r.err)
	}
	if s, err := st.Session(ctx, a.ID); err != nil || !s.LastActivity.Equal(t0) {
		t.Errorf("session of the caller that left: last activity %v, %v; want it untouched", s.LastActivity, err)
	}
}

// After Close, Touch fails at once instead of waiting on a lane that is gone.
func TestTouchAfterCloseFails(t *testing.T) {
	st, _ := openCounting(t)
	u := mkUser(t, st, "alice")
	s := mkSession(t, st, u, "a")
	st.Close()
	// Repeated: a lane's queue is buffered, so a call may still be queued
	// after close (select picks the send or the stop at random); nobody
	// takes it, and it must not wait for its context.
	for range 20 {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		_, err := st.Touch(ctx, s.ID, t0, t0.Add(time.Hour))
		cancel()
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("touch after close: got %v, want an immediate error", err)
		}
	}
	st.Close() // twice is harmless
}
