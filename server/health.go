package server

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Health probing and the outage log.
const (
	// healthTTL is how long a probe's answer is reused. A load balancer
	// (or many) asking /healthz many times a second costs the store at
	// most one read and one write per healthTTL.
	healthTTL = time.Second
	// healthRecheck is how young a healthy answer may be and still be
	// reused after a request was refused: the refusal may mean the store
	// just went down, but a store that probes fine while requests time out
	// (overload) must not get a probe per /healthz on top.
	healthRecheck = 100 * time.Millisecond
	// healthTimeout bounds one probe (read and write together).
	healthTimeout = 2 * time.Second
	// refusedReportEvery is how often, at most, the count of requests
	// refused for want of a store is logged: one line per period, not one
	// per request.
	refusedReportEvery = 10 * time.Second
)

// storeHealth answers "can the store both read and write?" for /healthz,
// and keeps the outage log. During an outage every request on a store path
// answers 503; logging each (two lines a request, about 1,400 lines a second
// under load) buries the cause and fills disks. Instead it logs:
//
//   - one line when the store is found down, with the cause (the probe's
//     error);
//   - one line per refusedReportEvery while requests are refused, with how
//     many were;
//   - one line when the store is back, with how long it was down and how
//     many requests were refused meanwhile.
//
// Probes run at most once per healthTTL (once per healthRecheck while
// requests are being refused), one at a time, whoever asks
// (/healthz, a refused request, the recovery watch), on a context of their
// own so a caller that gives up does not cancel the answer others wait for.
// While the store is down a goroutine probes every healthTTL to notice the
// recovery even when no request arrives; it ends when the store is back or
// Close is called.
type storeHealth struct {
	probe   func(ctx context.Context) error // read and write; nil error = healthy
	log     *slog.Logger
	ttl     time.Duration
	every   time.Duration
	timeout time.Duration

	mu          sync.Mutex
	at          time.Time     // when err was measured (zero: never)
	err         error         // the last probe's answer
	running     chan struct{} // closed when the probe in flight ends; nil when none
	down        bool
	since       time.Time // when the store was found down
	refused     int64     // requests refused since window, not yet reported
	window      time.Time // when the first of them was refused
	total       int64     // requests refused since the store went down, already reported
	lastRefused time.Time // when a request was last refused
	watching    bool      // the recovery watch is running
	closed      chan struct{}
	once        sync.Once
}

func newStoreHealth(probe func(context.Context) error, log *slog.Logger) *storeHealth {
	return &storeHealth{
		probe:   probe,
		log:     log,
		ttl:     healthTTL,
		every:   refusedReportEvery,
		timeout: healthTimeout,
		closed:  make(chan struct{}),
	}
}

// check returns the store's health: a cached answer younger than ttl, the
// answer of the probe in flight, or a new probe's. A healthy answer older
// than healthRecheck is not reused once a request was refused after it:
// the store may have gone down since, and /healthz must not keep a dead
// replica in rotation for a second longer than it takes to look. It waits
// at most until ctx is done.
func (h *storeHealth) check(ctx context.Context) error {
	h.mu.Lock()
	age := time.Since(h.at)
	suspect := h.err == nil && h.lastRefused.After(h.at) && age >= healthRecheck
	if !h.at.IsZero() && age < h.ttl && !suspect {
		err := h.err
		h.mu.Unlock()
		return err
	}
	done := h.startLocked()
	h.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// startLocked starts a probe unless one is in flight, and returns the
// channel closed when it ends. h.mu is held.
func (h *storeHealth) startLocked() <-chan struct{} {
	if h.running != nil {
		return h.running
	}
	done := make(chan struct{})
	h.running = done
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
		err := h.probe(ctx)
		cancel()
		h.record(err)
		close(done)
	}()
	return done
}

// record stores a probe's answer and logs a change of state.
func (h *storeHealth) record(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	h.at, h.err, h.running = now, err, nil
	switch {
	case err != nil && !h.down:
		h.down, h.since = true, now
		h.log.Error("session store down: requests that need it answer 503, and so does /healthz",
			"cause", err.Error())
		if !h.watching {
			h.watching = true
			go h.watch()
		}
	case err == nil && h.down:
		refused := h.total + h.refused
		// Warn, not Info: a log kept at warn level must show the end of
		// the outage it shows the start of.
		h.log.Warn("session store back", "down_for", now.Sub(h.since).Round(time.Millisecond),
			"requests_refused", refused)
		h.down, h.total, h.refused = false, 0, 0
	}
}

// refusedRequest counts a request answered 503 because the store could not
// answer. While the store is thought healthy it starts a probe (at most one
// per ttl) to find out whether it is down, and why.
func (h *storeHealth) refusedRequest() {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if h.refused == 0 {
		h.window = now
	}
	h.refused++
	h.lastRefused = now
	if !h.down && (h.at.IsZero() || now.Sub(h.at) >= h.ttl) {
		h.startLocked()
	}
	h.reportLocked(now)
}

// reportLocked writes the refused count once its window is every long.
// h.mu is held. A refusal while the store probes healthy (a timeout under
// load) is reported with the next one, or with the recovery line.
func (h *storeHealth) reportLocked(now time.Time) {
	if h.refused == 0 || now.Sub(h.window) < h.every {
		return
	}
	attrs := []any{"requests_refused", h.refused, "in", now.Sub(h.window).Round(100 * time.Millisecond)}
	if h.down {
		attrs = append(attrs, "down_for", now.Sub(h.since).Round(time.Second))
		if h.err != nil {
			attrs = append(attrs, "cause", h.err.Error())
		}
	}
	h.log.Warn("requests refused with 503: no session store", attrs...)
	if h.down {
		h.total += h.refused
	}
	h.refused = 0
}

// watch probes every ttl while the store is down, so the recovery is
// logged (and /healthz turns 200) even if nothing asks, and writes the
// refused count when due.
func (h *storeHealth) watch() {
	t := time.NewTicker(h.ttl)
	defer t.Stop()
	for {
		select {
		case <-h.closed:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
		_ = h.check(ctx)
		cancel()
		h.mu.Lock()
		h.reportLocked(time.Now())
		if !h.down {
			h.watching = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
	}
}

// close stops the recovery watch. A probe in flight ends by its timeout.
func (h *storeHealth) close() { h.once.Do(func() { close(h.closed) }) }
