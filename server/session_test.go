package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
)

// LoginSetsSessionCookie: the cookie a browser gets at login carries
// exactly the Django-like attributes, and the user lands on /.
func scenarioLoginSetsSessionCookie(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)

	form := e.Do("GET", "/login", nil)
	testkit.WantStatus(t, "GET /login", form, http.StatusOK)
	for _, want := range []string{`name="username"`, `name="password"`, `type="password"`, `name="next"`, `action="/login"`} {
		if !strings.Contains(form.Body, want) {
			t.Errorf("login form lacks %s", want)
		}
	}

	r := e.Do("POST", "/login", testkit.LoginForm(alice, alicePassword, ""))
	testkit.WantStatus(t, "POST /login", r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/" {
		t.Errorf("Location = %q, want /", loc)
	}
	raw := r.SetCookie("sessionid")
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1209600", "Expires="} {
		if !strings.Contains(raw, want) {
			t.Errorf("Set-Cookie %q lacks %s", raw, want)
		}
	}
	if strings.Contains(raw, "Secure") {
		t.Errorf("development cookie is Secure: %q", raw)
	}
	c := r.SessionCookie("sessionid")
	if len(c.Value) < 22 { // 128 bits in base64 at the very least
		t.Errorf("token %q is too short", c.Value)
	}
	wantExp := e.clock.Now().Add(14 * 24 * time.Hour)
	if d := c.Expires.Sub(wantExp); d < -time.Second || d > time.Second {
		t.Errorf("Expires = %v, want %v", c.Expires, wantExp)
	}
}

// AuthenticatedResponsesResendCookie: every authenticated response
// re-sends the cookie with a fresh Max-Age/Expires (save every request),
// and the pages show the session.
func scenarioAuthenticatedResponsesResendCookie(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	token := e.Login(alice, alicePassword)

	e.clock.Advance(time.Hour)
	page := e.Do("GET", "/", nil, e.Sess(token))
	testkit.WantStatus(t, "GET /", page, http.StatusOK)
	for _, want := range []string{"Welcome " + aliceName, alice, aliceRole, "Expires in", "14d 0h 0m", `action="/logout"`} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("welcome page lacks %q:\n%s", want, page.Body)
		}
	}
	if cc := page.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	c := page.SessionCookie("sessionid")
	if c == nil || c.Value != token || c.MaxAge != 1209600 {
		t.Fatalf("GET / re-sent cookie %+v, want the same token with Max-Age=1209600", c)
	}
	if want := e.clock.Now().Add(14 * 24 * time.Hour); !c.Expires.Equal(want) {
		t.Errorf("re-sent Expires = %v, want %v (slid by the hour that passed)", c.Expires, want)
	}

	e.clock.Advance(time.Hour)
	api := e.Do("GET", "/api/me", nil, e.Sess(token))
	testkit.WantStatus(t, "GET /api/me", api, http.StatusOK)
	if c := api.SessionCookie("sessionid"); c == nil || c.Value != token {
		t.Errorf("/api/me did not re-send the session cookie")
	}
	var me map[string]any
	if err := json.Unmarshal([]byte(api.Body), &me); err != nil {
		t.Fatalf("/api/me body %q: %v", api.Body, err)
	}
	for k, want := range map[string]any{
		"user": alice, "user_name": aliceName, "user_role": aliceRole, "user_email": alice + "@example.com",
		"user_status": "active", "ip": "127.0.0.1",
	} {
		if me[k] != want {
			t.Errorf("/api/me %s = %v, want %v", k, me[k], want)
		}
	}
	for _, k := range []string{"user_id", "login_time", "last_activity", "expires_at", "session"} {
		if _, ok := me[k]; !ok {
			t.Errorf("/api/me lacks %s: %s", k, api.Body)
		}
	}
	if me["last_activity"] != e.clock.Now().Format(time.RFC3339) {
		t.Errorf("last_activity = %v, want %v", me["last_activity"], e.clock.Now().Format(time.RFC3339))
	}
	if ct := api.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("/api/me Content-Type = %q", ct)
	}
}

