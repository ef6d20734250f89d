package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sessionmon/data"
)

var concurrencyCases = []testCase{
	{"TouchVsEnd", testTouchVsEnd},
	{"ExtendVsEnd", testExtendVsEnd},
	{"CreatesKeepVersionsUnique", testConcurrentCreates},
}

const (
	workers = 6
	// maxLoop bounds each worker's loop so a broken store fails instead of
	// hanging.
	maxLoop = 2000
)

// waitFor polls cond for up to five seconds (so a store whose every call
// fails cannot hang the suite; the workers report those failures).
func waitFor(cond func() bool) {
	deadline := time.Now().Add(5 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond)
	}
}

// testTouchVsEnd: many holders touch one session while an operator forces
// it out. Afterwards it is ended, and no Touch that started after EndSession
// returned may succeed.
func testTouchVsEnd(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "viewer")
	s := mustCreate(t, st, newSession(u, "contested"))

	var (
		ended   atomic.Bool
		touches atomic.Int64
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range maxLoop {
				after := ended.Load()
				now := at(time.Duration(w*maxLoop+i+1) * time.Microsecond)
				_, err := st.Touch(ctx(t), s.ID, now, now.Add(CookieAge))
				switch {
				case err == nil && after:
					t.Errorf("Touch succeeded after EndSession returned")
					return
				case err == nil:
					touches.Add(1)
				case !errors.Is(err, data.ErrNotFound):
					t.Errorf("Touch: %v, want nil or ErrNotFound", err)
					return
				case after:
					return // refused after the end, as it must be
				}
			}
			t.Errorf("worker %d never saw the session end", w)
		})
	}
	var endErr error
	wg.Go(func() {
		<-start
		waitFor(func() bool { return touches.Load() >= 3*workers })
		_, endErr = st.EndSession(ctx(t), s.ID, data.End{At: at(time.Second), Reason: data.EndForced, By: "root"},
			auditEntry(data.ActionForceLogout, "root", "alice", s.ID))
		ended.Store(true)
	})
	close(start)
	wg.Wait()
	if endErr != nil {
		t.Fatalf("EndSession: %v", endErr)
	}
	got := mustSession(t, st, s.ID)
	if got.EndedAt.IsZero() || got.EndReason != data.EndForced {
		t.Fatalf("after the race: EndedAt=%v EndReason=%q, want ended (forced)", got.EndedAt, got.EndReason)
	}
	_, err := st.Touch(ctx(t), s.ID, at(time.Hour), at(time.Hour+CookieAge))
	wantErr(t, "Touch after the race", err, data.ErrNotFound)
}

// testExtendVsEnd: an operator extends sessions while another forces them
// out. Whatever the interleaving, each ends ended, and no Extend after
// EndSession returned succeeds.
func testExtendVsEnd(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "viewer")
	const rounds = 4
	for r := range rounds {
		s := mustCreate(t, st, newSession(u, fmt.Sprintf("contested-%d", r)))
		var (
			ended   atomic.Bool
			extends atomic.Int64
			wg      sync.WaitGroup
			start   = make(chan struct{})
		)
		for range workers / 2 {
			wg.Go(func() {
				<-start
				for range maxLoop {
					after := ended.Load()
					_, err := st.Extend(ctx(t), s.ID, time.Minute, at(time.Minute),
						auditEntry(data.ActionExtend, "root", "alice", s.ID))
					switch {
					case err == nil && after:
						t.Errorf("Extend succeeded after EndSession returned")
						return
					case err == nil:
						extends.Add(1)
					case !errors.Is(err, data.ErrEnded):
						t.Errorf("Extend: %v, want nil or ErrEnded", err)
						return
					case after:
						return
					}
				}
				t.Error("an extender never saw the session end")
			})
		}
		var endErr error
		wg.Go(func() {
			<-start
			waitFor(func() bool { return extends.Load() >= int64(r) }) // round 0 ends at once
			_, endErr = st.EndSession(ctx(t), s.ID, data.End{At: at(time.Minute), Reason: data.EndForced, By: "root"},
				auditEntry(data.ActionForceLogout, "root", "alice", s.ID))
			ended.Store(true)
		})
		close(start)
		wg.Wait()
		if endErr != nil {
			t.Fatalf("round %d: EndSession: %v", r, endErr)
		}
		got := mustSession(t, st, s.ID)
		if got.EndedAt.IsZero() {
			t.Fatalf("round %d: session not ended after Extend raced EndSession", r)
		}
		if want := s.ExpiresAt.Add(time.Duration(extends.Load()) * time.Minute); !got.ExpiresAt.Equal(want) {
			t.Fatalf("round %d: ExpiresAt = %v after %d extends, want %v (lost or phantom update)", r, got.ExpiresAt, extends.Load(), want)
		}
		_, err := st.Extend(ctx(t), s.ID, time.Minute, at(time.Minute), auditEntry(data.ActionExtend, "root", "alice", s.ID))
		wantErr(t, "Extend after the race", err, data.ErrEnded)
	}
}

// testConcurrentCreates: concurrent logins and touches never share a
// Version, and ChangesSince hands every row out in strict Version order.
func testConcurrentCreates(t *testing.T, st data.Store) {
	u := mustUser(t, st, "alice", "viewer")
	const perWorker = 8
	var (
		mu       sync.Mutex
		versions = map[int64]string{}
		wg       sync.WaitGroup
	)
	record := func(v int64, what string) {
		mu.Lock()
		defer mu.Unlock()
		if prev, dup := versions[v]; dup {
			t.Errorf("Version %d handed out twice: %s and %s", v, prev, what)
		}
		versions[v] = what
	}
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				s := newSession(u, fmt.Sprintf("w%d-%d", w, i))
				got, err := st.CreateSession(ctx(t), s, "", auditEntry(data.ActionLogin, "alice", "alice", s.ID))
				if err != nil {
					t.Errorf("CreateSession: %v", err)
					return
				}
				record(got.Version, "create "+short(s.ID))
				now := at(time.Duration(i+1) * time.Second)
				got, err = st.Touch(ctx(t), s.ID, now, now.Add(CookieAge))
				if err != nil {
					t.Errorf("Touch: %v", err)
					return
				}
				record(got.Version, "touch "+short(s.ID))
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	c := mustChanges(t, st, 0, 1000) // checks strict order
	if len(c.Sessions) != workers*perWorker || c.More {
		t.Fatalf("ChangesSince(0) = %d rows (More=%v), want %d", len(c.Sessions), c.More, workers*perWorker)
	}
	var highest int64
	for v := range versions {
		highest = max(highest, v)
	}
	if c.Version != highest {
		t.Fatalf("ChangesSince Version = %d, want the highest handed out %d", c.Version, highest)
	}
	if es := mustAudit(t, st, data.AuditQuery{Action: data.ActionLogin, Limit: 1000}); len(es) != workers*perWorker {
		t.Fatalf("login audit entries = %d, want %d", len(es), workers*perWorker)
	}
}
