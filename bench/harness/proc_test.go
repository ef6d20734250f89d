package harness

import (
	"strings"
	"testing"
	"time"
)

func TestParseProcStatus(t *testing.T) {
	status := "Name:\tsessionmon\nState:\tS (sleeping)\nVmHWM:\t  131072 kB\nVmRSS:\t   65536 kB\nThreads:\t12\n"
	got := parseProcStatus(strings.NewReader(status), "VmRSS", "VmHWM", "Threads", "VmSwap")
	want := map[string]int64{"VmRSS": 65536, "VmHWM": 131072, "Threads": 12}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
}

func TestParseProcStatCPU(t *testing.T) {
	// A command name with a space and a ")" must not shift the fields:
	// utime 250 and stime 50 ticks are 3 s.
	stat := "4242 (a) b) S 1 4242 4242 0 -1 4194560 1500 0 0 0 250 50 0 0 20 0 12 0 1000 0 0\n"
	got, err := parseProcStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if got != 3*time.Second {
		t.Errorf("cpu = %v, want 3s", got)
	}
	for _, bad := range []string{"", "4242 (x S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 0 0 0 0 0 ab 50 0"} {
		if _, err := parseProcStatCPU(bad); err == nil {
			t.Errorf("parseProcStatCPU(%q): no error", bad)
		}
	}
}
