//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrNotWritable is the error, matched with errors.Is, of an Open refused
// because a file SQLite must write (the database, its -wal or -shm, or the
// directory they are created in) is not writable by this process.
var ErrNotWritable = errors.New("not writable")

// checkWritable finds a file in the way of opening the database at path
// for writing: the database, its -wal and -shm when they exist, and their
// directory when one of them is still to be created. SQLite itself reports
// such a file late and without its name: a read-only -shm left by another
// user's run gives "attempt to write a readonly database" at the first
// migration. It asks access(2), so the answer is the kernel's (root passes
// mode bits but not an immutable file or a read-only mount).
func checkWritable(path string) error {
	dir := filepath.Dir(path)
	create := false
	for _, f := range []struct{ name, fix string }{
		{path, "fix its permissions"},
		// Removing a -wal would lose committed transactions: never advise it.
		{path + "-wal", "fix its permissions, and never delete it: it holds committed transactions"},
		// The -shm is an index rebuilt from the WAL: safe to remove while
		// no process has the database open.
		{path + "-shm", "remove it (with no process using the database) or fix its permissions"},
	} {
		fi, err := os.Stat(f.name)
		if errors.Is(err, fs.ErrNotExist) {
			create = true
			continue
		}
		if err != nil {
			return err
		}
		if err := syscall.Access(f.name, 0x2|0x4); err != nil { // W_OK|R_OK
			return notWritable(f.name, fi, err, f.fix)
		}
	}
	if !create {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	if err := syscall.Access(dir, 0x2|0x1); err != nil { // W_OK|X_OK
		return notWritable(dir, fi, err, "SQLite creates the database's -wal and -shm files there: fix its permissions")
	}
	return nil
}

// notWritable is the one line an operator needs: which file, who asks,
// what its permissions are, and what to do.
func notWritable(name string, fi fs.FileInfo, err error, fix string) error {
	why := fmt.Sprintf("is not writable by uid %d (mode %04o, %s)", os.Geteuid(), fi.Mode().Perm(), owner(fi))
	switch {
	case errors.Is(err, syscall.EROFS):
		why = "is on a read-only file system"
	case errors.Is(err, syscall.EPERM):
		// Mode bits would give EACCES: this is an attribute.
		why = fmt.Sprintf("is not writable by uid %d (mode %04o, %s, immutable or append-only: see lsattr)",
			os.Geteuid(), fi.Mode().Perm(), owner(fi))
	}
	return &notWritableError{fmt.Sprintf("%s %s; %s", name, why, fix)}
}

type notWritableError struct{ msg string }

func (e *notWritableError) Error() string        { return e.msg }
func (e *notWritableError) Is(target error) bool { return target == ErrNotWritable }

func owner(fi fs.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("owner uid %d", st.Uid)
	}
	return "owner unknown"
}
