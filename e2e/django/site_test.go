package djangoe2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"sessionmon/data"
	"sessionmon/internal/djangotest"
	"sessionmon/internal/pgtest"
)

// site is a running Django test site.
type site struct {
	t       *testing.T
	backend string // "sqlite" or "postgres"
	dir     string // site/ (manage.py)
	db      string // sessionmon's --db: the SQLite path or the postgres:// URL
	secret  string
	env     []string
	url     string
}

type siteOptions struct {
	serializer string // "" (json) or "pickle"
	engine     string // "" (db) or "cached_db"
}

func siteDir(t *testing.T) string {
	dir, err := filepath.Abs("site")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// newSite creates the site's database (migrated by Django) and starts the
// site on a free loopback port; everything is removed when t ends.
func newSite(t *testing.T, backend string, o siteOptions) *site {
	t.Helper()
	djangotest.Require(t)
	s := &site{t: t, backend: backend, dir: siteDir(t), secret: "e2e-secret-" + randHex(16)}
	switch backend {
	case "sqlite":
		s.db = filepath.Join(t.TempDir(), "db.sqlite3")
	case "postgres":
		s.db = newDatabase(t)
	default:
		t.Fatalf("backend %q", backend)
	}
	s.env = []string{"DJANGO_DB=" + s.db, "DJANGO_SECRET_KEY=" + s.secret,
		"DJANGO_SERIALIZER=" + o.serializer, "DJANGO_ENGINE=" + firstNonEmpty(o.engine, "db"), "PYTHONDONTWRITEBYTECODE=1"}
	djangotest.Run(t, s.dir, s.env, nil, "manage.py", "migrate", "-v0")
	s.start()
	return s
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// newDatabase creates a PostgreSQL database of the test's own and returns
// its URL; it is dropped when the test ends.
func newDatabase(t *testing.T) string {
	t.Helper()
	u := createDatabase(t, "sessionmon_dj_"+randHex(6), "")
	t.Cleanup(func() {
		if err := dropDatabase(u); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	return u
}

func baseDSN() string {
	if b := os.Getenv("SESSIONMON_TEST_DSN"); b != "" {
		return b
	}
	return pgtest.DefaultDSN
}

// createDatabase creates database name (from template, when given) on the
// test server and returns its URL.
func createDatabase(t *testing.T, name, template string) string {
	t.Helper()
	pgtest.DSN(t) // skips, or fails under SESSIONMON_REQUIRE_PG=1, when PostgreSQL is down
	base := baseDSN()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	q := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		q += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, q); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	u.RawQuery = ""
	return u.String()
}

// dropDatabase drops the database of URL u, ending its connections.
func dropDatabase(u string) error {
	pu, err := url.Parse(u)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(pu.Path, "/")
	c, err := pgx.Connect(context.Background(), baseDSN())
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// start runs `manage.py runserver` on a free loopback port in the
// background, in its own process group, stopped when the test ends.
func (s *site) start() {
	t := s.t
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(djangotest.Python, "manage.py", "runserver", "--noreload", fmt.Sprintf("127.0.0.1:%d", port))
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), s.env...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("django runserver output:\n%s", logs.String())
		}
	})
	s.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.url + "/login/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			t.Fatalf("django runserver exited:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("django runserver did not answer on %s: %v\n%s", s.url, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// seedUser is a user of the seed_sessions command.
type seedUser struct {
	Username string `json:"username"`
	Password string `json:"password,omitempty"`
	Email    string `json:"email,omitempty"`
	FullName string `json:"full_name,omitempty"`
	Role     string `json:"role,omitempty"`
	Status   string `json:"status,omitempty"`
}

// seedSession is a session of the seed_sessions command.
type seedSession struct {
	seedUser
	IP           string `json:"ip,omitempty"`
	UserAgent    string `json:"user_agent,omitempty"`
	LoginTime    string `json:"login_time,omitempty"`
	LastActivity string `json:"last_activity,omitempty"`
	ExpiresAt    string `json:"expires_at,omitempty"`
	Plain        bool   `json:"plain,omitempty"`
	Format       string `json:"format,omitempty"`
}

// seed runs the site's seed_sessions command: Django's own SessionStore
// writes the rows.
func (s *site) seed(users []seedUser, sessions []seedSession) []string {
	s.t.Helper()
	req, _ := json.Marshal(map[string]any{"users": users, "sessions": sessions})
	var keys []string
	out := djangotest.Run(s.t, s.dir, s.env, req, "manage.py", "seed_sessions")
	if err := json.Unmarshal(out, &keys); err != nil {
		s.t.Fatalf("seed_sessions printed %q: %v", out, err)
	}
	return keys
}

// browser is one HTTP client with its own cookie jar.
type browser struct {
	t    *testing.T
	site *site
	c    *http.Client
}

func (s *site) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: s.t, site: s, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// login logs in over HTTP and returns the session key of the cookie.
func (b *browser) login(username, password string) string {
	b.t.Helper()
	resp, err := b.c.PostForm(b.site.url+"/login/", url.Values{"username": {username}, "password": {password}})
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		b.t.Fatalf("login %s: status %d", username, resp.StatusCode)
	}
	return b.sessionKey()
}

func (b *browser) sessionKey() string {
	u, _ := url.Parse(b.site.url)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "sessionid" {
			return c.Value
		}
	}
	return ""
}

// setKey makes the browser hold session key (a session seeded directly).
func (b *browser) setKey(key string) {
	u, _ := url.Parse(b.site.url)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "sessionid", Value: key, Path: "/"}})
}

// get fetches path and returns the status, the Location and the body.
func (b *browser) get(path string, ajax bool) (int, string, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.site.url+path, nil)
	if ajax {
		req.Header.Set("X-Requested-With", "XMLHttpRequest")
		req.Header.Set("Accept", "application/json")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), body.String()
}

// mustBeIn asserts the browser's session works for the page and the API.
func (b *browser) mustBeIn() {
	b.t.Helper()
	if code, _, body := b.get("/api/me", true); code != http.StatusOK {
		b.t.Fatalf("GET /api/me = %d %s, want 200 (logged in)", code, body)
	}
	if code, _, _ := b.get("/", false); code != http.StatusOK {
		b.t.Fatalf("GET / = %d, want 200 (logged in)", code)
	}
}

// mustBeOut asserts Django refuses the browser: 401 JSON from the AJAX
// guard, a redirect to the login page from the page guard.
func (b *browser) mustBeOut() {
	b.t.Helper()
	code, _, body := b.get("/api/me", true)
	if code != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
		b.t.Fatalf("GET /api/me = %d %s, want 401 JSON (forced out)", code, body)
	}
	code, loc, _ := b.get("/", false)
	if code != http.StatusFound || !strings.HasPrefix(loc, "/login/") {
		b.t.Fatalf("GET / = %d Location %q, want a redirect to /login/", code, loc)
	}
}

// expireDate reads a row's expire_date as Django stored it.
func (s *site) expireDate(src interface {
	Session(context.Context, string) (data.Session, error)
}, key string) time.Time {
	s.t.Helper()
	ss, err := src.Session(context.Background(), key)
	if err != nil {
		s.t.Fatalf("Session(%s): %v", key, err)
	}
	return ss.ExpiresAt
}
