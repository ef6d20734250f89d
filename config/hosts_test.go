package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestAllowedHosts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		text  string
		env   map[string]string
		flags map[string]string
		want  []string
		error string // prefix; "" for valid
	}{
		{name: "unset", want: nil},
		{name: "toml array", text: "allowed_hosts = [\"Sessions.Example.com\", \".example.org\", \"10.0.0.5\", \"[::1]\", \"*\"]\n",
			want: []string{"sessions.example.com", ".example.org", "10.0.0.5", "[::1]", "*"}},
		{name: "env, commas and spaces", env: map[string]string{"SESSIONMON_ALLOWED_HOSTS": "a.example.com, b.example.com .c.example.com"},
			want: []string{"a.example.com", "b.example.com", ".c.example.com"}},
		{name: "flag over env", env: map[string]string{"SESSIONMON_ALLOWED_HOSTS": "a.example.com"},
			flags: map[string]string{"allowed_hosts": "b.example.com"}, want: []string{"b.example.com"}},
		{name: "empty text is unset", env: map[string]string{"SESSIONMON_ALLOWED_HOSTS": ""}, want: nil},
		{name: "a port", env: map[string]string{"SESSIONMON_ALLOWED_HOSTS": "example.com:8080"},
			error: `allowed_hosts: "example.com:8080" from SESSIONMON_ALLOWED_HOSTS: want a list of host names`},
		{name: "a URL", text: "allowed_hosts = [\"https://example.com\"]\n",
			error: `allowed_hosts: `},
		{name: "a glob", text: "allowed_hosts = [\"*.example.com\"]\n",
			error: `allowed_hosts: `},
		{name: "bare IPv6", flags: map[string]string{"allowed_hosts": "::1"},
			error: `allowed_hosts: "::1" from the command line: want a list of host names`},
		{name: "not strings", text: "allowed_hosts = [1, 2]\n", error: `allowed_hosts: `},
		{name: "production set", env: map[string]string{"SESSIONMON_PRODUCTION": "true", "SESSIONMON_ALLOWED_HOSTS": "*"},
			want: []string{"*"}},
	} {
		c, err := loadText(t, tc.text, tc.env, tc.flags)
		switch {
		case tc.error != "":
			if err == nil || !strings.HasPrefix(err.Error(), tc.error) {
				t.Errorf("%s:\n got  %v\n want %s...", tc.name, err, tc.error)
			} else if strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: want one line, got\n%v", tc.name, err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !reflect.DeepEqual(c.AllowedHosts, tc.want):
			t.Errorf("%s: AllowedHosts = %q, want %q", tc.name, c.AllowedHosts, tc.want)
		}
	}
}

func TestTrustedOrigins(t *testing.T) {
	c, err := loadText(t, "trusted_origins = [\"https://Sessions.example.com\", \"http://localhost:8080\"]\n", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://sessions.example.com", "http://localhost:8080"}; !reflect.DeepEqual(c.TrustedOrigins, want) {
		t.Errorf("TrustedOrigins = %q, want %q", c.TrustedOrigins, want)
	}
	for _, bad := range []string{"sessions.example.com", "https://example.com/", "https://example.com/path", "ftp://example.com", "https://user@example.com", "https://"} {
		_, err := loadText(t, "", map[string]string{"SESSIONMON_TRUSTED_ORIGINS": bad}, nil)
		if err == nil || !strings.HasPrefix(err.Error(), "trusted_origins: ") {
			t.Errorf("trusted_origins %q: %v, want refused", bad, err)
		}
	}
}

func TestCheckServeWantsAllowedHostsInProduction(t *testing.T) {
	c, err := loadText(t, "", map[string]string{"SESSIONMON_PRODUCTION": "true"}, nil)
	if err != nil {
		t.Fatalf("production without allowed_hosts must load (watch, users and sessions need no Host check): %v", err)
	}
	err = c.CheckServe()
	if err == nil || !strings.HasPrefix(err.Error(), "allowed_hosts: not set: production needs") || strings.Contains(err.Error(), "\n") {
		t.Errorf("CheckServe in production without allowed_hosts: %v", err)
	}
	c.AllowedHosts = []string{"sessions.example.com"}
	if err := c.CheckServe(); err != nil {
		t.Errorf("CheckServe with allowed_hosts: %v", err)
	}
	if err := Default().CheckServe(); err != nil {
		t.Errorf("CheckServe in development: %v", err)
	}
}
