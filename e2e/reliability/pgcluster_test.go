package reliability

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pgCluster is a private PostgreSQL cluster in a temporary directory, so a
// test can stop and start it without touching the shared server other
// packages' tests use at the same time.
type pgCluster struct {
	t       *testing.T
	bindir  string
	dir     string // owned by the server's OS user: data/, the socket, the log
	port    int
	cred    *syscall.Credential // nil: run as the current user
	running bool
}

// pgBinDir finds the PostgreSQL server binaries: SESSIONMON_PG_BINDIR, or the
// newest /usr/lib/postgresql/*/bin holding initdb and pg_ctl.
func pgBinDir() (string, error) {
	if d := os.Getenv("SESSIONMON_PG_BINDIR"); d != "" {
		for _, bin := range []string{"initdb", "pg_ctl"} {
			if _, err := os.Stat(filepath.Join(d, bin)); err != nil {
				return "", fmt.Errorf("SESSIONMON_PG_BINDIR=%s: %w", d, err)
			}
		}
		return d, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(matches, func(a, b string) int { // newest major version first
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return vb - va
	})
	for _, m := range matches {
		d := filepath.Dir(m)
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("no initdb/pg_ctl in /usr/lib/postgresql/*/bin or PATH (set SESSIONMON_PG_BINDIR)")
}

// startPGCluster creates a cluster with initdb and starts it on a free port
// of 127.0.0.1. initdb refuses to run as root, so as root the server runs as
// the "postgres" OS user. Without the binaries (or that user) the test is
// skipped, or fails with SESSIONMON_REQUIRE_PG=1. The cluster is stopped and
// removed when the test ends, whatever its outcome.
func startPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	bindir, err := pgBinDir()
	if err != nil {
		skipOrFailPG(t, "private PostgreSQL cluster: %v", err)
	}
	c := &pgCluster{t: t, bindir: bindir}
	dir, err := os.MkdirTemp("", "sessionmon-pg-") // not t.TempDir: its parent is root's, 0700
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(c.destroy)
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			skipOrFailPG(t, "private PostgreSQL cluster: running as root and there is no \"postgres\" OS user to run initdb as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.run(2*time.Minute, "initdb", "-D", c.dataDir(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.port = freePort(t)
	c.start()
	return c
}

func (c *pgCluster) dataDir() string { return filepath.Join(c.dir, "data") }

// DSN is the cluster's "postgres" database over TCP.
func (c *pgCluster) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=3", c.port)
}

// run runs a PostgreSQL binary as the cluster's OS user and returns its
// combined output.
func (c *pgCluster) run(timeout time.Duration, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bindir, bin), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGTZ=UTC")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// start starts the server and waits until it accepts connections.
// fsync is off: an immediate stop is a crash of PostgreSQL, not of the OS,
// so what it wrote is still in the page cache and crash recovery replays it.
func (c *pgCluster) start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40 -c shared_buffers=16MB",
		c.port, c.dir)
	out, err := c.run(90*time.Second, "pg_ctl", "-D", c.dataDir(), "-l", filepath.Join(c.dir, "server.log"),
		"-o", opts, "-w", "-t", "60", "start")
	if err != nil {
		c.t.Fatalf("pg_ctl start: %v\n%s\nserver log:\n%s", err, out, c.logTail())
	}
	c.running = true
}

// stopImmediate stops the server the hard way (no checkpoint; clients see
// their connections drop), as an outage would.
func (c *pgCluster) stopImmediate() {
	c.t.Helper()
	out, err := c.run(60*time.Second, "pg_ctl", "-D", c.dataDir(), "-m", "immediate", "-w", "-t", "30", "stop")
	if err != nil {
		c.t.Fatalf("pg_ctl stop -m immediate: %v\n%s", err, out)
	}
	c.running = false
}

func (c *pgCluster) destroy() {
	if _, err := os.Stat(filepath.Join(c.dataDir(), "postmaster.pid")); err == nil {
		if out, err := c.run(60*time.Second, "pg_ctl", "-D", c.dataDir(), "-m", "immediate", "-w", "-t", "30", "stop"); err != nil {
			c.t.Logf("cleanup: pg_ctl stop: %v\n%s", err, out)
		}
	}
	if c.t.Failed() {
		c.t.Logf("private PostgreSQL server log:\n%s", c.logTail())
	}
	os.RemoveAll(c.dir)
}

func (c *pgCluster) logTail() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
	s := string(b)
	if len(s) > 3000 {
		s = "…" + s[len(s)-3000:]
	}
	return strings.TrimSpace(s)
}

// freePort returns a TCP port on 127.0.0.1 that is free now and, as far as
// possible, stays free while the cluster is down between a stop and a start:
// it is picked below the kernel's ephemeral range, so the outgoing
// connections other tests make cannot take it meanwhile.
func freePort(t *testing.T) int {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	if low > 20000 {
		for range 50 {
			p := 20000 + rand.IntN(low-20000)
			if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
				ln.Close()
				return p
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// pids returns the cluster's processes: the postmaster first, then its
// children (backends, checkpointer, walwriter, ...).
func (c *pgCluster) pids() ([]int, error) {
	b, err := os.ReadFile(filepath.Join(c.dataDir(), "postmaster.pid"))
	if err != nil {
		return nil, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return nil, fmt.Errorf("postmaster.pid: %q", first)
	}
	out := []int{pm}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		stat, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == pm {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			out = append(out, pid)
		}
	}
	return out, nil
}

// freeze stops every process of the cluster with SIGSTOP: connections stay
// open and TCP still accepts, but nothing answers (a hung database, not a
// dead one). It returns the function that thaws them with SIGCONT; it is also
// called when the test ends.
func (c *pgCluster) freeze() (thaw func()) {
	c.t.Helper()
	pids, err := c.pids()
	if err != nil {
		c.t.Fatalf("freeze: %v", err)
	}
	thaw = sync.OnceFunc(func() {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	c.t.Cleanup(thaw)
	for i := len(pids) - 1; i >= 0; i-- { // children first: the postmaster would notice them stop
		if err := syscall.Kill(pids[i], syscall.SIGSTOP); err != nil {
			c.t.Logf("freeze: SIGSTOP %d: %v", pids[i], err)
		}
	}
	return thaw
}
