package reliability

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHealthzOnReadOnlySQLiteFile: `sessionmon serve` on an SQLite file
// the process may not write (SQLite opens it read-only without a word)
// answered every login 503 and /healthz 200, so a load balancer kept the
// replica in rotation. Now either serve refuses to start, in one line
// naming the file (sqlite.Open checks it), or, if it starts, /healthz says
// 503 like the logins. As root (CI) the server runs as "nobody", since root
// writes any file.
func TestHealthzOnReadOnlySQLiteFile(t *testing.T) {
	bin := sessionmonBinary(t)
	dir, err := os.MkdirTemp("", "sessionmon-ro-") // not t.TempDir: its parent is root's, 0700
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	db := filepath.Join(dir, "ro.db")
	cli(t, dir, "", "--db", db, "migrate")
	cli(t, dir, "pw-read-only-1\n", "--db", db, "users", "add", "ro", "--password-stdin")

	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Skipf("running as root and there is no \"nobody\" user to run a server that cannot write: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
		for _, p := range []string{dir, db} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Chmod(db, 0o444); err != nil {
		t.Fatal(err)
	}
	if cred != nil { // the built binary sits in root's private directory: copy it where nobody can run it
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(dir, "sessionmon")
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	logPath := filepath.Join(dir, "serve.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--db", db, "serve", "--listen", "127.0.0.1:0")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, cleanEnv(), logf, logf
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	readLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }

	var base string
	for deadline := time.Now().Add(30 * time.Second); base == ""; {
		if m := serveURL.FindStringSubmatch(readLog()); m != nil {
			base = m[1]
			break
		}
		select {
		case <-done:
			// sqlite.Open refuses a file it may not write, in one line
			// naming it: as clear an answer as a 503 from /healthz.
			if l := readLog(); strings.Contains(l, db) && strings.Contains(l, "not writable") && strings.Count(strings.TrimSpace(l), "\n") == 0 {
				t.Logf("serve refused to start on the read-only file: %s", strings.TrimSpace(l))
				return
			}
			t.Fatalf("serve exited without one line naming the read-only file:\n%s", readLog())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", readLog())
		}
	}
	c := newClient(1, 10*time.Second)
	r := do(c, http.MethodPost, base, "/login", url.Values{"username": {"ro"}, "password": {"pw-read-only-1"}}, "")
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("login on a read-only file: %s, want 503 (is the file really read-only to the server?)\n%s", r, readLog())
	}
	r = do(c, http.MethodGet, base, "/healthz", nil, "")
	if r.Status != http.StatusServiceUnavailable {
		t.Errorf("/healthz on a read-only file: %s, want 503 like the login\n%s", r, readLog())
	}
	if l := readLog(); strings.Count(l, "session store down") != 1 || !strings.Contains(l, "readonly") {
		t.Errorf("want one \"session store down\" line naming the read-only file:\n%s", l)
	}
	if r := do(c, http.MethodGet, base, "/livez", nil, ""); r.Status != http.StatusOK {
		t.Errorf("/livez: %s, want 200 (the process is alive)", r)
	}
}
