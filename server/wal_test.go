package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/data/sqlite"
	"sessionmon/sessionlogic"
)

// TestWALStaysBoundedUnderAuthenticatedTraffic is issue 8's report as a
// test: steady authenticated traffic (GET /api/me with save-every-request,
// one Touch per request) through the real handler on the embedded store,
// with a dashboard polling beside it, must not grow SQLite's WAL without
// bound. Before the fix each request committed without ever running
// SQLite's checkpoint: 2,000 requests left a 41 MB WAL.
func TestWALStaysBoundedUnderAuthenticatedTraffic(t *testing.T) {
	const (
		clients  = 8
		maxBytes = 8 << 20 // SQLite checkpoints at 1,000 frames, about 4 MB
		maxFrame = 2000
		pageSize = 4096 // SQLite's default, which the store keeps
	)
	requests := 20000
	if testing.Short() {
		requests = 4000
	}
	path := filepath.Join(t.TempDir(), "sessions.db")
	e := newEnv(t, envConfig{open: func(t *testing.T) data.Store {
		st, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}})
	token := e.login(alice, alicePassword)

	walSize := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if os.IsNotExist(err) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	var maxSize atomic.Int64
	sample := func() {
		for s := walSize(); ; {
			m := maxSize.Load()
			if s <= m || maxSize.CompareAndSwap(m, s) {
				return
			}
		}
	}

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	// The dashboard: Active and Stats on the reader pool, as `watch` polls.
	var dash sync.WaitGroup
	dash.Go(func() {
		for ctx.Err() == nil {
			if _, err := e.mgr.Active(ctx, sessionlogic.ListQuery{Limit: 50}); err != nil && ctx.Err() == nil {
				t.Errorf("Active: %v", err)
				return
			}
			if _, err := e.mgr.Stats(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("Stats: %v", err)
				return
			}
			sample()
			time.Sleep(5 * time.Millisecond)
		}
	})

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(requests) && !t.Failed(); i = next.Add(1) {
				req, err := http.NewRequest("GET", e.ts.URL+"/api/me", nil)
				if err != nil {
					t.Error(err)
					return
				}
				req.AddCookie(&http.Cookie{Name: e.cookie, Value: token})
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("request %d: status %d, want 200", i, resp.StatusCode)
					return
				}
				if i%200 == 0 {
					sample()
				}
			}
		})
	}
	wg.Wait()
	stop()
	dash.Wait()
	sample()

	size := maxSize.Load()
	frames := max(size-32, 0) / (pageSize + 24)
	t.Logf("%d requests: the WAL peaked at %d bytes (%d frames)", requests, size, frames)
	if size >= maxBytes || frames >= maxFrame {
		t.Fatalf("after %d authenticated requests the WAL reached %s (%d frames); want under %s and %d frames: it is not being checkpointed",
			requests, mb(size), frames, mb(maxBytes), maxFrame)
	}
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }
