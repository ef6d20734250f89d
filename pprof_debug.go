//go:build sessionmon_pprof

package main

// Built with -tags sessionmon_pprof (bench/cmd/djangodash -pprof does), the
// binary serves Go's profiles on SESSIONMON_PPROF_ADDR, and at /debug/vars
// the bytes mapped outside the Go heap (internal/offheap): how the memory
// of a long-running dashboard was traced to what holds it. Release builds
// have none of this.

import (
	"expvar"
	"net/http"
	_ "net/http/pprof"
	"os"

	"sessionmon/internal/offheap"
)

func init() {
	if addr := os.Getenv("SESSIONMON_PPROF_ADDR"); addr != "" {
		expvar.Publish("offheap_mapped", expvar.Func(func() any { return offheap.Mapped() }))
		go http.ListenAndServe(addr, nil)
	}
}
