package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"sessionmon/sessionlogic"
)

// The selected session's holder makes a request: its expiry slides and it
// moves to the end of the `expires ▲` list. The window follows it, and
// must still be full: rows above it fill what the list's end leaves empty
// (issue 9: 6 rows and 8 blank lines with 33 sessions and a 14-row table).
func TestFollowedToTheEndFillsTheWindow(t *testing.T) {
	e := newEnv(t, 0, time.Hour)
	e.user(t, "ann", "user")
	var second string
	for i := range 33 {
		tok, _ := e.login(t, "ann", i)
		if i == 1 {
			second = tok
		}
		e.clock.Advance(time.Second)
	}
	m := New(Options{Manager: e.m, Sort: sessionlogic.SortExpires})
	m, _ = upd(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m.lastReq = m.windowReq(placeTop)
	m = settle(t, m)
	m = press(m, "down") // the second row: a session the operator picked
	sel, _ := m.table.Selected()
	if _, err := e.m.Authenticate(context.Background(), second); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.m.Session(context.Background(), sel.ID); !got.ExpiresAt.After(sel.ExpiresAt) {
		t.Fatal("the request did not slide the expiry")
	}
	for _, height := range []int{24, 30} { // the help open or not: two table sizes
		m, _ = upd(m, tea.WindowSizeMsg{Width: 80, Height: height})
		m.lastReq = m.windowReq(placeTop)
		m = settle(t, m)
		if got, _ := m.table.Selected(); got.ID != sel.ID {
			t.Fatalf("height %d: the selection did not follow its session", height)
		}
		if n := len(m.table.rows) - m.table.offset; n < m.table.height {
			t.Fatalf("height %d: %d rows shown in a %d-row table of 33 sessions", height, n, m.table.height)
		}
		if got, _ := m.table.Selected(); got.ID != m.table.rows[len(m.table.rows)-1].ID {
			t.Fatal("the followed session is not the last row")
		}
	}
}

// Keys typed faster than the store answers all count: Home then five PgDn
// in one burst, before any window arrives, lands five pages down (issue 9:
// row 46 or 47 instead of 96 at 1,000 sessions).
func TestPagingFasterThanTheStore(t *testing.T) {
	e := newEnv(t, 0, 0)
	e.user(t, "ann", "user")
	for i := range 120 {
		e.login(t, "ann", i)
		e.clock.Advance(time.Second)
	}
	p, err := e.m.Active(context.Background(), sessionlogic.ListQuery{Limit: 1000})
	if err != nil || len(p.Sessions) != 120 {
		t.Fatal(len(p.Sessions), err)
	}
	full := p.Sessions
	for _, burst := range [][]string{
		{"home", "pgdown", "pgdown", "pgdown", "pgdown", "pgdown"},
		{"end", "pgup", "pgup", "pgup", "up", "up"},
		{"home", "pgdown", "pgdown", "end", "home", "down", "down"},
	} {
		m := New(Options{Manager: e.m, Sort: sessionlogic.SortExpires})
		m, _ = upd(m, tea.WindowSizeMsg{Width: 80, Height: 24})
		m.lastReq = m.windowReq(placeTop)
		m = settle(t, m)
		page := m.table.height
		pos := 0
		for _, k := range burst {
			switch k {
			case "home":
				pos = 0
			case "end":
				pos = len(full) - 1
			case "pgdown":
				pos = min(len(full)-1, pos+page)
			case "pgup":
				pos = max(0, pos-page)
			case "down":
				pos = min(len(full)-1, pos+1)
			case "up":
				pos = max(0, pos-1)
			}
			// The key goes in; the window it asks for is not answered yet.
			var cmd tea.Cmd
			m, cmd = upd(m, keyMsg(k))
			for _, msg := range run(cmd) {
				switch msg.(type) {
				case scrolledMsg, scrollUpMsg, jumpMsg:
					m, _ = upd(m, msg)
				}
			}
		}
		for i := 0; m.fetching; i++ {
			if i > 20 {
				t.Fatal("the window never settled")
			}
			w := fetchWindowCmd(context.Background(), m.mgr, m.fetchID, m.lastReq)()
			var cmd tea.Cmd
			m, cmd = upd(m, w)
			for _, msg := range run(cmd) {
				switch msg.(type) {
				case scrolledMsg, scrollUpMsg, jumpMsg:
					m, _ = upd(m, msg)
				}
			}
		}
		if got, _ := m.table.Selected(); got.ID != full[pos].ID {
			at := -1
			for i := range full {
				if full[i].ID == got.ID {
					at = i
				}
			}
			t.Fatalf("%v: selected row %d, want %d", burst, at, pos)
		}
	}
}

// The detail view is live: four seconds after a revoke from the CLI it
// must not still say "state active" (issue 9); a poll reads it again.
func TestDetailViewIsLive(t *testing.T) {
	e := newEnv(t, 0, time.Hour)
	e.user(t, "ann", "user")
	_, s := e.login(t, "ann", 1)
	m := New(Options{Manager: e.m, Sort: sessionlogic.SortExpires})
	m, _ = upd(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m.lastReq = m.windowReq(placeTop)
	m = settle(t, m)
	var cmd tea.Cmd
	m, cmd = upd(m, keyMsg("enter"))
	for _, msg := range run(cmd) {
		m, _ = upd(m, msg)
	}
	if v := m.View(); !strings.Contains(v, "state           active") {
		t.Fatalf("detail:\n%s", v)
	}
	if _, err := e.m.ForceLogout(context.Background(), "cli-operator", s.ID); err != nil {
		t.Fatal(err)
	}
	m, cmd = upd(m, pollTickMsg{tag: m.pollTag})
	for _, msg := range run(cmd) {
		m, _ = upd(m, msg)
	}
	if v := m.View(); !strings.Contains(v, "state           ended 0s ago (forced by cli-operator)") {
		t.Fatalf("after a revoke and a poll:\n%s", v)
	}
}

// The detail view wraps a long user agent instead of cutting it at the
// terminal's edge (issue 9).
func TestDetailWrapsTheUserAgent(t *testing.T) {
	row := sess(1, "alice", "admin", time.Hour)
	row.UserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86"
	m := load(newTest(t, Options{}), []sessionlogic.Session{row})
	m = press(m, "enter")
	v := m.View()
	for _, part := range []string{"Mozilla/5.0 (Windows NT 10.0;", "Safari/537.36", "Edg/131.0.2903.86"} {
		if !strings.Contains(v, part) {
			t.Fatalf("%q missing:\n%s", part, v)
		}
	}
}

// Frozen against a store: a session that moves away in the order and one
// that ends are read by id and stay where they were.
func TestFreezeAgainstStore(t *testing.T) {
	e := newEnv(t, 0, time.Hour)
	e.user(t, "ann", "user")
	var toks []string
	for i := range 40 {
		tok, _ := e.login(t, "ann", i)
		toks = append(toks, tok)
		e.clock.Advance(time.Second)
	}
	m := New(Options{Manager: e.m, Sort: sessionlogic.SortExpires})
	m, _ = upd(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m.lastReq = m.windowReq(placeTop)
	m = settle(t, m)
	m = press(m, "F")
	before := ids(m.table.rows)
	moved, gone := m.table.rows[0], m.table.rows[1]
	if _, err := e.m.Authenticate(context.Background(), toks[0]); err != nil { // to the end of the order
		t.Fatal(err)
	}
	if _, err := e.m.ForceLogout(context.Background(), "cli", gone.ID); err != nil {
		t.Fatal(err)
	}
	m, _ = upd(m, pollTickMsg{tag: m.pollTag})
	m = settle(t, m)
	if strings.Join(ids(m.table.rows), ",") != strings.Join(before, ",") {
		t.Fatal("the order moved while frozen")
	}
	if !m.table.rows[0].ExpiresAt.After(moved.ExpiresAt) || m.table.rows[1].EndedAt.IsZero() {
		t.Fatalf("values not updated: %v %v", m.table.rows[0].ExpiresAt, m.table.rows[1].EndedAt)
	}
}

// Keys typed ahead of a move go where they would have gone: after "/",
// into the filter (not "a" for the audit view); a "y" typed before a
// confirmation showed does not confirm it.
func TestTypedAheadKeysKeepTheirMeaning(t *testing.T) {
	e := newEnv(t, 0, 0)
	e.user(t, "ann", "user")
	for i := range 80 {
		e.login(t, "ann", i)
		e.clock.Advance(time.Second)
	}
	m := New(Options{Manager: e.m, Sort: sessionlogic.SortExpires})
	m, _ = upd(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m.filterDelay = 0
	m.lastReq = m.windowReq(placeTop)
	m = settle(t, m)
	// type sends keys without answering the store; answer then answers
	// every window asked for until none is in flight.
	typeKeys := func(keys ...string) {
		for _, k := range keys {
			var cmd tea.Cmd
			m, cmd = upd(m, keyMsg(k))
			m = drainLocal(m, cmd)
		}
	}
	answer := func() {
		for i := 0; m.fetching; i++ {
			if i > 20 {
				t.Fatal("the window never settled")
			}
			var cmd tea.Cmd
			m, cmd = upd(m, fetchWindowCmd(context.Background(), m.mgr, m.fetchID, m.lastReq)())
			m = drainLocal(m, cmd)
		}
	}
	typeKeys("pgdown", "pgdown")
	if !m.moving {
		t.Fatal("no move in flight")
	}
	typeKeys("/", "a", "n")
	answer()
	if !m.filter.editing || m.filter.value != "an" || m.mode != modeTable {
		t.Fatalf("filter %q editing %v mode %v", m.filter.value, m.filter.editing, m.mode)
	}
	typeKeys("esc")
	answer()
	typeKeys("end", "x", "y")
	answer()
	if !m.confirm.open || strings.Contains(m.status.text, "forcing out") {
		t.Fatalf("confirm open %v, status %q", m.confirm.open, m.status.text)
	}
}

// drainLocal feeds back the messages components emit, without running
// store commands (those wait for answer()).
func drainLocal(m Model, cmd tea.Cmd) Model {
	for _, msg := range run(cmd) {
		switch msg.(type) {
		case scrolledMsg, scrollUpMsg, jumpMsg, filterChangedMsg, confirmedMsg, cancelledMsg:
			var next tea.Cmd
			m, next = upd(m, msg)
			m = drainLocal(m, next)
		}
	}
	return m
}
