package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/sessionlogic"
)

// instantStore answers every Touch at once with the same live session: the
// handler chain's own CPU and allocations per request, without a database
// (issue 11: on 2 cores the server's per-request CPU bounds the rate).
type instantStore struct {
	data.Store
	s data.Session
}

func (st instantStore) Touch(_ context.Context, id string, now, expires time.Time) (data.Session, error) {
	s := st.s
	s.ID, s.LastActivity, s.ExpiresAt = id, now, expires
	return s, nil
}

// discardWriter is a ResponseWriter that keeps only the header map, reset
// per request as net/http's own response does.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}
func (w *discardWriter) WriteHeader(code int) { w.code = code }

// BenchmarkMe is GET /api/me through the whole handler chain (instrument,
// recover, security headers, Host check, CSRF, the session guard with
// save-every-request, the JSON answer) on a store that answers at once.
func BenchmarkMe(b *testing.B) {
	now := time.Now().UTC()
	m, err := sessionlogic.New(sessionlogic.Options{Store: instantStore{s: data.Session{
		UserID: 42, Username: "alice", Email: "alice@example.com", FullName: "Alice Liddell", Role: "admin",
		Status: "active", IP: "127.0.0.1", UserAgent: "wrk", LoginTime: now, LastActivity: now, ExpiresAt: now.Add(time.Hour),
	}}, SaveEveryRequest: true, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(Options{Manager: m, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	h := srv.Handler()
	r := httptest.NewRequest(http.MethodGet, "/api/me", nil)
	r.Host = "127.0.0.1:8080"
	r.Header.Set("Cookie", m.CookieName()+"="+sessionlogic.NewToken())
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		clear(w.h)
		w.code = 0
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
	// CPU time, not wall time, is what the other processes on a shared
	// machine do not inflate (as much).
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's user + system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// discardLogger drops everything below Warn, as bench/harness.Quiet does
// (the access log is Debug).
func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
