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

func TestConfirmDefaultsToNo(t *testing.T) {
	for _, answer := range []string{"enter", "n", "N", "esc", "q"} {
		t.Run(answer, func(t *testing.T) {
			m := load(newTest(t, Options{}), fixture())
			m = press(m, "x")
			if !m.confirm.open {
				t.Fatal("x did not open the confirmation")
			}
			seq := m.seq
			var cmd tea.Cmd
			m, cmd = upd(m, keyMsg(answer))
			if m.confirm.open {
				t.Fatalf("%s left the confirmation open", answer)
			}
			msgs := run(cmd)
			if _, ok := find[confirmedMsg](msgs); ok {
				t.Fatalf("%s confirmed", answer)
			}
			if _, ok := find[tea.QuitMsg](msgs); ok {
				t.Fatalf("%s in the dialog quit the dashboard", answer)
			}
			m = drain(m, cmd)
			if m.seq != seq || !strings.Contains(m.status.text, "cancelled") {
				t.Fatalf("after %s: seq %d->%d, status %q", answer, seq, m.seq, m.status.text)
			}
		})
	}
}

func TestConfirmOnlyLowercaseYConfirms(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	m = press(m, "x")
	for _, k := range []string{"Y", "z", "x", " ", "up", "tab"} {
		var cmd tea.Cmd
		m, cmd = upd(m, keyMsg(k))
		if !m.confirm.open {
			t.Fatalf("%q closed the confirmation", k)
		}
		if _, ok := find[confirmedMsg](run(cmd)); ok {
			t.Fatalf("%q confirmed", k)
		}
	}
	m, cmd := upd(m, keyMsg("y"))
	c, ok := find[confirmedMsg](run(cmd))
	if !ok || m.confirm.open {
		t.Fatal("y did not confirm")
	}
	if c.kind != actForceOut || len(c.targets) != 1 || c.targets[0].ID != sid(1) || c.targets[0].Username != "alice" {
		t.Fatalf("confirmed %+v", c)
	}
	m, _ = upd(m, c)
	if !strings.Contains(m.status.text, "forcing out 1 session") {
		t.Fatalf("status %q", m.status.text)
	}
}

// The targets are captured when x is pressed: a refresh that moves the rows
// (and the selection) before the answer does not retarget the action.
func TestConfirmCapturesTargets(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	m = press(m, "down") // bob, session 2
	m = press(m, "x")
	if got := m.confirm.targets; len(got) != 1 || got[0].ID != sid(2) {
		t.Fatalf("captured %+v", got)
	}
	// A poll arrives: bob's session is gone and the rows have moved.
	rows := fixture()
	rows = append(rows[:1], rows[2:]...)
	rows[0], rows[1] = rows[1], rows[0]
	m = press(m, "r")
	m = load(m, rows)
	if s, _ := m.table.Selected(); s.ID == sid(2) {
		t.Fatal("the selection should have moved off the ended session")
	}
	m, cmd := upd(m, keyMsg("y"))
	c, ok := find[confirmedMsg](run(cmd))
	if !ok || len(c.targets) != 1 || c.targets[0].ID != sid(2) || c.targets[0].Username != "bob" {
		t.Fatalf("confirmed %+v, want bob's session 2", c)
	}

	// X captures the user the same way.
	m = load(press(m, "r"), fixture())
	m = press(m, "home")
	m = load(m, fixture())
	m = press(m, "X")
	if m.confirm.kind != actForceOutUser || m.confirm.username != "alice" {
		t.Fatalf("X captured %q", m.confirm.username)
	}
	m = load(press(m, "r"), fixture()[2:])
	m, cmd = upd(m, keyMsg("y"))
	if c, ok := find[confirmedMsg](run(cmd)); !ok || c.username != "alice" {
		t.Fatalf("confirmed %+v, want alice", c)
	}
}

