package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
)

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// TestSecurityHeaders: every response, whatever its status, carries them.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := e.Login(alice, alicePassword)
	cases := []struct {
		method, path string
		opts         []reqOpt
		status       int
	}{
		{"GET", "/login", nil, http.StatusOK},
		{"GET", "/", []reqOpt{e.Sess(token)}, http.StatusOK},
		{"GET", "/", nil, http.StatusFound},
		{"GET", "/api/me", nil, http.StatusUnauthorized},
		{"GET", "/healthz", nil, http.StatusOK},
		{"GET", "/metrics", nil, http.StatusOK},
		{"GET", "/static/style.css", nil, http.StatusOK},
		{"GET", "/nope", nil, http.StatusNotFound},
		{"DELETE", "/login", nil, http.StatusMethodNotAllowed},
		{"POST", "/logout", []reqOpt{testkit.WithHeader("Sec-Fetch-Site", "cross-site")}, http.StatusForbidden},
	}
	for _, c := range cases {
		var form url.Values
		if c.method == "POST" {
			form = url.Values{}
		}
		r := e.Do(c.method, c.path, form, c.opts...)
		testkit.WantStatus(t, c.method+" "+c.path, r, c.status)
		csp := r.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s %s: CSP %q lacks %s", c.method, c.path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s %s: CSP allows inline code: %q", c.method, c.path, csp)
		}
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"X-Frame-Options":        "DENY",
			"Referrer-Policy":        "same-origin",
		} {
			if got := r.Header.Get(k); got != want {
				t.Errorf("%s %s: %s = %q, want %q", c.method, c.path, k, got, want)
			}
		}
	}

	// The pages use no inline script or style, so the CSP costs nothing.
	for _, path := range []string{"/login", "/"} {
		body := e.Do("GET", path, nil, e.Sess(token)).Body
		for _, bad := range []string{"<script", "style=", "<style", "onclick", "javascript:"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
	}
	css := e.Do("GET", "/static/style.css", nil)
	if ct := css.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("style.css Content-Type = %q", ct)
	}
}

// TestRoutes: unknown paths are 404 and wrong methods 405, with no session
// side effects.
func TestRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/nope", http.StatusNotFound},
		{"GET", "/index.html", http.StatusNotFound},
		{"GET", "/api/me/", http.StatusNotFound},
		{"GET", "/static/nope.css", http.StatusNotFound},
		{"GET", "/static/../server.go", http.StatusNotFound},
		{"GET", "/logout", http.StatusMethodNotAllowed},
		{"PUT", "/login", http.StatusMethodNotAllowed},
		{"POST", "/", http.StatusMethodNotAllowed},
		{"POST", "/api/me", http.StatusMethodNotAllowed},
		{"POST", "/healthz", http.StatusMethodNotAllowed},
		{"HEAD", "/healthz", http.StatusOK},
	} {
		r := e.Do(c.method, c.path, nil)
		if r.Status != c.status {
			// /static/../ is cleaned by the mux into a redirect; follow it.
			if r.Status/100 == 3 && c.status == http.StatusNotFound {
				r = e.Do(c.method, r.Header.Get("Location"), nil)
			}
			if r.Status != c.status {
				t.Errorf("%s %s: status %d, want %d", c.method, c.path, r.Status, c.status)
			}
		}
	}
}

// TestMetrics: the counters follow what happened, failed logins by a reason
// that does not tell unknown users from wrong passwords, latency by route.
func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := e.Login(alice, alicePassword)
	e.Do("POST", "/login", testkit.LoginForm(alice, "wrong password", ""))
	e.Do("POST", "/login", testkit.LoginForm("mallory", "wrong password", ""))
	other := e.Login(alice, alicePassword)
	e.Do("POST", "/logout", url.Values{}, e.Sess(token))
	if _, err := e.mgr.ForceLogout(context.Background(), "oncall", sessionlogic.HashToken(other)); err != nil {
		t.Fatal(err)
	}
	e.Do("GET", "/api/me", nil, e.Sess(other))
	e.Do("GET", "/nope", nil)

	r := e.Do("GET", "/metrics", nil)
	testkit.WantStatus(t, "/metrics", r, http.StatusOK)
	for name, want := range map[string]float64{
		"sessionmon_logins_total":                             2,
		`sessionmon_login_failures_total{reason="invalid"}`:   2,
		`sessionmon_login_failures_total{reason="throttled"}`: 0,
		"sessionmon_logouts_total":                            1,
		"sessionmon_forced_logouts_total":                     1,
		"sessionmon_active_sessions":                          0,
		"sessionmon_store_up":                                 1,
		"sessionmon_http_panics_total":                        0,
		`sessionmon_http_request_duration_seconds_count{route="POST /login",status="3xx"}`: 2,
		`sessionmon_http_request_duration_seconds_count{route="POST /login",status="4xx"}`: 2,
		`sessionmon_http_request_duration_seconds_count{route="GET /api/me",status="4xx"}`: 1,
		`sessionmon_http_request_duration_seconds_count{route="unmatched",status="4xx"}`:   1,
	} {
		got, ok := metricValue(r.Body, name)
		if !ok || got != want {
			t.Errorf("%s = %v (found %v), want %v", name, got, ok, want)
		}
	}
	for _, leak := range []string{"unknown user", "wrong password", "mallory", "/nope"} {
		if strings.Contains(r.Body, leak) {
			t.Errorf("/metrics mentions %q", leak)
		}
	}
}

