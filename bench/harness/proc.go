package harness

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// ProcStatus reads fields (in kB) such as VmHWM and VmRSS from /proc/self/status.
func ProcStatus(fields ...string) map[string]int64 {
	out, _ := ProcStatusOf(0, fields...)
	return out
}

// ProcStatusOf reads fields such as VmRSS, VmHWM (kB) and Threads from
// /proc/<pid>/status (pid 0: this process).
func ProcStatusOf(pid int, fields ...string) (map[string]int64, error) {
	f, err := os.Open(procPath(pid, "status"))
	if err != nil {
		return map[string]int64{}, err
	}
	defer f.Close()
	return parseProcStatus(f, fields...), nil
}

// parseProcStatus reads "Name:\tvalue[ kB]" lines, keeping the fields
// asked for; a value that is not a number reads as 0.
func parseProcStatus(r io.Reader, fields ...string) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		for _, want := range fields {
			if k == want {
				n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				out[k] = n
			}
		}
	}
	return out
}

// ProcFDs counts the open file descriptors of pid (0: this process).
func ProcFDs(pid int) (int, error) {
	ents, err := os.ReadDir(procPath(pid, "fd"))
	return len(ents), err
}

// ProcCPU is the CPU time (user + system) pid has used (0: this process).
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(procPath(pid, "stat"))
	if err != nil {
		return 0, err
	}
	return parseProcStatCPU(string(b))
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go runs on.
const clockTicks = 100

// parseProcStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and
// may hold spaces and parentheses itself, so fields are counted after its
// last ")".
func parseProcStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat %q: no command name", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want 13 or more", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

func procPath(pid int, name string) string {
	if pid == 0 {
		return "/proc/self/" + name
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + name
}
