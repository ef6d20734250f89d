package server

import (
	"bytes"
	"context"
	"io"
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
	"sessionmon/internal/fakeclock"
	"sessionmon/sessionlogic"
)

// The user every test logs in as.
const (
	alice         = "alice"
	alicePassword = "correct horse battery"
	aliceName     = "Alice Liddell"
	aliceRole     = "admin"
)

// logBuffer collects a test's logs; they are printed when the test fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type envConfig struct {
	production bool
	trustProxy bool
	open       func(t *testing.T) data.Store // default openStore (SQLite in t.TempDir())
}

type testEnv struct {
	t       *testing.T
	store   data.Store
	mgr     *sessionlogic.Manager
	srv     *Server
	ts      *httptest.Server
	clock   *fakeclock.Clock
	logs    *logBuffer
	client  *http.Client
	cookie  string // the session cookie's name
	closeMu sync.Once
}

// newEnv starts a login server on a fresh store with one user, alice.
// Every env checks at the end that no handler panicked.
func newEnv(t *testing.T, cfgs ...envConfig) *testEnv {
	t.Helper()
	var cfg envConfig
	if len(cfgs) > 0 {
		cfg = cfgs[0]
	}
	if cfg.open == nil {
		cfg.open = openStore
	}
	e := &testEnv{t: t, clock: fakeclock.AtNow(), logs: &logBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.store = cfg.open(t)
	t.Cleanup(func() { e.closeStore() })

	cookie := sessionlogic.DefaultCookieOptions()
	if cfg.production {
		cookie.Name = "__Host-sessionid"
		cookie.Secure = true
	}
	metrics, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	e.mgr, err = sessionlogic.New(sessionlogic.Options{
		Store:            e.store,
		Cookie:           cookie,
		SaveEveryRequest: true,
		PasswordCost:     bcrypt.MinCost,
		StoreTimeout:     2 * time.Second,
		Now:              e.clock.Now,
		Logger:           log,
		Observer:         metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.cookie = e.mgr.CookieName()
	e.srv, err = New(Options{Manager: e.mgr, Logger: log, Production: cfg.production, TrustProxyHeaders: cfg.trustProxy, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	e.addUser(alice, alicePassword, aliceName, aliceRole)

	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	// A client that shows redirects instead of following them and keeps no
	// cookies: every test says exactly which cookie it sends.
	e.client = &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(func() {
		if n := counterValue(e.srv.metrics.panics); n != 0 {
			t.Errorf("%v handler panic(s) were recovered; see the log", n)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

func (e *testEnv) closeStore() { e.closeMu.Do(func() { _ = e.store.Close() }) }

func (e *testEnv) addUser(username, password, name, role string) {
	e.t.Helper()
	_, err := e.mgr.AddUser(context.Background(), "test", sessionlogic.NewUser{
		Username: username, Password: password, FullName: name, Role: role,
		Email: username + "@example.com",
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// result is a finished response with its body read.
type result struct {
	status int
	header http.Header
	body   string
	resp   *http.Response
}

// setCookie returns the Set-Cookie header for the session cookie ("" if none).
func (r result) setCookie(name string) string {
	for _, v := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(v, name+"=") {
			return v
		}
	}
	return ""
}

// sessionCookie returns the parsed session cookie the response set, or nil.
func (r result) sessionCookie(name string) *http.Cookie {
	for _, c := range r.resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

type reqOpt func(*http.Request)

func withCookie(name, value string) reqOpt {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: name, Value: value}) }
}

// withRawCookie sets the Cookie header verbatim (no validation of the value).
func withRawCookie(raw string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Cookie", raw) }
}

func withHeader(k, v string) reqOpt {
	return func(r *http.Request) { r.Header.Set(k, v) }
}

func (e *testEnv) sess(token string) reqOpt { return withCookie(e.cookie, token) }

// do sends a request to the test server. A non-nil form is sent as an
// url-encoded body.
func (e *testEnv) do(method, path string, form url.Values, opts ...reqOpt) result {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: string(b), resp: resp}
}

// serve runs a request through the handler directly, without a network:
// for bodies and header bytes a real client would refuse to send.
func (e *testEnv) serve(req *http.Request) result {
	e.t.Helper()
	if req.Host == "example.com" { // httptest.NewRequest's; the server allows loopback names only
		req.Host = "localhost"
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	resp := rec.Result()
	return result{status: rec.Code, header: rec.Header(), body: rec.Body.String(), resp: resp}
}

func loginForm(username, password, next string) url.Values {
	v := url.Values{}
	v.Set("username", username)
	v.Set("password", password)
	if next != "" {
		v.Set("next", next)
	}
	return v
}

// login logs in and returns the session token from the cookie.
func (e *testEnv) login(username, password string, opts ...reqOpt) string {
	e.t.Helper()
	r := e.do("POST", "/login", loginForm(username, password, ""), opts...)
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("login %s: status %d, want 303; body:\n%s", username, r.status, r.body)
	}
	c := r.sessionCookie(e.cookie)
	if c == nil || c.Value == "" {
		e.t.Fatalf("login %s: no %s cookie in %q", username, e.cookie, r.header.Values("Set-Cookie"))
	}
	return c.Value
}

func wantStatus(t *testing.T, what string, r result, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d; headers %v; body:\n%s", what, r.status, want, r.header, clip(r.body, 2000))
	}
}

// wantDeletionCookie checks r deletes the session cookie.
func wantDeletionCookie(t *testing.T, what string, r result, name string) {
	t.Helper()
	sc := r.setCookie(name)
	if sc == "" || !strings.HasPrefix(sc, name+"=;") || !strings.Contains(sc, "Max-Age=0") {
		t.Fatalf("%s: want a deletion cookie (%s=; Max-Age=0), got Set-Cookie %q", what, name, r.header.Values("Set-Cookie"))
	}
}

func wantNoSessionCookie(t *testing.T, what string, r result, name string) {
	t.Helper()
	if sc := r.setCookie(name); sc != "" {
		t.Fatalf("%s: want no %s cookie, got %q", what, name, sc)
	}
}
