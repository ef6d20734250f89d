package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/internal/fakeclock"
	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
)

// The user every test logs in as.
const (
	alice         = "alice"
	alicePassword = "correct horse battery"
	aliceName     = "Alice Liddell"
	aliceRole     = "admin"
)

type envConfig struct {
	production bool
	trustProxy bool
	open       func(t testing.TB) data.Store // default: SQLite in t.TempDir()
}

// testEnv is a login server on a fresh store; its Client sends the requests.
type testEnv struct {
	*testkit.Client
	t       *testing.T
	store   data.Store
	mgr     *sessionlogic.Manager
	srv     *Server
	ts      *httptest.Server
	clock   *fakeclock.Clock
	logs    *testkit.LogBuffer
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
		cfg.open = testkit.Kinds[0].Open
	}
	e := &testEnv{t: t, clock: fakeclock.AtNow(), logs: &testkit.LogBuffer{}}
	log := e.logs.Logger()
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
	e.mgr = testkit.NewManager(t, e.store, func(o *sessionlogic.Options) {
		o.Cookie = cookie
		o.StoreTimeout = 2 * time.Second
		o.Now = e.clock.Now
		o.Logger = log
		o.Observer = metrics
	})
	e.cookie = e.mgr.CookieName()
	e.srv, err = New(Options{Manager: e.mgr, Logger: log, Production: cfg.production, TrustProxyHeaders: cfg.trustProxy, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	e.addUser(alice, alicePassword, aliceName, aliceRole)

	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	e.Client = testkit.NewClient(t, e.ts.URL, e.cookie, 10*time.Second)
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

type (
	result = testkit.Result
	reqOpt = testkit.ReqOpt
)

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
	return result{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String(), Resp: resp}
}

func wantNoSessionCookie(t *testing.T, what string, r result, name string) {
	t.Helper()
	if sc := r.SetCookie(name); sc != "" {
		t.Fatalf("%s: want no %s cookie, got %q", what, name, sc)
	}
}
