package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"sessionmon/internal/testkit"
)

// hostEnv is a testEnv whose server allows hosts (nil: the default,
// LoopbackHosts) and trusts origins.
func hostEnv(t *testing.T, hosts, origins []string) *testEnv {
	t.Helper()
	e := newEnv(t)
	srv, err := New(Options{Manager: e.mgr, Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
		AllowedHosts: hosts, TrustedOrigins: origins})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.ts.Config.Handler = srv.Handler()
	return e
}

// withHost sends the request with this Host header, as a browser does for
// a name a DNS rebinding page pointed at this machine.
func withHost(h string) reqOpt { return func(r *http.Request) { r.Host = h } }

// TestHostileHostIsRefusedOnEveryRoute: with any Host but the allowed ones
// every route answers 400, plain text, before a handler or the store sees
// the request: a rebinding page can neither log in, nor read /metrics or
// /api/me with the victim's cookie. The health checks are exempt (load
// balancers probe by IP; their answer reveals nothing).
func TestHostileHostIsRefusedOnEveryRoute(t *testing.T) {
	e := hostEnv(t, nil, nil)
	token := e.Login(alice, alicePassword)
	for _, host := range []string{"evil.example", "evil.example:80", "rebind.attacker.test:" + e.ts.URL[strings.LastIndex(e.ts.URL, ":")+1:],
		"localhost.evil.example", "127.0.0.1.evil.example", "example.com:abc", "a b", "[::1", "::1", "_bad_", "."} {
		for _, rt := range []struct {
			method, path string
		}{
			{"GET", "/login"}, {"POST", "/login"}, {"POST", "/logout"}, {"GET", "/"}, {"GET", "/api/me"},
			{"GET", "/metrics"}, {"GET", "/static/style.css"}, {"GET", "/nothing-here"},
		} {
			var r result
			if rt.method == "POST" && rt.path == "/login" {
				r = e.Do("POST", "/login", testkit.LoginForm(alice, alicePassword, ""), withHost(host))
			} else {
				r = e.Do(rt.method, rt.path, nil, withHost(host), e.Sess(token))
			}
			what := rt.method + " " + rt.path + " with Host " + host
			testkit.WantStatus(t, what, r, http.StatusBadRequest)
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("%s: Content-Type %q, want plain text", what, ct)
			}
			if strings.Contains(r.Body, "goroutine") || strings.Contains(r.Body, ".go:") || r.Header.Get("Set-Cookie") != "" {
				t.Errorf("%s: body %q, Set-Cookie %q", what, r.Body, r.Header.Values("Set-Cookie"))
			}
			if r.Header.Get("X-Frame-Options") == "" {
				t.Errorf("%s: a refusal without the security headers", what)
			}
		}
		for _, path := range []string{"/healthz", "/livez"} {
			testkit.WantStatus(t, path+" with Host "+host, e.Do("GET", path, nil, withHost(host)), http.StatusOK)
		}
	}
	// Nothing got through: the one session alice has is the test's own.
	if n := activeSessions(t, e); n != 1 {
		t.Errorf("%d active sessions after the hostile logins, want 1", n)
	}
	// One warning line at once, not one per request.
	if n := strings.Count(e.logs.String(), "Host not in allowed_hosts"); n != 1 {
		t.Errorf("%d log lines for the refused hosts, want 1 (then one per %s):\n%s", n, hostRefusalLogEvery, e.logs.String())
	}
}

func activeSessions(t *testing.T, e *testEnv) int {
	t.Helper()
	st, err := e.mgr.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(st.Active)
}

// TestAllowedHostsAreServed: the default loopback names (any port,
// subdomains of localhost, a trailing dot, any case), and Django's
// patterns when configured.
func TestAllowedHostsAreServed(t *testing.T) {
	e := hostEnv(t, nil, nil)
	for _, h := range []string{"localhost", "LOCALHOST:8080", "localhost.", "app.localhost:1234", "127.0.0.1", "127.0.0.1:9", "[::1]", "[::1]:8080"} {
		testkit.WantStatus(t, "GET /login with Host "+h, e.Do("GET", "/login", nil, withHost(h)), http.StatusOK)
	}

	e = hostEnv(t, []string{"sessions.example.com", ".example.org", "10.0.0.5", "[fd00::1]"}, nil)
	for h, want := range map[string]int{
		"sessions.example.com":       200,
		"Sessions.Example.COM:443":   200,
		"example.org":                200,
		"deep.sub.example.org:8443":  200,
		"10.0.0.5:8080":              200,
		"[fd00::1]:8080":             200,
		"other.example.com":          400,
		"evilexample.org":            400,
		"example.org.evil.test":      400,
		"localhost":                  400, // configured: the default no longer applies
		"127.0.0.1":                  400,
		"sessions.example.com.evil.": 400,
	} {
		testkit.WantStatus(t, "GET /login with Host "+h, e.Do("GET", "/login", nil, withHost(h)), want)
	}
	e.Login(alice, alicePassword, withHost("sessions.example.com"))

	e = hostEnv(t, []string{"*"}, nil)
	testkit.WantStatus(t, `GET /login with allowed_hosts "*"`, e.Do("GET", "/login", nil, withHost("anything.test")), http.StatusOK)
	testkit.WantStatus(t, `GET /login with allowed_hosts "*", malformed Host`, e.Do("GET", "/login", nil, withHost("a b")), http.StatusBadRequest)
}

