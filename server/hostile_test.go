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
		"10 kB cookie":          e.sess(big),
		"10 kB of cookies":      withRawCookie(strings.Repeat("sessionid=x; ", 800)),
		"many session cookies":  withRawCookie("sessionid=a; sessionid=b; sessionid=" + sessionlogic.NewToken()),
		"token of wrong length": e.sess(sessionlogic.NewToken() + "A"),
		"sql":                   withRawCookie("sessionid='; DROP TABLE sessions; --"),
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
		cookies["random bytes "+strconv.Itoa(i)] = withRawCookie("sessionid=" + string(b))
	}
	for name, opt := range cookies {
		page := e.do("GET", "/", nil, opt)
		wantStatus(t, name+": GET /", page, http.StatusFound)
		wantStatus(t, name+": GET /api/me", e.do("GET", "/api/me", nil, opt), http.StatusUnauthorized)
		wantStatus(t, name+": POST /logout", e.do("POST", "/logout", url.Values{}, opt), http.StatusSeeOther)
		wantStatus(t, name+": GET /login", e.do("GET", "/login", nil, opt), http.StatusOK)
		// Login works whatever junk the browser sends along.
		r := e.do("POST", "/login", loginForm(alice, alicePassword, ""), opt)
		wantStatus(t, name+": POST /login", r, http.StatusSeeOther)
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
			if r.status >= 500 {
				t.Fatalf("random cookie %d on %s: status %d", i, target, r.status)
			}
		}
		req := httptest.NewRequest("POST", "/logout", nil)
		req.Header["Cookie"] = []string{string(b)}
		if r := e.serve(req); r.status != http.StatusSeeOther {
			t.Fatalf("random cookie header %d on POST /logout: status %d", i, r.status)
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
			r := e.do("POST", "/login", form)
			wantStatus(t, name, r, http.StatusBadRequest)
			if !strings.Contains(r.body, msgMissing) {
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
			if r.status != http.StatusBadRequest {
				t.Errorf("%s body: status %d, want 400", name, r.status)
			}
		}
		req := httptest.NewRequest("POST", "/login", strings.NewReader("username=%zz&password=%"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if r := e.serve(req); r.status != http.StatusBadRequest {
			t.Errorf("bad escapes: status %d, want 400", r.status)
		}
	})

	t.Run("huge body", func(t *testing.T) {
		// 1 MB through the handler directly: over the network the server
		// (rightly) stops reading and closes, which races the client's write.
		body := "username=alice&password=" + strings.Repeat("x", 1<<20)
		req := httptest.NewRequest("POST", "/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r := e.serve(req)
		wantStatus(t, "1 MB body", r, http.StatusRequestEntityTooLarge)
		if !strings.Contains(r.body, msgTooLarge) {
			t.Errorf("413 page lacks %q", msgTooLarge)
		}
		if strings.Contains(r.body, "xxxxxxxx") {
			t.Error("413 page echoes the body")
		}
	})

	t.Run("huge fields within the limit", func(t *testing.T) {
		long := strings.Repeat("u", 12<<10)
		for name, form := range map[string]url.Values{
			"long username": loginForm(long, alicePassword, ""),
			"long password": loginForm("bob", strings.Repeat("p", 12<<10), ""),
			"long next":     loginForm("carol", "wrong password", "/"+strings.Repeat("n", 12<<10)),
		} {
			r := e.do("POST", "/login", form)
			wantStatus(t, name, r, http.StatusUnauthorized)
			if strings.Contains(r.body, strings.Repeat("p", 200)) || strings.Contains(r.body, strings.Repeat("u", 200)) {
				t.Errorf("%s: the page echoes the oversized field", name)
			}
		}
	})

	t.Run("unknown user and wrong password look the same", func(t *testing.T) {
		const secret = "hunter2-not-the-password"
		unknown := e.do("POST", "/login", loginForm("mallory", secret, ""))
		wrong := e.do("POST", "/login", loginForm(alice, secret, ""))
		wantStatus(t, "unknown user", unknown, http.StatusUnauthorized)
		wantStatus(t, "wrong password", wrong, http.StatusUnauthorized)
		for name, r := range map[string]result{"unknown user": unknown, "wrong password": wrong} {
			if !strings.Contains(r.body, msgInvalid) {
				t.Errorf("%s: page lacks %q", name, msgInvalid)
			}
			if strings.Contains(r.body, secret) {
				t.Errorf("%s: the page echoes the password", name)
			}
			wantNoSessionCookie(t, name, r, "sessionid")
		}
		if a, b := strings.ReplaceAll(unknown.body, "mallory", alice), wrong.body; a != b {
			t.Errorf("the two pages differ beyond the username:\n%s\n---\n%s", a, b)
		}
	})

	t.Run("markup in the username is escaped", func(t *testing.T) {
		r := e.do("POST", "/login", loginForm(`"><script>alert(1)</script>`, "x", ""))
		wantStatus(t, "markup", r, http.StatusUnauthorized)
		if strings.Contains(r.body, "<script>") {
			t.Errorf("username was not escaped:\n%s", r.body)
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
		r := e.do("POST", "/login", loginForm(alice, alicePassword, next))
		wantStatus(t, "next="+next, r, http.StatusSeeOther)
		if loc := r.header.Get("Location"); loc != "/" {
			t.Errorf("next=%q: Location = %q, want /", next, loc)
		}
		form := e.do("GET", "/login?next="+url.QueryEscape(next), nil)
		if strings.Contains(form.body, "evil") {
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
		last = e.do("POST", "/login", loginForm(alice, "wrong password "+strconv.Itoa(i), ""))
		switch last.status {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			throttled++
		default:
			t.Fatalf("attempt %d: status %d", i, last.status)
		}
	}
	wantStatus(t, "20th wrong password", last, http.StatusTooManyRequests)
	if throttled < 10 {
		t.Errorf("only %d of 20 attempts were throttled", throttled)
	}
	secs, err := strconv.Atoi(last.header.Get("Retry-After"))
	if err != nil || secs <= 0 {
		t.Fatalf("Retry-After = %q, want seconds", last.header.Get("Retry-After"))
	}
	if !strings.Contains(last.body, "Too many failed attempts") {
		t.Errorf("429 page lacks its message:\n%s", last.body)
	}
	wantStatus(t, "right password while throttled", e.do("POST", "/login", loginForm(alice, alicePassword, "")), http.StatusTooManyRequests)

	// Waiting exactly Retry-After is enough.
	e.clock.Advance(time.Duration(secs) * time.Second)
	e.login(alice, alicePassword)

	// Per client IP: spraying many usernames from one address is throttled too.
	for i := range 25 {
		last = e.do("POST", "/login", loginForm("user"+strconv.Itoa(i), "wrong password", ""))
	}
	wantStatus(t, "25 usernames from one IP", last, http.StatusTooManyRequests)
}

// TestClientIP: X-Forwarded-For is believed only behind a trusted proxy;
// otherwise a client could pick its address and dodge the per-IP throttle.
func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := newEnv(t, envConfig{trustProxy: true})
	token := trusted.login(alice, alicePassword, withHeader("X-Forwarded-For", "203.0.113.7, 10.0.0.1"))
	if me := trusted.do("GET", "/api/me", nil, trusted.sess(token)); !strings.Contains(me.body, `"ip":"203.0.113.7"`) {
		t.Errorf("behind a trusted proxy /api/me = %s, want ip 203.0.113.7", me.body)
	}

	e := newEnv(t)
	token = e.login(alice, alicePassword, withHeader("X-Forwarded-For", "203.0.113.7"))
	if me := e.do("GET", "/api/me", nil, e.sess(token)); !strings.Contains(me.body, `"ip":"127.0.0.1"`) {
		t.Errorf("untrusted X-Forwarded-For was believed: %s", me.body)
	}
	var last result
	for i := range 25 {
		last = e.do("POST", "/login", loginForm("user"+strconv.Itoa(i), "wrong password", ""),
			withHeader("X-Forwarded-For", "198.51.100."+strconv.Itoa(i)))
	}
	wantStatus(t, "spraying with forged X-Forwarded-For", last, http.StatusTooManyRequests)
}

// TestCrossSitePostsRefused: CSRF. A POST that a browser made for another
// site is refused with 403 and has no effect; same-origin browser posts and
// non-browser clients (no Origin, no Sec-Fetch-Site) work.
func TestCrossSitePostsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := e.login(alice, alicePassword)
	host := strings.TrimPrefix(e.ts.URL, "http://")

	hostile := map[string][]reqOpt{
		"Sec-Fetch-Site cross-site": {withHeader("Sec-Fetch-Site", "cross-site")},
		"Sec-Fetch-Site same-site":  {withHeader("Sec-Fetch-Site", "same-site"), withHeader("Origin", "http://sub."+host)},
		"Origin of another host":    {withHeader("Origin", "https://evil.com")},
		"Origin null":               {withHeader("Origin", "null")},
		"both":                      {withHeader("Origin", "https://evil.com"), withHeader("Sec-Fetch-Site", "cross-site")},
	}
	for name, opts := range hostile {
		login := e.do("POST", "/login", loginForm(alice, alicePassword, ""), opts...)
		wantStatus(t, name+": POST /login", login, http.StatusForbidden)
		wantNoSessionCookie(t, name+": POST /login", login, "sessionid")

		logout := e.do("POST", "/logout", url.Values{}, append(opts, e.sess(token))...)
		wantStatus(t, name+": POST /logout", logout, http.StatusForbidden)
		wantNoSessionCookie(t, name+": POST /logout", logout, "sessionid")
		if logout.header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: the 403 lacks the security headers", name)
		}
	}
	// None of that logged alice out.
	wantStatus(t, "session after cross-site logouts", e.do("GET", "/api/me", nil, e.sess(token)), http.StatusOK)

	sameOrigin := []reqOpt{withHeader("Sec-Fetch-Site", "same-origin"), withHeader("Origin", e.ts.URL)}
	e.login(alice, alicePassword, sameOrigin...)
	e.login(alice, alicePassword, withHeader("Origin", e.ts.URL)) // an older browser: Origin only
	e.login(alice, alicePassword)                                 // curl
	r := e.do("POST", "/logout", url.Values{}, append(sameOrigin, e.sess(token))...)
	wantStatus(t, "same-origin logout", r, http.StatusSeeOther)
	wantStatus(t, "after same-origin logout", e.do("GET", "/api/me", nil, e.sess(token)), http.StatusUnauthorized)
}
