package sessionlogic

import (
	"net/http"
	"time"
)

// CookieOptions are the session cookie's attributes (Django's SESSION_COOKIE_*).
type CookieOptions struct {
	Name string // "sessionid"; "__Host-sessionid" in production
	// Age is how long the browser keeps the cookie (SESSION_COOKIE_AGE).
	Age time.Duration
	// BrowserSession omits Max-Age and Expires so the browser drops the
	// cookie when it closes (SESSION_EXPIRE_AT_BROWSER_CLOSE). The server's
	// own expiry still applies.
	BrowserSession bool
	Secure         bool
	HTTPOnly       bool
	SameSite       http.SameSite
	Domain         string
	Path           string
}

// DefaultCookieOptions mirror Django's defaults for a development setup.
func DefaultCookieOptions() CookieOptions {
	return CookieOptions{
		Name:     "sessionid",
		Age:      14 * 24 * time.Hour,
		HTTPOnly: true,
		SameSite: http.SameSiteLaxMode,
		Path:     "/",
	}
}

// Cookie returns the session cookie carrying token, as sent at login and
// again on every authenticated request (so its Max-Age slides with the
// session, as Django does with SESSION_SAVE_EVERY_REQUEST).
func (m *Manager) Cookie(token string) *http.Cookie { return m.cookieAt(token, m.now()) }

// cookieAt is Cookie as of now.
func (m *Manager) cookieAt(token string, now time.Time) *http.Cookie {
	c := m.baseCookie()
	c.Value = token
	if !m.cookie.BrowserSession {
		c.MaxAge = int(m.cookie.Age / time.Second)
		c.Expires = now.Add(m.cookie.Age)
	}
	return c
}

// ClearCookie returns the deletion cookie: same name, path and domain, empty
// value, Max-Age=0 and an Expires in the past for old browsers.
func (m *Manager) ClearCookie() *http.Cookie {
	c := m.baseCookie()
	c.MaxAge = -1 // net/http writes Max-Age=0
	c.Expires = time.Unix(0, 0)
	return c
}

// CookieName is the name of the session cookie.
func (m *Manager) CookieName() string { return m.cookie.Name }

func (m *Manager) baseCookie() *http.Cookie {
	return &http.Cookie{
		Name:     m.cookie.Name,
		Path:     m.cookie.Path,
		Domain:   m.cookie.Domain,
		Secure:   m.cookie.Secure,
		HttpOnly: m.cookie.HTTPOnly,
		SameSite: m.cookie.SameSite,
	}
}

// tokenFromRequest returns the session cookie's value, or "" when absent.
func (m *Manager) tokenFromRequest(r *http.Request) (token string, present bool) {
	if t, ok := m.soleTokenCookie(r); ok {
		return t, true
	}
	c, err := r.Cookie(m.cookie.Name)
	if err != nil {
		return "", false
	}
	return c.Value, true
}
