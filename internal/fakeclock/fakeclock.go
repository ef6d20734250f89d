// Package fakeclock is the clock tests inject into a sessionlogic.Manager
// (Options.Now) and the dashboard: it stands still until the test moves it.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock standing at start.
func New(start time.Time) *Clock { return &Clock{t: start} }

// AtNow returns a clock standing at the real time, truncated to the
// second, so cookie Expires values make sense to real HTTP clients.
func AtNow() *Clock { return New(time.Now().UTC().Truncate(time.Second)) }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t, which must not be in its past.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Before(c.t) {
		panic("fakeclock: moved backwards")
	}
	c.t = t
}