func TestConfirmNamesMarkedAndHidden(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	m = press(m, " ", "down", " ", "down", "down", " ") // alice 1, bob 2, alice 4
	if len(m.table.marks) != 3 {
		t.Fatalf("%d marks", len(m.table.marks))
	}
	m = press(m, "/", "b", "o", "b", "enter")
	if m.lastReq.text != "bob" {
		t.Fatalf("filter sent %q", m.lastReq.text)
	}
	m = load(m, fixture()[1:2])
	m = press(m, "x")
	if !m.confirm.open || len(m.confirm.targets) != 3 || m.confirm.hidden != 2 {
		t.Fatalf("confirm %+v", m.confirm)
	}
	v := m.View()
	for _, want := range []string{"Force out 3 sessions of alice, bob?", "2 of the marked sessions are hidden by the filter"} {
		if !strings.Contains(v, want) {
			t.Fatalf("view lacks %q:\n%s", want, v)
		}
	}
	// Confirmed: the marks it ended are dropped.
	m = press(m, "y")
	m, _ = upd(m, actionMsg{id: m.seq, text: "forced out alice, bob: 3 sessions", done: []string{sid(1), sid(2), sid(4)}})
	if len(m.table.marks) != 0 || m.status.text != "forced out alice, bob: 3 sessions" {
		t.Fatalf("marks %d, status %q", len(m.table.marks), m.status.text)
	}
}

func TestForceOutUserCounts(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	m = press(m, "X")
	if !strings.Contains(m.View(), "Counting") {
		t.Fatal("no counting line")
	}
	m, _ = upd(m, userCountMsg{id: m.confirm.countID - 1, username: "alice", n: 99})
	if m.confirm.counted {
		t.Fatal("a stale count was taken")
	}
	m, _ = upd(m, userCountMsg{id: m.confirm.countID, username: "alice", n: 2})
	if v := m.View(); !strings.Contains(v, "Force out every session of alice?") || !strings.Contains(v, "2 active sessions will end") {
		t.Fatalf("view:\n%s", v)
	}
}

func TestReadOnly(t *testing.T) {
	m := load(newTest(t, Options{ReadOnly: true}), fixture())
	for _, k := range []string{" ", "x", "X", "e"} {
		m = press(m, k)
		if m.confirm.open || m.extend.open || len(m.table.marks) > 0 {
			t.Fatalf("%q acted in read-only mode", k)
		}
		// Not silence: the key says why it does nothing (issue 9).
		if !strings.Contains(m.View(), "✗ read-only: this dashboard changes no session") {
			t.Fatalf("%q in read-only mode gave no feedback:\n%s", k, m.View())
		}
		m.status.Set("")
	}
	m = press(m, "enter") // the detail view: actions are off there too
	for _, k := range []string{"x", "X", "e"} {
		m = press(m, k)
		if m.confirm.open || m.extend.open {
			t.Fatalf("%q acted in the read-only detail view", k)
		}
	}
	m = press(m, "esc", "?")
	v := m.View()
	for _, absent := range []string{"force out", "extend", "mark"} {
		if strings.Contains(v, absent) {
			t.Fatalf("read-only help shows %q:\n%s", absent, v)
		}
	}
	rw := press(load(newTest(t, Options{}), fixture()), "?").View()
	for _, present := range []string{"force out", "extend", "mark"} {
		if !strings.Contains(rw, present) {
			t.Fatalf("help lacks %q:\n%s", present, rw)
		}
	}
}

func TestFilter(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	id := m.fetchID
	m = press(m, "/", "a", "l", "i")
	if !m.filter.editing || m.filter.value != "ali" || m.lastReq.text != "ali" || m.fetchID <= id {
		t.Fatalf("editing %v value %q sent %q", m.filter.editing, m.filter.value, m.lastReq.text)
	}
	// Keys that mean something else type text while the input is open.
	m = press(m, "q", "x", "s")
	if m.filter.value != "aliqxs" || m.confirm.open || m.sort != sessionlogic.SortExpires {
		t.Fatalf("value %q", m.filter.value)
	}
	m = press(m, "backspace", "backspace", "backspace", "enter")
	if m.filter.editing || m.filter.value != "ali" {
		t.Fatalf("after enter: editing %v value %q", m.filter.editing, m.filter.value)
	}
	m = load(m, fixture()[:1])
	if !strings.Contains(m.View(), `filter "ali"`) {
		t.Fatal("the status line does not show the filter")
	}
	m = press(m, "esc")
	if m.filter.value != "" || m.lastReq.text != "" {
		t.Fatalf("esc left %q (sent %q)", m.filter.value, m.lastReq.text)
	}
	// Esc while typing clears too; the filter is bounded like the Manager's.
	m = press(m, "/", "b", "esc")
	if m.filter.value != "" || m.filter.editing {
		t.Fatal("esc in the input did not clear the filter")
	}
	m = press(m, "/")
	m, _ = upd(m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(strings.Repeat("z", 500)), Paste: true})
	if n := len(m.filter.value); n != maxFilter {
		t.Fatalf("filter of %d characters", n)
	}
}

