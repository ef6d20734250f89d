package sqlite_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sessionmon/data/sqlite"
)

// child runs the test named test in a new process of this test binary, with
// env added: the way to test what several processes, or a process with a
// different view of the file system, do. A child reports a condition it
// cannot set up with t.Skip: the parent skips with the child's reason.
func child(t *testing.T, test string, env []string, setup func(*exec.Cmd)) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	if setup != nil {
		setup(cmd)
	}
	return cmd
}

// finish waits for a child started with child and fails (or skips) the
// test as the child did.
func finish(t *testing.T, what string, out []byte, err error) {
	t.Helper()
	if i := strings.Index(string(out), "--- SKIP"); i >= 0 {
		t.Skipf("%s: the child skipped:\n%s", what, out)
	}
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, out)
	}
}

// TestConcurrentOpenFromProcesses: several processes opening the same new
// file at the same instant all succeed, as `serve`, `watch` and `users add`
// started together by a script would (issue 8: SQLITE_BUSY in one run in
// eight of TestConcurrentOpenOfANewFile).
func TestConcurrentOpenFromProcesses(t *testing.T) {
	if path := os.Getenv("SQLITE_TEST_OPEN_PATH"); path != "" {
		at, _ := strconv.ParseInt(os.Getenv("SQLITE_TEST_OPEN_AT"), 10, 64)
		time.Sleep(time.Until(time.Unix(0, at)))
		st, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if err := st.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		return
	}
	const procs, rounds = 4, 3
	for round := range rounds {
		path := filepath.Join(t.TempDir(), fmt.Sprint("s", round, ".db"))
		at := time.Now().Add(500 * time.Millisecond).UnixNano() // all start together, after exec
		var wg sync.WaitGroup
		for i := range procs {
			cmd := child(t, "TestConcurrentOpenFromProcesses", []string{
				"SQLITE_TEST_OPEN_PATH=" + path, "SQLITE_TEST_OPEN_AT=" + strconv.FormatInt(at, 10),
			}, nil)
			wg.Go(func() {
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Errorf("round %d, process %d: %v\n%s", round, i, err, out)
				}
			})
		}
		wg.Wait()
	}
}

// TestOpenNamesTheFileInTheWay: a -shm (or -wal, or database, or
// directory) this process cannot write is refused at Open with one line
// that names it and its permission, instead of SQLite's "attempt to write
// a readonly database" at the first migration (issue 8).
//
// Root passes mode bits, so as root the file is made immutable
// (chattr +i), which the kernel refuses to root too; as another user it
// is mode 0444. The test skips only where neither can be set up.
func TestOpenNamesTheFileInTheWay(t *testing.T) {
	for _, suffix := range []string{"-shm", "-wal", "", "/"} {
		name := map[string]string{"-shm": "shm", "-wal": "wal", "": "database", "/": "directory"}[suffix]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "w.db")
			victim := path + suffix
			if suffix == "/" { // the directory of a new database
				victim = dir
			} else {
				st, err := sqlite.Open(t.Context(), path)
				if err != nil {
					t.Fatal(err)
				}
				st.Close()
			}
			// An earlier run's leftover: an empty -shm or -wal is what a
			// crashed process of another user leaves.
			if suffix == "-shm" || suffix == "-wal" {
				if err := os.WriteFile(victim, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			how := makeReadOnly(t, victim)

			st, err := sqlite.Open(t.Context(), path)
			if err == nil {
				st.Close()
				t.Fatalf("Open with %s %s succeeded", victim, how)
			}
			msg := err.Error()
			t.Log(msg)
			if !errors.Is(err, sqlite.ErrNotWritable) {
				t.Errorf("err = %v, want errors.Is ErrNotWritable", err)
			}
			if !strings.Contains(msg, victim+" is not writable by uid "+strconv.Itoa(os.Geteuid())) || !strings.Contains(msg, how) {
				t.Errorf("err = %q, want it to name %s, the uid and %q", msg, victim, how)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("err = %q, want one line", msg)
			}
			if suffix == "-wal" && strings.Contains(msg, "remove it") {
				t.Errorf("err = %q advises removing the WAL, which holds committed data", msg)
			}
		})
	}
}
