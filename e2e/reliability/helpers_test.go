package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/internal/testkit"
	"sessionmon/server"
	"sessionmon/sessionlogic"
)

var longFlag = flag.Bool("long", false, "run the long variants of the reliability tests (or set SESSIONMON_LONG=1)")

// long reports whether the long variants were asked for.
func long() bool { return *longFlag || os.Getenv("SESSIONMON_LONG") == "1" }

// pick returns ci, or lng when the long variants run.
func pick[T any](ci, lng T) T {
	if long() {
		return lng
	}
	return ci
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	cleanupBinary()
	os.Exit(code)
}

// requirePG reports whether a missing PostgreSQL is a failure, not a skip.
func requirePG() bool { return os.Getenv("SESSIONMON_REQUIRE_PG") == "1" }

// skipOrFailPG skips the test, or fails it when SESSIONMON_REQUIRE_PG=1.
func skipOrFailPG(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if requirePG() {
		t.Fatal(msg + " (SESSIONMON_REQUIRE_PG=1, so this is a failure)")
	}
	t.Skip(msg + " (set SESSIONMON_REQUIRE_PG=1 to fail instead)")
}

// ---- stores -------------------------------------------------------------------

// ---- manager, users, server -----------------------------------------------------

const operator = "reliability-test"

// newManager is the Manager the in-process tests use: testkit's (save
// every request, bcrypt.MinCost, a store timeout generous enough for -race
// on a loaded 2-core machine) logging to log.
func newManager(t *testing.T, st data.Store, log *slog.Logger, tweak ...func(*sessionlogic.Options)) *sessionlogic.Manager {
	t.Helper()
	return testkit.NewManager(t, st, append([]func(*sessionlogic.Options){func(o *sessionlogic.Options) { o.Logger = log }}, tweak...)...)
}

type cred struct {
	user, password, role string
}

// addUsers creates n users named prefix0..prefixN-1 with roles cycling
// through roles.
func addUsers(t *testing.T, m *sessionlogic.Manager, prefix string, n int, roles ...string) []cred {
	t.Helper()
	if len(roles) == 0 {
		roles = []string{"user"}
	}
	out := make([]cred, n)
	for i := range out {
		c := cred{user: fmt.Sprintf("%s%d", prefix, i), password: fmt.Sprintf("pw-%s-%d-secret", prefix, i), role: roles[i%len(roles)]}
		if _, err := m.AddUser(context.Background(), operator, sessionlogic.NewUser{
			Username: c.user, Password: c.password, Role: c.role,
			Email: c.user + "@example.test", FullName: "User " + c.user,
		}); err != nil {
			t.Fatalf("add user %s: %v", c.user, err)
		}
		out[i] = c
	}
	return out
}

// logWatch is a slog handler that counts error records and recovered panics
// and keeps the first few error lines, so a test can fail on them with context.
type logWatch struct {
	errors, panics atomic.Int64
	mu             sync.Mutex
	samples        []string
}

func (w *logWatch) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *logWatch) WithAttrs([]slog.Attr) slog.Handler           { return w }
func (w *logWatch) WithGroup(string) slog.Handler                { return w }
func (w *logWatch) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(strings.ToLower(r.Message), "panic") {
		w.panics.Add(1)
	}
	if r.Level >= slog.LevelError {
		w.errors.Add(1)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.samples) < 10 {
		line := r.Level.String() + " " + r.Message
		r.Attrs(func(a slog.Attr) bool {
			line += " " + a.String()
			return len(line) < 600
		})
		w.samples = append(w.samples, line)
	}
	return nil
}

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.samples, "\n")
}

// serve runs the real login server for m on a real TCP listener on
// 127.0.0.1 (server.Serve, as `sessionmon serve` does) and returns its base
// URL. It is shut down when the test ends.
func serve(t *testing.T, m *sessionlogic.Manager, log *slog.Logger) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return serveOn(t, m, log, ln)
}

// serveOn is serve on a given listener.
func serveOn(t *testing.T, m *sessionlogic.Manager, log *slog.Logger, ln net.Listener) string {
	t.Helper()
	srv, err := server.New(server.Options{Manager: m, Logger: log})
	if err != nil {
		ln.Close()
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, ln, srv.Handler(), log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server.Serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("server.Serve did not return within 20s of shutdown")
		}
	})
	return "http://" + ln.Addr().String()
}

// ---- HTTP client ------------------------------------------------------------------

