package harness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"sessionmon/data"
	"sessionmon/sessionlogic"
)

// Window is the number of rows a dashboard shows (one screen).
const Window = 50

// Poller replays the dashboard's refresh through the Manager: the visible
// window (Active, sorted by expiry, Window rows), the changes since the last
// counter it saw (paged until More is false), and the stats.
type Poller struct {
	M     *sessionlogic.Manager
	since int64
}

// NewPoller starts a poller at the store's current version.
func NewPoller(ctx context.Context, m *sessionlogic.Manager) (*Poller, error) {
	ch, err := m.Changes(ctx, 1<<62, 1)
	if err != nil {
		return nil, err
	}
	return &Poller{M: m, since: ch.Version}, nil
}

// CycleTimes are the parts of one poll cycle.
type CycleTimes struct {
	Window, Changes, Stats time.Duration
	Changed                int // rows Changes returned
}

// NoStats is the cycle without Stats (for a slower stats cadence).
func (c CycleTimes) NoStats() time.Duration { return c.Window + c.Changes }

// Total is the whole cycle.
func (c CycleTimes) Total() time.Duration { return c.Window + c.Changes + c.Stats }

// Cycle runs one poll cycle (with Stats) and times its parts.
func (p *Poller) Cycle(ctx context.Context) (CycleTimes, error) { return p.CycleStats(ctx, true) }

// CycleStats runs one poll cycle, with Stats only when withStats (the
// dashboard refreshes stats on their own, slower cadence).
func (p *Poller) CycleStats(ctx context.Context, withStats bool) (CycleTimes, error) {
	var c CycleTimes
	t := time.Now()
	page, err := p.M.Active(ctx, sessionlogic.ListQuery{Sort: sessionlogic.SortExpires, Limit: Window})
	if err != nil {
		return c, fmt.Errorf("window: %w", err)
	}
	if len(page.Sessions) == 0 {
		return c, fmt.Errorf("window: no rows")
	}
	c.Window = time.Since(t)

	t = time.Now()
	for {
		ch, err := p.M.Changes(ctx, p.since, 1000)
		if err != nil {
			return c, fmt.Errorf("changes: %w", err)
		}
		c.Changed += len(ch.Sessions)
		if ch.More && len(ch.Sessions) > 0 {
			p.since = ch.Sessions[len(ch.Sessions)-1].Version
			continue
		}
		p.since = ch.Version
		break
	}
	c.Changes = time.Since(t)

	if !withStats {
		return c, nil
	}
	t = time.Now()
	if _, err := p.M.Stats(ctx); err != nil {
		return c, fmt.Errorf("stats: %w", err)
	}
	c.Stats = time.Since(t)
	return c, nil
}

// Naive is the baseline: a dashboard that fetches every active row on each
// refresh (Active pages of MaxListLimit, keyset-paged to the end) and
// counts them itself. It returns the time and the rows seen.
func Naive(ctx context.Context, m *sessionlogic.Manager) (time.Duration, int, error) {
	t := time.Now()
	n := 0
	byRole := map[string]int{}
	var after *sessionlogic.Cursor
	for {
		page, err := m.Active(ctx, sessionlogic.ListQuery{Sort: sessionlogic.SortExpires, Limit: sessionlogic.MaxListLimit, After: after})
		if err != nil {
			return 0, n, err
		}
		for _, s := range page.Sessions {
			byRole[s.Role]++
		}
		n += len(page.Sessions)
		if page.Next == nil {
			break
		}
		after = page.Next
	}
	return time.Since(t), n, nil
}

// Churn touches k random bulk-loaded rows (ids BulkID(1..n)) so the next
// cycle's Changes has something to return, as on a live system.
func Churn(ctx context.Context, st data.Store, rng *rand.Rand, n, k int) error {
	now := time.Now().UTC().Truncate(time.Microsecond)
	for range k {
		if _, err := st.Touch(ctx, BulkID(1+rng.IntN(n)), now, now.Add(14*24*time.Hour)); err != nil {
			return err
		}
	}
	return nil
}

// Summary is the median, min and max of samples.
type Summary struct{ Med, Min, Max float64 }

// Summarize returns the median, min and max of xs.
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Summary{Med: med, Min: s[0], Max: s[len(s)-1]}
}

// Ms converts a duration to float milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
