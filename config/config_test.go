package config

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

var update = flag.Bool("update", false, "rewrite ../sessionmon.example.toml")

const exampleFile = "../sessionmon.example.toml"

// noEnv is an empty environment.
func noEnv(string) (string, bool) { return "", false }

// envOf is an environment holding kv.
func envOf(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

// loadText loads TOML text as the file "test.toml".
func loadText(t *testing.T, text string, env map[string]string, flags map[string]string) (Config, error) {
	t.Helper()
	path := ""
	if text != "" {
		path = "test.toml"
	}
	return load(path, []byte(text), envOf(env), flags)
}

func ptr[T any](v T) *T { return &v }

func TestDefaults(t *testing.T) {
	want := Config{
		DB:         "sessionmon.db",
		Listen:     "127.0.0.1:8080",
		Production: false,
		Session: Session{
			CookieName:           "sessionid",
			CookieAge:            1209600 * time.Second,
			SaveEveryRequest:     true,
			ExpireAtBrowserClose: false,
			CookieHTTPOnly:       true,
			CookieSameSite:       "lax",
			CookieSecure:         nil,
			CookieDomain:         "",
			CookiePath:           "/",
			IdleTimeout:          0,
			AbsoluteTimeout:      0,
			TouchInterval:        0,
			ExtendDefault:        time.Hour,
			PurgeInterval:        time.Hour,
			PurgeRetention:       168 * time.Hour,
		},
		Login: Login{
			MaxFailuresPerUserIP: 5,
			MaxFailuresPerUser:   100,
			MaxFailuresPerIP:     20,
			FailureWindow:        15 * time.Minute,
			TrustProxyHeaders:    false,
		},
		Dashboard: Dashboard{
			PollInterval: time.Second,
			Operator:     "",
			ReadOnly:     false,
		},
		Log:    Log{Level: "info", Format: "text"},
		Source: "sessionmon",
		Django: Django{CookieAge: 336 * time.Hour, Engine: "db"},
	}
	got := Default()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Default() =\n%+v\nwant\n%+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	if got.Secure() || got.CookieName() != "sessionid" || got.SameSite() != http.SameSiteLaxMode {
		t.Errorf("derived: Secure %v, CookieName %q, SameSite %v", got.Secure(), got.CookieName(), got.SameSite())
	}
	c, err := Load(LoadOptions{File: "", Env: noEnv})
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Errorf("Load with nothing = %+v, %v; want the defaults", c, err)
	}
}

func TestKeys(t *testing.T) {
	keys := Keys()
	if len(keys) != len(fields) || len(keys) != 35 {
		t.Fatalf("Keys() has %d keys, fields %d, want 35", len(keys), len(fields))
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k.Name] || seen[k.Env] {
			t.Errorf("duplicate key %s / %s", k.Name, k.Env)
		}
		seen[k.Name], seen[k.Env] = true, true
		if k.Doc == "" || k.Type == "" {
			t.Errorf("%s: empty Doc or Type", k.Name)
		}
		// The printed default is the default: Default().Format and Keys agree.
		v, set := byName[k.Name].format(Default())
		if !set {
			v = ""
		}
		if v != k.Default {
			t.Errorf("%s: Default %q, but Default() prints %q", k.Name, k.Default, v)
		}
	}
	for name, env := range map[string]string{
		"db":                             "SESSIONMON_DB",
		"listen":                         "SESSIONMON_LISTEN",
		"production":                     "SESSIONMON_PRODUCTION",
		"session.cookie_age":             "SESSIONMON_SESSION_COOKIE_AGE",
		"login.max_failures_per_user":    "SESSIONMON_LOGIN_MAX_FAILURES_PER_USER",
		"login.max_failures_per_user_ip": "SESSIONMON_LOGIN_MAX_FAILURES_PER_USER_IP",
		"dashboard.poll_interval":        "SESSIONMON_DASHBOARD_POLL_INTERVAL",
	} {
		if f := byName[name]; f == nil || f.Env != env {
			t.Errorf("%s: env %v, want %s", name, f, env)
		}
	}
}

