package config

import (
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Key describes one setting, for registering flags and writing help.
type Key struct {
	Name    string // TOML key within its table, dotted ("session.cookie_age"); the key of LoadOptions.Flags
	Env     string // environment variable ("SESSIONMON_SESSION_COOKIE_AGE")
	Type    string // "string", "bool", "int" or "duration"
	Default string // the default as flag or environment text ("336h"); "" for an unset session.cookie_secure
	Doc     string // what the key means, one paragraph
}

// Keys lists every key in file order.
func Keys() []Key {
	keys := make([]Key, len(fields))
	for i, f := range fields {
		keys[i] = f.Key
	}
	return keys
}

// tables are the TOML tables, in file order, with what each holds.
var tables = []struct{ name, doc string }{
	{"session", "The session cookie and how long sessions live (Django's SESSION_* settings)."},
	{"login", "Throttling of failed logins."},
	{"dashboard", "The terminal dashboard (sessionmon watch)."},
	{"log", "Logging."},
	{"django", `A Django site's sessions, watched with source = "django".`},
}

// fields is the registry: the one place a key's name, default, parser,
// limits and documentation are written. Loading, flags, validation, the
// printed configuration and sessionmon.example.toml all come from it.
var fields = []field{
	key("db", "sessionmon.db", func(c *Config) *string { return &c.DB },
		stringKind(`an SQLite file path or a PostgreSQL DSN (postgres://...)`, notEmpty),
		`Where users, sessions and the audit trail are stored. An SQLite file path (or sqlite:PATH) needs nothing installed; "sessionmon migrate", serve and demo create the file, other commands refuse a path that does not exist. A PostgreSQL DSN, as a URL (postgres://user:password@host:5432/dbname, scheme in any case) or in keyword/value form (host=... dbname=...), lets many login servers and dashboards share one store. Any other scheme (mysql://...) is refused.`).secret(),
	key("source", "sessionmon", func(c *Config) *string { return &c.Source },
		enumKind("sessionmon", "django"),
		`Whose sessions db holds: "sessionmon" (its own store, made by serve and migrate) or "django" (an existing Django site's django_session table, on PostgreSQL or in the site's SQLite file; watch, sessions and migrate only). See the [django] keys.`),
	key("listen", "127.0.0.1:8080", func(c *Config) *string { return &c.Listen },
		stringKind(`host:port, like "127.0.0.1:8080" or ":8080"`, hostPort),
		`Address the login server listens on. The default accepts connections from this machine only; ":8080" listens on every interface.`),
	key("production", "false", func(c *Config) *bool { return &c.Production }, boolKind,
		`Production mode. The session cookie is sent Secure and named with the __Host- prefix ("__Host-sessionid"), which browsers accept only on a Secure cookie with Path=/ and no Domain; so production refuses session.cookie_secure = false, a session.cookie_domain and any session.cookie_path but "/".`),

	key("allowed_hosts", "", func(c *Config) *[]string { return &c.AllowedHosts },
		listKind(`host names: "sessions.example.com", ".example.com" (the domain and every subdomain), an IP address ("10.0.0.5", "[::1]"), or "*" for any`, hostPattern),
		`The host names the login server answers to (Django: ALLOWED_HOSTS). A request whose Host header names another host gets 400, so a hostile web page cannot reach the server through DNS rebinding (a name of its own that it points at this machine) to post a login or read /metrics. A name with a leading dot matches that domain and every subdomain; "*" allows any host (only behind a proxy that checks Host itself). Ports are ignored. Unset, the server answers to loopback names (localhost and its subdomains, 127.0.0.1, [::1]) and the host "listen" binds to (every local address when it binds all interfaces); "sessionmon serve" refuses to start in production unless it is set. /healthz and /livez answer whatever the Host, since load balancers probe by IP. Behind a proxy that rewrites Host, list the name the proxy sends.`).
		whenUnset(func(Config) string { return `[]  # unset: loopback names and the listen host; production must set it` }),
	key("trusted_origins", "", func(c *Config) *[]string { return &c.TrustedOrigins },
		listKind(`origins like "https://sessions.example.com" (http or https, a host, an optional port; no path, not even "/")`, origin),
		`Origins whose cross-origin POSTs (login, logout) are accepted although they differ from the Host the server sees (Django: CSRF_TRUSTED_ORIGINS). Browsers that send Sec-Fetch-Site need nothing here. Older ones are checked by comparing Origin with Host, which fails behind a proxy that rewrites Host (the browser's Origin is "https://sessions.example.com", the server sees "backend:8080"): list the public origin here.`).
		whenUnset(func(Config) string { return `[]` }),

	key("session.cookie_name", "sessionid", func(c *Config) *string { return &c.Session.CookieName },
		stringKind("a cookie name of letters, digits and !#$%&'*+-.^_`|~, without a __Host- or __Secure- prefix", cookieName),
		`Name of the session cookie (Django: SESSION_COOKIE_NAME). In production it is sent as "__Host-" followed by this name.`),
	key("session.cookie_age", "336h", func(c *Config) *time.Duration { return &c.Session.CookieAge },
		durationKind(time.Second, 0),
		`How long a session lives after it was last saved, and the cookie's Max-Age (Django: SESSION_COOKIE_AGE, 1209600 seconds, two weeks). A Go duration ("336h") or whole seconds (1209600).`),
	key("session.save_every_request", "true", func(c *Config) *bool { return &c.Session.SaveEveryRequest }, boolKind,
		`Save the session on every authenticated request (Django: SESSION_SAVE_EVERY_REQUEST): each request records the last activity and moves the expiry to cookie_age from now. When false, a session expires cookie_age after login unless extended.`),
	key("session.expire_at_browser_close", "false", func(c *Config) *bool { return &c.Session.ExpireAtBrowserClose }, boolKind,
		`Send the session cookie without Max-Age or Expires, so the browser forgets it when it closes (Django: SESSION_EXPIRE_AT_BROWSER_CLOSE). The server-side expiry still applies.`),
	key("session.cookie_httponly", "true", func(c *Config) *bool { return &c.Session.CookieHTTPOnly }, boolKind,
		`Hide the session cookie from JavaScript (Django: SESSION_COOKIE_HTTPONLY). Leave it on: no script needs to read a session token.`),
	key("session.cookie_samesite", "lax", func(c *Config) *string { return &c.Session.CookieSameSite },
		enumKind("lax", "strict", "none"),
		`SameSite attribute of the session cookie: lax, strict or none (Django: SESSION_COOKIE_SAMESITE). Lax sends the cookie on top-level navigation from other sites but not on their subrequests or POSTs; strict never sends it cross-site; none sends it everywhere and requires a Secure cookie.`),
	key("session.cookie_secure", "", func(c *Config) **bool { return &c.Session.CookieSecure }, optBoolKind,
		`Send the session cookie over HTTPS only (Django: SESSION_COOKIE_SECURE). Unset, it follows production: false in development, true in production, where false is refused.`).
		whenUnset(func(c Config) string { return strconv.FormatBool(c.Secure()) + "  # unset: follows production" }),
	key("session.cookie_domain", "", func(c *Config) *string { return &c.Session.CookieDomain },
		stringKind(`empty, or a domain like "example.com"`, cookieDomain),
		`Domain attribute of the session cookie (Django: SESSION_COOKIE_DOMAIN). Empty sends the cookie back only to the host that set it; a domain such as "example.com" shares it with every subdomain. Must be empty in production.`),
	key("session.cookie_path", "/", func(c *Config) *string { return &c.Session.CookiePath },
		stringKind(`a path starting with "/", without ";" or spaces`, cookiePath),
		`Path attribute of the session cookie (Django: SESSION_COOKIE_PATH). Must be "/" in production.`),
	key("session.idle_timeout", "0", func(c *Config) *time.Duration { return &c.Session.IdleTimeout },
		zeroOrDurationKind(time.Second, 0),
		`End a session that has seen no request for this long, even if cookie_age has not run out. 0 turns it off (with save_every_request, cookie_age alone already ends idle sessions).`),
	key("session.absolute_timeout", "0", func(c *Config) *time.Duration { return &c.Session.AbsoluteTimeout },
		zeroOrDurationKind(time.Second, 0),
		`End a session this long after login, however active it is. 0 turns it off. When idle_timeout is set too, this must be at least idle_timeout.`),
	key("session.touch_interval", "0", func(c *Config) *time.Duration { return &c.Session.TouchInterval },
		zeroOrDurationKind(time.Second, time.Hour),
		`With save_every_request, write last activity and the slid expiry at most this often per session; requests in between only read (a revoked session is still refused at once). 0, the default, writes on every request, as Django does. Trades activity precision for far fewer durable writes under heavy traffic.`),
	key("session.extend_default", "1h", func(c *Config) *time.Duration { return &c.Session.ExtendDefault },
		durationKind(time.Second, 0),
		`The duration the dashboard offers when an operator extends a session.`),
	key("session.purge_interval", "1h", func(c *Config) *time.Duration { return &c.Session.PurgeInterval },
		durationKind(time.Second, 0),
		`How often the login server purges old sessions (what Django's clearsessions does, run on a timer). "sessionmon sessions purge" runs it on demand.`),
	key("session.purge_retention", "168h", func(c *Config) *time.Duration { return &c.Session.PurgeRetention },
		zeroOrDurationKind(time.Second, 0),
		`A purge deletes ended and expired sessions that ended longer ago than this; until then the dashboard can still show them.`),

	key("login.max_failures_per_user_ip", "5", func(c *Config) *int { return &c.Login.MaxFailuresPerUserIP },
		intKind(1),
		`Failed logins allowed for one username from one client IP address within failure_window: the limit on guessing a password. Further attempts from that address get 429 until enough of those failures are older than the window; Retry-After says exactly when. Failures from other addresses do not count, so a client elsewhere cannot lock the user out.`),
	key("login.max_failures_per_user", "100", func(c *Config) *int { return &c.Login.MaxFailuresPerUser },
		intKind(1),
		`Failed logins allowed for one username from all addresses together within failure_window: a ceiling that stops guessing spread over many addresses (OWASP counts failures per account for this). It must be above max_failures_per_user_ip, and is best kept well above it: at the ceiling every address is refused, the right password too, until enough failures are older than the window, so reaching it should take many addresses.`),
	key("login.max_failures_per_ip", "20", func(c *Config) *int { return &c.Login.MaxFailuresPerIP },
		intKind(1),
		`Failed logins allowed from one client IP address within failure_window. Further attempts get 429 until enough of those failures are older than the window; Retry-After says exactly when.`),
	key("login.failure_window", "15m", func(c *Config) *time.Duration { return &c.Login.FailureWindow },
		durationKind(time.Second, 0),
		`The period over which failed logins are counted.`),
	key("login.trust_proxy_headers", "false", func(c *Config) *bool { return &c.Login.TrustProxyHeaders }, boolKind,
		`Take the client IP address from the first address in X-Forwarded-For. Turn it on only behind a proxy that sets that header: otherwise any client can pick the address it is throttled and audited under.`),

	key("dashboard.poll_interval", "1s", func(c *Config) *time.Duration { return &c.Dashboard.PollInterval },
		durationKind(100*time.Millisecond, time.Minute),
		`How often the dashboard asks the store what changed, from 100ms to 1m.`),
	key("dashboard.operator", "", func(c *Config) *string { return &c.Dashboard.Operator },
		stringKind("a name without control characters", anyText),
		`The operator name recorded in the audit trail for actions taken in the dashboard. Empty uses the name of the operating-system user.`),
	key("dashboard.read_only", "false", func(c *Config) *bool { return &c.Dashboard.ReadOnly }, boolKind,
		`Show sessions but offer no force-logout or extend.`),

	key("django.secret_key_file", "", func(c *Config) *string { return &c.Django.SecretKeyFile },
		stringKind("a file path", anyText),
		`A file holding the Django site's SECRET_KEY on its first line and its SECRET_KEY_FALLBACKS on further lines. Without it (or SESSIONMON_DJANGO_SECRET_KEY, read from the environment only) sessions are read but signatures go unchecked and extend is refused. The key itself is never a flag or a config value.`),
	key("django.cookie_age", "336h", func(c *Config) *time.Duration { return &c.Django.CookieAge },
		durationKind(time.Second, 0),
		`The site's SESSION_COOKIE_AGE. Last activity is estimated as expire_date minus this for sessions that do not store it.`),
	key("django.engine", "db", func(c *Config) *string { return &c.Django.Engine },
		enumKind("db", "cached_db"),
		`The site's SESSION_ENGINE: db, or cached_db, whose cache keeps a forced-out session working until the cache drops it (the dashboard warns).`),
	key("django.audit_file", "", func(c *Config) *string { return &c.Django.AuditFile },
		stringKind("a file path", anyText),
		`Where operator actions on a Django site are recorded when its database has no sessionmon_django_audit table ("sessionmon migrate --source django" creates one). Empty: $XDG_STATE_HOME/sessionmon/django-audit.db (~/.local/state/...).`),

	key("log.level", "info", func(c *Config) *string { return &c.Log.Level },
		enumKind("debug", "info", "warn", "error"),
		`The least severe log messages written: debug, info, warn or error.`),
	key("log.format", "text", func(c *Config) *string { return &c.Log.Format },
		enumKind("text", "json"),
		`Log line format: text (key=value pairs) or json (one object per line).`),
}

// byName indexes fields by Key.Name.
var byName = func() map[string]*field {
	m := make(map[string]*field, len(fields))
	for i := range fields {
		m[fields[i].Name] = &fields[i]
	}
	return m
}()

// defaults is Default(): every field's Default parsed. A default that does
// not parse is a bug, caught at start-up.
var defaults = func() Config {
	var c Config
	for _, f := range fields {
		if !f.set(&c, raw(f.Default)) {
			panic("config: bad default for " + f.Name + ": " + f.Default)
		}
	}
	return c
}()

// raw is a value given as text: from the environment, a flag or a default.
// A decoded TOML value has its own Go type (string, int64, bool, ...).
type raw string

// field is one entry of the registry.
type field struct {
	Key
	want     string                        // the allowed values, for error messages
	hidden   bool                          // the value may hold a secret: show it redacted
	set      func(c *Config, v any) bool   // parse v (raw or a TOML value), check it, store it in c
	valid    func(c Config) bool           // whether c's value is allowed
	format   func(c Config) (string, bool) // c's value as raw text; false when unset
	unsetDoc func(c Config) string         // the commented-out value printed when unset
}

func (f field) secret() field { f.hidden = true; return f }

func (f field) whenUnset(doc func(Config) string) field { f.unsetDoc = doc; return f }

// kind is how one type of value is parsed, limited and printed.
type kind[T any] struct {
	typ    string
	want   string
	parse  func(v any) (T, bool)
	ok     func(T) bool
	format func(T) (string, bool)
}

// key makes a registry entry for the Config field ptr returns.
func key[T any](name, def string, ptr func(*Config) *T, k kind[T], doc string) field {
	return field{
		Key:  Key{Name: name, Env: "SESSIONMON_" + strings.ToUpper(strings.ReplaceAll(name, ".", "_")), Type: k.typ, Default: def, Doc: doc},
		want: k.want,
		set: func(c *Config, v any) bool {
			x, ok := k.parse(v)
			if !ok || !k.ok(x) {
				return false
			}
			*ptr(c) = x
			return true
		},
		valid:  func(c Config) bool { return k.ok(*ptr(&c)) },
		format: func(c Config) (string, bool) { return k.format(*ptr(&c)) },
	}
}

var boolKind = kind[bool]{
	typ:  "bool",
	want: "true or false",
	parse: func(v any) (bool, bool) {
		switch v := v.(type) {
		case bool:
			return v, true
		case raw:
			b, err := strconv.ParseBool(string(v))
			return b, err == nil
		}
		return false, false
	},
	ok:     func(bool) bool { return true },
	format: func(b bool) (string, bool) { return strconv.FormatBool(b), true },
}

// optBoolKind is a bool that may be unset (nil). Empty text unsets it.
var optBoolKind = kind[*bool]{
	typ:  "bool",
	want: "true or false (or empty text to follow production)",
	parse: func(v any) (*bool, bool) {
		if v == raw("") {
			return nil, true
		}
		b, ok := boolKind.parse(v)
		return &b, ok
	},
	ok: func(*bool) bool { return true },
	format: func(b *bool) (string, bool) {
		if b == nil {
			return "", false
		}
		return strconv.FormatBool(*b), true
	},
}

func intKind(min int) kind[int] {
	return kind[int]{
		typ:  "int",
		want: "a whole number of at least " + strconv.Itoa(min),
		parse: func(v any) (int, bool) {
			switch v := v.(type) {
			case int64:
				return int(v), int64(int(v)) == v
			case raw:
				n, err := strconv.Atoi(string(v))
				return n, err == nil
			}
			return 0, false
		},
		ok:     func(n int) bool { return n >= min },
		format: func(n int) (string, bool) { return strconv.Itoa(n), true },
	}
}

// durationKind accepts a Go duration ("336h") or whole seconds (1209600,
// as text or a TOML integer) from min to max (no upper limit when 0).
func durationKind(min, max time.Duration) kind[time.Duration] {
	return kind[time.Duration]{
		typ:    "duration",
		want:   durationForm + ", " + durationRange(min, max),
		parse:  parseDurationValue,
		ok:     func(d time.Duration) bool { return d >= min && (max == 0 || d <= max) },
		format: func(d time.Duration) (string, bool) { return formatDuration(d), true },
	}
}

// zeroOrDurationKind is durationKind for a key where 0 has a meaning of its
// own (off, every request, at once) and any other value below min makes no
// sense: 0.5ns would silently be 0, and a timeout of 10ms is a slip, not a
// policy. It accepts 0, or min (> 0) to max (no upper limit when 0).
func zeroOrDurationKind(min, max time.Duration) kind[time.Duration] {
	k := durationKind(min, max)
	k.want = durationForm + ": 0, or " + durationRange(min, max)
	k.ok = func(d time.Duration) bool { return d == 0 || d >= min && (max == 0 || d <= max) }
	return k
}

const durationForm = `a duration like "336h" or seconds like 1209600`

// durationRange says which durations from min to max are allowed.
func durationRange(min, max time.Duration) string {
	switch {
	case max > 0:
		return "from " + formatDuration(min) + " to " + formatDuration(max)
	case min > 0:
		return "at least " + formatDuration(min)
	}
	return "0 or more"
}

// parseDurationValue parses a duration from the environment, a flag or
// the file.
func parseDurationValue(v any) (time.Duration, bool) {
	switch v := v.(type) {
	case int64:
		return seconds(v)
	case string:
		return parseDuration(v)
	case raw:
		return parseDuration(string(v))
	}
	return 0, false
}

func parseDuration(s string) (time.Duration, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return seconds(n)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, false
	}
	// time.ParseDuration rounds "0.5ns" down to 0: a value that is not
	// zero as written must not become zero (the "off" of many keys).
	if d == 0 && strings.ContainsAny(s, "123456789") {
		return 0, false
	}
	return d, true
}

