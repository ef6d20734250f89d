package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"sessionmon/data"
	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
)

// deadlineStore records how much time each CreateSession call had left.
type deadlineStore struct {
	data.Store
	mu   sync.Mutex
	left []time.Duration
}

func (d *deadlineStore) CreateSession(ctx context.Context, s data.Session, replace string, g data.Guard, a data.AuditEntry) (data.Session, error) {
	left := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		left = time.Until(dl)
	}
	d.mu.Lock()
	d.left = append(d.left, left)
	d.mu.Unlock()
	return d.Store.CreateSession(ctx, s, replace, g, a)
}

// The bug: a deadline around the whole of POST /login also covered the
// bcrypt check, so under CPU load a healthy store answered 503. Now only
// store calls are bounded, each by the Manager's StoreTimeout, set just
// before the call: CreateSession, which runs after the password check, must
// see (nearly) the whole StoreTimeout, and no tighter deadline from the server.
func TestLoginDeadlineDoesNotCoverThePasswordCheck(t *testing.T) {
	st := testkit.OpenSQLite(t)
	ds := &deadlineStore{Store: st}
	const storeTimeout = time.Minute
	m, err := sessionlogic.New(sessionlogic.Options{
		Store: ds, SaveEveryRequest: true, PasswordCost: bcrypt.MinCost + 2, StoreTimeout: storeTimeout,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddUser(context.Background(), "test", sessionlogic.NewUser{Username: "slow", Password: "slow-password", Role: "staff"}); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Manager: m, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(url.Values{"username": {"slow"}, "password": {"slow-password"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = "localhost" // not httptest's example.com: the server answers to loopback names only
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("POST /login: %d", rec.Code)
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if len(ds.left) != 1 {
		t.Fatalf("CreateSession calls: %d", len(ds.left))
	}
	if left := ds.left[0]; left < storeTimeout-10*time.Second {
		t.Fatalf("CreateSession had %s left of its %s bound: a deadline set before the password check still covers it", left, storeTimeout)
	}
}
