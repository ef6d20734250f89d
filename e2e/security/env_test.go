package security_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, for reading the file directly

	"sessionmon/data"
	"sessionmon/data/postgres"
	"sessionmon/data/sqlite"
	"sessionmon/internal/fakeclock"
	"sessionmon/internal/pgtest"
	"sessionmon/server"
	"sessionmon/sessionlogic"
)

// The users every environment starts with.
const (
	alice         = "alice"
	alicePassword = "alice-password-1"
	bob           = "bob"
	bobPassword   = "bob-password-22"
)

// ---- stores ------------------------------------------------------------------

// backend opens a fresh, empty store and a raw SQL handle on the same
// database, so a test can look at (and try to tamper with) what the store
// wrote, behind the application's back.
type backend struct {
	name string
	open func(t testing.TB) (data.Store, rawDB)
}

var backends = []backend{
	{"sqlite", openSQLite},
	{"postgres", openPostgres},
}

// forEachStore runs fn once per store, as parallel subtests named after it.
// PostgreSQL skips when unreachable unless SESSIONMON_REQUIRE_PG=1.
func forEachStore(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Helper()
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

func openSQLite(t testing.TB) (data.Store, rawDB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessions.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st, &sqliteRaw{path: path}
}

func openPostgres(t testing.TB) (data.Store, rawDB) {
	t.Helper()
	dsn := pgtest.DSN(t)
	storeDSN := dsn
	// A small pool: parallel tests must not exhaust the server's connections.
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		q := u.Query()
		q.Set("pool_max_conns", "4")
		u.RawQuery = q.Encode()
		storeDSN = u.String()
	}
	ctx := context.Background()
	st, err := postgres.Open(ctx, storeDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st, &pgRaw{dsn: dsn}
}

// rawDB is direct SQL access to a store's database (same file, same schema).
type rawDB interface {
	// rows returns the column names and every row of query, each value in
	// its stored text form (nil for NULL).
	rows(t testing.TB, query string) (cols []string, rows [][]*string)
	// exec runs a statement and returns its error.
	exec(t testing.TB, stmt string) error
}

// sqliteRaw reads the SQLite file through database/sql and the "sqlite" driver.
type sqliteRaw struct {
	path string
	once sync.Once
	db   *sql.DB
}

func (r *sqliteRaw) conn(t testing.TB) *sql.DB {
	t.Helper()
	r.once.Do(func() {
		uri := (&url.URL{Scheme: "file", Path: r.path}).String() + "?_pragma=busy_timeout(5000)"
		db, err := sql.Open("sqlite", uri)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		r.db = db
	})
	return r.db
}

func (r *sqliteRaw) rows(t testing.TB, query string) ([]string, [][]*string) {
	t.Helper()
	rs, err := r.conn(t).Query(query)
	if err != nil {
		t.Fatalf("sqlite %q: %v", query, err)
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]*string
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]*string, len(cols))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
			case []byte:
				s := string(v)
				row[i] = &s
			default:
				s := fmt.Sprint(v)
				row[i] = &s
			}
		}
		out = append(out, row)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return cols, out
}

func (r *sqliteRaw) exec(t testing.TB, stmt string) error {
	t.Helper()
	_, err := r.conn(t).Exec(stmt)
	return err
}

// pgRaw reads the test's PostgreSQL schema through pgx, in the simple
// protocol so every value comes back in PostgreSQL's own text form.
type pgRaw struct{ dsn string }