func TestPrecedence(t *testing.T) {
	file := `
listen = ":9000"
[session]
cookie_age = 100
cookie_name = "fromfile"
[log]
level = "warn"
format = "json"
`
	env := map[string]string{
		"SESSIONMON_SESSION_COOKIE_AGE": "2h",
		"SESSIONMON_LOG_LEVEL":          "error",
		"SESSIONMON_LOG_FORMAT":         "text",
	}
	flags := map[string]string{"log.level": "debug"}

	steps := []struct {
		name  string
		file  string
		env   map[string]string
		flags map[string]string
		check func(Config) bool
	}{
		{"default", "", nil, nil, func(c Config) bool {
			return c.Listen == "127.0.0.1:8080" && c.Session.CookieAge == 336*time.Hour && c.Log.Level == "info"
		}},
		{"file", file, nil, nil, func(c Config) bool {
			return c.Listen == ":9000" && c.Session.CookieAge == 100*time.Second && c.Session.CookieName == "fromfile" &&
				c.Log.Level == "warn" && c.Log.Format == "json"
		}},
		{"env", file, env, nil, func(c Config) bool {
			return c.Listen == ":9000" && c.Session.CookieAge == 2*time.Hour && c.Log.Level == "error" && c.Log.Format == "text"
		}},
		{"flag", file, env, flags, func(c Config) bool {
			return c.Listen == ":9000" && c.Session.CookieAge == 2*time.Hour && c.Log.Level == "debug"
		}},
	}
	for _, s := range steps {
		c, err := loadText(t, s.file, s.env, s.flags)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !s.check(c) {
			t.Errorf("%s: got %+v", s.name, c)
		}
	}
}

