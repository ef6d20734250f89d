package postgres

import (
	"context"
	"testing"
	"time"

	"sessionmon/data"
)

// A login made through one Store reaches a Watch on another Store (another
// process) as a notice, and Watch ends with its context.
func TestWatchHearsLoginsFromOtherConnections(t *testing.T) {
	writer := openTest(t)
	watcher, err := Open(t.Context(), writer.connCfg.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watcher.Close() })

	notices := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- watcher.Watch(ctx, func() { notices <- struct{}{} }) }()

	wait := func(what string) {
		t.Helper()
		select {
		case <-notices:
		case <-time.After(10 * time.Second):
			t.Fatalf("no notice for %s", what)
		}
	}
	wait("the first connect")
	u := mkUser(t, writer, "alice")
	mkSession(t, writer, u, "watched")
	wait("a login")

	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Fatalf("Watch returned %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
	var _ data.Watcher = watcher
}

// Installations sharing a database do not wake each other: a login in
// another schema sends no notice to this schema's watcher.
func TestWatchHearsOnlyItsOwnSchema(t *testing.T) {
	mine, other := openTest(t), openTest(t)
	notices := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go mine.Watch(ctx, func() { notices <- struct{}{} })
	select {
	case <-notices: // the first connect
	case <-time.After(10 * time.Second):
		t.Fatal("no notice on connect")
	}
	mkSession(t, other, mkUser(t, other, "stranger"), "theirs")
	select {
	case <-notices:
		t.Fatal("heard a login from another schema")
	case <-time.After(500 * time.Millisecond):
	}
	mkSession(t, mine, mkUser(t, mine, "alice"), "ours")
	select {
	case <-notices:
	case <-time.After(10 * time.Second):
		t.Fatal("no notice for a login in this schema")
	}
}
