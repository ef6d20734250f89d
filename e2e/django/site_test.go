package djangoe2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/internal/djangotest"
	"sessionmon/internal/offheap"
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

func siteDir(*testing.T) string { return djangotest.SiteDir() }

// templates hand out site databases (see djangotest.Templates).
var templates djangotest.Templates

func TestMain(m *testing.M) {
	offheap.Poison(true) // a use of memory the index freed faults here (internal/offheap)
	code := m.Run()
	templates.Cleanup()
	for _, d := range dropAfter {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// dropAfter are directories removed after the run.
var dropAfter []string

// newSite creates the site's database (migrated by Django) and starts the
// site on a free loopback port; everything is removed when t ends.
func newSite(t *testing.T, backend string, o siteOptions) *site {
	t.Helper()
	djangotest.Require(t)
	s := &site{t: t, backend: backend, dir: siteDir(t), secret: "e2e-secret-" + randHex(16)}
	// A copy of a database Django migrated once per test run: the
	// serializer and the engine do not change the schema.
	s.db = templates.Copy(t, backend)
	s.env = []string{"DJANGO_DB=" + s.db, "DJANGO_SECRET_KEY=" + s.secret,
		"DJANGO_SERIALIZER=" + o.serializer, "DJANGO_ENGINE=" + firstNonEmpty(o.engine, "db"), "PYTHONDONTWRITEBYTECODE=1"}
	s.start()
	return s
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
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

type (
	seedUser    = djangotest.SeedUser
	seedSession = djangotest.SeedSession
)

func randHex(n int) string { return djangotest.RandHex(n) }

// seed runs the site's seed_sessions command: Django's own SessionStore
// writes the rows.
func (s *site) seed(users []seedUser, sessions []seedSession) []string {
	s.t.Helper()
	return djangotest.Seed(s.t, s.env, users, sessions)
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
