package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/data/sqlite"
	"sessionmon/data/storetest"
	"sessionmon/internal/testkit"
)

// watcher runs st.Watch in the background, counting notices into a channel.
type watcher struct {
	notices chan struct{}
	cancel  context.CancelFunc
	done    chan error
}

// startWatch starts a Watch on st and waits for its first notice (the one
// every Watch sends at the start).
func startWatch(t *testing.T, st *sqlite.Store) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	w := &watcher{notices: make(chan struct{}, 100), cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- st.Watch(ctx, func() { w.notices <- struct{}{} }) }()
	t.Cleanup(func() {
		cancel()
		<-w.done
	})
	w.want(t, "the start")
	return w
}

// want waits for one notice.
func (w *watcher) want(t *testing.T, what string) {
	t.Helper()
	select {
	case <-w.notices:
	case <-time.After(5 * time.Second):
		t.Fatalf("no notice for %s", what)
	}
}

// quiet checks that no notice arrives for a while.
func (w *watcher) quiet(t *testing.T, what string) {
	t.Helper()
	select {
	case <-w.notices:
		t.Fatalf("a notice for %s", what)
	case <-time.After(200 * time.Millisecond):
	}
}

func login(t *testing.T, st *sqlite.Store, userID int64, name string) data.Session {
	t.Helper()
	s := data.Session{
		ID: storetest.SessionID(name), UserID: userID, Username: "alice", Role: "viewer",
		LoginTime: storetest.T0, LastActivity: storetest.T0, ExpiresAt: storetest.T0.Add(time.Hour),
	}
	got, err := st.CreateSession(t.Context(), s, "", data.Guard{}, data.AuditEntry{Time: storetest.T0, Action: data.ActionLogin, SessionID: s.ID})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Every change to the set of active sessions or to an expiry made through
// the Store is pushed; Touch, Purge, user changes that end no session and
// failed writes are not.
func TestWatchNotifiesLoginEndAndExtendButNotTouch(t *testing.T) {
	st := open(t)
	ctx := t.Context()
	a := mkSessions(t, st, "a", "b")
	uid := a[0].UserID
	w := startWatch(t, st)
	at := storetest.T0.Add(time.Minute)
	end := data.End{At: at, Reason: data.EndForced, By: "oncall"}
	audit := data.AuditEntry{Time: at, Actor: "oncall"}

	login(t, st, uid, "c")
	w.want(t, "a login")

	if _, err := st.Touch(ctx, a[0].ID, at, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	w.quiet(t, "a touch")

	if _, err := st.Extend(ctx, a[0].ID, time.Hour, at, audit); err != nil {
		t.Fatal(err)
	}
	w.want(t, "an extend")

	if _, err := st.EndSession(ctx, a[0].ID, end, audit); err != nil {
		t.Fatal(err)
	}
	w.want(t, "a force-logout")

	if n, err := st.EndUserSessions(ctx, uid, end, audit); err != nil || n != 2 {
		t.Fatalf("EndUserSessions = %d, %v; want 2", n, err)
	}
	w.want(t, "ending a user's sessions")

	login(t, st, uid, "d")
	w.want(t, "a second login")
	if _, n, err := st.SetUserStatus(ctx, "alice", data.StatusInactive, end, audit); err != nil || n != 1 {
		t.Fatalf("SetUserStatus = %d, %v; want 1", n, err)
	}
	w.want(t, "deactivating a user with a session")

	// Nothing that leaves the active sessions and their expiries as they were.
	if n, err := st.EndUserSessions(ctx, uid, end, audit); err != nil || n != 0 {
		t.Fatalf("EndUserSessions again = %d, %v; want 0", n, err)
	}
	if _, err := st.Extend(ctx, a[0].ID, time.Hour, at, audit); !errors.Is(err, data.ErrEnded) {
		t.Fatalf("Extend of an ended session: %v", err)
	}
	if _, _, err := st.SetUserStatus(ctx, "alice", data.StatusActive, end, audit); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetUserRole(ctx, "alice", "admin", audit); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, data.User{Username: "bob", Role: "viewer", CreatedAt: at}, audit); err != nil {
		t.Fatal(err)
	}
	if n, err := st.Purge(ctx, at.Add(time.Second), audit); err != nil || n == 0 {
		t.Fatalf("Purge = %d, %v; want some", n, err)
	}
	w.quiet(t, "writes that end, log in or extend nothing")
}

// A watcher whose notify blocks holds up neither the writers nor the other
// watchers, and what it missed meanwhile reaches it as one coalesced notice.
func TestWatchSlowWatcherNeverBlocksWriters(t *testing.T) {
	st := open(t)
	mkSessions(t, st) // the user alone
	u, err := st.UserByUsername(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}

	release := make(chan struct{})
	unblock := sync.OnceFunc(func() { close(release) })
	var calls atomic.Int32
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	slowDone := make(chan error, 1)
	go func() {
		slowDone <- st.Watch(ctx, func() {
			if calls.Add(1) > 1 { // the start notice passes; the next one blocks
				<-release
			}
		})
	}()
	fast := startWatch(t, st)
	t.Cleanup(unblock) // first of the cleanups, should the test fail while notify blocks
	testkit.WaitFor(t, 5*time.Second, "the slow watcher's start", func() bool { return calls.Load() == 1 })

	wrote := make(chan error, 1)
	go func() {
		for i := range 50 {
			s := data.Session{
				ID: storetest.SessionID(fmt.Sprint("burst", i)), UserID: u.ID, Username: "alice",
				LoginTime: storetest.T0, LastActivity: storetest.T0, ExpiresAt: storetest.T0.Add(time.Hour),
			}
			if _, err := st.CreateSession(t.Context(), s, "", data.Guard{}, data.AuditEntry{Time: storetest.T0, Action: data.ActionLogin}); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writers blocked behind a watcher whose notify does not return")
	}
	fast.want(t, "the burst, while the other watcher is stuck")

	unblock()
	testkit.WaitFor(t, 5*time.Second, "the slow watcher to catch up", func() bool { return calls.Load() >= 2 })
	time.Sleep(200 * time.Millisecond)
	// The start, the call that blocked, and at most one more for all the
	// logins it missed meanwhile.
	if n := calls.Load(); n > 3 {
		t.Fatalf("slow watcher was called %d times for one burst; notices should coalesce", n)
	}
	cancel()
	if err := <-slowDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch returned %v, want context.Canceled", err)
	}
}

// Watch returns ctx.Err() when its context ends, and at once, without a
// notice, when the context has already ended.
func TestWatchReturnsOnCancel(t *testing.T) {
	st := open(t)
	w := startWatch(t, st)
	w.cancel()
	select {
	case err := <-w.done:
		w.done <- err // for the cleanup
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Watch returned %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	if err := st.Watch(ctx, func() { called = true }); !errors.Is(err, context.Canceled) || called {
		t.Fatalf("Watch with a done context = %v (notified %v), want context.Canceled at once", err, called)
	}
}

// Close ends every Watch, and a Watch on a closed Store returns at once.
func TestWatchEndsOnClose(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() { done <- st.Watch(context.Background(), func() { started <- struct{}{} }) }()
	<-started
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, sqlite.ErrClosed) {
			t.Fatalf("Watch returned %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after Close")
	}
	if err := st.Watch(context.Background(), func() { t.Error("notified by a closed store") }); !errors.Is(err, sqlite.ErrClosed) {
		t.Fatalf("Watch on a closed store = %v, want ErrClosed", err)
	}
}

// Notices are in-process: a login written through another Store on the same
// file (another process) is not pushed; the dashboard's poll finds it.
func TestWatchDoesNotHearOtherStores(t *testing.T) {
	mine := open(t)
	other, err := sqlite.Open(t.Context(), mine.Describe()[len("sqlite "):])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	w := startWatch(t, mine)
	mkSessions(t, other, "elsewhere")
	w.quiet(t, "a login through another Store")
}