func TestSortCycleAndReverse(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	m = press(m, "down") // bob: a session picked, which the new order keeps in view
	want := []sessionlogic.SortKey{sessionlogic.SortLastActivity, sessionlogic.SortLoginTime, sessionlogic.SortUser, sessionlogic.SortExpires}
	for _, w := range want {
		m = press(m, "s")
		if m.sort != w || m.lastReq.sort != w || m.lastReq.at != placeNear || m.lastReq.follow != sid(2) {
			t.Fatalf("sort %q, sent %+v", m.sort, m.lastReq)
		}
	}
	m = press(m, "S")
	if !m.desc || !m.lastReq.desc {
		t.Fatal("S did not reverse")
	}
	if !strings.Contains(m.View(), "sort expires ▼") {
		t.Fatal("the status line does not show the order")
	}
	m = press(m, "S")
	if m.desc {
		t.Fatal("S twice is not ascending")
	}
}

func TestSelectionReanchorsByID(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	m = press(m, "down", "down") // carol, session 3
	rows := fixture()
	moved := []sessionlogic.Session{rows[6], rows[5], rows[4], rows[3], rows[2], rows[1], rows[0]}
	m = press(m, "r")
	m = load(m, moved)
	if s, _ := m.table.Selected(); s.ID != sid(3) || m.table.sel != 4 {
		t.Fatalf("selected %s at %d, want session 3 at 4", s.Username, m.table.sel)
	}
	// The selected session ends: the selection stays where it was.
	gone := append(append([]sessionlogic.Session{}, moved[:4]...), moved[5:]...)
	m = press(m, "r")
	m = load(m, gone)
	if s, _ := m.table.Selected(); m.table.sel != 4 || s.ID != sid(2) {
		t.Fatalf("selected %s at %d", s.Username, m.table.sel)
	}
}

func TestStaleResultsDropped(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	m = press(m, "r")
	old := m.fetchID
	m = press(m, "r")
	m, _ = upd(m, windowMsg{id: old, res: windowResult{rows: manyRows(3)}})
	if m.table.rows[0].ID != sid(1) || len(m.table.rows) != 7 {
		t.Fatal("a superseded window result was applied")
	}
	if !m.fetching {
		t.Fatal("a stale result ended the current fetch")
	}
	m = load(m, manyRows(3))
	if len(m.table.rows) != 3 || m.fetching {
		t.Fatal("the current result was not applied")
	}

	oldStats := m.statsID
	m = press(m, "r")
	m, _ = upd(m, statsMsg{id: oldStats, stats: sessionlogic.Stats{Active: 99}})
	if m.header.stats.Active == 99 {
		t.Fatal("stale stats applied")
	}
	m, _ = upd(m, statsMsg{id: m.statsID, stats: sessionlogic.Stats{Active: 3}})
	if m.header.stats.Active != 3 {
		t.Fatal("current stats not applied")
	}

	m = press(m, "enter")
	first := m.detail.reqID
	m = press(m, "r")
	m, _ = upd(m, detailMsg{id: first, err: errors.New("old")})
	if m.detail.err != nil {
		t.Fatal("a stale detail result was applied")
	}
	m, _ = upd(m, detailMsg{id: m.detail.reqID, session: m.detail.session, audit: []sessionlogic.AuditEntry{{Action: "login", Actor: "user001"}}})
	if len(m.detail.audit) != 1 {
		t.Fatal("the detail result was not applied")
	}
}

