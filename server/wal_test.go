package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"sessionmon/data/sqlite"
	"sessionmon/internal/testkit"
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
	if testing.Short() || raceEnabled {
		requests = 3000 // still 15,000 frames, 60 MB, without the fix
	}
	path := filepath.Join(t.TempDir(), "sessions.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The server as `sessionmon serve` builds it (save-every-request on),
	// with a store timeout long enough that a loaded test machine does not
	// turn a slow write into a 503: this test is about the WAL.
	metrics, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := sessionlogic.New(sessionlogic.Options{
		Store: st, SaveEveryRequest: true, PasswordCost: bcrypt.MinCost, StoreTimeout: 30 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Observer: metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Manager: mgr, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	if _, err := mgr.AddUser(t.Context(), "test", sessionlogic.NewUser{Username: alice, Password: alicePassword, Role: aliceRole}); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	resp, err := client.PostForm(ts.URL+"/login", testkit.LoginForm(alice, alicePassword, ""))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var token string
	for _, c := range resp.Cookies() {
		if c.Name == mgr.CookieName() {
			token = c.Value
		}
	}
	if resp.StatusCode != http.StatusSeeOther || token == "" {
		t.Fatalf("login: status %d, cookie %q", resp.StatusCode, token)
	}

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
			if _, err := mgr.Active(ctx, sessionlogic.ListQuery{Limit: 50}); err != nil && ctx.Err() == nil {
				t.Errorf("Active: %v", err)
				return
			}
			if _, err := mgr.Stats(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("Stats: %v", err)
				return
			}
			sample()
			time.Sleep(5 * time.Millisecond)
		}
	})

	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(requests) && !t.Failed(); i = next.Add(1) {
				req, err := http.NewRequest("GET", ts.URL+"/api/me", nil)
				if err != nil {
					t.Error(err)
					return
				}
				req.AddCookie(&http.Cookie{Name: mgr.CookieName(), Value: token})
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