func TestLoadFile(t *testing.T) {
	t.Chdir(t.TempDir())
	// No sessionmon.toml: defaults.
	if c, err := Load(LoadOptions{Env: noEnv}); err != nil || c.Listen != "127.0.0.1:8080" {
		t.Fatalf("no file: %+v, %v", c, err)
	}
	// sessionmon.toml in the working directory is read.
	if err := os.WriteFile(DefaultFile, []byte("listen = \":1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(LoadOptions{Env: noEnv}); err != nil || c.Listen != ":1" {
		t.Fatalf("default file: %+v, %v", c, err)
	}
	// An explicit file wins over it.
	other := filepath.Join(t.TempDir(), "other.toml")
	if err := os.WriteFile(other, []byte("listen = \":2\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(LoadOptions{File: other, Env: noEnv}); err != nil || c.Listen != ":2" {
		t.Fatalf("explicit file: %+v, %v", c, err)
	}
	// An explicit file that is missing is an error.
	if _, err := Load(LoadOptions{File: "missing.toml", Env: noEnv}); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Fatalf("missing file: %v", err)
	}
	// A syntax error names the file and line.
	if err := os.WriteFile(other, []byte("listen = \":2\"\n\nlisten = = \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(LoadOptions{File: other, Env: noEnv}); err == nil || !strings.Contains(err.Error(), other+":3:") {
		t.Fatalf("syntax error: %v", err)
	}
}

func TestDurationForms(t *testing.T) {
	for _, tc := range []struct {
		file, env string
		want      time.Duration
	}{
		{file: `cookie_age = 1209600`, want: 336 * time.Hour},
		{file: `cookie_age = "1209600"`, want: 336 * time.Hour},
		{file: `cookie_age = "336h"`, want: 336 * time.Hour},
		{file: `cookie_age = "1h30m"`, want: 90 * time.Minute},
		{env: "60", want: time.Minute},
		{env: "90m", want: 90 * time.Minute},
	} {
		file := ""
		if tc.file != "" {
			file = "[session]\n" + tc.file + "\n"
		}
		env := map[string]string{}
		if tc.env != "" {
			env["SESSIONMON_SESSION_COOKIE_AGE"] = tc.env
		}
		c, err := loadText(t, file, env, nil)
		if err != nil || c.Session.CookieAge != tc.want {
			t.Errorf("%q %q: %v, %v; want %v", tc.file, tc.env, c.Session.CookieAge, err, tc.want)
		}
	}
}

func TestInvalidValues(t *testing.T) {
	type source int
	const (
		file source = iota
		env
		flagged
	)
	for _, tc := range []struct {
		src   source
		key   string
		value string // as text; in a file, a TOML literal
		shown string // the value as the error shows it
		want  string // part of what is allowed
	}{
		{env, "session.cookie_age", "abc", `"abc"`, `want a duration like "336h" or seconds like 1209600`},
		{env, "session.cookie_age", "-1s", `"-1s"`, "at least 1s"},
		{env, "session.cookie_age", "0", `"0"`, "at least 1s"},
		{env, "session.cookie_age", "99999999999999999", `"99999999999999999"`, "duration"},
		{file, "session.cookie_age", `"abc"`, `"abc"`, "duration"},
		{file, "session.cookie_age", `1.5`, `1.5`, "duration"},
		{file, "session.cookie_age", `true`, `true`, "duration"},
		{file, "session.idle_timeout", `-5`, `-5`, "0, or at least 1s"},
		{flagged, "session.purge_retention", "-1h", `"-1h"`, "0, or at least 1s"},
		{flagged, "session.idle_timeout", "0.5ns", `"0.5ns"`, "0, or at least 1s"},
		{env, "session.touch_interval", "500ms", `"500ms"`, "0, or from 1s to 1h"},
		{flagged, "dashboard.poll_interval", "50ms", `"50ms"`, "from 100ms to 1m"},
		{env, "dashboard.poll_interval", "2m", `"2m"`, "from 100ms to 1m"},
		{file, "dashboard.poll_interval", `"0"`, `"0"`, "from 100ms to 1m"},
		{env, "production", "yes", `"yes"`, "true or false"},
		{file, "production", `"true"`, `"true"`, "true or false"},
		{file, "session.cookie_httponly", `1`, `1`, "true or false"},
		{env, "session.cookie_secure", "maybe", `"maybe"`, "true or false"},
		{env, "login.max_failures_per_user", "abc", `"abc"`, "a whole number of at least 1"},
		{flagged, "login.max_failures_per_ip", "0", `"0"`, "at least 1"},
		{file, "login.max_failures_per_user", `"5"`, `"5"`, "whole number"},
		{file, "login.max_failures_per_user", `-3`, `-3`, "at least 1"},
		{env, "session.cookie_samesite", "loose", `"loose"`, "lax, strict or none"},
		{file, "log.level", `"verbose"`, `"verbose"`, "debug, info, warn or error"},
		{flagged, "log.format", "xml", `"xml"`, "text or json"},
		{env, "db", "", `""`, "SQLite file path"},
		{file, "db", `5`, `5`, "SQLite file path"},
		{env, "listen", "8080", `"8080"`, "host:port"},
		{file, "session.cookie_name", `"bad name"`, `"bad name"`, "cookie name"},
		{env, "session.cookie_name", "__Host-x", `"__Host-x"`, "without a __Host- or __Secure- prefix"},
		{env, "session.cookie_name", "", `""`, "cookie name"},
		{file, "session.cookie_domain", `"exa mple.com"`, `"exa mple.com"`, "domain"},
		{file, "session.cookie_path", `"app"`, `"app"`, `starting with "/"`},
		{env, "session.cookie_path", "/a;b", `"/a;b"`, `without ";"`},
		{file, "dashboard.operator", `"a\u0007b"`, `"a\ab"`, "control characters"},
		{file, "dashboard.operator", `{ name = "x" }`, `a table`, "control characters"},
		{file, "session.cookie_name", `["a"]`, `an array`, "cookie name"},
	} {
		f := byName[tc.key]
		var (
			err    error
			source string
		)
		switch tc.src {
		case file:
			table, name, ok := strings.Cut(tc.key, ".")
			text := "\n" + tc.key + " = " + tc.value + "\n"
			if ok {
				text = "\n[" + table + "]\n" + name + " = " + tc.value + "\n"
			}
			_, err = loadText(t, text, nil, nil)
			source = "test.toml:3"
			if !ok {
				source = "test.toml:2"
			}
		case env:
			_, err = loadText(t, "", map[string]string{f.Env: tc.value}, nil)
			source = f.Env
		case flagged:
			_, err = loadText(t, "", nil, map[string]string{tc.key: tc.value})
			source = "the command line"
		}
		if err == nil {
			t.Errorf("%s = %s from %s: no error", tc.key, tc.value, source)
			continue
		}
		prefix := tc.key + ": " + tc.shown + " from " + source + ": want "
		if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.want) {
			t.Errorf("%s = %s from %s:\n got  %s\n want %s...%s...", tc.key, tc.value, source, msg, prefix, tc.want)
		}
	}
}

// A duration below one second makes no sense for any key but the
// dashboard's poll interval, and 0.5ns must not become 0 (the "off" of the
// timeouts) by rounding: every duration key, including keys added later,
// refuses both, naming the key, the value and what is allowed.
func TestSubSecondDurationsAreRefused(t *testing.T) {
	subSecondOK := map[string]bool{"dashboard.poll_interval": true} // from 100ms
	for _, k := range Keys() {
		if k.Type != "duration" {
			continue
		}
		bad := []string{"0.5ns", "1e-9s"}
		if !subSecondOK[k.Name] {
			bad = append(bad, "1ns", "500ms", "0.999s")
		}
		for _, v := range bad {
			_, err := loadText(t, "", nil, map[string]string{k.Name: v})
			want := k.Name + ": " + strconv.Quote(v) + " from the command line: want a duration"
			if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s=%s: err = %v, want one line starting %q", k.Name, v, err, want)
			} else if !subSecondOK[k.Name] && !strings.Contains(err.Error(), "1s") {
				t.Errorf("%s=%s: err = %v, want it to say 1s is the least", k.Name, v, err)
			}
		}
		for _, v := range []string{"1s", "1"} {
			c, err := loadText(t, "", nil, map[string]string{k.Name: v})
			if err != nil {
				t.Errorf("%s=%s: %v, want accepted", k.Name, v, err)
			} else if got, _ := byName[k.Name].format(c); got != "1s" {
				t.Errorf("%s=%s: stored %s", k.Name, v, got)
			}
		}
	}
	// Zero stays the way to turn a timeout off, in any spelling.
	for _, v := range []string{"0", "0s", "0h0m", "0.0s"} {
		c, err := loadText(t, "", nil, map[string]string{"session.idle_timeout": v})
		if err != nil || c.Session.IdleTimeout != 0 {
			t.Errorf("session.idle_timeout=%s: %v, %v; want 0 (off)", v, c.Session.IdleTimeout, err)
		}
	}
}

