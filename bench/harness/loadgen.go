package harness

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Result is one measured run of a workload.
type Result struct {
	Ops      int64         // completed operations (2xx for HTTP)
	All      int64         // every operation that returned, warm-up and tail included (per-request write figures divide by it)
	Non2xx   int64         // HTTP answers outside 2xx
	Errors   int64         // transport or store errors
	Elapsed  time.Duration // measured window
	Rate     float64       // Ops per second
	P50, P99 time.Duration // latency percentiles (0 when not measured)
	GenCPU   time.Duration // CPU time of a generator in its own process (wrk), warm-up included
	Note     string
}

// latencies gathers per-worker samples; merged at the end.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(s []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, s...)
	l.mu.Unlock()
}

func (l *latencies) fill(r *Result) {
	slices.Sort(l.all)
	if n := len(l.all); n > 0 {
		r.P50 = l.all[n*50/100]
		r.P99 = l.all[min(n-1, n*99/100)]
	}
}

// HTTPLoad is the load generator: conns workers, each on its own keep-alive
// connection to url, send GET with cookie name=<random token> back to back.
// The first warmup is not counted; then it measures for d.
func HTTPLoad(ctx context.Context, url, cookieName string, tokens []string, conns int, warmup, d time.Duration) Result {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	return OpLoad(ctx, len(tokens), conns, warmup, d, func(ctx context.Context, i int) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Cookie", cookieName+"="+tokens[i])
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return errNon2xx
		}
		return nil
	})
}

// errNon2xx marks an answer that came back but was not 2xx: counted in
// Result.Non2xx rather than Errors.
var errNon2xx = errors.New("non-2xx answer")

// OpLoad runs op from workers goroutines back to back (each call gets a
// fresh random index below n), ignores the first warmup, then measures for
// d: the rate of successful calls and their latency percentiles.
func OpLoad(ctx context.Context, n, workers int, warmup, d time.Duration, op func(ctx context.Context, i int) error) Result {
	var measuring atomic.Bool
	var ok, non2xx, errs, all atomic.Int64
	var lat latencies
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 0x70c4))
			local := make([]time.Duration, 0, 1<<14)
			for {
				select {
				case <-stop:
					lat.add(local)
					return
				default:
				}
				start := time.Now()
				err := op(ctx, rng.IntN(n))
				el := time.Since(start)
				all.Add(1)
				if !measuring.Load() {
					continue
				}
				switch {
				case errors.Is(err, errNon2xx):
					non2xx.Add(1)
					continue
				case err != nil:
					errs.Add(1)
					continue
				}
				ok.Add(1)
				local = append(local, el)
			}
		})
	}
	sleep(ctx, warmup)
	measuring.Store(true)
	start := time.Now()
	sleep(ctx, d)
	measuring.Store(false)
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	r := Result{Ops: ok.Load(), All: all.Load(), Non2xx: non2xx.Load(), Errors: errs.Load(), Elapsed: elapsed}
	r.Rate = float64(r.Ops) / elapsed.Seconds()
	lat.fill(&r)
	return r
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
