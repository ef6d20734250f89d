//go:build sessionmon_pprof

package main

// Built with -tags sessionmon_pprof (bench/cmd/djangodash -pprof does), the
// binary serves Go's profiles on SESSIONMON_PPROF_ADDR, and at /debug/vars
// the bytes mapped outside the Go heap (internal/offheap): how the memory
// of a long-running dashboard was traced to what holds it. Release builds
// have none of this.
//
// SESSIONMON_MEMPROFILERATE sets runtime.MemProfileRate (Go's default
// samples one allocation per 512 KiB): a creep of a few KB a second shows
// in a heap profile's difference only when it is sampled finer, e.g. 4096.

import (
	"expvar"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"strconv"

	"sessionmon/internal/offheap"
)

func init() {
	if rate, err := strconv.Atoi(os.Getenv("SESSIONMON_MEMPROFILERATE")); err == nil && rate > 0 {
		runtime.MemProfileRate = rate
	}
	if addr := os.Getenv("SESSIONMON_PPROF_ADDR"); addr != "" {
		expvar.Publish("offheap_mapped", expvar.Func(func() any { return offheap.Mapped() }))
		go http.ListenAndServe(addr, nil)
	}
}
