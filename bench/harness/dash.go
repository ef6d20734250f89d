package harness

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"sessionmon/data"
)

// Probe wraps the dashboard's root model without changing it: it counts
// the messages Update gets (by type), times every View() call per window
// size, and reports the first View that contains a watched string (the
// username of a fresh login) to whoever armed the watch.
type Probe struct {
	Inner tea.Model
	S     *ProbeStats
}

// ProbeStats is shared between the running program and the harness.
type ProbeStats struct {
	mu     sync.Mutex
	size   string
	views  map[string][]time.Duration // per "WxH"
	msgs   map[string]int             // Update messages by type
	last   string                     // the last frame rendered
	target atomic.Pointer[watchFor]
}

type watchFor struct {
	s    string
	seen chan time.Time
	once sync.Once
}

// NewProbe wraps m.
func NewProbe(m tea.Model) Probe {
	return Probe{Inner: m, S: &ProbeStats{views: map[string][]time.Duration{}, msgs: map[string]int{}, size: "initial"}}
}

// Init starts the dashboard.
func (p Probe) Init() tea.Cmd { return p.Inner.Init() }

// Update forwards msg and counts it.
func (p Probe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	p.S.mu.Lock()
	if ws, ok := msg.(tea.WindowSizeMsg); ok {
		p.S.size = fmt.Sprintf("%dx%d", ws.Width, ws.Height)
	}
	p.S.msgs[fmt.Sprintf("%T", msg)]++
	p.S.mu.Unlock()
	m, cmd := p.Inner.Update(msg)
	p.Inner = m
	return p, cmd
}

// View renders, times the render, and checks for the watched string.
func (p Probe) View() string {
	t := time.Now()
	v := p.Inner.View()
	d := time.Since(t)
	done := time.Now()
	p.S.mu.Lock()
	p.S.views[p.S.size] = append(p.S.views[p.S.size], d)
	p.S.last = v
	p.S.mu.Unlock()
	if w := p.S.target.Load(); w != nil && strings.Contains(v, w.s) {
		w.once.Do(func() { w.seen <- done })
	}
	return v
}

// Watch arms a watch for s: the returned channel receives the time of the
// end of the first View() that contains s.
func (s *ProbeStats) Watch(str string) <-chan time.Time {
	w := &watchFor{s: str, seen: make(chan time.Time, 1)}
	s.target.Store(w)
	return w.seen
}

// Views returns a copy of the View() durations per window size.
func (s *ProbeStats) Views() map[string][]time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]time.Duration{}
	for k, v := range s.views {
		out[k] = append([]time.Duration(nil), v...)
	}
	return out
}

// Msgs returns a copy of the message counts by type.
func (s *ProbeStats) Msgs() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.msgs {
		out[k] = v
	}
	return out
}

// Last is the last frame rendered.
func (s *ProbeStats) Last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// NoWatch hides a store's Watch method (it embeds only data.Store, so the
// data.Watcher interface is dropped): the dashboard falls back to polling.
type NoWatch struct{ data.Store }

// WaitFor polls cond every 10ms until it holds or ctx/timeout ends.
func WaitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return true
}