func TestErrorMessageExample(t *testing.T) {
	_, err := loadText(t, "", map[string]string{"SESSIONMON_SESSION_COOKIE_AGE": "abc"}, nil)
	want := `session.cookie_age: "abc" from SESSIONMON_SESSION_COOKIE_AGE: want a duration like "336h" or seconds like 1209600, at least 1s`
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

func TestAllErrorsReported(t *testing.T) {
	_, err := loadText(t, "[log]\nlevel = \"loud\"\n", map[string]string{"SESSIONMON_LISTEN": "x"}, map[string]string{"log.format": "xml"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"log.level", "listen", "log.format"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestUnknownKeys(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"[session]\ncookie_agee = 5\n", `session.cookie_agee: unknown key in test.toml:2; did you mean session.cookie_age?`},
		{"\n\nlisten_addr = \":1\"\n", `listen_addr: unknown key in test.toml:3`},
		{"[sesion]\ncookie_age = 5\n", `sesion: unknown key in test.toml:1; did you mean session?`},
		{"session.cookie_agee = 5\n", `session.cookie_agee: unknown key in test.toml:1; did you mean session.cookie_age?`},
		{"[Session]\ncookie_age = 5\n", `Session: unknown key in test.toml:1; did you mean session?`},
		{"session = 5\n", `session: 5 in test.toml:1: want a table, [session]`},
		{"[[log]]\nlevel = \"info\"\n", `log: an array in test.toml:1: want a table, [log]`},
		{"[log.extra]\nx = 1\n", `log.extra: unknown key in test.toml:1`},
	} {
		_, err := loadText(t, tc.text, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got  %v\n want %s", tc.text, err, tc.want)
		}
		// One mistake, one message: the keys under a refused key are not reported again.
		if err != nil && strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("%q: more than one error:\n%v", tc.text, err)
		}
	}
	if _, err := loadText(t, "", nil, map[string]string{"session.cookie_agee": "5"}); err == nil ||
		err.Error() != "session.cookie_agee: unknown key on the command line; did you mean session.cookie_age?" {
		t.Errorf("unknown flag key: %v", err)
	}
}

func TestCrossField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		text  string
		env   map[string]string
		error string // "" for valid
	}{
		{"samesite none without secure", "[session]\ncookie_samesite = \"none\"\n", nil,
			`session.cookie_samesite: "none" from test.toml:2: browsers refuse SameSite=None without Secure`},
		{"samesite none with secure", "[session]\ncookie_samesite = \"None\"\ncookie_secure = true\n", nil, ""},
		{"samesite none in production", "production = true\n[session]\ncookie_samesite = \"none\"\n", nil, ""},
		{"production with domain", "production = true\n[session]\ncookie_domain = \"example.com\"\n", nil,
			`session.cookie_domain: "example.com" from test.toml:3: production sends the cookie as __Host-sessionid, which must have no Domain`},
		{"production with secure false", "production = true\n", map[string]string{"SESSIONMON_SESSION_COOKIE_SECURE": "false"},
			`session.cookie_secure: false from SESSIONMON_SESSION_COOKIE_SECURE: production sends the cookie as __Host-sessionid, which must be Secure`},
		{"production with path", "[session]\ncookie_path = \"/app\"\n", map[string]string{"SESSIONMON_PRODUCTION": "true"},
			`session.cookie_path: "/app" from test.toml:2: production sends the cookie as __Host-sessionid, which must have Path=/`},
		{"production with secure true", "production = true\n[session]\ncookie_secure = true\n", nil, ""},
		{"development with domain", "[session]\ncookie_domain = \"example.com\"\ncookie_path = \"/app\"\n", nil, ""},
		{"absolute below idle", "[session]\nidle_timeout = \"2h\"\nabsolute_timeout = \"1h\"\n", nil,
			`session.absolute_timeout: "1h" from test.toml:3: want at least session.idle_timeout (2h) when both are set`},
		{"absolute equal idle", "[session]\nidle_timeout = \"2h\"\nabsolute_timeout = 7200\n", nil, ""},
		{"absolute only", "[session]\nabsolute_timeout = \"1h\"\n", nil, ""},
		{"idle only", "[session]\nidle_timeout = \"30m\"\n", nil, ""},
		// The username's ceiling above the per-address limit, or one client locks the user out.
		{"username ceiling at the per-address limit", "[login]\nmax_failures_per_user = 5\n", nil,
			`login.max_failures_per_user: 5 from test.toml:2: want more than login.max_failures_per_user_ip (5)`},
		{"username ceiling below the per-address limit", "[login]\nmax_failures_per_user_ip = 8\n",
			map[string]string{"SESSIONMON_LOGIN_MAX_FAILURES_PER_USER": "3"},
			`login.max_failures_per_user: 3 from SESSIONMON_LOGIN_MAX_FAILURES_PER_USER: want more than login.max_failures_per_user_ip (8)`},
		{"per-address limit above the default ceiling", "[login]\nmax_failures_per_user_ip = 100\n", nil,
			`login.max_failures_per_user_ip: 100 from test.toml:2: want less than login.max_failures_per_user (100)`},
		{"username ceiling just above the per-address limit", "[login]\nmax_failures_per_user_ip = 3\nmax_failures_per_user = 4\n", nil, ""},
	} {
		c, err := loadText(t, tc.text, tc.env, nil)
		switch {
		case tc.error == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.error == "" && c.Validate() != nil:
			t.Errorf("%s: Load accepted what Validate refuses: %v", tc.name, c.Validate())
		case tc.error != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.error)):
			t.Errorf("%s:\n got  %v\n want %s...", tc.name, err, tc.error)
		}
	}
}

