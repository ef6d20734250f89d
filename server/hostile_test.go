package server

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
)

// Hostile input is answered cleanly: a redirect, a 4xx with a message, never
// a 500 and never a panic (newEnv fails the test on any recovered panic).

func TestHostileCookies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(1, 2))

	big := strings.Repeat("A", 10<<10)
	cookies := map[string]reqOpt{
		"10 kB cookie":          e.Sess(big),
		"10 kB of cookies":      testkit.WithRawCookie(strings.Repeat("sessionid=x; ", 800)),
		"many session cookies":  testkit.WithRawCookie("sessionid=a; sessionid=b; sessionid=" + sessionlogic.NewToken()),
		"token of wrong length": e.Sess(sessionlogic.NewToken() + "A"),
		"sql":                   testkit.WithRawCookie("sessionid='; DROP TABLE sessions; --"),
	}
	for i := range 5 {
		// Random bytes a client can put in a header (no CTLs, no ';').
		b := make([]byte, 1+rng.IntN(300))
		for j := range b {
			c := byte(0x20 + rng.IntN(0xff-0x20))
			if c == 0x7f || c == ';' {
				c = 'x'
			}
			b[j] = c
		}
		cookies["random bytes "+strconv.Itoa(i)] = testkit.WithRawCookie("sessionid=" + string(b))
	}
	for name, opt := range cookies {
		page := e.Do("GET", "/", nil, opt)
		testkit.WantStatus(t, name+": GET /", page, http.StatusFound)
		testkit.WantStatus(t, name+": GET /api/me", e.Do("GET", "/api/me", nil, opt), http.StatusUnauthorized)
		testkit.WantStatus(t, name+": POST /logout", e.Do("POST", "/logout", url.Values{}, opt), http.StatusSeeOther)
		testkit.WantStatus(t, name+": GET /login", e.Do("GET", "/login", nil, opt), http.StatusOK)
		// Login works whatever junk the browser sends along.
		r := e.Do("POST", "/login", testkit.LoginForm(alice, alicePassword, ""), opt)
		testkit.WantStatus(t, name+": POST /login", r, http.StatusSeeOther)
	}

	// Any bytes at all, including the ones an HTTP client refuses to send,
	// straight into the handler.
	for i := range 50 {
		b := make([]byte, rng.IntN(2000))
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		for _, target := range []string{"/", "/api/me", "/login"} {
			req := httptest.NewRequest("GET", target, nil)
			req.Header.Set("Cookie", "sessionid="+string(b))
			r := e.serve(req)
			if r.Status >= 500 {
				t.Fatalf("random cookie %d on %s: status %d", i, target, r.Status)
			}
		}
		req := httptest.NewRequest("POST", "/logout", nil)
		req.Header["Cookie"] = []string{string(b)}
		if r := e.serve(req); r.Status != http.StatusSeeOther {
			t.Fatalf("random cookie header %d on POST /logout: status %d", i, r.Status)
		}
	}
}

func TestHostileLoginForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	t.Run("missing fields", func(t *testing.T) {
		for name, form := range map[string]url.Values{
			"empty":         {},
			"no password":   {"username": {alice}},
			"no username":   {"password": {alicePassword}},
			"blank":         {"username": {"   "}, "password": {alicePassword}},
			"empty values":  {"username": {""}, "password": {""}},
			"only next":     {"next": {"/"}},
			"repeated keys": {"username": {"", alice}, "password": {"", alicePassword}},
		} {
			r := e.Do("POST", "/login", form)
			testkit.WantStatus(t, name, r, http.StatusBadRequest)
			if !strings.Contains(r.Body, msgMissing) {
				t.Errorf("%s: page lacks %q", name, msgMissing)
			}
			wantNoSessionCookie(t, name, r, "sessionid")
		}
	})

	t.Run("not a form", func(t *testing.T) {
		for name, ct := range map[string]string{
			"json":      "application/json",
			"none":      "",
			"multipart": "multipart/form-data; boundary=x",
			"garbage":   "\x00\x01/\x02",
		} {
			req := httptest.NewRequest("POST", "/login", strings.NewReader(`{"username":"alice","password":"correct horse battery"}`))
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			r := e.serve(req)
			if r.Status != http.StatusBadRequest {
				t.Errorf("%s body: status %d, want 400", name, r.Status)
			}
		}
		req := httptest.NewRequest("POST", "/login", strings.NewReader("username=%zz&password=%"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if r := e.serve(req); r.Status != http.StatusBadRequest {
			t.Errorf("bad escapes: status %d, want 400", r.Status)
		}
	})

	t.Run("huge body", func(t *testing.T) {
		// 1 MB through the handler directly: over the network the server
		// (rightly) stops reading and closes, which races the client's write.
		body := "username=alice&password=" + strings.Repeat("x", 1<<20)
		req := httptest.NewRequest("POST", "/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r := e.serve(req)
		testkit.WantStatus(t, "1 MB body", r, http.StatusRequestEntityTooLarge)
		if !strings.Contains(r.Body, msgTooLarge) {
			t.Errorf("413 page lacks %q", msgTooLarge)
		}
		if strings.Contains(r.Body, "xxxxxxxx") {
			t.Error("413 page echoes the body")
		}
	})

	t.Run("huge fields within the limit", func(t *testing.T) {
		long := strings.Repeat("u", 12<<10)
		for name, form := range map[string]url.Values{
			"long username": testkit.LoginForm(long, alicePassword, ""),
			"long password": testkit.LoginForm("bob", strings.Repeat("p", 12<<10), ""),
			"long next":     testkit.LoginForm("carol", "wrong password", "/"+strings.Repeat("n", 12<<10)),
		} {
			r := e.Do("POST", "/login", form)
			testkit.WantStatus(t, name, r, http.StatusUnauthorized)
			if strings.Contains(r.Body, strings.Repeat("p", 200)) || strings.Contains(r.Body, strings.Repeat("u", 200)) {
				t.Errorf("%s: the page echoes the oversized field", name)
			}
		}
	})

	t.Run("unknown user and wrong password look the same", func(t *testing.T) {
		const secret = "hunter2-not-the-password"
		unknown := e.Do("POST", "/login", testkit.LoginForm("mallory", secret, ""))
		wrong := e.Do("POST", "/login", testkit.LoginForm(alice, secret, ""))
		testkit.WantStatus(t, "unknown user", unknown, http.StatusUnauthorized)
		testkit.WantStatus(t, "wrong password", wrong, http.StatusUnauthorized)
		for name, r := range map[string]result{"unknown user": unknown, "wrong password": wrong} {
			if !strings.Contains(r.Body, msgInvalid) {
				t.Errorf("%s: page lacks %q", name, msgInvalid)
			}
			if strings.Contains(r.Body, secret) {
				t.Errorf("%s: the page echoes the password", name)
			}
			wantNoSessionCookie(t, name, r, "sessionid")
		}
		if a, b := strings.ReplaceAll(unknown.Body, "mallory", alice), wrong.Body; a != b {
			t.Errorf("the two pages differ beyond the username:\n%s\n---\n%s", a, b)
		}
	})

	t.Run("markup in the username is escaped", func(t *testing.T) {
		r := e.Do("POST", "/login", testkit.LoginForm(`"><script>alert(1)</script>`, "x", ""))
		testkit.WantStatus(t, "markup", r, http.StatusUnauthorized)
		if strings.Contains(r.Body, "<script>") {
			t.Errorf("username was not escaped:\n%s", r.Body)
		}
	})
}

// TestOffsiteNextIgnored: next can only send the browser somewhere on this
// site; anything else lands on /.
func TestOffsiteNextIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, next := range []string{
		"//evil.com", "https://evil.com", "http://evil.com/", `/\evil.com`, `\\evil.com`,
		"%2F%2Fevil.com", "/%2F/evil.com", "/%5Cevil.com", "javascript:alert(1)", "evil.com",
		"///evil.com", "/\t/evil.com", " //evil.com", "https:evil.com", "//evil.com@x",
	} {
		r := e.Do("POST", "/login", testkit.LoginForm(alice, alicePassword, next))
		testkit.WantStatus(t, "next="+next, r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != "/" {
			t.Errorf("next=%q: Location = %q, want /", next, loc)
		}
		form := e.Do("GET", "/login?next="+url.QueryEscape(next), nil)
		if strings.Contains(form.Body, "evil") {
			t.Errorf("next=%q is carried in the form", next)
		}
	}
}

// Throttle: repeated wrong passwords get 429 with Retry-After, the right
// password is refused too while throttled (no oracle), and the lock lifts
// by itself.
func scenarioThrottle(t *testing.T, cfg envConfig) {
	e := newEnv(t, cfg)
	var last result
	throttled := 0
	for i := range 20 {
		last = e.Do("POST", "/login", testkit.LoginForm(alice, "wrong password "+strconv.Itoa(i), ""))
		switch last.Status {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			throttled++
		default:
			t.Fatalf("attempt %d: status %d", i, last.Status)
		}
	}
	testkit.WantStatus(t, "20th wrong password", last, http.StatusTooManyRequests)
	if throttled < 10 {
		t.Errorf("only %d of 20 attempts were throttled", throttled)
	}
	secs, err := strconv.Atoi(last.Header.Get("Retry-After"))
	if err != nil || secs <= 0 {
		t.Fatalf("Retry-After = %q, want seconds", last.Header.Get("Retry-After"))
	}
	if !strings.Contains(last.Body, "Too many failed attempts") {
		t.Errorf("429 page lacks its message:\n%s", last.Body)
	}
	testkit.WantStatus(t, "right password while throttled", e.Do("POST", "/login", testkit.LoginForm(alice, alicePassword, "")), http.StatusTooManyRequests)

	// Waiting exactly Retry-After is enough.
	e.clock.Advance(time.Duration(secs) * time.Second)
	e.Login(alice, alicePassword)

	// Per client IP: spraying many usernames from one address is throttled too.
	for i := range 25 {
		last = e.Do("POST", "/login", testkit.LoginForm("user"+strconv.Itoa(i), "wrong password", ""))
	}
	testkit.WantStatus(t, "25 usernames from one IP", last, http.StatusTooManyRequests)
}

// TestClientIP: X-Forwarded-For is believed only behind a trusted proxy;
// otherwise a client could pick its address and dodge the per-IP throttle.
func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := newEnv(t, envConfig{trustProxy: true})
	token := trusted.Login(alice, alicePassword, testkit.WithHeader("X-Forwarded-For", "203.0.113.7, 10.0.0.1"))
	if me := trusted.Do("GET", "/api/me", nil, trusted.Sess(token)); !strings.Contains(me.Body, `"ip":"203.0.113.7"`) {
		t.Errorf("behind a trusted proxy /api/me = %s, want ip 203.0.113.7", me.Body)
	}

	e := newEnv(t)
	token = e.Login(alice, alicePassword, testkit.WithHeader("X-Forwarded-For", "203.0.113.7"))
	if me := e.Do("GET", "/api/me", nil, e.Sess(token)); !strings.Contains(me.Body, `"ip":"127.0.0.1"`) {
		t.Errorf("untrusted X-Forwarded-For was believed: %s", me.Body)
	}
	var last result
	for i := range 25 {
		last = e.Do("POST", "/login", testkit.LoginForm("user"+strconv.Itoa(i), "wrong password", ""),
			testkit.WithHeader("X-Forwarded-For", "198.51.100."+strconv.Itoa(i)))
	}
	testkit.WantStatus(t, "spraying with forged X-Forwarded-For", last, http.StatusTooManyRequests)
}

// TestCrossSitePostsRefused: CSRF. A POST that a browser made for another
// site is refused with 403 and has no effect; same-origin browser posts and
// non-browser clients (no Origin, no Sec-Fetch-Site) work.
func TestCrossSitePostsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := e.Login(alice, alicePassword)
	host := strings.TrimPrefix(e.ts.URL, "http://")

	hostile := map[string][]reqOpt{
		"Sec-Fetch-Site cross-site": {testkit.WithHeader("Sec-Fetch-Site", "cross-site")},
		"Sec-Fetch-Site same-site":  {testkit.WithHeader("Sec-Fetch-Site", "same-site"), testkit.WithHeader("Origin", "http://sub."+host)},
		"Origin of another host":    {testkit.WithHeader("Origin", "https://evil.com")},
		"Origin null":               {testkit.WithHeader("Origin", "null")},
		"both":                      {testkit.WithHeader("Origin", "https://evil.com"), testkit.WithHeader("Sec-Fetch-Site", "cross-site")},
	}
	for name, opts := range hostile {
		login := e.Do("POST", "/login", testkit.LoginForm(alice, alicePassword, ""), opts...)
		testkit.WantStatus(t, name+": POST /login", login, http.StatusForbidden)
		wantNoSessionCookie(t, name+": POST /login", login, "sessionid")

		logout := e.Do("POST", "/logout", url.Values{}, append(opts, e.Sess(token))...)
		testkit.WantStatus(t, name+": POST /logout", logout, http.StatusForbidden)
		wantNoSessionCookie(t, name+": POST /logout", logout, "sessionid")
		if logout.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: the 403 lacks the security headers", name)
		}
	}
	// None of that logged alice out.
	testkit.WantStatus(t, "session after cross-site logouts", e.Do("GET", "/api/me", nil, e.Sess(token)), http.StatusOK)

	sameOrigin := []reqOpt{testkit.WithHeader("Sec-Fetch-Site", "same-origin"), testkit.WithHeader("Origin", e.ts.URL)}
	e.Login(alice, alicePassword, sameOrigin...)
	e.Login(alice, alicePassword, testkit.WithHeader("Origin", e.ts.URL)) // an older browser: Origin only
	e.Login(alice, alicePassword)                                         // curl
	r := e.Do("POST", "/logout", url.Values{}, append(sameOrigin, e.Sess(token))...)
	testkit.WantStatus(t, "same-origin logout", r, http.StatusSeeOther)
	testkit.WantStatus(t, "after same-origin logout", e.Do("GET", "/api/me", nil, e.Sess(token)), http.StatusUnauthorized)
}
