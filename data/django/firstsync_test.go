package django

import (
	"context"
	"errors"
	"testing"
	"time"

	"sessionmon/data"
)

// TestFirstSyncOutlivesThePollDeadline: the first pass over a large table
// takes longer than a dashboard's poll waits. It runs on in the
// background, each poll meanwhile answers data.ErrNotReady with the
// progress (not the deadline's error, which the dashboard showed as "store
// unreachable"), and a poll after it ends answers. Close stops a pass
// under way.
func TestFirstSyncOutlivesThePollDeadline(t *testing.T) {
	site := newSite(t, "postgres")
	now := time.Now().UTC().Truncate(time.Microsecond)
	enc, err := site.keys.Encode(PyDumps(siteMembers("ann", 1, "user", now, now)...), EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	site.exec(`INSERT INTO django_session SELECT md5(i::text), $1, $2::timestamptz + i * interval '1 second' FROM generate_series(1, $3) i`, enc, now.Add(time.Hour), n)

	src := site.open(Options{Keys: site.keys})
	poll := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := src.ListActive(ctx, data.Query{Now: time.Now(), Sort: data.SortUser, Limit: 10})
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	notReady := 0
	for {
		err := poll()
		if err == nil {
			break
		}
		if !errors.Is(err, data.ErrNotReady) {
			// Once the first sync has ended, a poll refreshes under its
			// own deadline, which a slow machine (-race) may pass.
			if src.indexed() {
				break
			}
			t.Fatalf("poll %d during the first sync: %v, want data.ErrNotReady", notReady+1, err)
		}
		notReady++
		if time.Now().After(deadline) {
			t.Fatalf("the first sync of %d rows did not end in 2 minutes of 20 ms polls (last: %v)", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if notReady == 0 {
		t.Skip("the first sync ended within one 20 ms poll: too fast to test here")
	}
	st, err := src.Stats(context.Background(), data.StatsQuery{Now: time.Now()})
	if err != nil || st.Active != n {
		t.Fatalf("after the first sync: %d active, %v; want %d", st.Active, err, n)
	}

	// Close during a first sync returns once the sync has stopped.
	src2 := site.open(Options{Keys: site.keys})
	if err := pollNow(src2); !errors.Is(err, data.ErrNotReady) && err != nil {
		t.Fatalf("second source's first poll: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- src2.Close() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Close waited more than 30 s for a first sync under way")
	}
}

// pollNow polls with a deadline too short for any first sync.
func pollNow(src *Source) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	_, err := src.ListActive(ctx, data.Query{Now: time.Now(), Sort: data.SortUser, Limit: 10})
	return err
}