// LogoutWithoutLiveSession: a stale, unknown, malformed or missing
// cookie still gets the deletion cookie and the redirect.
func scenarioLogoutWithoutLiveSession(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	ended := e.Login(alice, alicePassword)
	e.Do("POST", "/logout", url.Values{}, e.Sess(ended))
	expired := e.Login(alice, alicePassword)
	e.clock.Advance(15 * 24 * time.Hour)

	for name, opts := range map[string][]reqOpt{
		"no cookie": nil,
		"ended":     {e.Sess(ended)},
		"expired":   {e.Sess(expired)},
		"unknown":   {e.Sess(sessionlogic.NewToken())},
		"malformed": {e.Sess("not-a-token")},
		"empty":     {testkit.WithRawCookie("sessionid=")},
		"garbage":   {testkit.WithRawCookie("sessionid=\"é%zz\"; sessionid=;;;=; x")},
	} {
		r := e.Do("POST", "/logout", url.Values{}, opts...)
		testkit.WantStatus(t, "logout, "+name, r, http.StatusSeeOther)
		testkit.WantDeletionCookie(t, "logout, "+name, r, "sessionid")
		if loc := r.Header.Get("Location"); loc != "/login" {
			t.Errorf("logout, %s: Location = %q", name, loc)
		}
	}
}

// SessionExpires: after the cookie age without a request the session
// is gone, even though the browser might still send the cookie.
func scenarioSessionExpires(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	token := e.Login(alice, alicePassword)
	e.clock.Advance(14*24*time.Hour - time.Minute)
	testkit.WantStatus(t, "just before expiry", e.Do("GET", "/api/me", nil, e.Sess(token)), http.StatusOK) // slides
	e.clock.Advance(14*24*time.Hour - time.Minute)
	testkit.WantStatus(t, "slid", e.Do("GET", "/api/me", nil, e.Sess(token)), http.StatusOK)
	e.clock.Advance(14*24*time.Hour + time.Second)
	testkit.WantStatus(t, "expired", e.Do("GET", "/api/me", nil, e.Sess(token)), http.StatusUnauthorized)
}

