// Package dashboard_test proves the product's central promise end to end:
// the login server and the dashboard share one store, and what the operator
// does in the dashboard is what the server enforces on the very next request.
package dashboard_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"

	"sessionmon/data"
	"sessionmon/internal/testkit"
	"sessionmon/server"
	"sessionmon/sessionlogic"
	"sessionmon/tui"
)

func TestMain(m *testing.M) {
	lipgloss.SetColorProfile(termenv.Ascii)
	m.Run()
}

func TestDashboardForceLogoutRefusesNextRequestSQLite(t *testing.T) {
	st := testkit.OpenSQLite(t)
	forceLogoutFromDashboard(t, st)
}

func TestDashboardForceLogoutRefusesNextRequestPostgres(t *testing.T) {
	st := testkit.OpenPostgres(t)
	forceLogoutFromDashboard(t, st)
}

// forceLogoutFromDashboard runs the login server and the dashboard as two
// separate Managers on one store, as `serve` and `watch` would be: a browser
// logs in over HTTP, the operator forces that session out from the
// dashboard, and the browser's next requests are refused.
func forceLogoutFromDashboard(t *testing.T, st data.Store) {
	ctx := context.Background()
	newManager := func() *sessionlogic.Manager { return testkit.NewManager(t, st) }
	serverMgr, dashMgr := newManager(), newManager()
	if _, err := serverMgr.AddUser(ctx, "test", sessionlogic.NewUser{
		Username: "mallory", Password: "stolen-laptop", FullName: "Mallory Moe", Role: "staff",
	}); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Manager: serverMgr, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.PostForm(hs.URL+"/login", url.Values{"username": {"mallory"}, "password": {"stolen-laptop"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	u, _ := url.Parse(hs.URL)
	var token string
	for _, c := range jar.Cookies(u) {
		if c.Name == "sessionid" {
			token = c.Value
		}
	}
	if code, _ := getWithCookie(t, hs.URL+"/api/me", token); code != http.StatusOK {
		t.Fatalf("/api/me before the force-out: %d", code)
	}

	tm := teatest.NewTestModel(t, tui.New(tui.Options{
		Manager: dashMgr, Operator: "oncall-test", PollInterval: 250 * time.Millisecond,
	}), teatest.WithInitialTermSize(100, 30))
	teatest.WaitFor(t, tm.Output(), testkit.Contains("mallory", "1 active"), teatest.WithDuration(10*time.Second))
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("x")})
	teatest.WaitFor(t, tm.Output(), testkit.Contains("Force out mallory"), teatest.WithDuration(5*time.Second))
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("y")})
	teatest.WaitFor(t, tm.Output(), testkit.Contains("forced out mallory"), teatest.WithDuration(5*time.Second))

	// The very next requests with that cookie are refused: the AJAX endpoint
	// with 401 JSON, the page with a redirect to the login form. The cookie
	// is replayed by hand, as a thief holding a copy of it would.
	code, body := getWithCookie(t, hs.URL+"/api/me", token)
	var msg map[string]string
	if code != http.StatusUnauthorized || json.Unmarshal(body, &msg) != nil || msg["error"] == "" {
		t.Fatalf("/api/me after the force-out: %d %s, want 401 JSON", code, body)
	}
	if code, _ := getWithCookie(t, hs.URL+"/", token); code != http.StatusFound {
		t.Fatalf("page after the force-out: %d, want 302 to /login", code)
	}

	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

// getWithCookie sends one GET carrying only the given session cookie,
// without following redirects.
func getWithCookie(t *testing.T, u, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: "sessionid", Value: token})
	c := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// On PostgreSQL the dashboard hears logins from other processes through
// LISTEN/NOTIFY: with a 10 s poll interval, a login made over HTTP after
// the dashboard's first poll shows up long before the next poll would.
func TestDashboardShowsANewLoginBeforeTheNextPollPostgres(t *testing.T) {
	st := testkit.OpenPostgres(t)
	ctx := context.Background()
	m := testkit.NewManager(t, st)
	if _, err := m.AddUser(ctx, "test", sessionlogic.NewUser{Username: "newcomer", Password: "first-day!", Role: "staff"}); err != nil {
		t.Fatal(err)
	}
	tm := teatest.NewTestModel(t, tui.New(tui.Options{Manager: m, Operator: "oncall-test", PollInterval: 10 * time.Second}),
		teatest.WithInitialTermSize(100, 30))
	teatest.WaitFor(t, tm.Output(), testkit.Contains("no active sessions", "push"), teatest.WithDuration(10*time.Second))

	if _, _, err := m.Login(ctx, sessionlogic.LoginRequest{Username: "newcomer", Password: "first-day!", IP: "192.0.2.44"}); err != nil {
		t.Fatal(err)
	}
	// Well inside the 10 s poll interval: only a pushed notice explains it.
	teatest.WaitFor(t, tm.Output(), testkit.Contains("newcomer"), teatest.WithDuration(5*time.Second))
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}
