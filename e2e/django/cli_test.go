package djangoe2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// sessionmon builds the sessionmon binary once per test run.
func sessionmon(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "sessionmon-django-bin")
		if binErr != nil {
			return
		}
		dropAfter = append(dropAfter, binDir)
		binPath = filepath.Join(binDir, "sessionmon")
		root, _ := filepath.Abs("../..")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			binErr = &buildError{err, out.String()}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

// cli runs sessionmon with args and env (on top of a clean environment:
// no SESSIONMON_* of the caller's), returning stdout, stderr and the exit code.
func (s *site) cli(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sessionmon(t), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"),
		"SESSIONMON_SOURCE=django", "SESSIONMON_DB=" + s.db, "SESSIONMON_OPERATOR=cli-test"}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestCLIOnDjango: the sessions commands and migrate with --source django
// (through the environment here, as SESSIONMON_SOURCE), against sessions
// the real Django created over HTTP.
func TestCLIOnDjango(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		site := newSite(t, backend, siteOptions{})
		site.seed([]seedUser{
			{Username: "alice", Password: "alice-pw", FullName: "Alice Liddell", Role: "editor"},
			{Username: "bob", Password: "bob-pw"},
		}, nil)
		a1, a2, b1, b2 := site.browser(), site.browser(), site.browser(), site.browser()
		ka1, ka2 := a1.login("alice", "alice-pw"), a2.login("alice", "alice-pw")
		b1.login("bob", "bob-pw")
		b2.login("bob", "bob-pw")
		secretFile := filepath.Join(t.TempDir(), "secret_key")
		if err := os.WriteFile(secretFile, []byte(site.secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		withSecret := []string{"SESSIONMON_DJANGO_SECRET_KEY_FILE=" + secretFile}

		out, errOut, code := site.cli(t, nil, "migrate", "--source", "django")
		if code != 0 || !strings.Contains(out, "sessionmon_django_audit") {
			t.Fatalf("migrate: %d %s %s", code, out, errOut)
		}

		out, errOut, code = site.cli(t, withSecret, "sessions", "list", "--json", "--user", "alice")
		if code != 0 {
			t.Fatalf("list: %d %s", code, errOut)
		}
		var rows []struct {
			ID           string         `json:"id"`
			User         string         `json:"user"`
			Role         string         `json:"user_role"`
			LastActivity time.Time      `json:"last_activity"`
			Data         map[string]any `json:"data"`
		}
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("list --json: %v\n%s", err, out)
		}
		if len(rows) != 2 || rows[0].User != "alice" || rows[0].Role != "editor" || time.Since(rows[0].LastActivity) > time.Minute ||
			rows[0].Data["sessionmon.signature"] != "valid" {
			t.Fatalf("list --json = %+v", rows)
		}

		// revoke: Django's next requests are refused.
		out, errOut, code = site.cli(t, nil, "sessions", "revoke", ka1)
		if code != 0 || !strings.Contains(out, "logged out alice") {
			t.Fatalf("revoke: %d %s %s", code, out, errOut)
		}
		a1.mustBeOut()
		a2.mustBeIn()

		// revoke-user
		out, errOut, code = site.cli(t, nil, "sessions", "revoke-user", "bob")
		if code != 0 || !strings.Contains(out, "2 sessions") {
			t.Fatalf("revoke-user: %d %s %s", code, out, errOut)
		}
		b1.mustBeOut()
		b2.mustBeOut()

		// extend: refused without the secret, saying why; done with it, and
		// it survives the holder's next request.
		_, errOut, code = site.cli(t, nil, "sessions", "extend", ka2, "720h")
		if code == 0 || !strings.Contains(errOut, "SECRET_KEY") || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Fatalf("extend without the secret: %d %q", code, errOut)
		}
		out, errOut, code = site.cli(t, withSecret, "sessions", "extend", ka2, "720h")
		if code != 0 || !strings.Contains(out, "extended alice") {
			t.Fatalf("extend: %d %s %s", code, out, errOut)
		}
		a2.mustBeIn()
		out, _, _ = site.cli(t, withSecret, "sessions", "list", "--json", "--user", "alice")
		rows = nil
		json.Unmarshal([]byte(out), &rows)
		if len(rows) != 1 || rows[0].ID != ka2 {
			t.Fatalf("after extend: %+v", rows)
		}
		var exp struct {
			ExpiresAt time.Time `json:"expires_at"`
		}
		var raw []json.RawMessage
		json.Unmarshal([]byte(out), &raw)
		json.Unmarshal(raw[0], &exp)
		if time.Until(exp.ExpiresAt) < 40*24*time.Hour {
			t.Fatalf("after extend and a request, expires in %v: Django undid the extend", time.Until(exp.ExpiresAt))
		}

		// The secret is never accepted on the command line.
		_, errOut, code = site.cli(t, nil, "sessions", "list", "--set", "django.secret_key="+site.secret)
		if code == 0 || strings.Contains(errOut, site.secret) {
			t.Errorf("a secret on the command line: %d %q", code, errOut)
		}
		// Commands that need sessionmon's own store refuse a Django site.
		if _, errOut, code = site.cli(t, nil, "users", "list"); code == 0 || !strings.Contains(errOut, "not supported") {
			t.Errorf("users list on a Django site: %d %q", code, errOut)
		}
	})
}

// TestCLIRefusesPickleSite: one clear line, exit 1.
func TestCLIRefusesPickleSite(t *testing.T) {
	site := newSite(t, "sqlite", siteOptions{serializer: "pickle"})
	site.seed([]seedUser{{Username: "p", Password: "pw"}}, nil)
	site.browser().login("p", "pw")
	_, errOut, code := site.cli(t, nil, "sessions", "list")
	if code != 1 || !strings.Contains(errOut, "pickle") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("list on a pickle site: %d %q", code, errOut)
	}
}
