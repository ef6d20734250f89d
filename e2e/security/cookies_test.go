package security_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"sessionmon/config"
	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
)

// loadConfig loads the configuration as the binary does (defaults < file <
// environment < flags) with no file, an empty environment, and the
// --production flag set as given.
func loadConfig(t *testing.T, production bool) config.Config {
	t.Helper()
	cfg, err := config.Load(config.LoadOptions{
		Env:   func(string) (string, bool) { return "", false },
		Flags: map[string]string{"production": strconv.FormatBool(production)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// fromConfig configures the Manager from cfg exactly as package main's
// managerOptions (cli.go) does, keeping only the test's store, clock,
// logger, observer and bcrypt cost.
//
// This replicates a mapping that lives only in package main; it should move
// to a shared place (for example a config.Config method returning plain
// cookie settings, or a small wiring package) so that this test, the demo
// and the binary cannot drift apart.
func fromConfig(cfg config.Config) envOpts {
	return envOpts{
		production: cfg.Production,
		trustProxy: cfg.Login.TrustProxyHeaders,
		manager: func(o *sessionlogic.Options) {
			o.Cookie = sessionlogic.CookieOptions{
				Name:           cfg.CookieName(),
				Age:            cfg.Session.CookieAge,
				BrowserSession: cfg.Session.ExpireAtBrowserClose,
				Secure:         cfg.Secure(),
				HTTPOnly:       cfg.Session.CookieHTTPOnly,
				SameSite:       cfg.SameSite(),
				Domain:         cfg.Session.CookieDomain,
				Path:           cfg.Session.CookiePath,
			}
			o.SaveEveryRequest = cfg.Session.SaveEveryRequest
			o.IdleTimeout = cfg.Session.IdleTimeout
			o.AbsoluteTimeout = cfg.Session.AbsoluteTimeout
			o.Retention = cfg.Session.PurgeRetention
			o.MaxFailuresPerUserIP = cfg.Login.MaxFailuresPerUserIP
			o.MaxFailuresPerUser = cfg.Login.MaxFailuresPerUser
			o.MaxFailuresPerIP = cfg.Login.MaxFailuresPerIP
			o.FailureWindow = cfg.Login.FailureWindow
		},
	}
}

// setCookie is one parsed Set-Cookie line: name, value and attributes
// (lower-case names; flags map to "").
type setCookie struct {
	name, value string
	attrs       map[string]string
}

func parseSetCookie(t *testing.T, line string) setCookie {
	t.Helper()
	parts := strings.Split(line, ";")
	name, value, ok := strings.Cut(strings.TrimSpace(parts[0]), "=")
	if !ok {
		t.Fatalf("Set-Cookie %q has no name=value", line)
	}
	c := setCookie{name: name, value: value, attrs: map[string]string{}}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		k = strings.ToLower(k)
		if _, dup := c.attrs[k]; dup {
			t.Errorf("Set-Cookie %q repeats %s", line, k)
		}
		c.attrs[k] = v
	}
	return c
}

// cookieFrom returns the parsed Set-Cookie for name in r, failing if absent.
func cookieFrom(t *testing.T, what string, r result, name string) setCookie {
	t.Helper()
	line := r.SetCookie(name)
	if line == "" {
		t.Fatalf("%s: no %s cookie in %q", what, name, r.Header.Values("Set-Cookie"))
	}
	return parseSetCookie(t, line)
}

// wantAttrs checks c has exactly the attributes in want (value "*" means any
// value) and none of those in absent.
func wantAttrs(t *testing.T, what string, c setCookie, want map[string]string, absent ...string) {
	t.Helper()
	for k, v := range want {
		got, ok := c.attrs[k]
		if !ok {
			t.Errorf("%s: cookie lacks %s (attributes %v)", what, k, c.attrs)
		} else if v != "*" && !strings.EqualFold(got, v) {
			t.Errorf("%s: cookie %s=%q, want %q", what, k, got, v)
		}
	}
	for _, k := range absent {
		if v, ok := c.attrs[k]; ok {
			t.Errorf("%s: cookie has %s=%q, want none", what, k, v)
		}
	}
}

// checkCookieLifecycle logs in, makes an authenticated request and logs
// out, and checks the session cookie's attributes on all three responses:
// base are the attributes every one carries, absent those none may carry.
func checkCookieLifecycle(t *testing.T, e *env, base map[string]string, absent ...string) {
	t.Helper()
	login := e.PostLogin(alice, alicePassword)
	testkit.WantStatus(t, "login", login, http.StatusSeeOther)
	lc := cookieFrom(t, "login", login, e.cookie)
	wantAttrs(t, "login", lc, merge(base, map[string]string{"max-age": "1209600", "expires": "*"}), absent...)
	tok := lc.value

	api := e.Do("GET", "/api/me", nil, e.Sess(tok))
	testkit.WantStatus(t, "GET /api/me", api, http.StatusOK)
	rc := cookieFrom(t, "re-sent on an authenticated request", api, e.cookie)
	if rc.value != tok {
		t.Errorf("the re-sent cookie carries another value")
	}
	wantAttrs(t, "re-sent", rc, merge(base, map[string]string{"max-age": "1209600", "expires": "*"}), absent...)

	out := e.Do("POST", "/logout", url.Values{}, e.Sess(tok))
	testkit.WantStatus(t, "logout", out, http.StatusSeeOther)
	dc := cookieFrom(t, "logout", out, e.cookie)
	if dc.value != "" {
		t.Errorf("the deletion cookie carries a value")
	}
	// A deletion cookie must match the original's name, Path, Domain and
	// (for a prefixed name) Secure, or the browser keeps the original.
	wantAttrs(t, "deletion", dc, merge(base, map[string]string{"max-age": "0", "expires": "*"}), absent...)
}

func merge(a, b map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

// TestCookieAttributesInDevelopment: with the default configuration the
// session cookie is "sessionid; Path=/; HttpOnly; SameSite=Lax" with the
// 14-day Max-Age, not Secure and without Domain, at login, on every
// authenticated response and on deletion.
func TestCookieAttributesInDevelopment(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		cfg := loadConfig(t, false)
		e := newEnv(t, b, fromConfig(cfg))
		if e.cookie != "sessionid" {
			t.Fatalf("development cookie name %q, want sessionid", e.cookie)
		}
		checkCookieLifecycle(t, e,
			map[string]string{"path": "/", "httponly": "", "samesite": "Lax"},
			"secure", "domain")
		if h := e.Do("GET", "/login", nil).Header.Get("Strict-Transport-Security"); h != "" {
			t.Errorf("development sends HSTS %q", h)
		}
	})
}

// TestCookieAttributesInProduction: with production = true the session
// cookie is "__Host-sessionid; Path=/; Secure; HttpOnly; SameSite=Lax"
// without Domain (what browsers require of a __Host- cookie), on every
// response including the deletion; no plain "sessionid" cookie is set, a
// token sent under that name is refused, and HSTS is on.
func TestCookieAttributesInProduction(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		cfg := loadConfig(t, true)
		e := newEnv(t, b, fromConfig(cfg))
		if e.cookie != "__Host-sessionid" {
			t.Fatalf("production cookie name %q, want __Host-sessionid", e.cookie)
		}
		checkCookieLifecycle(t, e,
			map[string]string{"path": "/", "secure": "", "httponly": "", "samesite": "Lax"},
			"domain")

		login := e.PostLogin(alice, alicePassword)
		if line := login.SetCookie("sessionid"); line != "" {
			t.Errorf("production also set a plain sessionid cookie: %q", line)
		}
		tok := cookieFrom(t, "login", login, e.cookie).value
		e.accepted("under __Host-sessionid", tok)
		api := e.Do("GET", "/api/me", nil, testkit.WithRawCookie("sessionid="+tok))
		testkit.WantStatus(t, "the token under the development name", api, http.StatusUnauthorized)
		if h := login.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(h, "max-age=") {
			t.Errorf("production lacks HSTS: %q", h)
		}
	})
}
