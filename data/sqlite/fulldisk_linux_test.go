package sqlite_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sessionmon/data/sqlite"
	"sessionmon/data/storetest"
)

// TestFullDiskRecoversByItself: the store's file system fills up while
// requests touch sessions; the writes fail; once space is freed the same
// Store (no restart) writes again, and the WAL does not fill the disk
// again (issue 8: after space was freed the WAL refilled it within a
// second, because it was never checkpointed).
//
// The full disk is a real one: a 16 MB tmpfs, mounted in a mount namespace
// of a child process (so nothing is mounted on the machine), filled with a
// file. That needs CAP_SYS_ADMIN (root, as in CI); elsewhere it skips.
func TestFullDiskRecoversByItself(t *testing.T) {
	if dir := os.Getenv("SQLITE_TEST_FULLDISK_DIR"); dir != "" {
		fullDisk(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := child(t, "TestFullDiskRecoversByItself", []string{"SQLITE_TEST_FULLDISK_DIR=" + dir}, func(c *exec.Cmd) {
		c.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	})
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.EPERM) {
		t.Skipf("cannot make a mount namespace here (%v): the full-disk test needs root", err)
	}
	finish(t, "the full-disk child", out, err)
	t.Logf("child:\n%s", out)
}

// fullDisk is the child's side: it runs in a mount namespace of its own.
func fullDisk(t *testing.T, dir string) {
	const fsSize = 16 << 20
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16m"); err != nil {
		t.Skipf("cannot mount a tmpfs on %s (%v): the full-disk test needs root", dir, err)
	}
	defer syscall.Unmount(dir, syscall.MNT_DETACH)
	free := func() int64 {
		var s syscall.Statfs_t
		if err := syscall.Statfs(dir, &s); err != nil {
			t.Fatal(err)
		}
		return int64(s.Bavail) * s.Bsize
	}

	path := filepath.Join(dir, "s.db")
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ss := mkSessions(t, st, "a", "b", "c", "d")
	i := 0
	touch := func() error {
		i++
		now := storetest.T0.Add(time.Duration(i) * time.Millisecond)
		_, err := st.Touch(t.Context(), ss[i%len(ss)].ID, now, now.Add(time.Hour))
		return err
	}

	// Fill the disk to the last byte.
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	for _, n := range []int{4096, 512, 1} { // the last partial chunks
		for {
			if _, err := f.Write(chunk[:n]); err != nil {
				break
			}
		}
	}
	f.Close()
	t.Logf("disk full: %d bytes free", free())

	// Writes fail while it is full (the WAL has to grow).
	var fullErr error
	for range 20000 {
		if fullErr = touch(); fullErr != nil {
			break
		}
	}
	if fullErr == nil {
		t.Fatal("20,000 touches on a full disk all succeeded: the disk was not full")
	}
	t.Logf("on the full disk: %v", fullErr)
	if !strings.Contains(fullErr.Error(), "full") {
		t.Errorf("the error on a full disk = %q, want it to say the disk is full", fullErr)
	}
	for range 50 { // and go on failing, without harm
		touch()
	}

	// Free the space: the same Store writes again, at once.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	var err2 error
	for try := 0; ; try++ {
		if err2 = touch(); err2 == nil {
			break
		}
		if try == 100 {
			t.Fatalf("100 touches after the disk was cleared still fail: %v", err2)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Sustained writes do not fill the disk again: the WAL stays bounded.
	n := 20000
	if raceEnabled {
		n = 5000 // main's WAL refilled the disk after 791
	}
	minFree := free()
	var maxWAL int64
	for j := range n {
		if err := touch(); err != nil {
			t.Fatalf("touch %d of %d after the disk was cleared: %v (%d bytes free)", j, n, err, free())
		}
		if j%200 == 0 {
			minFree = min(minFree, free())
			size, _ := walFile(t, path)
			maxWAL = max(maxWAL, size)
		}
	}
	t.Logf("after clearing: %d touches, the WAL peaked at %d bytes, free space never below %d of %d", n, maxWAL, minFree, fsSize)
	if maxWAL >= maxWALBytes {
		t.Errorf("the WAL reached %d bytes after the disk was cleared; want under %d", maxWAL, maxWALBytes)
	}
}
