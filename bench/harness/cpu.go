package harness

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU per request (issue 11). On a machine shared with other work the
// rates swing 2× from one run to the next; the CPU time each contender's
// processes spend per request moves far less, and on 2 CPU-bound cores the
// rate is about 2 cores divided by it. So every HTTP contender also reports
// its CPU per request, split three ways:
//
//   - this process (the server under test; with the in-process Go client
//     the generator too), from getrusage;
//   - its PostgreSQL backends: every client backend whose application_name
//     is the contender's schema (NewSchema puts it in the DSN), from
//     /proc/<pid>/stat at the end of the run (the backends are opened by
//     the warm-up and live through the run, so their whole CPU time counts
//     against every request, warm-up included). PostgreSQL's own background
//     processes (WAL writer, checkpointer) are not counted;
//   - the generator when it is a separate process (wrk), from its rusage.

// ProcessCPU is this process's user + system CPU time so far.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// BackendCPU is the CPU time so far of the client backends connected with
// the schema's application_name (other than the caller's), and how many
// there are. PostgreSQL must run on this machine (NewSchema only accepts
// loopback), so its processes are in /proc.
func BackendCPU(ctx context.Context, s *Schema) (time.Duration, int, error) {
	c, err := s.Conn(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close(context.Background())
	rows, err := c.Query(ctx, `SELECT pid FROM pg_stat_activity
		WHERE application_name = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()`, s.Name)
	if err != nil {
		return 0, 0, err
	}
	var pids []int
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return 0, 0, err
		}
		pids = append(pids, pid)
	}
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	var total time.Duration
	for _, pid := range pids {
		d, err := procCPU(pid)
		if err != nil {
			return 0, 0, err
		}
		total += d
	}
	return total, len(pids), nil
}

// procCPU reads utime + stime of a process from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after its closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(u+st) * clockTick, nil
}