func TestPollLoopIsTagged(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	tag := m.pollTag
	// Only a tick of the live loop polls, and a poll fetch asks only for
	// what changed.
	id := m.fetchID
	m, cmd := upd(m, pollTickMsg{tag: tag - 1})
	if cmd != nil || m.fetchID != id {
		t.Fatal("a tick of an older loop polled")
	}
	m, _ = upd(m, pollTickMsg{tag: tag})
	if m.fetchID != id+1 || !m.lastReq.poll || m.lastReq.since != 1 {
		t.Fatalf("the live tick did not poll: %+v", m.lastReq)
	}
	// While the fetch runs, the tick that started it is dead.
	m, cmd = upd(m, pollTickMsg{tag: tag})
	if cmd != nil || m.fetchID != id+1 {
		t.Fatal("a tick polled twice")
	}
	// The result arms exactly one new loop.
	m = load(m, fixture())
	live := m.pollTag
	// Changing the interval re-arms: the loop armed before is dead.
	m = press(m, "+")
	if m.interval != 500*time.Millisecond || m.pollTag == live {
		t.Fatalf("interval %s tag %d", m.interval, m.pollTag)
	}
	if _, cmd = upd(m, pollTickMsg{tag: live}); cmd != nil {
		t.Fatal("the loop from before the interval change still runs")
	}
	for range 10 {
		m = press(m, "-")
	}
	if m.interval != 10*time.Second {
		t.Fatalf("slowest interval %s", m.interval)
	}
	for range 10 {
		m = press(m, "+")
	}
	if m.interval != 250*time.Millisecond {
		t.Fatalf("fastest interval %s", m.interval)
	}
}

func TestPauseResume(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	live := m.pollTag
	m = press(m, "p")
	if !m.paused || !strings.Contains(m.View(), "paused") {
		t.Fatal("p did not pause")
	}
	id := m.fetchID
	if m, cmd := upd(m, pollTickMsg{tag: live}); cmd != nil || m.fetchID != id {
		t.Fatal("a tick polled while paused")
	}
	if m, cmd := upd(m, pollTickMsg{tag: m.pollTag}); cmd != nil || m.fetchID != id {
		t.Fatal("a tick polled while paused")
	}
	// A result while paused does not start a loop.
	m = press(m, "r")
	m = load(m, fixture())
	if m, cmd := upd(m, pollTickMsg{tag: m.pollTag}); cmd != nil {
		_ = m
		t.Fatal("a loop runs while paused")
	}
	m = press(m, "p")
	if m.paused || m.fetchID == id || m.lastReq.poll {
		t.Fatal("resume did not refresh at once")
	}
}

func TestStoreLostAndBack(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	down := errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		m, _ = upd(m, pollTickMsg{tag: m.pollTag})
		if i > 0 && m.header.state != stateReconnecting {
			t.Fatalf("retry %d: state %v", i, m.header.state)
		}
		m, _ = upd(m, windowMsg{id: m.fetchID, err: down})
		if m.header.state != stateStale || m.header.retryAt.Sub(t0) != w {
			t.Fatalf("failure %d: state %v, retry in %s, want %s", i+1, m.header.state, m.header.retryAt.Sub(t0), w)
		}
	}
	if len(m.table.rows) != 7 {
		t.Fatal("the table was dropped")
	}
	v := m.View()
	if !strings.Contains(v, "stale") || !strings.Contains(v, "store unreachable: dial tcp") || !strings.Contains(v, "alice") {
		t.Fatalf("view:\n%s", v)
	}
	m, _ = upd(m, pollTickMsg{tag: m.pollTag})
	m = load(m, fixture()[:2])
	if m.header.state != stateLive || m.status.text != "store is back" || len(m.table.rows) != 2 || m.failures != 0 {
		t.Fatalf("state %v status %q", m.header.state, m.status.text)
	}
}

func TestMalformedRow(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	bad := errors.New(`list active: corrupt session row "abc123": data: invalid character 'o' in literal null`)
	m, _ = upd(m, windowMsg{id: m.fetchID, res: windowResult{rows: fixture()[1:], rowErr: bad}})
	if len(m.table.rows) != 6 || m.header.state != stateLive || !m.status.isErr || !strings.Contains(m.View(), `corrupt session row "abc123"`) {
		t.Fatalf("rows %d state %v status %q", len(m.table.rows), m.header.state, m.status.text)
	}
	// Nothing but bad rows: the store answers, so it is a query error, not
	// a lost store.
	m = press(m, "r")
	m, _ = upd(m, windowMsg{id: m.fetchID, err: bad, reachable: true})
	if m.header.state != stateQueryError || len(m.table.rows) != 6 || !strings.Contains(m.View(), "abc123") {
		t.Fatalf("state %v", m.header.state)
	}
}