func seconds(n int64) (time.Duration, bool) {
	if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// formatDuration is d.String() without zero minutes and seconds: "336h",
// "15m", "1h30m", "100ms", "0".
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// stringKind accepts text without control characters for which ok holds.
func stringKind(want string, ok func(string) bool) kind[string] {
	return kind[string]{
		typ:    "string",
		want:   want,
		parse:  parseString,
		ok:     func(s string) bool { return anyText(s) && ok(s) },
		format: func(s string) (string, bool) { return s, true },
	}
}

// enumKind accepts one of allowed, in any case, and keeps it in lower case.
func enumKind(allowed ...string) kind[string] {
	want := strings.Join(allowed[:len(allowed)-1], ", ") + " or " + allowed[len(allowed)-1]
	return kind[string]{
		typ:  "string",
		want: want,
		parse: func(v any) (string, bool) {
			s, ok := parseString(v)
			return strings.ToLower(s), ok
		},
		ok: func(s string) bool {
			for _, a := range allowed {
				if s == a {
					return true
				}
			}
			return false
		},
		format: func(s string) (string, bool) { return s, true },
	}
}

// listKind is a list of strings, each of which ok accepts (lower-cased
// and trimmed): a TOML array, or text separated by commas or spaces (from
// the environment or a flag). An empty list is unset (nil).
func listKind(want string, ok func(string) bool) kind[[]string] {
	return kind[[]string]{
		typ:  "list",
		want: "a list of " + want,
		parse: func(v any) ([]string, bool) {
			var items []string
			switch v := v.(type) {
			case raw:
				items = strings.FieldsFunc(string(v), func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
			case string:
				items = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
			case []any:
				for _, x := range v {
					s, isString := x.(string)
					if !isString {
						return nil, false
					}
					items = append(items, strings.TrimSpace(s))
				}
			default:
				return nil, false
			}
			var out []string
			for _, s := range items {
				out = append(out, strings.ToLower(s))
			}
			return out, true
		},
		ok: func(l []string) bool {
			for _, s := range l {
				if !anyText(s) || !ok(s) {
					return false
				}
			}
			return true
		},
		format: func(l []string) (string, bool) { return strings.Join(l, ", "), len(l) > 0 },
	}
}

// hostPattern reports whether s is an allowed_hosts entry: "*", a host
// name with an optional leading dot, an IPv4 address or a bracketed IPv6
// address; never a port.
func hostPattern(s string) bool {
	switch {
	case s == "*":
		return true
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		ip := net.ParseIP(s[1 : len(s)-1])
		return ip != nil && ip.To4() == nil
	case net.ParseIP(s) != nil:
		return net.ParseIP(s).To4() != nil // IPv6 goes in brackets, as in a Host header
	}
	return s != "." && cookieDomain(s)
}

// origin reports whether s is a web origin: http or https, a host, an
// optional port, nothing else.
func origin(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.User == nil && u.Path == "" && u.RawQuery == "" && u.Fragment == "" && !strings.HasSuffix(u.Host, ":")
}

func parseString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case raw:
		return string(v), true
	}
	return "", false
}

// anyText reports whether s is valid UTF-8 without control characters.
func anyText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func notEmpty(s string) bool { return s != "" }

func hostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	return err == nil && port != ""
}

// cookieName reports whether s is an RFC 6265 cookie name (an RFC 7230
// token) that does not carry a prefix of its own: production adds __Host-.
func cookieName(s string) bool {
	if s == "" {
		return false
	}
	lower := strings.ToLower(s)
	if strings.HasPrefix(lower, "__host-") || strings.HasPrefix(lower, "__secure-") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// cookieDomain reports whether s is empty or a host name, optionally with a
// leading dot.
func cookieDomain(s string) bool {
	if s == "" {
		return true
	}
	s = strings.TrimPrefix(s, ".")
	if len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func cookiePath(s string) bool {
	return strings.HasPrefix(s, "/") && !strings.ContainsAny(s, "; \t")
}
