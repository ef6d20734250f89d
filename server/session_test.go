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

	"sessionmon/sessionlogic"
)

// LoginSetsSessionCookie: the cookie a browser gets at login carries
// exactly the Django-like attributes, and the user lands on /.
func scenarioLoginSetsSessionCookie(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)

	form := e.do("GET", "/login", nil)
	wantStatus(t, "GET /login", form, http.StatusOK)
	for _, want := range []string{`name="username"`, `name="password"`, `type="password"`, `name="next"`, `action="/login"`} {
		if !strings.Contains(form.body, want) {
			t.Errorf("login form lacks %s", want)
		}
	}

	r := e.do("POST", "/login", loginForm(alice, alicePassword, ""))
	wantStatus(t, "POST /login", r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); loc != "/" {
		t.Errorf("Location = %q, want /", loc)
	}
	raw := r.setCookie("sessionid")
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1209600", "Expires="} {
		if !strings.Contains(raw, want) {
			t.Errorf("Set-Cookie %q lacks %s", raw, want)
		}
	}
	if strings.Contains(raw, "Secure") {
		t.Errorf("development cookie is Secure: %q", raw)
	}
	c := r.sessionCookie("sessionid")
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
	token := e.login(alice, alicePassword)

	e.clock.Advance(time.Hour)
	page := e.do("GET", "/", nil, e.sess(token))
	wantStatus(t, "GET /", page, http.StatusOK)
	for _, want := range []string{"Welcome " + aliceName, alice, aliceRole, "Expires in", "14d 0h 0m", `action="/logout"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("welcome page lacks %q:\n%s", want, page.body)
		}
	}
	if cc := page.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	c := page.sessionCookie("sessionid")
	if c == nil || c.Value != token || c.MaxAge != 1209600 {
		t.Fatalf("GET / re-sent cookie %+v, want the same token with Max-Age=1209600", c)
	}
	if want := e.clock.Now().Add(14 * 24 * time.Hour); !c.Expires.Equal(want) {
		t.Errorf("re-sent Expires = %v, want %v (slid by the hour that passed)", c.Expires, want)
	}

	e.clock.Advance(time.Hour)
	api := e.do("GET", "/api/me", nil, e.sess(token))
	wantStatus(t, "GET /api/me", api, http.StatusOK)
	if c := api.sessionCookie("sessionid"); c == nil || c.Value != token {
		t.Errorf("/api/me did not re-send the session cookie")
	}
	var me map[string]any
	if err := json.Unmarshal([]byte(api.body), &me); err != nil {
		t.Fatalf("/api/me body %q: %v", api.body, err)
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
			t.Errorf("/api/me lacks %s: %s", k, api.body)
		}
	}
	if me["last_activity"] != e.clock.Now().Format(time.RFC3339) {
		t.Errorf("last_activity = %v, want %v", me["last_activity"], e.clock.Now().Format(time.RFC3339))
	}
	if ct := api.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("/api/me Content-Type = %q", ct)
	}
}

// LoginMintsFreshToken: no session fixation. Each login gets a new
// token; a cookie planted before login is never adopted; the browser's
// previous session is ended.
func scenarioLoginMintsFreshToken(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	first := e.login(alice, alicePassword)
	second := e.login(alice, alicePassword)
	if first == second {
		t.Fatal("two logins got the same token")
	}

	// An attacker plants a well-formed token of their choosing.
	planted := sessionlogic.NewToken()
	got := e.login(alice, alicePassword, e.sess(planted))
	if got == planted {
		t.Fatal("login adopted the planted cookie")
	}
	wantStatus(t, "planted cookie after login", e.do("GET", "/api/me", nil, e.sess(planted)), http.StatusUnauthorized)

	// Logging in again from a browser that holds a session replaces it.
	third := e.login(alice, alicePassword, e.sess(got))
	if third == got {
		t.Fatal("re-login kept the token")
	}
	wantStatus(t, "replaced session", e.do("GET", "/api/me", nil, e.sess(got)), http.StatusUnauthorized)
	wantStatus(t, "new session", e.do("GET", "/api/me", nil, e.sess(third)), http.StatusOK)
	wantStatus(t, "other browser's session", e.do("GET", "/api/me", nil, e.sess(second)), http.StatusOK)
}

// Logout: logout ends the session on the server, deletes the cookie and
// sends the browser to /login; the old cookie never works again.
func scenarioLogout(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	token := e.login(alice, alicePassword)

	r := e.do("POST", "/logout", url.Values{}, e.sess(token))
	wantStatus(t, "POST /logout", r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); loc != "/login" {
		t.Errorf("Location = %q, want /login", loc)
	}
	wantDeletionCookie(t, "POST /logout", r, "sessionid")

	page := e.do("GET", "/", nil, e.sess(token))
	wantStatus(t, "GET / with the old cookie", page, http.StatusFound)
	if loc := page.header.Get("Location"); loc != "/login?next=%2F" {
		t.Errorf("Location = %q, want /login?next=%%2F", loc)
	}
	wantDeletionCookie(t, "GET / with the old cookie", page, "sessionid")

	api := e.do("GET", "/api/me", nil, e.sess(token))
	wantStatus(t, "GET /api/me with the old cookie", api, http.StatusUnauthorized)
	var body map[string]string
	if err := json.Unmarshal([]byte(api.body), &body); err != nil || body["error"] == "" {
		t.Errorf("/api/me 401 body = %q, want JSON {\"error\": ...}", api.body)
	}

	// Logging in again with the ended cookie still works, with a new token.
	if again := e.login(alice, alicePassword, e.sess(token)); again == token {
		t.Error("login revived the logged-out token")
	}
}

// LogoutWithoutLiveSession: a stale, unknown, malformed or missing
// cookie still gets the deletion cookie and the redirect.
func scenarioLogoutWithoutLiveSession(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	ended := e.login(alice, alicePassword)
	e.do("POST", "/logout", url.Values{}, e.sess(ended))
	expired := e.login(alice, alicePassword)
	e.clock.Advance(15 * 24 * time.Hour)

	for name, opts := range map[string][]reqOpt{
		"no cookie": nil,
		"ended":     {e.sess(ended)},
		"expired":   {e.sess(expired)},
		"unknown":   {e.sess(sessionlogic.NewToken())},
		"malformed": {e.sess("not-a-token")},
		"empty":     {withRawCookie("sessionid=")},
		"garbage":   {withRawCookie("sessionid=\"é%zz\"; sessionid=;;;=; x")},
	} {
		r := e.do("POST", "/logout", url.Values{}, opts...)
		wantStatus(t, "logout, "+name, r, http.StatusSeeOther)
		wantDeletionCookie(t, "logout, "+name, r, "sessionid")
		if loc := r.header.Get("Location"); loc != "/login" {
			t.Errorf("logout, %s: Location = %q", name, loc)
		}
	}
}

// ForceLogout: an operator's force-logout makes the holder's very next
// request fail, on pages and on the API.
func scenarioForceLogout(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	token := e.login(alice, alicePassword)
	other := e.login(alice, alicePassword)
	wantStatus(t, "before", e.do("GET", "/", nil, e.sess(token)), http.StatusOK)

	if _, err := e.mgr.ForceLogout(context.Background(), "oncall", sessionlogic.HashToken(token)); err != nil {
		t.Fatal(err)
	}
	page := e.do("GET", "/", nil, e.sess(token))
	wantStatus(t, "page after force-logout", page, http.StatusFound)
	if !strings.HasPrefix(page.header.Get("Location"), "/login?next=") {
		t.Errorf("Location = %q", page.header.Get("Location"))
	}
	wantStatus(t, "api after force-logout", e.do("GET", "/api/me", nil, e.sess(token)), http.StatusUnauthorized)
	wantStatus(t, "the user's other session", e.do("GET", "/api/me", nil, e.sess(other)), http.StatusOK)

	// Force-logout of the whole user ends the other session too.
	if _, err := e.mgr.ForceLogoutUser(context.Background(), "oncall", alice); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "after force-logout-user", e.do("GET", "/api/me", nil, e.sess(other)), http.StatusUnauthorized)
}

// SessionExpires: after the cookie age without a request the session
// is gone, even though the browser might still send the cookie.
func scenarioSessionExpires(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	token := e.login(alice, alicePassword)
	e.clock.Advance(14*24*time.Hour - time.Minute)
	wantStatus(t, "just before expiry", e.do("GET", "/api/me", nil, e.sess(token)), http.StatusOK) // slides
	e.clock.Advance(14*24*time.Hour - time.Minute)
	wantStatus(t, "slid", e.do("GET", "/api/me", nil, e.sess(token)), http.StatusOK)
	e.clock.Advance(14*24*time.Hour + time.Second)
	wantStatus(t, "expired", e.do("GET", "/api/me", nil, e.sess(token)), http.StatusUnauthorized)
}

// LoginPageWhenLoggedIn: a logged-in visitor is sent on to a local next.
func scenarioLoginPageWhenLoggedIn(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	token := e.login(alice, alicePassword)
	for next, want := range map[string]string{
		"":                 "/",
		"/api/me":          "/api/me",
		"//evil.com":       "/",
		"https://evil.com": "/",
	} {
		r := e.do("GET", "/login?next="+url.QueryEscape(next), nil, e.sess(token))
		wantStatus(t, "GET /login?next="+next, r, http.StatusSeeOther)
		if loc := r.header.Get("Location"); loc != want {
			t.Errorf("GET /login?next=%s: Location = %q, want %q", next, loc, want)
		}
	}
	// A dead cookie gets the form and the deletion cookie.
	r := e.do("GET", "/login", nil, e.sess(sessionlogic.NewToken()))
	wantStatus(t, "GET /login with a dead cookie", r, http.StatusOK)
	wantDeletionCookie(t, "GET /login with a dead cookie", r, "sessionid")
}

// LoginRedirectsToNext: a local next survives the round trip through
// the form; the protected page's redirect carries it.
func scenarioLoginRedirectsToNext(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	first := e.do("GET", "/", nil)
	wantStatus(t, "GET / without a session", first, http.StatusFound)
	loc, _ := url.Parse(first.header.Get("Location"))
	form := e.do("GET", loc.String(), nil)
	if !strings.Contains(form.body, `name="next" value="/"`) {
		t.Errorf("form does not carry next=/:\n%s", form.body)
	}
	r := e.do("POST", "/login", loginForm(alice, alicePassword, "/api/me?x=1"))
	wantStatus(t, "login with next", r, http.StatusSeeOther)
	if got := r.header.Get("Location"); got != "/api/me?x=1" {
		t.Errorf("Location = %q, want /api/me?x=1", got)
	}
}

// InactiveUser: a deactivated user's sessions end and they cannot log
// in, with a message that says so (only after the right password).
func scenarioInactiveUser(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	token := e.login(alice, alicePassword)
	if _, err := e.mgr.Deactivate(context.Background(), "oncall", alice); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "session of a deactivated user", e.do("GET", "/api/me", nil, e.sess(token)), http.StatusUnauthorized)
	r := e.do("POST", "/login", loginForm(alice, alicePassword, ""))
	wantStatus(t, "login of a deactivated user", r, http.StatusForbidden)
	if !strings.Contains(r.body, "inactive") {
		t.Errorf("inactive login page does not say so:\n%s", r.body)
	}
	wantNoSessionCookie(t, "login of a deactivated user", r, "sessionid")
	wrong := e.do("POST", "/login", loginForm(alice, "wrong password", ""))
	wantStatus(t, "wrong password of a deactivated user", wrong, http.StatusUnauthorized)
}

// Production: production mode uses the __Host- cookie with Secure and
// sends HSTS; development sends neither.
func scenarioProduction(t *testing.T, cfg envConfig) {
	cfg.production = true
	e := newEnv(t, cfg)
	r := e.do("POST", "/login", loginForm(alice, alicePassword, ""))
	wantStatus(t, "production login", r, http.StatusSeeOther)
	raw := r.setCookie("__Host-sessionid")
	for _, want := range []string{"Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1209600"} {
		if !strings.Contains(raw, want) {
			t.Errorf("production Set-Cookie %q lacks %s", raw, want)
		}
	}
	if strings.Contains(raw, "Domain=") {
		t.Errorf("__Host- cookie has a Domain: %q", raw)
	}
	if r.setCookie("sessionid") != "" {
		t.Error("production also set a plain sessionid cookie")
	}
	if h := r.header.Get("Strict-Transport-Security"); !strings.HasPrefix(h, "max-age=") {
		t.Errorf("production lacks HSTS: %q", h)
	}
	token := r.sessionCookie("__Host-sessionid").Value
	wantStatus(t, "production /api/me", e.do("GET", "/api/me", nil, withCookie("__Host-sessionid", token)), http.StatusOK)
	// The development cookie name means nothing in production.
	wantStatus(t, "dev cookie name in production", e.do("GET", "/api/me", nil, withCookie("sessionid", token)), http.StatusUnauthorized)
	logout := e.do("POST", "/logout", url.Values{}, withCookie("__Host-sessionid", token))
	wantDeletionCookie(t, "production logout", logout, "__Host-sessionid")
	if !strings.Contains(logout.setCookie("__Host-sessionid"), "Secure") {
		t.Error("production deletion cookie is not Secure (a browser would ignore it)")
	}

	dev := newEnv(t, envConfig{open: cfg.open})
	if h := dev.do("GET", "/login", nil).header.Get("Strict-Transport-Security"); h != "" {
		t.Errorf("development sends HSTS %q", h)
	}
}

// TestNewRefusesUnsafeCookies: settings that a browser would reject, or
// that leak the session in production, are refused at start.
func TestNewRefusesUnsafeCookies(t *testing.T) {
	t.Parallel()
	st := openStore(t)
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
	token := e.login(alice, alicePassword)
	e.closeStore()

	page := e.do("GET", "/", nil, e.sess(token))
	wantStatus(t, "page, store down", page, http.StatusServiceUnavailable)
	wantNoSessionCookie(t, "page, store down", page, "sessionid")
	if page.header.Get("Retry-After") == "" {
		t.Error("503 page without Retry-After")
	}

	api := e.do("GET", "/api/me", nil, e.sess(token))
	wantStatus(t, "/api/me, store down", api, http.StatusServiceUnavailable)
	var body map[string]string
	if err := json.Unmarshal([]byte(api.body), &body); err != nil || body["error"] == "" {
		t.Errorf("/api/me 503 body = %q, want JSON {\"error\": ...}", api.body)
	}

	logout := e.do("POST", "/logout", url.Values{}, e.sess(token))
	wantStatus(t, "logout, store down", logout, http.StatusServiceUnavailable)
	wantNoSessionCookie(t, "logout, store down (must not pretend the session ended)", logout, "sessionid")
	if !strings.Contains(logout.body, "still logged in") {
		t.Errorf("logout 503 page does not say the session may live on:\n%s", logout.body)
	}

	login := e.do("POST", "/login", loginForm(alice, alicePassword, ""))
	wantStatus(t, "login, store down", login, http.StatusServiceUnavailable)
	wantNoSessionCookie(t, "login, store down", login, "sessionid")

	health := e.do("GET", "/healthz", nil)
	wantStatus(t, "/healthz, store down", health, http.StatusServiceUnavailable)
	if !strings.Contains(health.body, `"status":"unavailable"`) {
		t.Errorf("/healthz body = %q", health.body)
	}

	// The form is still served (it needs no store) and says nothing false.
	wantStatus(t, "GET /login, store down", e.do("GET", "/login", nil, e.sess(token)), http.StatusOK)

	metrics := e.do("GET", "/metrics", nil)
	wantStatus(t, "/metrics, store down", metrics, http.StatusOK)
	if v, ok := metricValue(metrics.body, "sessionmon_store_up"); !ok || v != 0 {
		t.Errorf("sessionmon_store_up = %v (found %v), want 0", v, ok)
	}
}

func scenarioHealthz(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	r := e.do("GET", "/healthz", nil)
	wantStatus(t, "/healthz", r, http.StatusOK)
	if strings.TrimSpace(r.body) != `{"status":"ok"}` {
		t.Errorf("/healthz body = %q", r.body)
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
