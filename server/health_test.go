package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"sessionmon/data"
	"sessionmon/data/postgres"
	"sessionmon/data/sqlite"
	"sessionmon/internal/fakeclock"
	"sessionmon/internal/pgtest"
	"sessionmon/internal/testkit"
	"sessionmon/internal/testkit/tmpfs"
	"sessionmon/sessionlogic"
)

// healthEnv is a testEnv whose server is given a write prober (newEnv's
// is not) and whose log lines can be counted by level.
type healthEnv struct {
	*testEnv
	lines *levelCounter
}

// levelCounter is a slog handler that counts records at Info and above
// (what an operator's log keeps at the default level) and keeps them.
type levelCounter struct {
	mu    sync.Mutex
	lines []string
}

func (c *levelCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (c *levelCounter) WithAttrs([]slog.Attr) slog.Handler           { return c }
func (c *levelCounter) WithGroup(string) slog.Handler                { return c }
func (c *levelCounter) Handle(_ context.Context, r slog.Record) error {
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	c.mu.Lock()
	c.lines = append(c.lines, line)
	c.mu.Unlock()
	return nil
}

// since returns the lines logged after the first n.
func (c *levelCounter) since(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines[n:]...)
}

func (c *levelCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

// newHealthEnv serves st (with alice) through a Server whose /healthz also
// asks prober (nil: reads only, the behaviour before write probes).
func newHealthEnv(t *testing.T, st data.Store, prober data.WriteProber) *healthEnv {
	t.Helper()
	lines := &levelCounter{}
	log := slog.New(lines)
	e := &testEnv{t: t, store: st, clock: fakeclock.AtNow(), logs: &testkit.LogBuffer{}}
	t.Cleanup(func() { e.closeStore() })
	var err error
	e.mgr, err = sessionlogic.New(sessionlogic.Options{
		Store: st, SaveEveryRequest: true, PasswordCost: bcrypt.MinCost,
		StoreTimeout: 2 * time.Second, Now: e.clock.Now, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.cookie = e.mgr.CookieName()
	e.srv, err = New(Options{Manager: e.mgr, Logger: log, WriteProber: prober})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.srv.Close)
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	e.Client = testkit.NewClient(t, e.ts.URL, e.cookie, 10*time.Second)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", strings.Join(lines.since(0), "\n"))
		}
	})
	return &healthEnv{testEnv: e, lines: lines}
}

// TestHealthzRefusesAReadOnlyPostgres: with default_transaction_read_only=on
// the store answers a ping and refuses every write. /healthz must say 503,
// as logins do. Before the write probe it said 200.
func TestHealthzRefusesAReadOnlyPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	rw, err := postgres.OpenAndMigrate(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	e0 := newHealthEnv(t, rw, rw)
	e0.addUser(alice, alicePassword, aliceName, aliceRole)
	testkit.WantStatus(t, "/healthz, writable", e0.Do("GET", "/healthz", nil), http.StatusOK)

	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		t.Skip("SESSIONMON_TEST_DSN is not a URL; this test adds a parameter to one")
	}
	q := u.Query()
	q.Set("default_transaction_read_only", "on")
	q.Set("pool_max_conns", "2")
	u.RawQuery = q.Encode()
	ro, err := postgres.Open(t.Context(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	e := newHealthEnv(t, ro, ro)
	testkit.WantStatus(t, "login, read-only", e.Do("POST", "/login", testkit.LoginForm(alice, alicePassword, "")), http.StatusServiceUnavailable)
	r := e.Do("GET", "/healthz", nil)
	testkit.WantStatus(t, "/healthz, read-only", r, http.StatusServiceUnavailable)
	if !strings.Contains(r.Body, `"status":"unavailable"`) || r.Header.Get("Retry-After") == "" {
		t.Errorf("/healthz 503: body %q, Retry-After %q", r.Body, r.Header.Get("Retry-After"))
	}
	wantOneLine(t, e.lines.since(0), "session store down", "read-only transaction")
	// /livez does not ask the store.
	testkit.WantStatus(t, "/livez, read-only", e.Do("GET", "/livez", nil), http.StatusOK)
}

// TestHealthzRefusesAFullDisk puts the SQLite file on a small tmpfs and
// fills it: reads still answer, logins answer 503, and so must /healthz;
// once space is freed /healthz is 200 again, with no restart. It needs to
// mount a tmpfs (root, as in CI) and skips otherwise.
func TestHealthzRefusesAFullDisk(t *testing.T) {
	dir := tmpfs.Mount(t, "2m")
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "full.db"))
	if err != nil {
		t.Fatal(err)
	}
	e := newHealthEnv(t, st, st)
	e.addUser(alice, alicePassword, aliceName, aliceRole)
	token := e.Login(alice, alicePassword)
	testkit.WantStatus(t, "/healthz before", e.Do("GET", "/healthz", nil), http.StatusOK)

	filler := filepath.Join(dir, "filler")
	if out, _ := exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=4k").CombinedOutput(); !strings.Contains(string(out), "No space left") {
		t.Fatalf("could not fill %s: %s", dir, out)
	}
	// Touches may still fit in the WAL's free room for a few requests; go
	// on until the disk refuses one, as the probe will.
	refused := false
	for range 200 {
		if r := e.Do("GET", "/api/me", nil, e.Sess(token)); r.Status == http.StatusServiceUnavailable {
			refused = true
			break
		}
	}
	if !refused {
		t.Fatal("no /api/me answered 503 on a full disk")
	}
	time.Sleep(healthTTL) // past the cached answer of before
	testkit.WantStatus(t, "/healthz, disk full", e.Do("GET", "/healthz", nil), http.StatusServiceUnavailable)
	wantOneLine(t, e.lines.since(0), "session store down", "full")

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitForStatus(t, e.testEnv, "/healthz", http.StatusOK, 5*time.Second)
	testkit.WantStatus(t, "/api/me after space was freed", e.Do("GET", "/api/me", nil, e.Sess(token)), http.StatusOK)
	wantOneLine(t, e.lines.since(0), "session store back", "down_for=")
}

