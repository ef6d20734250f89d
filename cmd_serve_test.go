package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/data/sqlite"
	"sessionmon/server"
)

// In production, serve refuses to start without allowed_hosts, in one line
// that names the key and how to set it, before it opens (or creates) the
// store. Set by any route (env, named flag, --set) it gets past the check.
func TestServeInProductionWantsAllowedHosts(t *testing.T) {
	c := newCLI(t)
	c.env["SESSIONMON_PRODUCTION"] = "true"
	migrated := c.db
	c.db = filepath.Join(t.TempDir(), "new.db") // serve may create a file; the refused one must not
	_, _, err := c.run("", "serve", "--listen", "127.0.0.1:1")
	if err == nil || !strings.HasPrefix(err.Error(), "allowed_hosts: not set: production needs") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("serve in production without allowed_hosts: %v, want one line naming allowed_hosts", err)
	}
	if _, statErr := os.Stat(c.db); !os.IsNotExist(statErr) {
		t.Errorf("the refused serve touched the store: stat %s: %v", c.db, statErr)
	}
	c.db = migrated
	// Past the check, serve stops at the next step: a port it cannot bind
	// (so the test does not serve for ever).
	for name, args := range map[string][]string{
		"flag": {"serve", "--listen", "256.0.0.1:1", "--allowed-hosts", "sessions.example.com"},
		"set":  {"serve", "--listen", "256.0.0.1:1", "--set", "allowed_hosts=sessions.example.com"},
	} {
		_, _, err := c.run("", args...)
		if err == nil || strings.Contains(err.Error(), "allowed_hosts") || !strings.Contains(err.Error(), "listen on 256.0.0.1:1") {
			t.Errorf("%s: %v, want past the allowed_hosts check, failing to listen", name, err)
		}
	}
	c.env["SESSIONMON_ALLOWED_HOSTS"] = "sessions.example.com, .example.org"
	_, _, err = c.run("", "serve", "--listen", "256.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "listen on 256.0.0.1:1") {
		t.Errorf("env: %v, want past the allowed_hosts check, failing to listen", err)
	}
	out := c.must("", "config")
	if !strings.Contains(out, `allowed_hosts = ["sessions.example.com", ".example.org"]`) {
		t.Errorf("config does not show the allowed hosts:\n%s", out)
	}
}

// hangingStore is a store whose Close never returns, as a pgx pool's does
// for 15 s per connection when PostgreSQL hangs.
type hangingStore struct {
	data.Store
	release chan struct{}
}

func (h hangingStore) Close() error     { <-h.release; return nil }
func (h hangingStore) Describe() string { return "postgres hung@127.0.0.1:5432/db" }

// closeStore is what serve and watch close their store with: it gives up
// after its budget, so a hung database cannot hold the exit past the grace
// period, and says so; a store that closes is closed, with no message.
func TestCloseStoreIsBounded(t *testing.T) {
	h := hangingStore{release: make(chan struct{})}
	defer close(h.release)
	start := time.Now()
	err := closeStore(h, 200*time.Millisecond)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("closeStore waited %s on a hung Close, budget 200ms", took)
	}
	if err == nil || !strings.Contains(err.Error(), "postgres hung@127.0.0.1:5432/db did not close within 200ms") {
		t.Errorf("closeStore on a hung store: %v", err)
	}

	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ok.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := closeStore(st, server.CloseReserve); err != nil {
		t.Errorf("closeStore on a healthy store: %v", err)
	}
}
