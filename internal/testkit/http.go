package testkit

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Result is a finished response with its body read.
type Result struct {
	Status int
	Header http.Header
	Body   string
	Resp   *http.Response
}

// SetCookie returns the Set-Cookie header line for the cookie name, or "".
func (r Result) SetCookie(name string) string {
	for _, v := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, name+"=") {
			return v
		}
	}
	return ""
}

// SessionCookie returns the parsed cookie name the response set, or nil.
func (r Result) SessionCookie(name string) *http.Cookie {
	for _, c := range r.Resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// ReqOpt adjusts a request before it is sent.
type ReqOpt func(*http.Request)

// WithHeader sets a request header.
func WithHeader(k, v string) ReqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

// WithRawCookie sets the Cookie header verbatim (no validation of the value).
func WithRawCookie(raw string) ReqOpt {
	return func(r *http.Request) { r.Header.Set("Cookie", raw) }
}

// Client sends requests to one test server. It shows redirects instead of
// following them and keeps no cookies: every request says exactly which
// cookie it carries.
type Client struct {
	T      testing.TB
	URL    string // the server's base URL
	Cookie string // the session cookie's name
	HTTP   *http.Client
}

// NewClient is a Client for the server at base whose session cookie is
// called cookie; timeout bounds each request.
func NewClient(t testing.TB, base, cookie string, timeout time.Duration) *Client {
	return &Client{T: t, URL: base, Cookie: cookie, HTTP: &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Sess sends token as the session cookie, verbatim.
func (c *Client) Sess(token string) ReqOpt { return WithRawCookie(c.Cookie + "=" + token) }

// Do sends a request; a non-nil form is sent as an url-encoded body.
func (c *Client) Do(method, path string, form url.Values, opts ...ReqOpt) Result {
	c.T.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.URL+path, body)
	if err != nil {
		c.T.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, o := range opts {
		o(req)
	}
	return c.Send(req)
}

// Send sends req and reads the whole answer.
func (c *Client) Send(req *http.Request) Result {
	c.T.Helper()
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.T.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.T.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return Result{Status: resp.StatusCode, Header: resp.Header, Body: string(b), Resp: resp}
}

// LoginForm is the login form's fields; next is left out when empty.
func LoginForm(username, password, next string) url.Values {
	v := url.Values{"username": {username}, "password": {password}}
	if next != "" {
		v.Set("next", next)
	}
	return v
}

// PostLogin posts the login form.
func (c *Client) PostLogin(username, password string, opts ...ReqOpt) Result {
	c.T.Helper()
	return c.Do("POST", "/login", LoginForm(username, password, ""), opts...)
}

// Login logs in and returns the new session token (the cookie's value);
// anything but a 303 with the session cookie fails the test.
func (c *Client) Login(username, password string, opts ...ReqOpt) string {
	c.T.Helper()
	r := c.PostLogin(username, password, opts...)
	if r.Status != http.StatusSeeOther {
		c.T.Fatalf("login %s: status %d, want 303; body:\n%s", username, r.Status, Clip(r.Body, 1500))
	}
	ck := r.SessionCookie(c.Cookie)
	if ck == nil || ck.Value == "" {
		c.T.Fatalf("login %s: no %s cookie in %q", username, c.Cookie, r.Header.Values("Set-Cookie"))
	}
	return ck.Value
}

// WantStatus fails the test unless r has status want.
func WantStatus(t testing.TB, what string, r Result, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: status %d, want %d; headers %v; body:\n%s", what, r.Status, want, r.Header, Clip(r.Body, 2000))
	}
}

// Clip cuts s to n bytes for a message.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// WantDeletionCookie fails the test unless r deletes the cookie name
// (name=; Max-Age=0).
func WantDeletionCookie(t testing.TB, what string, r Result, name string) {
	t.Helper()
	sc := r.SetCookie(name)
	if sc == "" || !strings.HasPrefix(sc, name+"=;") || !strings.Contains(sc, "Max-Age=0") {
		t.Fatalf("%s: want a deletion cookie (%s=; Max-Age=0), got Set-Cookie %q", what, name, r.Header.Values("Set-Cookie"))
	}
}
