// Package tmpfs gives a test a small file system of its own, to fill up.
// It is apart from testkit, which imports the stores, so that a store's
// own in-package tests can use it too.
package tmpfs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size (as mount's size= option, "2m") on a new
// directory under t.TempDir(), unmounts it when the test ends, and returns
// the directory. Mounting needs root with CAP_SYS_ADMIN (as in CI): without
// it the test is skipped.
func Mount(t testing.TB, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}
