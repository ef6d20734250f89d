package security_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
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
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, for reading the file directly

	"sessionmon/data"
	"sessionmon/internal/fakeclock"
	"sessionmon/internal/testkit"
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
	return testkit.OpenSQLiteFile(t, path), &sqliteRaw{path: path}
}

func openPostgres(t testing.TB) (data.Store, rawDB) {
	t.Helper()
	st, dsn := testkit.OpenPostgresDSN(t)
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
	*testkit.Client // sends the requests
	t               testing.TB
	store           data.Store
	raw             rawDB
	mgr             *sessionlogic.Manager
	srv             *server.Server
	ts              *httptest.Server
	clock           *fakeclock.Clock
	cookie          string // the session cookie's name
	logs            *testkit.LogBuffer
}

func newEnv(t testing.TB, b backend, o envOpts) *env {
	t.Helper()
	e := &env{t: t, clock: fakeclock.AtNow(), logs: &testkit.LogBuffer{}}
	log := e.logs.Logger()
	e.store, e.raw = b.open(t)

	metrics, err := server.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	e.mgr = testkit.NewManager(t, e.store, func(opts *sessionlogic.Options) {
		opts.Cookie = sessionlogic.DefaultCookieOptions()
		opts.Now = e.clock.Now
		opts.Logger = log
		opts.Observer = metrics
		if o.manager != nil {
			o.manager(opts)
		}
	})
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
	e.Client = testkit.NewClient(t, e.ts.URL, e.cookie, 60*time.Second)
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

// ---- requests ------------------------------------------------------------------

type (
	result = testkit.Result
	reqOpt = testkit.ReqOpt
)

// fromIP sets X-Forwarded-For (believed only with envOpts.trustProxy).
func fromIP(ip string) reqOpt { return testkit.WithHeader("X-Forwarded-For", ip) }

// accepted checks token is a live session on a page and on the API.
func (e *env) accepted(what, token string) {
	e.t.Helper()
	testkit.WantStatus(e.t, what+": GET /api/me", e.Do("GET", "/api/me", nil, e.Sess(token)), http.StatusOK)
	testkit.WantStatus(e.t, what+": GET /", e.Do("GET", "/", nil, e.Sess(token)), http.StatusOK)
}

// refused checks token opens nothing: the page redirects to the login form
// (302) and the API answers 401 JSON.
func (e *env) refused(what, token string) {
	e.t.Helper()
	page := e.Do("GET", "/", nil, e.Sess(token))
	testkit.WantStatus(e.t, what+": GET /", page, http.StatusFound)
	if loc := page.Header.Get("Location"); !strings.HasPrefix(loc, "/login?next=") {
		e.t.Errorf("%s: GET / redirected to %q, want /login?next=...", what, loc)
	}
	e.refusedAPI(what, token)
}

// refusedAPI checks /api/me answers 401 JSON {"error": ...} for token.
func (e *env) refusedAPI(what, token string) {
	e.t.Helper()
	api := e.Do("GET", "/api/me", nil, e.Sess(token))
	testkit.WantStatus(e.t, what+": GET /api/me", api, http.StatusUnauthorized)
	var body map[string]string
	if err := json.Unmarshal([]byte(api.Body), &body); err != nil || body["error"] == "" {
		e.t.Errorf("%s: /api/me 401 body %q, want JSON {\"error\": ...}", what, api.Body)
	}
}

// me returns the decoded /api/me of a live session.
func (e *env) me(token string) map[string]any {
	e.t.Helper()
	r := e.Do("GET", "/api/me", nil, e.Sess(token))
	testkit.WantStatus(e.t, "GET /api/me", r, http.StatusOK)
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		e.t.Fatalf("/api/me body %q: %v", r.Body, err)
	}
	return m
}
