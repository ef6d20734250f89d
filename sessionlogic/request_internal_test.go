package sessionlogic

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"sessionmon/data"
)

// stubStore is a Store for a Manager whose store is never called.
type stubStore struct{ data.Store }

// TestResendCookieIsSetCookie: the guard's cached cookie re-send adds the
// very header http.SetCookie(w, m.Cookie(token)) adds, for every cookie
// setting, across Expires seconds (the cache's key), and after a Set-Cookie
// already in the header.
func TestResendCookieIsSetCookie(t *testing.T) {
	clock := time.Date(2026, 12, 1, 13, 0, 0, 999_000_000, time.UTC)
	opts := map[string]CookieOptions{
		"default":         DefaultCookieOptions(),
		"production":      {Name: "__Host-sessionid", Age: time.Hour, Secure: true, HTTPOnly: true, SameSite: http.SameSiteStrictMode, Path: "/"},
		"browser session": {Name: "sid", Age: time.Hour, BrowserSession: true, SameSite: http.SameSiteNoneMode, Secure: true},
		"domain and path": {Name: "s", Age: 90 * time.Second, Domain: "example.com", Path: "/app", SameSite: http.SameSiteDefaultMode},
		"bad domain":      {Name: "s", Age: time.Minute, Domain: "bad domain;", Path: "/a;b"},
		"invalid name":    {Name: "a b", Age: time.Minute},
	}
	tokens := []string{NewToken(), NewToken(), "short", strings.Repeat("a", tokenLen-1) + " ", ""}
	for name, o := range opts {
		t.Run(name, func(t *testing.T) {
			now := clock
			m, err := New(Options{Store: stubStore{}, Cookie: o, SaveEveryRequest: true, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			for _, step := range []time.Duration{0, time.Millisecond, 0, time.Second, 3 * time.Hour, -time.Hour} {
				now = now.Add(step)
				for _, tok := range tokens {
					for _, before := range [][]string{nil, {"other=1"}} {
						want := http.Header{}
						got := http.Header{}
						if before != nil {
							want["Set-Cookie"] = slices.Clone(before)
							got["Set-Cookie"] = slices.Clone(before)
						}
						http.SetCookie(headerOnly(want), m.Cookie(tok))
						m.resendCookie(headerOnly(got), tok)
						if !slices.Equal(got["Set-Cookie"], want["Set-Cookie"]) {
							t.Fatalf("at %v, token %q: got %q, want %q", now, tok, got["Set-Cookie"], want["Set-Cookie"])
						}
					}
				}
			}
		})
	}
}

type headerOnly http.Header

func (h headerOnly) Header() http.Header       { return http.Header(h) }
func (headerOnly) Write(p []byte) (int, error) { return len(p), nil }
func (headerOnly) WriteHeader(int)             {}

// TestTokenFromRequestIsRequestCookie: the fast path for a lone session
// cookie finds what http.Request.Cookie finds, and whether it is present,
// for every shape of Cookie header (it must hand over, not guess).
func TestTokenFromRequestIsRequestCookie(t *testing.T) {
	tok, other := NewToken(), NewToken()
	headers := [][]string{
		nil,
		{""},
		{"sessionid=" + tok},
		{"  sessionid=" + tok + "  "},
		{"sessionid =" + tok},
		{"sessionid= " + tok},
		{`sessionid="` + tok + `"`},
		{"sessionid=" + tok[:10]},
		{"sessionid=" + tok + "x"},
		{"sessionid="},
		{"sessionid"},
		{"sessionid=" + tok + ";"},
		{"sessionid=" + tok + "; sessionid=" + other},
		{"sessionid=bad\x01value; sessionid=" + other},
		{"a=1; sessionid=" + tok},
		{"sessionid=" + other, "sessionid=" + tok},
		{"Sessionid=" + tok},
		{"other=" + tok},
		{"sessionid=" + strings.Repeat("a", tokenLen-1) + "\x7f"},
	}
	for _, name := range []string{"sessionid", "a b", "__Host-sessionid"} {
		o := DefaultCookieOptions()
		o.Name = name
		m, err := New(Options{Store: stubStore{}, Cookie: o})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range headers {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, line := range h {
				r.Header.Add("Cookie", strings.ReplaceAll(line, "sessionid", name))
			}
			var want string
			c, err := r.Cookie(name)
			if err == nil {
				want = c.Value
			}
			got, present := m.tokenFromRequest(r)
			if got != want || present != (err == nil) {
				t.Errorf("cookie %q, header %q: got %q (present %v), want %q (present %v)", name, h, got, present, want, err == nil)
			}
		}
	}
}
