// Package config holds sessionmon's settings: safe defaults modelled on
// Django's session settings, each documented next to its default in one
// registry (see Keys), loaded in the order
//
//	defaults < config file (TOML) < environment (SESSIONMON_*) < flags
//
// and validated as a whole. It is a leaf: main loads a Config and hands plain
// values to constructors; no other package reads flags or the environment.
package config

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Config is the effective configuration. Each field names its key; the
// defaults and their documentation live in the registry (Keys, Default).
type Config struct {
	DB         string // db: SQLite path or PostgreSQL DSN
	Listen     string // listen: the login server's address
	Production bool   // production: Secure, __Host- prefixed cookies
	// AllowedHosts is allowed_hosts: the Host names the login server
	// answers to; nil is unset (loopback and the listen host). `serve`
	// refuses to start in production without it (CheckServe).
	AllowedHosts []string
	// TrustedOrigins is trusted_origins: origins accepted for cross-origin
	// POSTs although they differ from the Host (a proxy that rewrites it).
	TrustedOrigins []string

	// Source: whose sessions db holds: "sessionmon" (its own store) or
	// "django" (a Django site's django_session; see Django).
	Source string

	Session   Session
	Login     Login
	Dashboard Dashboard
	Log       Log
	Django    Django
}

// Session is the [session] table: the session cookie and session lifetime.
type Session struct {
	CookieName           string        // session.cookie_name; use Config.CookieName for the name to send
	CookieAge            time.Duration // session.cookie_age
	SaveEveryRequest     bool          // session.save_every_request
	ExpireAtBrowserClose bool          // session.expire_at_browser_close
	CookieHTTPOnly       bool          // session.cookie_httponly
	CookieSameSite       string        // session.cookie_samesite: "lax", "strict" or "none"; see Config.SameSite
	CookieSecure         *bool         // session.cookie_secure; nil follows Production; use Config.Secure
	CookieDomain         string        // session.cookie_domain
	CookiePath           string        // session.cookie_path
	IdleTimeout          time.Duration // session.idle_timeout; 0 is off
	AbsoluteTimeout      time.Duration // session.absolute_timeout; 0 is off
	TouchInterval        time.Duration // session.touch_interval; 0 writes on every request
	ExtendDefault        time.Duration // session.extend_default
	PurgeInterval        time.Duration // session.purge_interval
	PurgeRetention       time.Duration // session.purge_retention
}

// Login is the [login] table: throttling of failed logins.
type Login struct {
	MaxFailuresPerUserIP int           // login.max_failures_per_user_ip
	MaxFailuresPerUser   int           // login.max_failures_per_user
	MaxFailuresPerIP     int           // login.max_failures_per_ip
	FailureWindow        time.Duration // login.failure_window
	TrustProxyHeaders    bool          // login.trust_proxy_headers
}

// Dashboard is the [dashboard] table: the terminal dashboard.
type Dashboard struct {
	PollInterval time.Duration // dashboard.poll_interval
	Operator     string        // dashboard.operator; "" means the OS user (main resolves it)
	ReadOnly     bool          // dashboard.read_only
}

// Django is the [django] table: a Django site watched with source = "django".
// The site's SECRET_KEY itself is never a key: it is read from
// SecretKeyFile or the environment (data/django.LoadKeys).
type Django struct {
	SecretKeyFile string        // django.secret_key_file
	CookieAge     time.Duration // django.cookie_age
	Engine        string        // django.engine: "db" or "cached_db"
	AuditFile     string        // django.audit_file
}

// Log is the [log] table.
type Log struct {
	Level  string // log.level: "debug", "info", "warn" or "error"
	Format string // log.format: "text" or "json"
}

// hostPrefix is the cookie name prefix browsers only accept on a cookie that
// is Secure, has Path=/ and has no Domain (RFC 6265bis).
const hostPrefix = "__Host-"

// Default returns the defaults of every key (see Keys).
func Default() Config { return defaults }

// Secure reports whether the session cookie is sent with the Secure
// attribute: session.cookie_secure when set, else production.
func (c Config) Secure() bool {
	if c.Session.CookieSecure != nil {
		return *c.Session.CookieSecure
	}
	return c.Production
}

// CookieName is the name the session cookie is sent under: session.cookie_name,
// with the __Host- prefix in production.
func (c Config) CookieName() string {
	if c.Production {
		return hostPrefix + c.Session.CookieName
	}
	return c.Session.CookieName
}