// LoginPageWhenLoggedIn: a logged-in visitor is sent on to a local next.
func scenarioLoginPageWhenLoggedIn(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	token := e.Login(alice, alicePassword)
	for next, want := range map[string]string{
		"":                 "/",
		"/api/me":          "/api/me",
		"//evil.com":       "/",
		"https://evil.com": "/",
	} {
		r := e.Do("GET", "/login?next="+url.QueryEscape(next), nil, e.Sess(token))
		testkit.WantStatus(t, "GET /login?next="+next, r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != want {
			t.Errorf("GET /login?next=%s: Location = %q, want %q", next, loc, want)
		}
	}
	// A dead cookie gets the form and the deletion cookie.
	r := e.Do("GET", "/login", nil, e.Sess(sessionlogic.NewToken()))
	testkit.WantStatus(t, "GET /login with a dead cookie", r, http.StatusOK)
	testkit.WantDeletionCookie(t, "GET /login with a dead cookie", r, "sessionid")
}

// LoginRedirectsToNext: a local next survives the round trip through
// the form; the protected page's redirect carries it.
func scenarioLoginRedirectsToNext(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	first := e.Do("GET", "/", nil)
	testkit.WantStatus(t, "GET / without a session", first, http.StatusFound)
	loc, _ := url.Parse(first.Header.Get("Location"))
	form := e.Do("GET", loc.String(), nil)
	if !strings.Contains(form.Body, `name="next" value="/"`) {
		t.Errorf("form does not carry next=/:\n%s", form.Body)
	}
	r := e.Do("POST", "/login", testkit.LoginForm(alice, alicePassword, "/api/me?x=1"))
	testkit.WantStatus(t, "login with next", r, http.StatusSeeOther)
	if got := r.Header.Get("Location"); got != "/api/me?x=1" {
		t.Errorf("Location = %q, want /api/me?x=1", got)
	}
}

// InactiveUser: a deactivated user's sessions end and they cannot log
// in, with a message that says so (only after the right password).
func scenarioInactiveUser(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	token := e.Login(alice, alicePassword)
	if _, err := e.mgr.Deactivate(context.Background(), "oncall", alice); err != nil {
		t.Fatal(err)
	}
	testkit.WantStatus(t, "session of a deactivated user", e.Do("GET", "/api/me", nil, e.Sess(token)), http.StatusUnauthorized)
	r := e.Do("POST", "/login", testkit.LoginForm(alice, alicePassword, ""))
	testkit.WantStatus(t, "login of a deactivated user", r, http.StatusForbidden)
	if !strings.Contains(r.Body, "inactive") {
		t.Errorf("inactive login page does not say so:\n%s", r.Body)
	}
	wantNoSessionCookie(t, "login of a deactivated user", r, "sessionid")
	wrong := e.Do("POST", "/login", testkit.LoginForm(alice, "wrong password", ""))
	testkit.WantStatus(t, "wrong password of a deactivated user", wrong, http.StatusUnauthorized)
}

// Production: production mode uses the __Host- cookie with Secure and
// sends HSTS; development sends neither.
func scenarioProduction(t *testing.T, cfg envConfig) {
	cfg.production = true
	e := newEnv(t, cfg)
	r := e.Do("POST", "/login", testkit.LoginForm(alice, alicePassword, ""))
	testkit.WantStatus(t, "production login", r, http.StatusSeeOther)
	raw := r.SetCookie("__Host-sessionid")
	for _, want := range []string{"Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1209600"} {
		if !strings.Contains(raw, want) {
			t.Errorf("production Set-Cookie %q lacks %s", raw, want)
		}
	}
	if strings.Contains(raw, "Domain=") {
		t.Errorf("__Host- cookie has a Domain: %q", raw)
	}
	if r.SetCookie("sessionid") != "" {
		t.Error("production also set a plain sessionid cookie")
	}
	if h := r.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(h, "max-age=") {
		t.Errorf("production lacks HSTS: %q", h)
	}
	token := r.SessionCookie("__Host-sessionid").Value
	testkit.WantStatus(t, "production /api/me", e.Do("GET", "/api/me", nil, testkit.WithRawCookie("__Host-sessionid="+token)), http.StatusOK)
	// The development cookie name means nothing in production.
	testkit.WantStatus(t, "dev cookie name in production", e.Do("GET", "/api/me", nil, testkit.WithRawCookie("sessionid="+token)), http.StatusUnauthorized)
	logout := e.Do("POST", "/logout", url.Values{}, testkit.WithRawCookie("__Host-sessionid="+token))
	testkit.WantDeletionCookie(t, "production logout", logout, "__Host-sessionid")
	if !strings.Contains(logout.SetCookie("__Host-sessionid"), "Secure") {
		t.Error("production deletion cookie is not Secure (a browser would ignore it)")
	}

	dev := newEnv(t, envConfig{open: cfg.open})
	if h := dev.Do("GET", "/login", nil).Header.Get("Strict-Transport-Security"); h != "" {
		t.Errorf("development sends HSTS %q", h)
	}
}

// TestNewRefusesUnsafeCookies: settings that a browser would reject, or
// that leak the session in production, are refused at start.
func TestNewRefusesUnsafeCookies(t *testing.T) {
	t.Parallel()
	st := testkit.OpenSQLite(t)
	t.Cleanup(func() { st.Close() })
	for name, tc := range map[string]struct {
		cookie     sessionlogic.CookieOptions
		production bool
	}{
		"production without Secure":  {sessionlogic.CookieOptions{Name: "sessionid", Age: time.Hour}, true},
		"__Host- without Secure":     {sessionlogic.CookieOptions{Name: "__Host-sessionid", Age: time.Hour}, false},
		"__Host- with a Domain":      {sessionlogic.CookieOptions{Name: "__Host-sessionid", Age: time.Hour, Secure: true, Domain: "example.com"}, true},
		"__Secure- without Secure":   {sessionlogic.CookieOptions{Name: "__Secure-sessionid", Age: time.Hour}, false},
		"__Host- with a narrow Path": {sessionlogic.CookieOptions{Name: "__Host-sessionid", Age: time.Hour, Secure: true, Path: "/app"}, true},
	} {
		mgr, err := sessionlogic.New(sessionlogic.Options{Store: st, Cookie: tc.cookie})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := New(Options{Manager: mgr, Production: tc.production}); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New accepted a nil Manager")
	}
}

// StoreDown: with the store gone every answer that needs it is 503
// (pages, /api/me as JSON, login, logout, health), never a 200 and never a
// redirect that pretends the session ended.
func scenarioStoreDown(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	token := e.Login(alice, alicePassword)
	e.closeStore()

	page := e.Do("GET", "/", nil, e.Sess(token))
	testkit.WantStatus(t, "page, store down", page, http.StatusServiceUnavailable)
	wantNoSessionCookie(t, "page, store down", page, "sessionid")
	if page.Header.Get("Retry-After") == "" {
		t.Error("503 page without Retry-After")
	}

	api := e.Do("GET", "/api/me", nil, e.Sess(token))
	testkit.WantStatus(t, "/api/me, store down", api, http.StatusServiceUnavailable)
	var body map[string]string
	if err := json.Unmarshal([]byte(api.Body), &body); err != nil || body["error"] == "" {
		t.Errorf("/api/me 503 body = %q, want JSON {\"error\": ...}", api.Body)
	}

	logout := e.Do("POST", "/logout", url.Values{}, e.Sess(token))
	testkit.WantStatus(t, "logout, store down", logout, http.StatusServiceUnavailable)
	wantNoSessionCookie(t, "logout, store down (must not pretend the session ended)", logout, "sessionid")
	if !strings.Contains(logout.Body, "still logged in") {
		t.Errorf("logout 503 page does not say the session may live on:\n%s", logout.Body)
	}

	login := e.Do("POST", "/login", testkit.LoginForm(alice, alicePassword, ""))
	testkit.WantStatus(t, "login, store down", login, http.StatusServiceUnavailable)
	wantNoSessionCookie(t, "login, store down", login, "sessionid")

	health := e.Do("GET", "/healthz", nil)
	testkit.WantStatus(t, "/healthz, store down", health, http.StatusServiceUnavailable)
	if !strings.Contains(health.Body, `"status":"unavailable"`) {
		t.Errorf("/healthz body = %q", health.Body)
	}

	// The form is still served (it needs no store) and says nothing false.
	testkit.WantStatus(t, "GET /login, store down", e.Do("GET", "/login", nil, e.Sess(token)), http.StatusOK)

	metrics := e.Do("GET", "/metrics", nil)
	testkit.WantStatus(t, "/metrics, store down", metrics, http.StatusOK)
	if v, ok := metricValue(metrics.Body, "sessionmon_store_up"); !ok || v != 0 {
		t.Errorf("sessionmon_store_up = %v (found %v), want 0", v, ok)
	}
}

func scenarioHealthz(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	r := e.Do("GET", "/healthz", nil)
	testkit.WantStatus(t, "/healthz", r, http.StatusOK)
	if strings.TrimSpace(r.Body) != `{"status":"ok"}` {
		t.Errorf("/healthz body = %q", r.Body)
	}
}

// metricValue finds an exposition line "name value" (name may carry labels).
func metricValue(exposition, name string) (float64, bool) {
	for line := range strings.SplitSeq(exposition, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}