func TestBadAllowedHostsAndOriginsAreRefused(t *testing.T) {
	e := newEnv(t)
	for _, o := range []Options{
		{AllowedHosts: []string{"example.com:8080"}},
		{AllowedHosts: []string{"http://example.com"}},
		{AllowedHosts: []string{"*.example.com"}},
		{TrustedOrigins: []string{"example.com"}},
		{TrustedOrigins: []string{"https://example.com/path"}},
	} {
		o.Manager = e.mgr
		if _, err := New(o); err == nil || !strings.HasPrefix(err.Error(), "server: ") {
			t.Errorf("New(%q, %q): %v, want a refusal", o.AllowedHosts, o.TrustedOrigins, err)
		}
	}
}

// TestSameOriginCheckBehindAProxyThatRewritesHost: a browser without
// Sec-Fetch-Site is checked by comparing Origin with Host. Behind a proxy
// that rewrites Host to its backend's name, the real site's own login post
// fails that comparison (403) unless the public origin is trusted; a
// foreign origin stays refused either way.
func TestSameOriginCheckBehindAProxyThatRewritesHost(t *testing.T) {
	const public, backend = "https://sessions.example.com", "backend:8080"
	post := func(e *testEnv, origin string) result {
		return e.Do("POST", "/login", testkit.LoginForm(alice, alicePassword, ""), withHost(backend), testkit.WithHeader("Origin", origin))
	}
	e := hostEnv(t, []string{"backend"}, nil)
	testkit.WantStatus(t, "same-site post through the proxy, origin not trusted", post(e, public), http.StatusForbidden)

	e = hostEnv(t, []string{"backend"}, []string{"HTTPS://sessions.example.com:443"})
	testkit.WantStatus(t, "same-site post through the proxy, origin trusted", post(e, public), http.StatusSeeOther)
	testkit.WantStatus(t, "foreign origin", post(e, "https://evil.example"), http.StatusForbidden)
	// Modern browsers say same-origin themselves, trusted or not.
	e = hostEnv(t, []string{"backend"}, nil)
	r := e.Do("POST", "/login", testkit.LoginForm(alice, alicePassword, ""), withHost(backend),
		testkit.WithHeader("Origin", public), testkit.WithHeader("Sec-Fetch-Site", "same-origin"))
	testkit.WantStatus(t, "Sec-Fetch-Site: same-origin through the proxy", r, http.StatusSeeOther)
}

func TestDefaultAllowedHosts(t *testing.T) {
	for listen, want := range map[string][]string{
		"127.0.0.1:8080":         nil,
		"localhost:8080":         {"localhost"},
		"10.1.2.3:8080":          {"10.1.2.3"},
		"[fd00::7]:8080":         {"[fd00::7]"},
		"Sessions.Internal:8080": {"sessions.internal"},
	} {
		got := DefaultAllowedHosts(listen)
		if !slices.Equal(got[:len(LoopbackHosts)], LoopbackHosts) || !slices.Equal(got[len(LoopbackHosts):], want) {
			// 127.0.0.1 is already a loopback name, so nothing is added.
			if !(listen == "127.0.0.1:8080" && slices.Equal(got, append(append([]string(nil), LoopbackHosts...), "127.0.0.1"))) {
				t.Errorf("DefaultAllowedHosts(%q) = %q, want %q + %q", listen, got, LoopbackHosts, want)
			}
		}
	}
	// Every interface: this machine's addresses are served.
	all := DefaultAllowedHosts(":8080")
	if !slices.Contains(all, "127.0.0.1") || len(all) <= len(LoopbackHosts) {
		t.Errorf(`DefaultAllowedHosts(":8080") = %q, want the loopback names and this machine's addresses`, all)
	}
	if _, err := newHostPolicy(all); err != nil {
		t.Fatalf("the default for :8080 is not a valid policy: %v", err)
	}
}

// A request straight to the handler (no network) with no Host at all, as
// HTTP/1.0 allows, is refused too.
func TestEmptyHostIsRefused(t *testing.T) {
	e := hostEnv(t, nil, nil)
	req := httptest.NewRequest("GET", "/login", nil)
	req.Host = ""
	testkit.WantStatus(t, "GET /login without Host", e.serve(req), http.StatusBadRequest)
}