// TestActiveSessionsCached: the gauge comes from the store at most once per
// TTL however many scrapes arrive at once, and a failure is cached too.
func TestActiveSessionsCached(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	fail := atomic.Bool{}
	c := &activeCollector{
		stats: func(context.Context) (sessionlogic.Stats, error) {
			calls.Add(1)
			time.Sleep(20 * time.Millisecond) // a slow store
			if fail.Load() {
				return sessionlogic.Stats{}, errors.New("down")
			}
			return sessionlogic.Stats{Active: 7, ByRole: map[string]int64{"admin": 7}}, nil
		},
		ttl:    time.Hour,
		log:    slog.New(slog.DiscardHandler),
		active: prometheus.NewDesc("a", "a", nil, nil),
		byRole: prometheus.NewDesc("b", "b", []string{"role"}, nil),
		up:     prometheus.NewDesc("u", "u", nil, nil),
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("50 concurrent scrapes ran %d store queries, want 1", n)
	}
	mfs, _ := reg.Gather()
	if len(mfs) != 3 || mfs[0].GetMetric()[0].GetGauge().GetValue() != 7 {
		t.Errorf("gathered %v", mfs)
	}

	c.mu.Lock()
	c.at, c.ttl = time.Time{}, time.Hour
	c.mu.Unlock()
	fail.Store(true)
	for range 10 {
		_, _ = reg.Gather()
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("a failing store was queried %d times in all, want 2", n)
	}
}

// TestPanicRecovered: a panic in a handler is logged and answered with a
// plain 500 that shows nothing of the stack, with the security headers.
func TestPanicRecovered(t *testing.T) {
	t.Parallel()
	var logs testkit.LogBuffer
	st := testkit.OpenSQLite(t)
	t.Cleanup(func() { st.Close() })
	mgr, err := sessionlogic.New(sessionlogic.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Manager: mgr, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h := s.chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "sessionid=leak")
		panic("boom: secret internals")
	}))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Host = "localhost" // not httptest's example.com: the server answers to loopback names only
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	body := rec.Body.String()
	if strings.Contains(body, "boom") || strings.Contains(body, "goroutine") || strings.Contains(body, ".go:") {
		t.Errorf("500 body leaks the panic: %q", body)
	}
	if rec.Header().Get("Set-Cookie") != "" {
		t.Error("500 kept a cookie the handler set before panicking")
	}
	if rec.Header().Get("X-Frame-Options") != "DENY" {
		t.Error("500 lacks the security headers")
	}
	if !strings.Contains(logs.String(), "panic in handler") || !strings.Contains(logs.String(), "boom") {
		t.Errorf("panic not logged: %s", logs.String())
	}
	if n := counterValue(s.metrics.panics); n != 1 {
		t.Errorf("panics counter = %v, want 1", n)
	}
}

// TestServeGracefulShutdown: cancelling the context lets an in-flight
// request finish, stops accepting, and Serve returns nil.
func TestServeGracefulShutdown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "finished")
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h, slog.New(slog.DiscardHandler)) }()

	url := "http://" + ln.Addr().String() + "/"
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-started
	cancel()
	if body := <-got; body != "finished" {
		t.Errorf("in-flight request got %q, want finished", body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}

func TestListenAndServeBadAddr(t *testing.T) {
	t.Parallel()
	err := ListenAndServe(context.Background(), "127.0.0.1:-1", http.NotFoundHandler(), nil)
	if err == nil {
		t.Fatal("ListenAndServe on a bad address returned nil")
	}
}

func TestHelpers(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                                     "expired",
		-time.Hour:                            "expired",
		42 * time.Second:                      "42s",
		15 * time.Minute:                      "15m",
		5*time.Minute + 3*time.Second:         "5m 3s",
		2*time.Hour + 5*time.Minute:           "2h 5m",
		14 * 24 * time.Hour:                   "14d 0h 0m",
		13*24*time.Hour + 23*time.Hour:        "13d 23h 0m",
		59*time.Second + 600*time.Millisecond: "1m",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
	for in, want := range map[string]string{
		"unknown user": "invalid", "wrong password": "invalid", "oversized input": "invalid",
		"inactive": "inactive", "throttled": "throttled", "anything else": "other",
	} {
		if got := failureReason(in); got != want {
			t.Errorf("failureReason(%q) = %q, want %q", in, got, want)
		}
	}
	for code, want := range map[int]string{200: "2xx", 303: "3xx", 404: "4xx", 503: "5xx", 0: "other", 999: "other"} {
		if got := statusClass(code); got != want {
			t.Errorf("statusClass(%d) = %q, want %q", code, got, want)
		}
	}
	if got := clip("héllo", 2); got != "h" {
		t.Errorf("clip split a rune: %q", got)
	}
}