func TestValidate(t *testing.T) {
	c := Default()
	c.Session.CookieAge = -time.Second
	c.Log.Level = "loud"
	c.Session.CookieName = "a;b"
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`session.cookie_age: "-1s": want`, `log.level: "loud": want`, `session.cookie_name: "a;b": want`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %s in\n%v", want, err)
		}
	}
	c = Default()
	c.Production = true
	c.Session.CookieDomain = "example.com"
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), `session.cookie_domain: "example.com": production`) {
		t.Errorf("cross-check: %v", err)
	}
}

func TestProduction(t *testing.T) {
	c, err := loadText(t, "", map[string]string{"SESSIONMON_PRODUCTION": "true"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Secure() || c.CookieName() != "__Host-sessionid" || c.Session.CookieName != "sessionid" || c.Session.CookieSecure != nil {
		t.Errorf("production: Secure %v, CookieName %q, %+v", c.Secure(), c.CookieName(), c.Session)
	}
	c, err = loadText(t, "[session]\ncookie_secure = true\ncookie_name = \"sid\"\ncookie_samesite = \"Strict\"\n", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Secure() || c.CookieName() != "sid" || c.SameSite() != http.SameSiteStrictMode {
		t.Errorf("development, secure: Secure %v, CookieName %q, SameSite %v", c.Secure(), c.CookieName(), c.SameSite())
	}
	// An empty environment variable unsets cookie_secure set in the file.
	c, err = loadText(t, "[session]\ncookie_secure = true\n", map[string]string{"SESSIONMON_SESSION_COOKIE_SECURE": ""}, nil)
	if err != nil || c.Session.CookieSecure != nil || c.Secure() {
		t.Errorf("unset cookie_secure: %v, %v", c.Session.CookieSecure, err)
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"sessionmon.db", "sessionmon.db"},
		{"/var/lib/a=b.db", "/var/lib/a=b.db"},
		{"postgres://app:s3cret@db.example.com:5432/sessions?sslmode=require", "postgres://app:xxxxx@db.example.com:5432/sessions?sslmode=require"},
		{"postgresql://app@db/sessions", "postgresql://app@db/sessions"},
		{"postgres://app:@db/sessions", "postgres://app:xxxxx@db/sessions"},
		{"postgres://app:p%40ss@db/s", "postgres://app:xxxxx@db/s"},
		{"postgres://app:p@ss@db/s", "postgres://app:xxxxx@db/s"},
		{"postgres://db/s?user=app&password=s3cret&sslmode=disable", "postgres://db/s?user=app&password=xxxxx&sslmode=disable"},
		{"postgres://db/s?PassWord=s3cret", "postgres://db/s?PassWord=xxxxx"},
		{"postgres://app:pa/ss@db/s", "postgres://xxxxx"},
		{"postgres://app:pa%zzss@db/s", "postgres://xxxxx"},
		{"host=db user=app password=s3cret dbname=sessions", "host=db user=app password=xxxxx dbname=sessions"},
		{"host=db password = 's3 cr\\'et' dbname=x", "host=db password = xxxxx dbname=x"},
		{"password=s3cret", "password=xxxxx"},
		{"  host=db\tpassword=a\\ b  ", "  host=db\tpassword=xxxxx  "},
		{"host=db password='unterminated", "xxxxx"},
		{"host=db password=trailing\\", "xxxxx"},
		{"host=db sslmode=disable", "host=db sslmode=disable"},
	} {
		if got := redactDSN(tc.dsn); got != tc.want {
			t.Errorf("redactDSN(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
		c := Default()
		c.DB = tc.dsn
		if got := c.Redacted().DB; got != tc.want {
			t.Errorf("Redacted().DB = %q, want %q", got, tc.want)
		}
	}
	// An invalid DSN in an error message is redacted too.
	_, err := loadText(t, "", map[string]string{"SESSIONMON_DB": "postgres://app:s3cret@db/\x01"}, nil)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error for a bad DSN: %v", err)
	}
}

func TestFormatRoundTrip(t *testing.T) {
	c, err := loadText(t, `
db = "postgres://app:s3cret@db:5432/sessions?sslmode=require"
listen = ":8443"
production = true
allowed_hosts = ["sessions.example.com", ".example.org", "10.0.0.5", "[::1]"]
trusted_origins = ["https://sessions.example.com"]
[session]
cookie_name = "sid"
cookie_age = "12h"
save_every_request = false
expire_at_browser_close = true
cookie_samesite = "strict"
idle_timeout = "30m"
absolute_timeout = "8h"
extend_default = "15m"
purge_interval = 600
purge_retention = "1h30m"
[login]
max_failures_per_user_ip = 2
max_failures_per_user = 3
max_failures_per_ip = 50
failure_window = "1m"
trust_proxy_headers = true
[dashboard]
poll_interval = "250ms"
operator = "on-call \"bob\" \\ ops"
read_only = true
[log]
level = "debug"
format = "json"
`, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []Config{Default(), c, withSecure(c, true), withSecure(Default(), false)} {
		var out bytes.Buffer
		if err := tc.Format(&out); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "s3cret") {
			t.Errorf("Format shows the password:\n%s", out.String())
		}
		back, err := loadText(t, out.String(), nil, nil)
		if err != nil {
			t.Fatalf("loading Format output: %v\n%s", err, out.String())
		}
		if !reflect.DeepEqual(back, tc.Redacted()) {
			t.Errorf("round trip:\n got  %+v\n want %+v\n%s", back, tc.Redacted(), out.String())
		}
	}
}

func withSecure(c Config, secure bool) Config {
	c.Session.CookieSecure = ptr(secure)
	return c
}

func TestFormatNonTextValues(t *testing.T) {
	// Format writes valid TOML whatever a hand-built Config holds.
	c := Default()
	c.Dashboard.Operator = "a\x00b\"\\\n\xff"
	var out bytes.Buffer
	if err := c.Format(&out); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if _, err := toml.Decode(out.String(), &doc); err != nil {
		t.Fatalf("Format output is not TOML: %v\n%s", err, out.String())
	}
	if got := doc["dashboard"].(map[string]any)["operator"]; got != "a\x00b\"\\\n\uFFFD" {
		t.Errorf("operator = %q", got)
	}
}

func TestExampleFile(t *testing.T) {
	var gen bytes.Buffer
	if err := Default().write(&gen, true); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(exampleFile, gen.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	// It parses, with no unknown keys, and its values are the defaults.
	c, err := load(exampleFile, data, noEnv, nil)
	if err != nil {
		t.Fatalf("example: %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("example values differ from Default():\n got  %+v\n want %+v", c, Default())
	}
	// It mentions every key and its environment variable.
	text := string(data)
	for _, k := range Keys() {
		_, name, _ := strings.Cut(k.Name, ".")
		if name == "" {
			name = k.Name
		}
		if !strings.Contains(text, "\n"+name+" = ") && !strings.Contains(text, "\n# "+name+" = ") {
			t.Errorf("example does not set %s", k.Name)
		}
		if !strings.Contains(text, k.Env) {
			t.Errorf("example does not mention %s", k.Env)
		}
	}
	// It is what the registry documents.
	if !bytes.Equal(data, gen.Bytes()) {
		t.Errorf("%s is out of date with the registry: go test ./config -run TestExampleFile -update", exampleFile)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                              "0",
		336 * time.Hour:                "336h",
		time.Hour + 30*time.Minute:     "1h30m",
		15 * time.Minute:               "15m",
		time.Second:                    "1s",
		100 * time.Millisecond:         "100ms",
		time.Hour + time.Second:        "1h0m1s",
		10*time.Minute + 5*time.Second: "10m5s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, ok := parseDuration(want); !ok || back != d {
			t.Errorf("parseDuration(%q) = %v, %v", want, back, ok)
		}
	}
}

func FuzzLoad(f *testing.F) {
	if data, err := os.ReadFile(exampleFile); err == nil {
		f.Add(string(data), uint8(0), "sessionmon.db")
	}
	f.Add("", uint8(0), "postgres://u:p@h/db")
	f.Add("[session]\ncookie_age = 5\n", uint8(4), "abc")
	f.Add("production = true\n[session]\ncookie_domain = \"x\"\n", uint8(2), "true")
	f.Add("[session]\ncookie_samesite = \"none\"\n", uint8(9), "")
	f.Add("[[log]]\nlevel = 1\n[log.x]\n", uint8(22), "50ms")
	f.Add("db = \"host=a password='b\"\nsession = { cookie_age = -1 }\n", uint8(13), "99999999999999999999")
	f.Fuzz(func(t *testing.T, file string, key uint8, value string) {
		k := fields[int(key)%len(fields)]
		env := func(name string) (string, bool) { return value, name == k.Env }
		c, err := load("fuzz.toml", []byte(file), env, nil)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load accepted what Validate refuses: %v", err)
		}
		var out bytes.Buffer
		if err := c.Format(&out); err != nil {
			t.Fatal(err)
		}
		back, err := load("format.toml", out.Bytes(), noEnv, nil)
		if err != nil {
			t.Fatalf("Format output does not load: %v\n%s", err, out.String())
		}
		if !reflect.DeepEqual(back, c.Redacted()) {
			t.Fatalf("round trip:\n got  %+v\n want %+v", back, c.Redacted())
		}
	})
}

func TestManyFileErrors(t *testing.T) {
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "key%d = %d\n", i, i)
	}
	_, err := loadText(t, b.String(), nil, nil)
	if err == nil || strings.Count(err.Error(), "\n") != maxFileErrors || !strings.HasSuffix(err.Error(), "test.toml: more problems not shown") {
		t.Fatalf("got %v", err)
	}
}
