//go:build sessionmon_pprof

package main

// Built with -tags sessionmon_pprof (bench/cmd/djangodash -pprof does), the
// binary serves Go's profiles on SESSIONMON_PPROF_ADDR: how the memory of
// a long-running dashboard was traced to what holds it. Release builds
// have none of this.

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("SESSIONMON_PPROF_ADDR"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
}
