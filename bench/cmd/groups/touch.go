package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"sessionmon/bench/harness"
)

// What the 0007 indexes cost the hot path: they hold the expiry's minute
// bucket, which a Touch changes at most once a minute per session (0005),
// so most touches write none of their entries. touchRate measures store.Touch on random
// bulk-loaded sessions from `workers` goroutines for d; the caller runs it
// with the indexes and without them, alternating, in the same run.

// touchRate returns touches per second.
func touchRate(ctx context.Context, touch func(ctx context.Context, id string, now, exp time.Time) error, n, workers int, d time.Duration) float64 {
	var done atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(stop) {
				now := time.Now().UTC().Truncate(time.Microsecond)
				if err := touch(ctx, harness.BulkID(1+rand.IntN(n)), now, now.Add(14*24*time.Hour)); err != nil {
					check(fmt.Errorf("touch: %w", err))
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / d.Seconds()
}

// compareTouch alternates rounds with and without the indexes and prints
// the medians and their ratio.
func compareTouch(what string, rounds int, with, without func() float64, drop, create func()) {
	var w, wo []float64
	for range rounds {
		w = append(w, with())
		drop()
		wo = append(wo, without())
		create()
	}
	mw, mwo := harness.Summarize(w).Med, harness.Summarize(wo).Med
	fmt.Printf("%s Touch, %d rounds alternating: with the 0004/0007 indexes %.0f/s, without %.0f/s: %.1f%% of the rate without (%.0f%% slower)\n",
		what, rounds, mw, mwo, 100*mw/mwo, 100*(1-mw/mwo))
}
