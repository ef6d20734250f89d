package security_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"sessionmon/internal/testkit"
)

// TestCrossSitePostsToLoginAndLogoutAreRefused: CSRF. A POST that a browser
// sends on another site's behalf (Sec-Fetch-Site: cross-site, or an Origin
// of another host) is refused with 403 and does nothing: no login (no
// cookie, no session row), no logout (the session lives on). The same POSTs
// marked same-origin work. (server/browser_test.go's TestBrowserLoginLogout
// shows a real Chromium's same-origin form posts pass.)
func TestCrossSitePostsToLoginAndLogoutAreRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, envOpts{})
		tok := e.Login(alice, alicePassword)
		sessions := count(t, e.raw, "SELECT count(*) FROM sessions")

		for what, opts := range map[string][]reqOpt{
			"Sec-Fetch-Site: cross-site":   {testkit.WithHeader("Sec-Fetch-Site", "cross-site")},
			"Origin: https://evil.example": {testkit.WithHeader("Origin", "https://evil.example")},
			"both":                         {testkit.WithHeader("Sec-Fetch-Site", "cross-site"), testkit.WithHeader("Origin", "https://evil.example")},
		} {
			login := e.PostLogin(alice, alicePassword, opts...)
			testkit.WantStatus(t, what+": POST /login", login, http.StatusForbidden)
			if c := login.SessionCookie(e.cookie); c != nil {
				t.Errorf("%s: refused login set a cookie: %v", what, c)
			}
			logout := e.Do("POST", "/logout", url.Values{}, append(opts, e.Sess(tok))...)
			testkit.WantStatus(t, what+": POST /logout", logout, http.StatusForbidden)
			if c := logout.SessionCookie(e.cookie); c != nil {
				t.Errorf("%s: refused logout touched the cookie: %v", what, c)
			}
			e.accepted(what+": the session after a cross-site logout", tok)
		}
		if n := count(t, e.raw, "SELECT count(*) FROM sessions"); n != sessions {
			t.Errorf("cross-site logins created %d session rows", n-sessions)
		}

		same := []reqOpt{testkit.WithHeader("Sec-Fetch-Site", "same-origin"), testkit.WithHeader("Origin", e.ts.URL)}
		login := e.PostLogin(alice, alicePassword, same...)
		testkit.WantStatus(t, "same-origin POST /login", login, http.StatusSeeOther)
		if c := login.SessionCookie(e.cookie); c == nil || c.Value == "" {
			t.Fatalf("same-origin login set no cookie")
		}
		logout := e.Do("POST", "/logout", url.Values{}, append(same, e.Sess(tok))...)
		testkit.WantStatus(t, "same-origin POST /logout", logout, http.StatusSeeOther)
		e.refused("after a same-origin logout", tok)
	})
}

// offsiteNexts are next values a browser could resolve to another host, or
// that run script, in raw and percent-encoded forms.
var offsiteNexts = []string{
	"//evil.example", "///evil.example", "https://evil.example", "http://evil.example/x",
	`/\evil.example`, `\\evil.example`, `\/evil.example`,
	"%2F%2Fevil.example", "/%2F%2Fevil.example", "/%2f/evil.example", "%5C%5Cevil.example", "/%5Cevil.example",
	"javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,<script>alert(1)</script>",
	"http:evil.example", "https:/evil.example", "//evil.example@good.example",
	"/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "\t//evil.example", " //evil.example",
}

// isLocal reports whether a Location stays on base's host, even for a
// lenient browser that drops tabs and newlines and reads '\' as '/', and
// even after a proxy percent-decodes it once.
func isLocal(loc string, base *url.URL) bool {
	lenient := strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/")
	if l := lenient.Replace(loc); !strings.HasPrefix(l, "/") || strings.HasPrefix(l, "//") || l != loc {
		return false
	}
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return false
	}
	if p, err := url.PathUnescape(u.EscapedPath()); err != nil || strings.HasPrefix(lenient.Replace(p), "//") {
		return false
	}
	r := base.ResolveReference(u)
	return r.Scheme == base.Scheme && r.Host == base.Host
}

// TestNextCannotRedirectOffSite: after a successful login the Location is
// always a path on this site, whatever next says (//host, schemes,
// backslashes, percent-encoded slashes and backslashes, control
// characters), whether next comes in the form body or the query string;
// the same holds for a logged-in visitor sent on from GET /login; and a
// hostile next is not carried into the login form.
func TestNextCannotRedirectOffSite(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, envOpts{})
		base, _ := url.Parse(e.ts.URL)
		check := func(what string, r result) {
			t.Helper()
			testkit.WantStatus(t, what, r, http.StatusSeeOther)
			if loc := r.Header.Get("Location"); !isLocal(loc, base) {
				t.Errorf("%s: Location %q leaves the site", what, loc)
			}
		}
		tok := e.Login(alice, alicePassword)
		for i, next := range offsiteNexts {
			form := testkit.LoginForm(alice, alicePassword, "")
			form.Set("next", next)
			check("POST /login next="+next, e.Do("POST", "/login", form))
			if i%4 == 0 { // the query-string path, on a sample (each login costs a bcrypt)
				check("POST /login?next="+next, e.Do("POST", "/login?next="+url.QueryEscape(next), testkit.LoginForm(alice, alicePassword, "")))
			}
			check("logged in, GET /login?next="+next, e.Do("GET", "/login?next="+url.QueryEscape(next), nil, e.Sess(tok)))

			page := e.Do("GET", "/login?next="+url.QueryEscape(next), nil)
			testkit.WantStatus(t, "GET /login?next="+next, page, http.StatusOK)
			if strings.Contains(page.Body, "evil") || strings.Contains(page.Body, "alert(") {
				t.Errorf("the login form carries next=%q", next)
			}
		}
		// A local next is honoured, so the refusals above are not a server
		// that ignores next altogether.
		form := testkit.LoginForm(alice, alicePassword, "")
		form.Set("next", "/api/me?x=1")
		r := e.Do("POST", "/login", form)
		testkit.WantStatus(t, "local next", r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != "/api/me?x=1" {
			t.Errorf("local next: Location %q, want /api/me?x=1", loc)
		}
	})
}

// TestIsLocalCatchesOffsiteLocations keeps the checker above honest: it
// must refuse every off-site form a server could emit.
func TestIsLocalCatchesOffsiteLocations(t *testing.T) {
	t.Parallel()
	base, _ := url.Parse("http://127.0.0.1:8080")
	for _, loc := range append([]string{"", "evil.example", "/\t/evil.example", "http://127.0.0.1:8081/"}, offsiteNexts...) {
		if isLocal(loc, base) {
			t.Errorf("isLocal(%q) = true", loc)
		}
	}
	for _, loc := range []string{"/", "/api/me?x=1", "/a/b#c", "http://127.0.0.1:8080/x"[len("http://127.0.0.1:8080"):]} {
		if !isLocal(loc, base) {
			t.Errorf("isLocal(%q) = false", loc)
		}
	}
}