// SameSite is session.cookie_samesite as an http.Cookie attribute.
func (c Config) SameSite() http.SameSite {
	switch c.Session.CookieSameSite {
	case "strict":
		return http.SameSiteStrictMode
	case "none":
		return http.SameSiteNoneMode
	default:
		return http.SameSiteLaxMode
	}
}

// Validate checks every value and the rules between them, as Load does. A
// Config built or changed in code should pass it before use.
func (c Config) Validate() error {
	var errs []error
	for _, f := range fields {
		if !f.valid(c) {
			v, _ := f.format(c)
			errs = append(errs, f.refuse(raw(v), ""))
		}
	}
	if len(errs) > 0 {
		return joinErrors(errs)
	}
	return c.crossCheck(nil)
}

// crossCheck enforces the rules between keys. from names where a key's value
// came from (for error messages); a missing entry is left out.
func (c Config) crossCheck(from map[string]string) error {
	s := c.Session
	var errs []error
	bad := func(key string, value any, format string, args ...any) {
		src := ""
		if from[key] != "" {
			src = " from " + from[key]
		}
		errs = append(errs, fmt.Errorf("%s: %s%s: %s", key, show(value, false), src, fmt.Sprintf(format, args...)))
	}
	if s.CookieSameSite == "none" && !c.Secure() {
		bad("session.cookie_samesite", s.CookieSameSite,
			"browsers refuse SameSite=None without Secure: set session.cookie_secure = true or production = true")
	}
	if c.Production {
		if s.CookieSecure != nil && !*s.CookieSecure {
			bad("session.cookie_secure", false,
				"production sends the cookie as %s%s, which must be Secure: remove session.cookie_secure or set it true", hostPrefix, s.CookieName)
		}
		if s.CookieDomain != "" {
			bad("session.cookie_domain", s.CookieDomain,
				"production sends the cookie as %s%s, which must have no Domain: leave session.cookie_domain empty", hostPrefix, s.CookieName)
		}
		if s.CookiePath != "/" {
			bad("session.cookie_path", s.CookiePath,
				"production sends the cookie as %s%s, which must have Path=/: set session.cookie_path = \"/\"", hostPrefix, s.CookieName)
		}
	}
	if s.IdleTimeout > 0 && s.AbsoluteTimeout > 0 && s.AbsoluteTimeout < s.IdleTimeout {
		bad("session.absolute_timeout", raw(formatDuration(s.AbsoluteTimeout)),
			"want at least session.idle_timeout (%s) when both are set", formatDuration(s.IdleTimeout))
	}
	// The username's ceiling counts failures from every address: at or
	// below the per-address limit, one client would lock the user out of
	// every other. Name the key that was set (the other may be a default).
	if l := c.Login; l.MaxFailuresPerUser <= l.MaxFailuresPerUserIP {
		const why = "one client could lock the user out of every address"
		if from["login.max_failures_per_user"] == "" && from["login.max_failures_per_user_ip"] != "" {
			bad("login.max_failures_per_user_ip", l.MaxFailuresPerUserIP,
				"want less than login.max_failures_per_user (%d), the ceiling for the username from all addresses; at or above it %s", l.MaxFailuresPerUser, why)
		} else {
			bad("login.max_failures_per_user", l.MaxFailuresPerUser,
				"want more than login.max_failures_per_user_ip (%d): this ceiling counts failures from all addresses, and at or below the per-address limit %s (default 100)", l.MaxFailuresPerUserIP, why)
		}
	}
	return joinErrors(errs)
}

// CheckServe checks what only the login server needs: in production,
// allowed_hosts must be set (the loopback default would refuse every real
// visitor, and guessing a public name is not safe). One line, naming the key.
func (c Config) CheckServe() error {
	if c.Production && len(c.AllowedHosts) == 0 {
		return errors.New(`allowed_hosts: not set: production needs the host names this server answers to, e.g. allowed_hosts = ["sessions.example.com"] in the config file, SESSIONMON_ALLOWED_HOSTS=sessions.example.com or --allowed-hosts sessions.example.com ("*" allows any host, behind a proxy that checks Host)`)
	}
	return nil
}

// joinErrors is errors.Join; one error is returned as itself.
func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