func TestExtendPrompt(t *testing.T) {
	m := load(newTest(t, Options{ExtendDefault: 2 * time.Hour}), fixture())
	m = press(m, "down", "down", "down") // alice's session 4, expires in 5h
	m.table.rows[3].AbsoluteExpiresAt = t0.Add(24 * time.Hour)
	m = press(m, "e")
	if !m.extend.open || m.extend.input.Value() != "2h" {
		t.Fatalf("open %v value %q", m.extend.open, m.extend.input.Value())
	}
	if v := m.View(); !strings.Contains(v, "new expiry 12:06:07 UTC (in 7h 00m)") {
		t.Fatalf("no preview:\n%s", v)
	}
	m = press(m, "backspace", "backspace", "3", "0", "h")
	if v := m.View(); !strings.Contains(v, "refused: at most 19h 00m more; the absolute limit is 2031-03-05 05:06 UTC") {
		t.Fatalf("no refusal:\n%s", v)
	}
	m = press(m, "enter")
	if !m.extend.open || m.extend.err == "" {
		t.Fatal("enter on a refused duration closed the prompt")
	}
	m = press(m, "backspace", "backspace", "backspace", "9", "h")
	if strings.Contains(m.View(), "refused") {
		t.Fatal("9h should fit under the limit")
	}
	m = press(m, "backspace", "backspace", "z")
	m = press(m, "enter")
	if !m.extend.open || !strings.Contains(m.View(), "not a duration") {
		t.Fatal("a bad duration was accepted")
	}
	m = press(m, "esc")
	if m.extend.open || !strings.Contains(m.status.text, "cancelled") {
		t.Fatal("esc did not cancel")
	}
	m = press(m, "e", "enter")
	if m.extend.open || !strings.Contains(m.status.text, "extending alice's session") {
		t.Fatalf("status %q", m.status.text)
	}
}

func TestScrollMovesTheWindow(t *testing.T) {
	m := newTest(t, Options{})
	rows := manyRows(m.table.height + 8)
	m = loadPage(m, rows, true, true)
	h := m.table.height
	for range h - 1 {
		m = press(m, "down")
	}
	if m.table.offset != 0 {
		t.Fatal("moved the window before the last visible row")
	}
	id := m.fetchID
	m = press(m, "down")
	if m.table.offset != 1 || m.fetchID != id+1 || m.lastReq.top == nil || m.lastReq.top.ID != rows[0].ID {
		t.Fatalf("offset %d, top %+v", m.table.offset, m.lastReq.top)
	}
	// The new window starts one row down; the selection stays on its session.
	m = loadPage(m, rows[1:], false, true)
	if s, _ := m.table.Selected(); s.ID != rows[h].ID || m.table.offset != 0 {
		t.Fatalf("selected %s", s.Username)
	}
	// Up at the top of a window that is not the start of the list asks
	// for the rows above.
	for range h {
		m = press(m, "up")
	}
	if m.lastReq.at != placeUp || m.lastReq.up != 1 || m.lastReq.from.ID != rows[1].ID || m.lastReq.selectAt != 1 {
		t.Fatalf("request %+v", m.lastReq)
	}
	m = loadPage(m, rows, true, true)
	if s, _ := m.table.Selected(); s.ID != rows[0].ID {
		t.Fatalf("selected %s after moving up", s.Username)
	}
	m = press(m, "end")
	if m.lastReq.at != placeEnd || !m.lastReq.selectEnd {
		t.Fatalf("end sent %+v", m.lastReq)
	}
	m = loadPage(m, rows[len(rows)-h:], false, false)
	if s, _ := m.table.Selected(); s.ID != rows[len(rows)-1].ID {
		t.Fatalf("end selected %s", s.Username)
	}
	m = press(m, "home")
	if m.lastReq.at != placeTop || m.lastReq.top != nil || m.lastReq.selectAt != 1 {
		t.Fatalf("home sent %+v", m.lastReq)
	}
}

func TestWindowLimitFollowsHeight(t *testing.T) {
	m := newTest(t, Options{})
	m, _ = upd(m, tea.WindowSizeMsg{Width: 200, Height: 60})
	m = press(m, "r")
	if m.lastReq.rows != m.table.height || m.lastReq.limit > m.table.height*2 || m.lastReq.limit < m.table.height {
		t.Fatalf("rows %d limit %d for %d visible", m.lastReq.rows, m.lastReq.limit, m.table.height)
	}
	// Growing the window past the rows held fetches a larger one.
	m = loadPage(m, manyRows(m.table.height), true, true)
	id := m.fetchID
	m, _ = upd(m, tea.WindowSizeMsg{Width: 200, Height: 80})
	if m.fetchID != id+1 {
		t.Fatal("a taller window did not fetch more rows")
	}
}