// newClient returns a client that never follows redirects (the tests look at
// every 302/303 and Set-Cookie themselves) and keeps up to conns connections.
func newClient(conns int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxConnsPerHost:     conns,
		MaxIdleConnsPerHost: conns,
		MaxIdleConns:        conns,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// reply is one request's outcome.
type reply struct {
	Method, Path string
	Status       int
	Header       http.Header
	Body         []byte
	Start, End   time.Time
	Err          error // transport error or timeout
}

func (r reply) String() string {
	if r.Err != nil {
		return fmt.Sprintf("%s %s: %v (after %s)", r.Method, r.Path, r.Err, r.End.Sub(r.Start).Round(time.Millisecond))
	}
	body := string(r.Body)
	if len(body) > 200 {
		body = body[:200] + "…"
	}
	return fmt.Sprintf("%s %s: %d after %s: %q", r.Method, r.Path, r.Status, r.End.Sub(r.Start).Round(time.Millisecond), body)
}

func (r reply) Latency() time.Duration { return r.End.Sub(r.Start) }

// do sends one request with the session cookie token (if any). form, when
// not nil, is posted as a urlencoded body.
func do(c *http.Client, method, base, path string, form url.Values, token string) reply {
	r := reply{Method: method, Path: path, Start: time.Now()}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		r.Err, r.End = err, time.Now()
		return r
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.AddCookie(&http.Cookie{Name: "sessionid", Value: token})
	}
	resp, err := c.Do(req)
	if err != nil {
		r.Err, r.End = err, time.Now()
		return r
	}
	r.Body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	r.End = time.Now()
	r.Status, r.Header, r.Err = resp.StatusCode, resp.Header, err
	return r
}

// login posts the login form. On a 303 with a session cookie it returns the
// new token.
func login(c *http.Client, base string, u cred, oldToken string) (string, reply) {
	r := do(c, http.MethodPost, base, "/login", url.Values{"username": {u.user}, "password": {u.password}}, oldToken)
	if r.Err != nil || r.Status != http.StatusSeeOther {
		return "", r
	}
	return sessionCookie(r), r
}

// sessionCookie returns the value of the live session cookie r sets, or "".
func sessionCookie(r reply) string {
	resp := http.Response{Header: r.Header}
	for _, c := range resp.Cookies() {
		if c.Name == "sessionid" && c.Value != "" && c.MaxAge >= 0 {
			return c.Value
		}
	}
	return ""
}

// clearsCookie reports whether r deletes the session cookie.
func clearsCookie(r reply) bool {
	resp := http.Response{Header: r.Header}
	for _, c := range resp.Cookies() {
		if c.Name == "sessionid" && (c.MaxAge < 0 || c.Value == "") {
			return true
		}
	}
	return false
}

// meUser decodes /api/me's body and returns its "user" field.
func meUser(r reply) (string, error) {
	var v struct {
		User string `json:"user"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil {
		return "", fmt.Errorf("decode /api/me body %q: %w", r.Body, err)
	}
	return v.User, nil
}

// jsonError checks that r is a JSON {"error": "..."} answer.
func jsonError(r reply) error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("Content-Type %q, want application/json", ct)
	}
	var v map[string]string
	if err := json.Unmarshal(r.Body, &v); err != nil {
		return fmt.Errorf("body %q is not a JSON object: %w", r.Body, err)
	}
	if v["error"] == "" {
		return fmt.Errorf("body %q has no \"error\"", r.Body)
	}
	return nil
}

// ---- latency --------------------------------------------------------------------

// latencies collects request latencies by kind.
type latencies struct {
	mu   sync.Mutex
	kind map[string][]time.Duration
}

func (l *latencies) add(kind string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kind == nil {
		l.kind = map[string][]time.Duration{}
	}
	l.kind[kind] = append(l.kind[kind], d)
	l.kind["all"] = append(l.kind["all"], d)
}

// report returns one line per kind: count, p50, p90, p99, max.
func (l *latencies) report() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	kinds := make([]string, 0, len(l.kind))
	for k := range l.kind {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	var b strings.Builder
	for _, k := range kinds {
		ds := slices.Clone(l.kind[k])
		slices.Sort(ds)
		fmt.Fprintf(&b, "\n  %-12s n=%-7d p50=%-9s p90=%-9s p99=%-9s max=%s", k, len(ds),
			pct(ds, 50), pct(ds, 90), pct(ds, 99), ds[len(ds)-1].Round(10*time.Microsecond))
	}
	return b.String()
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100 // nearest rank
	return sorted[max(i-1, 0)].Round(10 * time.Microsecond)
}

// errorsIs reports whether err is one of targets.
func errorsIs(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