func (r *pgRaw) connect(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, r.dsn)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (r *pgRaw) rows(t testing.TB, query string) ([]string, [][]*string) {
	t.Helper()
	c := r.connect(t)
	defer c.Close(context.Background())
	rs, err := c.Query(context.Background(), query, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatalf("postgres %q: %v", query, err)
	}
	defer rs.Close()
	var cols []string
	for _, fd := range rs.FieldDescriptions() {
		cols = append(cols, fd.Name)
	}
	var out [][]*string
	for rs.Next() {
		row := make([]*string, len(cols))
		for i, raw := range rs.RawValues() {
			if raw != nil {
				s := string(raw)
				row[i] = &s
			}
		}
		out = append(out, row)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return cols, out
}

func (r *pgRaw) exec(t testing.TB, stmt string) error {
	t.Helper()
	c := r.connect(t)
	defer c.Close(context.Background())
	_, err := c.Exec(context.Background(), stmt)
	return err
}

// count returns the single integer query returns.
func count(t testing.TB, raw rawDB, query string) int {
	t.Helper()
	_, rows := raw.rows(t, query)
	if len(rows) != 1 || len(rows[0]) != 1 || rows[0][0] == nil {
		t.Fatalf("%q: want one value, got %v", query, rows)
	}
	n, err := strconv.Atoi(*rows[0][0])
	if err != nil {
		t.Fatalf("%q: %v", query, err)
	}
	return n
}

// ---- the fake clock ------------------------------------------------------------

// ---- the login server ----------------------------------------------------------

// envOpts configure newEnv. The zero value is a development server (cookie
// "sessionid", not Secure) on a Manager with a fake clock and bcrypt.MinCost.
type envOpts struct {
	production bool
	trustProxy bool
	// manager adjusts the Manager's options after the defaults are set.
	manager func(*sessionlogic.Options)
}

// env is a real login server (server.New over sessionlogic.New) on a fresh
// store, served over loopback HTTP by httptest.
type env struct {
	t      testing.TB
	store  data.Store
	raw    rawDB
	mgr    *sessionlogic.Manager
	srv    *server.Server
	ts     *httptest.Server
	clock  *fakeclock.Clock
	client *http.Client
	cookie string // the session cookie's name
	logs   *logBuffer
}

func newEnv(t testing.TB, b backend, o envOpts) *env {
	t.Helper()
	e := &env{t: t, clock: fakeclock.AtNow(), logs: &logBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.store, e.raw = b.open(t)

	metrics, err := server.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := sessionlogic.Options{
		Store:            e.store,
		Cookie:           sessionlogic.DefaultCookieOptions(),
		SaveEveryRequest: true,
		PasswordCost:     bcrypt.MinCost,
		StoreTimeout:     10 * time.Second,
		Now:              e.clock.Now,
		Logger:           log,
		Observer:         metrics,
	}
	if o.manager != nil {
		o.manager(&opts)
	}
	if e.mgr, err = sessionlogic.New(opts); err != nil {
		t.Fatal(err)
	}
	e.cookie = e.mgr.CookieName()
	e.srv, err = server.New(server.Options{
		Manager: e.mgr, Logger: log, Production: o.production,
		TrustProxyHeaders: o.trustProxy, Metrics: metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.addUser(alice, alicePassword, "admin")
	e.addUser(bob, bobPassword, "viewer")

	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	// Redirects are shown, not followed, and there is no cookie jar: every
	// request says exactly which cookie it carries.
	e.client = &http.Client{
		Timeout:       60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(func() {
		if n := panicsRecovered(t, metrics); n != 0 {
			t.Errorf("%v handler panic(s) were recovered; see the server log", n)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

func (e *env) addUser(username, password, role string) {
	e.t.Helper()
	_, err := e.mgr.AddUser(context.Background(), "setup", sessionlogic.NewUser{
		Username: username, Password: password, Role: role,
		Email: username + "@example.com", FullName: strings.ToUpper(username[:1]) + username[1:],
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// panicsRecovered reads sessionmon_http_panics_total from the registry.
func panicsRecovered(t testing.TB, m *server.Metrics) float64 {
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Errorf("gather metrics: %v", err)
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == "sessionmon_http_panics_total" {
			var n float64
			for _, mm := range mf.GetMetric() {
				n += mm.GetCounter().GetValue()
			}
			return n
		}
	}
	return 0
}

// logBuffer collects the server's log; it is printed when a test fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// maxLog bounds the kept log (a fuzzing run writes millions of lines): past
// it, the older half is dropped.
const maxLog = 1 << 20

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.buf.Len() > maxLog {
		b.buf.Next(b.buf.Len() - maxLog/2)
	}
	return n, err
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ---- requests ------------------------------------------------------------------

type result struct {
	status int
	header http.Header
	body   string
	resp   *http.Response
}

// sessionCookie returns the session cookie the response set, or nil.
func (r result) sessionCookie(name string) *http.Cookie {
	for _, c := range r.resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// rawSetCookie returns the Set-Cookie header line for name, or "".
func (r result) rawSetCookie(name string) string {
	for _, v := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(v, name+"=") {
			return v
		}
	}
	return ""
}

type reqOpt func(*http.Request)

func withHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

// withRawCookie sends the Cookie header verbatim: name=value, unvalidated.
func withRawCookie(name, value string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Cookie", name+"="+value) }
}

func (e *env) sess(token string) reqOpt { return withRawCookie(e.cookie, token) }

// fromIP sets X-Forwarded-For (believed only with envOpts.trustProxy).
func fromIP(ip string) reqOpt { return withHeader("X-Forwarded-For", ip) }

// do sends a request; a non-nil form is sent as an url-encoded body.
func (e *env) do(method, path string, form url.Values, opts ...reqOpt) result {
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
	return e.send(req)
}

func (e *env) send(req *http.Request) result {
	e.t.Helper()
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: string(b), resp: resp}
}

func loginForm(username, password string) url.Values {
	return url.Values{"username": {username}, "password": {password}}
}

// postLogin posts the login form.
func (e *env) postLogin(username, password string, opts ...reqOpt) result {
	e.t.Helper()
	return e.do("POST", "/login", loginForm(username, password), opts...)
}

// login logs in and returns the new session token (the cookie's value).
func (e *env) login(username, password string, opts ...reqOpt) string {
	e.t.Helper()
	r := e.postLogin(username, password, opts...)
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("login %s: status %d, want 303; body:\n%s", username, r.status, clip(r.body, 1500))
	}
	c := r.sessionCookie(e.cookie)
	if c == nil || c.Value == "" {
		e.t.Fatalf("login %s: no %s cookie in %q", username, e.cookie, r.header.Values("Set-Cookie"))
	}
	return c.Value
}

// wantStatus fails the test unless r has status want.
func wantStatus(t testing.TB, what string, r result, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d; headers %v; body:\n%s", what, r.status, want, r.header, clip(r.body, 1500))
	}
}

// accepted checks token is a live session on a page and on the API.
func (e *env) accepted(what, token string) {
	e.t.Helper()
	wantStatus(e.t, what+": GET /api/me", e.do("GET", "/api/me", nil, e.sess(token)), http.StatusOK)
	wantStatus(e.t, what+": GET /", e.do("GET", "/", nil, e.sess(token)), http.StatusOK)
}

// refused checks token opens nothing: the page redirects to the login form
// (302) and the API answers 401 JSON.
func (e *env) refused(what, token string) {
	e.t.Helper()
	page := e.do("GET", "/", nil, e.sess(token))
	wantStatus(e.t, what+": GET /", page, http.StatusFound)
	if loc := page.header.Get("Location"); !strings.HasPrefix(loc, "/login?next=") {
		e.t.Errorf("%s: GET / redirected to %q, want /login?next=...", what, loc)
	}
	e.refusedAPI(what, token)
}

// refusedAPI checks /api/me answers 401 JSON {"error": ...} for token.
func (e *env) refusedAPI(what, token string) {
	e.t.Helper()
	api := e.do("GET", "/api/me", nil, e.sess(token))
	wantStatus(e.t, what+": GET /api/me", api, http.StatusUnauthorized)
	var body map[string]string
	if err := json.Unmarshal([]byte(api.body), &body); err != nil || body["error"] == "" {
		e.t.Errorf("%s: /api/me 401 body %q, want JSON {\"error\": ...}", what, api.body)
	}
}

// me returns the decoded /api/me of a live session.
func (e *env) me(token string) map[string]any {
	e.t.Helper()
	r := e.do("GET", "/api/me", nil, e.sess(token))
	wantStatus(e.t, "GET /api/me", r, http.StatusOK)
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		e.t.Fatalf("/api/me body %q: %v", r.body, err)
	}
	return m
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