// waitForStatus asks path until it answers want or d passes.
func waitForStatus(t *testing.T, e *testEnv, path string, want int, d time.Duration) {
	t.Helper()
	last := 0
	defer func() {
		if t.Failed() {
			t.Logf("%s: the last answer was %d", path, last)
		}
	}()
	testkit.WaitFor(t, d, fmt.Sprintf("%s to answer %d", path, want), func() bool {
		last = e.Do("GET", path, nil).Status
		return last == want
	})
}

// wantOneLine checks exactly one of lines contains msg, and that it holds
// detail.
func wantOneLine(t *testing.T, lines []string, msg, detail string) {
	t.Helper()
	var found []string
	for _, l := range lines {
		if strings.Contains(l, msg) {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %q line, got %d:\n%s", msg, len(found), strings.Join(lines, "\n"))
	}
	if !strings.Contains(found[0], detail) {
		t.Errorf("%q line does not say %q: %s", msg, detail, found[0])
	}
}

// faultStore is a store that can be broken on demand: while down, every
// call on the request path fails as a dead database's would.
type faultStore struct {
	data.Store
	down      atomic.Bool
	touchDown atomic.Bool  // only Touch fails: requests 503 while probes pass (an overloaded store)
	probes    atomic.Int64 // ProbeWrite calls
}

var errInjected = errors.New("connection refused (injected)")

func (f *faultStore) fail() error {
	if f.down.Load() {
		return errInjected
	}
	return nil
}

func (f *faultStore) Ping(ctx context.Context) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Store.Ping(ctx)
}

func (f *faultStore) ProbeWrite(ctx context.Context) error {
	f.probes.Add(1)
	if err := f.fail(); err != nil {
		return err
	}
	return f.Store.(data.WriteProber).ProbeWrite(ctx)
}

func (f *faultStore) Touch(ctx context.Context, id string, now, expires time.Time) (data.Session, error) {
	if err := f.fail(); err != nil {
		return data.Session{}, err
	}
	if f.touchDown.Load() {
		return data.Session{}, context.DeadlineExceeded
	}
	return f.Store.Touch(ctx, id, now, expires)
}

func (f *faultStore) Session(ctx context.Context, id string) (data.Session, error) {
	if err := f.fail(); err != nil {
		return data.Session{}, err
	}
	return f.Store.Session(ctx, id)
}

func (f *faultStore) UserByUsername(ctx context.Context, username string) (data.User, error) {
	if err := f.fail(); err != nil {
		return data.User{}, err
	}
	return f.Store.UserByUsername(ctx, username)
}

func (f *faultStore) RecentFailures(ctx context.Context, q data.FailureQuery) (data.Failures, error) {
	if err := f.fail(); err != nil {
		return data.Failures{}, err
	}
	return f.Store.RecentFailures(ctx, q)
}

