package tui

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"sessionmon/sessionlogic"
)

// Typing a filter asks the store once typing pauses, not on every
// keystroke (issue 9: "zzzz-nobody" took 2.1 s at 100k sessions, one query
// per key).
func TestFilterIsDebounced(t *testing.T) {
	m := load(newTest(t, Options{}), fixture())
	m.filterDelay = filterDebounce
	id := m.fetchID
	var dues []filterDueMsg
	for _, k := range []string{"/", "z", "z", "z", "z"} {
		var cmd tea.Cmd
		m, cmd = upd(m, keyMsg(k))
		for _, msg := range run(cmd) {
			if f, ok := msg.(filterChangedMsg); ok {
				var tick tea.Cmd
				m, tick = upd(m, f)
				// The tick fires after the delay: run it by hand.
				if due, ok := tick().(filterDueMsg); ok {
					dues = append(dues, due)
				}
			}
		}
	}
	if m.fetchID != id {
		t.Fatalf("%d fetches while typing", m.fetchID-id)
	}
	if len(dues) != 4 {
		t.Fatalf("%d debounce ticks", len(dues))
	}
	for _, due := range dues[:3] {
		m, _ = upd(m, due)
	}
	if m.fetchID != id {
		t.Fatal("a stale debounce tick fetched")
	}
	m, _ = upd(m, dues[3])
	if m.fetchID != id+1 || m.lastReq.text != "zzzz" {
		t.Fatalf("%d fetches, text %q", m.fetchID-id, m.lastReq.text)
	}
}

// A fetch that supersedes another cancels it: a stale filter query stops
// instead of running to the end and holding a connection.
func TestSupersededFetchIsCancelled(t *testing.T) {
	e := newEnv(t, 0, 0)
	e.user(t, "ann", "user")
	e.login(t, "ann", 1)
	m := New(Options{Manager: e.m})
	first := m.fetch(m.windowReq(placeTop))
	second := m.fetch(m.windowReq(placeTop))
	if w := first().(windowMsg); !errors.Is(w.err, context.Canceled) {
		t.Fatalf("the superseded fetch ran: %+v", w.err)
	}
	if w := second().(windowMsg); w.err != nil || len(w.res.rows) != 1 {
		t.Fatalf("the latest fetch: %v", w.err)
	}
}

// The audit view: the headings stay while scrolling, rows hold still
// under new entries, and / narrows it to one user (issue 9).
func TestAuditView(t *testing.T) {
	entries := func(from, n int) []sessionlogic.AuditEntry {
		var es []sessionlogic.AuditEntry
		for i := from + n - 1; i >= from; i-- { // newest first
			es = append(es, sessionlogic.AuditEntry{ID: int64(i), Time: t0.Add(time.Duration(i) * time.Second), Actor: "ops",
				Action: "force_logout", Username: "user" + string(rune('a'+i%26)), Detail: "entry " + itoa(i)})
		}
		return es
	}
	m := load(newTest(t, Options{}), fixture())
	m = press(m, "a")
	m, _ = upd(m, auditMsg{id: m.audit.reqID, entries: entries(1, 100)})
	m = press(m, "j", "j", "j", "pgdown")
	v := m.View()
	lines := strings.Split(v, "\n")
	// The header's two lines, then the line of the position and sparklines.
	if !strings.HasPrefix(lines[3], "Audit: the latest 100 entries") || !strings.HasPrefix(lines[4], "when") {
		t.Fatalf("headings scrolled away:\n%s", v)
	}
	top := lines[5]
	// Five new entries arrive on top: the rows under the eye stay.
	m = press(m, "r")
	m, _ = upd(m, auditMsg{id: m.audit.reqID, entries: entries(1, 105)})
	if got := strings.Split(m.View(), "\n")[5]; got != top {
		t.Fatalf("rows shifted: %q, was %q", got, top)
	}
	// At the top, new entries do come in on top.
	m = press(m, "home")
	m = press(m, "/", "m", "a", "l", "l", "o", "r", "y", "enter")
	if m.audit.user != "mallory" || !strings.Contains(m.View(), "Audit of user mallory") {
		t.Fatalf("narrowed to %q:\n%s", m.audit.user, m.View())
	}
	m = press(m, "esc")
	if m.audit.user != "" || m.mode != modeAudit {
		t.Fatalf("esc: narrowed to %q, mode %v", m.audit.user, m.mode)
	}
	m = press(m, "esc")
	if m.mode != modeTable {
		t.Fatal("esc did not leave the audit view")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// Who forced mallory out? The audit view's filter asks the store for her
// entries, so the answer is found however many entries came since.
func TestAuditFilterFindsWhoForcedAUserOut(t *testing.T) {
	e := newEnv(t, 0, 0)
	e.user(t, "mallory", "user")
	e.user(t, "ann", "user")
	_, s := e.login(t, "mallory", 1)
	if _, err := e.m.ForceLogout(context.Background(), "night-ops", s.ID); err != nil {
		t.Fatal(err)
	}
	for i := range auditLimit + 10 { // more than the view reads
		e.login(t, "ann", i)
	}
	m := New(Options{Manager: e.m})
	m, _ = upd(m, tea.WindowSizeMsg{Width: 100, Height: 30})
	m.filterDelay = 0
	m = press(m, "a", "/", "m", "a", "l", "l", "o", "r", "y", "enter")
	m, _ = upd(m, fetchAuditCmd(context.Background(), e.m, m.audit.reqID, auditLimit, m.audit.user)())
	if v := m.View(); !strings.Contains(v, "night-ops  forced out      mallory") {
		t.Fatalf("audit of mallory:\n%s", v)
	}
}
