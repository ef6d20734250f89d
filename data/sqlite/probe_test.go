package sqlite

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	sqlite3 "modernc.org/sqlite/lib"

	"sessionmon/internal/testkit/tmpfs"
)

func openProbeStore(t *testing.T, path string) *Store {
	t.Helper()
	st, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// primaryCode is the primary result code inside err (SQLITE_FULL for
// any extended code of it), or 0.
func primaryCode(err error) int { return sqliteCode(err) & 0xff }

// TestProbeWriteGrowsNothing: probing many times leaves one row and a
// database of the same size (the WAL frames it adds are checkpointed like
// any other).
func TestProbeWriteGrowsNothing(t *testing.T) {
	st := openProbeStore(t, filepath.Join(t.TempDir(), "probe.db"))
	ctx := t.Context()
	pages := func() (n int64) {
		if _, err := st.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			t.Fatal(err)
		}
		if err := st.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := st.ProbeWrite(ctx); err != nil {
		t.Fatalf("ProbeWrite on a healthy file: %v", err)
	}
	before := pages()
	for range 2000 {
		if err := st.ProbeWrite(ctx); err != nil {
			t.Fatalf("ProbeWrite: %v", err)
		}
	}
	if after := pages(); after != before {
		t.Errorf("2000 probes grew the database from %d to %d pages", before, after)
	}
	var rows int
	if err := st.w.QueryRowContext(ctx, "SELECT count(*) FROM health_probe").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("health_probe has %d rows, want 1", rows)
	}
	// A row deleted by hand comes back instead of failing every probe.
	if _, err := st.w.ExecContext(ctx, "DELETE FROM health_probe"); err != nil {
		t.Fatal(err)
	}
	if err := st.ProbeWrite(ctx); err != nil {
		t.Fatalf("ProbeWrite after the row was deleted: %v", err)
	}
}

// TestProbeWriteSeesAReadOnlyConnection: the writer can only read (what
// SQLite does with a file the process may not write: it opens it read-only
// without a word); Ping still answers, the probe says SQLITE_READONLY.
// The e2e test TestHealthzOnReadOnlySQLiteFile does the same with a real
// read-only file.
func TestProbeWriteSeesAReadOnlyConnection(t *testing.T) {
	st := openProbeStore(t, filepath.Join(t.TempDir(), "ro.db"))
	ctx := t.Context()
	if _, err := st.w.ExecContext(ctx, "PRAGMA query_only = 1"); err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v (the point is that a ping still answers)", err)
	}
	err := st.ProbeWrite(ctx)
	if err == nil {
		t.Fatal("ProbeWrite on a read-only connection: nil error")
	}
	if c := primaryCode(err); c != sqlite3.SQLITE_READONLY {
		t.Errorf("ProbeWrite: %v (code %d), want SQLITE_READONLY", err, c)
	}
	if !strings.Contains(err.Error(), "probe write") {
		t.Errorf("error %q does not name the operation", err)
	}
}

// TestProbeWriteSeesAFullDisk puts the file on a small tmpfs, fills it, and
// checks the probe fails with SQLITE_FULL while Ping still answers, then
// passes again once space is freed. It needs to mount a tmpfs (root with
// CAP_SYS_ADMIN, as in CI) and skips otherwise.
func TestProbeWriteSeesAFullDisk(t *testing.T) {
	dir := tmpfs.Mount(t, "2m")
	st := openProbeStore(t, filepath.Join(dir, "full.db"))
	ctx := t.Context()
	if err := st.ProbeWrite(ctx); err != nil {
		t.Fatalf("ProbeWrite before the disk is full: %v", err)
	}
	filler := filepath.Join(dir, "filler")
	// dd stops at ENOSPC with a non-zero status; the disk is then full.
	out, _ := exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=4k").CombinedOutput()
	if !strings.Contains(string(out), "No space left") {
		t.Fatalf("could not fill %s: %s", dir, out)
	}
	// The WAL may still have room from earlier frames; probe until it must
	// grow (a handful of frames at most).
	var err error
	probes := 0
	for ; probes < 100 && err == nil; probes++ {
		err = st.ProbeWrite(ctx)
	}
	t.Logf("probe %d on the full disk: %v", probes, err)
	if err == nil {
		t.Fatal("ProbeWrite kept succeeding on a full disk")
	}
	if c := primaryCode(err); c != sqlite3.SQLITE_FULL && c != sqlite3.SQLITE_IOERR {
		t.Errorf("ProbeWrite on a full disk: %v (code %d), want SQLITE_FULL", err, c)
	}
	if perr := st.Ping(ctx); perr != nil {
		t.Fatalf("Ping on a full disk: %v (the point is that a ping still answers)", perr)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := st.ProbeWrite(ctx); err != nil {
		t.Errorf("ProbeWrite after space was freed: %v", err)
	}
}
