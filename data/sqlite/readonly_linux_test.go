package sqlite_test

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// ioctls and the flag of chattr +i (linux/fs.h).
const (
	fsIocGetflags = 0x80086601
	fsIocSetflags = 0x40086602
	fsImmutableFl = 0x10
)

// makeReadOnly makes path unwritable for this process and says how, in
// the words Open's error uses: "mode 0444" for a user, "immutable" for
// root (who passes mode bits). The change is undone when the test ends.
func makeReadOnly(t *testing.T, path string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o444)
		if fi.IsDir() {
			mode = 0o555
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(path, fi.Mode().Perm()) })
		return fmt.Sprintf("mode %04o", mode)
	}
	if err := setFlags(path, true); err != nil {
		t.Skipf("cannot make %s immutable as root (chattr +i: %v), and root passes mode bits", path, err)
	}
	t.Cleanup(func() {
		if err := setFlags(path, false); err != nil {
			t.Errorf("chattr -i %s: %v", path, err)
		}
	})
	return "immutable"
}

func setFlags(path string, immutable bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var flags uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocGetflags, uintptr(unsafe.Pointer(&flags))); e != 0 {
		return e
	}
	if immutable {
		flags |= fsImmutableFl
	} else {
		flags &^= fsImmutableFl
	}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocSetflags, uintptr(unsafe.Pointer(&flags))); e != 0 {
		return e
	}
	return nil
}