func TestViewsAndBack(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	m = press(m, "enter")
	if m.mode != modeDetail || m.detail.session.ID != sid(1) {
		t.Fatal("enter did not open the detail")
	}
	m = press(m, "esc")
	if m.mode != modeTable {
		t.Fatal("esc did not close the detail")
	}
	m = press(m, "a")
	if m.mode != modeAudit {
		t.Fatal("a did not open the audit view")
	}
	// The audit view is read again on every poll while it is open.
	req := m.audit.reqID
	m, _ = upd(m, pollTickMsg{tag: m.pollTag})
	if m.audit.reqID == req {
		t.Fatal("a poll did not refresh the audit view")
	}
	m = press(m, "a")
	if m.mode != modeTable {
		t.Fatal("a did not close the audit view")
	}
	m = press(m, "?")
	if !m.help.ShowAll {
		t.Fatal("? did not open the full help")
	}
	m = press(m, "esc")
	if m.help.ShowAll {
		t.Fatal("esc did not close the full help")
	}
	if _, cmd := upd(m, keyMsg("q")); cmd == nil {
		t.Fatal("q did not quit")
	} else if _, ok := find[tea.QuitMsg](run(cmd)); !ok {
		t.Fatal("q did not quit")
	}
}

// Keys typed faster than they are read arrive as one message; they act one
// by one.
func TestGluedKeys(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	m, cmd := upd(m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("/bob")})
	m = drain(m, cmd)
	if !m.filter.editing || m.filter.value != "bob" {
		t.Fatalf("editing %v value %q", m.filter.editing, m.filter.value)
	}
	// "xy" in one message opens the confirmation but does not answer it.
	m2 := load(newTest(t, Options{}), fixture())
	seq := m2.seq
	m2, cmd = upd(m2, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("xy")})
	if _, ok := find[confirmedMsg](run(cmd)); ok || !m2.confirm.open || m2.seq != seq {
		t.Fatal("a glued y confirmed")
	}
	// An Esc glued to the next key (alt+/) clears, then opens the filter.
	m = press(m, "enter")
	m, cmd = upd(m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("/"), Alt: true})
	m = drain(m, cmd)
	if !m.filter.editing || m.filter.value != "" {
		t.Fatalf("alt+/: editing %v value %q", m.filter.editing, m.filter.value)
	}
}

func TestHostileTextIsCleaned(t *testing.T) {
	rows := fixture()
	rows[0].FullName = "\x1b[2J\x1b]0;pwned\x07Eve"
	rows[0].UserAgent = "curl\r\n\x1b[31mred"
	rows[0].Data = map[string]any{"\x1b[1mk": "v\x00"}
	m := load(newTest(t, Options{}), rows)
	for _, v := range []string{m.View(), press(m, "enter").View()} {
		if strings.ContainsAny(v, "\x1b\x07\x00\r") {
			t.Fatalf("a control character reached the terminal: %q", v)
		}
	}
}

func TestTinyAndZeroSizes(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	for _, sz := range [][2]int{{0, 0}, {20, 5}, {1, 1}, {3, 2}, {80, 1}, {1, 40}, {-5, -5}, {10, 0}} {
		m, _ = upd(m, tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		for _, k := range []string{"x", "esc", "e", "esc", "enter", "down", "esc", "?", "a", "esc"} {
			m = press(m, k)
			checkFits(t, m, sz[0], sz[1])
		}
	}
}

func checkFits(t *testing.T, m Model, w, h int) {
	t.Helper()
	if err := fits(m.View(), w, h); err != nil {
		t.Fatal(err)
	}
}

// fits says why a frame does not fit a w x h terminal: a line wider than
// w cells or more than h lines (a window of no size must draw nothing).
func fits(v string, w, h int) error {
	if w <= 0 || h <= 0 {
		if v != "" {
			return fmt.Errorf("%dx%d: view %q", w, h, v)
		}
		return nil
	}
	lines := strings.Split(v, "\n")
	if len(lines) > h {
		return fmt.Errorf("%dx%d: %d lines", w, h, len(lines))
	}
	for _, l := range lines {
		if lw := lipglossWidth(l); lw > w {
			return fmt.Errorf("%dx%d: line of %d cells: %q", w, h, lw, l)
		}
	}
	return nil
}