// TestHealthzProbesAtMostOncePerSecond: a load balancer (or a hundred)
// hammering /healthz costs the store one write probe per healthTTL, not
// one per request.
func TestHealthzProbesAtMostOncePerSecond(t *testing.T) {
	fs := &faultStore{Store: testkit.OpenSQLite(t)}
	e := newHealthEnv(t, fs, fs)
	const clients, each = 20, 25
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range each {
				if r := e.Do("GET", "/healthz", nil); r.Status != http.StatusOK {
					t.Errorf("/healthz: %d", r.Status)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	limit := int64(elapsed/healthTTL) + 1
	if n := fs.probes.Load(); n > limit {
		t.Errorf("%d /healthz requests in %s made %d write probes, want at most %d (one per %s)",
			clients*each, elapsed.Round(time.Millisecond), n, limit, healthTTL)
	}
}

// TestOutageIsLoggedOnceNotPerRequest: during an outage every request
// answers 503. The log says the store is down (once, with the cause), how
// many requests were refused (once per period), and that it is back (once,
// after how long): not a line or two per request, as before (2 lines per
// 503: about 1,400 a second under load).
func TestOutageIsLoggedOnceNotPerRequest(t *testing.T) {
	fs := &faultStore{Store: testkit.OpenSQLite(t)}
	e := newHealthEnv(t, fs, fs)
	e.srv.health.every = 500 * time.Millisecond // the period, shortened for the test
	e.addUser(alice, alicePassword, aliceName, aliceRole)
	token := e.Login(alice, alicePassword)
	before := e.lines.count()

	fs.down.Store(true)
	const outage = 1600 * time.Millisecond
	var sent atomic.Int64
	deadline := time.Now().Add(outage)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				var r result
				switch sent.Add(1) % 4 {
				case 0:
					r = e.Do("POST", "/login", testkit.LoginForm(alice, alicePassword, ""))
				case 1:
					r = e.Do("GET", "/", nil, e.Sess(token))
				case 2:
					r = e.Do("GET", "/healthz", nil)
				default:
					r = e.Do("GET", "/api/me", nil, e.Sess(token))
				}
				if r.Status != http.StatusServiceUnavailable {
					t.Errorf("store down: %d, want 503", r.Status)
					return
				}
			}
		})
	}
	wg.Wait()
	during := e.lines.since(before)
	fs.down.Store(false)
	waitForStatus(t, e.testEnv, "/healthz", http.StatusOK, 5*time.Second)
	all := e.lines.since(before)

	n := sent.Load()
	if n < 20 { // two lines each before: 40, against the 5 or so allowed
		t.Fatalf("only %d requests during the outage; the test proves nothing", n)
	}
	wantOneLine(t, all, "session store down", errInjected.Error())
	wantOneLine(t, all, "session store back", "down_for=")
	reports := 0
	for _, l := range during {
		if strings.Contains(l, "requests refused with 503") {
			reports++
		}
	}
	// One report per period at most (plus one at the start of the window).
	maxReports := int(outage/e.srv.health.every) + 1
	if len(during) > maxReports+1 || reports == 0 {
		t.Errorf("%d refused requests logged %d lines (%d count reports), want 1 down line and 1 to %d reports:\n%s",
			n, len(during), reports, maxReports, strings.Join(during, "\n"))
	}
	t.Logf("%d requests refused during %s: %d log lines", n, outage, len(all))
}

// TestHealthzProbesBoundedWhileRequestsFail: requests answer 503 while the
// store probes healthy (timeouts under overload). /healthz re-probes after a
// refusal, so a dead store is seen at once, but no more than once per
// healthRecheck: an overloaded store gets no probe storm on top.
func TestHealthzProbesBoundedWhileRequestsFail(t *testing.T) {
	fs := &faultStore{Store: testkit.OpenSQLite(t)}
	e := newHealthEnv(t, fs, fs)
	e.addUser(alice, alicePassword, aliceName, aliceRole)
	token := e.Login(alice, alicePassword)
	fs.touchDown.Store(true)
	before := fs.probes.Load()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for time.Since(start) < time.Second {
				if i%2 == 0 {
					e.Do("GET", "/api/me", nil, e.Sess(token))
				} else if r := e.Do("GET", "/healthz", nil); r.Status != http.StatusOK {
					t.Errorf("/healthz with a healthy store: %d", r.Status)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	limit := int64(elapsed/healthRecheck) + 2
	if n := fs.probes.Load() - before; n > limit {
		t.Errorf("%d write probes in %s while requests failed, want at most %d (one per %s)", n, elapsed.Round(time.Millisecond), limit, healthRecheck)
	}
}
