// Package djangotest finds the real Django that data/django's tests and
// e2e/django run against: Debian's python3-django on /usr/bin/python3
// (never a python3 found earlier on the PATH, which may be a virtualenv
// without Django or with another version).
//
// When Django is missing the test is skipped, or fails when
// SESSIONMON_REQUIRE_DJANGO=1 or SESSIONMON_REQUIRE_PG=1 (CI sets the
// latter), so a missing Django is never silently green in CI.
package djangotest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Python is the interpreter the tests use.
const Python = "/usr/bin/python3"

var (
	once    sync.Once
	version string
	probErr error
)

// Require returns Django's version on Python, skipping (or failing, see the
// package comment) when it is not installed.
func Require(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var out, errb bytes.Buffer
		cmd := exec.CommandContext(ctx, Python, "-c", "import django, psycopg2; print(django.get_version())")
		cmd.Stdout, cmd.Stderr = &out, &errb
		if probErr = cmd.Run(); probErr != nil {
			probErr = &probeError{err: probErr, stderr: strings.TrimSpace(errb.String())}
			return
		}
		version = strings.TrimSpace(out.String())
	})
	if probErr != nil {
		msg := "djangotest: Django not usable on " + Python + ": " + probErr.Error() +
			"\n\tinstall it with: apt-get install -y python3-django python3-psycopg2"
		if os.Getenv("SESSIONMON_REQUIRE_DJANGO") == "1" || os.Getenv("SESSIONMON_REQUIRE_PG") == "1" {
			t.Fatal(msg + " (SESSIONMON_REQUIRE_DJANGO or SESSIONMON_REQUIRE_PG is 1, so this is a failure)")
		}
		t.Skip(msg + " (set SESSIONMON_REQUIRE_DJANGO=1 to fail instead)")
	}
	return version
}

type probeError struct {
	err    error
	stderr string
}

func (e *probeError) Error() string {
	if e.stderr == "" {
		return e.err.Error()
	}
	lines := strings.Split(e.stderr, "\n")
	return e.err.Error() + ": " + lines[len(lines)-1]
}

// Run runs Python with args in dir, feeding stdin, and returns stdout. It
// fails the test, with stderr, when the command fails.
func Run(t testing.TB, dir string, env []string, stdin []byte, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Python, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("djangotest: %s %s: %v\n%s", Python, strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes()
}
