package tui

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"sessionmon/sessionlogic"
)

// With the store gone, x then y: the status line says the force-out is
// under way without a ✓, then that it failed, and the refresh's "store
// unreachable" that follows within milliseconds does not hide the failure
// until the operator has had time to read it (issue 9).
func TestFailedForceOutStaysVisible(t *testing.T) {
	now := t0
	m := load(newTest(t, Options{Now: func() time.Time { return now }}), fixture())
	m = press(m, "x", "y")
	if v := m.View(); strings.Contains(v, "✓") || !strings.Contains(v, "… forcing out 1 session") {
		t.Fatalf("under way:\n%s", v)
	}
	down := errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	m, _ = upd(m, actionMsg{id: m.seq, err: down})
	m, _ = upd(m, windowMsg{id: m.fetchID, req: m.lastReq, err: down})
	for _, after := range []time.Duration{0, time.Second, 10 * time.Second} {
		now = t0.Add(after)
		m, _ = upd(m, clockTickMsg{tag: m.clockTag})
		v := m.View()
		if strings.Contains(v, "✓") || !strings.Contains(v, "✗ dial tcp 127.0.0.1:5432") || strings.Contains(v, "store unreachable") {
			t.Fatalf("%s after the failure:\n%s", after, v)
		}
	}
	now = t0.Add(holdFailure + time.Second)
	m, _ = upd(m, clockTickMsg{tag: m.clockTag})
	if v := m.View(); !strings.Contains(v, "✗ store unreachable") {
		t.Fatalf("after the hold:\n%s", v)
	}
	// A success is held too, for a shorter while.
	now = t0
	m = load(newTest(t, Options{Now: func() time.Time { return now }}), fixture())
	m, _ = upd(m, actionMsg{id: 1, text: "forced out alice: 1 session"})
	m, _ = upd(m, windowMsg{id: m.fetchID, req: m.lastReq, err: down})
	if v := m.View(); !strings.Contains(v, "✓ forced out alice: 1 session") {
		t.Fatalf("success hidden by the refresh:\n%s", v)
	}
}

// The message and the filter/sort on the right are kept apart (issue 9:
// "✓ polling paused filter "admin"").
func TestStatusLineSeparatesMessages(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	m = press(m, "/", "a", "d", "m", "i", "n", "enter", "p")
	lines := strings.Split(m.View(), "\n")
	status := lines[len(lines)-2]
	if !strings.Contains(status, "polling paused") || !strings.Contains(status, " │ filter \"admin\"") {
		t.Fatalf("status line %q", status)
	}
}

// Below 10 lines the header goes, but one state cell stays (issue 9).
func TestShortTerminalKeepsTheState(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	for _, h := range []int{9, 6, 3} {
		m, _ = upd(m, tea.WindowSizeMsg{Width: 80, Height: h})
		if v := m.View(); !strings.Contains(v, "● live") {
			t.Fatalf("height %d:\n%s", h, v)
		}
	}
	m, _ = upd(m, windowMsg{id: m.fetchID, req: m.lastReq, err: errors.New("connection refused")})
	if v := m.View(); !strings.Contains(v, "✗ stale") {
		t.Fatalf("stale at height 3:\n%s", v)
	}
}

// Paused: no "● live" beside "⏸ paused", and + says the interval applies
// once resumed (issue 9).
func TestPausedSaysSo(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	m = press(m, "p", "+")
	v := m.View()
	if strings.Contains(v, "● live") || !strings.Contains(v, "⏸ paused") || strings.Contains(v, "polling every") ||
		!strings.Contains(v, "once resumed") {
		t.Fatalf("paused:\n%s", v)
	}
}

// 1 login, 1 entry (issue 9: "1 logins in 5m", "the latest 1 entries").
func TestGrammar(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	m, _ = upd(m, statsMsg{id: m.statsID, stats: sessionlogic.Stats{Active: 1, RecentLogins: 1}})
	if v := m.View(); !strings.Contains(v, "1 login in 5m") {
		t.Fatalf("header:\n%s", v)
	}
	if auditTitle(1) != "Audit: the latest entry" {
		t.Fatal(auditTitle(1))
	}
}

// A source still reading its first pass (a Django site at a million rows:
// data.ErrNotReady) is not down: the header says it is reading, the status
// line says how far, in the status colour of news rather than failure, and
// the next poll comes at the poll's pace, without a failure's backoff. Once
// it answers, the dashboard is live.
func TestReadingSourceIsNotUnreachable(t *testing.T) {
	now := t0
	m := newTest(t, Options{Now: func() time.Time { return now }})
	reading := fmt.Errorf("412,000 of ~998,530: %w", sessionlogic.ErrNotReady)
	m, cmd := upd(m, windowMsg{id: m.fetchID, req: m.lastReq, err: reading})
	v := m.View()
	if !strings.Contains(v, "reading the store") || !strings.Contains(v, "412,000 of ~998,530") ||
		strings.Contains(v, "unreachable") || strings.Contains(v, "✗") {
		t.Fatalf("while the source reads:\n%s", v)
	}
	if m.failures != 0 || cmd == nil {
		t.Fatalf("reading counted as failure %d (or no next poll armed: %v)", m.failures, cmd == nil)
	}
	m = load(m, fixture())
	if v := m.View(); !strings.Contains(v, "● live") || strings.Contains(v, "reading the store") || strings.Contains(v, "998,530") {
		t.Fatalf("after the first answer:\n%s", v)
	}
}
