package django

import (
	"context"
	"strings"
	"testing"
	"time"

	"sessionmon/data"
)

func TestNotifyTriggerPushesLoginsAndLogouts(t *testing.T) {
	site := newSite(t, "postgres")
	src := site.open(Options{})
	if _, ok := src.DataSource().(data.Watcher); ok || src.Pushes() {
		t.Fatal("without the trigger the source claims to push")
	}
	if err := Migrate(ctx, site.dsn, MigrateOptions{Notify: true}); err != nil {
		t.Fatal(err)
	}
	src = site.open(Options{})
	w, ok := src.DataSource().(data.Watcher)
	if !ok || !src.Pushes() {
		t.Fatal("with the trigger the source does not push")
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	notices := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() { done <- w.Watch(wctx, func() { notices <- struct{}{} }) }()
	wait := func(what string) {
		t.Helper()
		select {
		case <-notices:
		case <-time.After(5 * time.Second):
			t.Fatalf("no notice for %s", what)
		}
	}
	wait("the connect")
	k := randKey()
	site.put(k, time.Now().Add(time.Hour), Member{"user", "a"})
	wait("a login")
	site.exec("UPDATE django_session SET expire_date = expire_date + interval '1 second'")
	site.exec("DELETE FROM django_session WHERE session_key = $1", k)
	wait("a logout")
	select {
	case <-notices:
		t.Error("an UPDATE (a request) was announced")
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Watch returned %v, want context.Canceled", err)
	}

	if err := Migrate(ctx, site.dsn, MigrateOptions{RemoveNotify: true}); err != nil {
		t.Fatal(err)
	}
	if src := site.open(Options{}); src.Pushes() {
		t.Error("the trigger survived RemoveNotify")
	}
	lite := newSite(t, "sqlite")
	if err := Migrate(ctx, lite.dsn, MigrateOptions{Notify: true}); err == nil || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Errorf("Migrate(Notify) on SQLite = %v", err)
	}
}
