package tui

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"sessionmon/sessionlogic"
)

func TestMain(m *testing.M) {
	// Golden files hold plain text: no colours, no attributes.
	lipgloss.SetColorProfile(termenv.Ascii)
	lipgloss.SetHasDarkBackground(true)
	os.Exit(m.Run())
}

// t0 is the fixed instant of every hand-built test.
var t0 = time.Date(2031, time.March, 4, 5, 6, 7, 0, time.UTC)

func fixedNow() time.Time { return t0 }

func sid(i int) string {
	h := sha256.Sum256([]byte(fmt.Sprint("session", i)))
	return hex.EncodeToString(h[:])
}

// sess builds session number i of user, expiring in left.
func sess(i int, user, role string, left time.Duration) sessionlogic.Session {
	return sessionlogic.Session{
		ID:           sid(i),
		UserID:       int64(len(user)),
		Username:     user,
		Email:        user + "@example.com",
		FullName:     strings.ToUpper(user[:1]) + user[1:] + " Example",
		Role:         role,
		Status:       "active",
		IP:           fmt.Sprintf("192.0.2.%d", i),
		UserAgent:    "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
		LoginTime:    t0.Add(-time.Duration(i) * 17 * time.Minute),
		LastActivity: t0.Add(-time.Duration(i) * 13 * time.Second),
		ExpiresAt:    t0.Add(left),
		Data:         map[string]any{"theme": "dark", "cart": i},
		Version:      int64(i),
	}
}

// fixture is a fixed set of sessions, in expiry order.
func fixture() []sessionlogic.Session {
	return []sessionlogic.Session{
		sess(1, "alice", "admin", 3*time.Minute),
		sess(2, "bob", "staff", 42*time.Minute),
		sess(3, "carol", "user", 2*time.Hour+5*time.Minute),
		sess(4, "alice", "admin", 5*time.Hour),
		sess(5, "dave", "support", 26*time.Hour),
		sess(6, "erin", "user", 3*24*time.Hour),
		sess(7, "frank", "user", 13*24*time.Hour+23*time.Hour),
	}
}

func manyRows(n int) []sessionlogic.Session {
	roles := []string{"admin", "staff", "user", "support"}
	rows := make([]sessionlogic.Session, n)
	for i := range rows {
		rows[i] = sess(i+1, fmt.Sprintf("user%03d", i+1), roles[i%len(roles)], time.Duration(i+1)*time.Minute)
	}
	return rows
}

// newTest is a hand-built dashboard with no Manager: commands that would
// touch a store are not issued, and results are delivered by hand.
func newTest(t testing.TB, opts Options) Model {
	t.Helper()
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	if opts.Operator == "" {
		opts.Operator = "ops"
	}
	if opts.Sort == "" {
		opts.Sort = sessionlogic.SortExpires // the fixtures are in expiry order
	}
	m := newModel(opts, lipgloss.DefaultRenderer())
	m.filterDelay = 0 // a filter change fetches at once (filter_test.go covers the debounce)
	m, _ = upd(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	return m
}

func upd(m Model, msg tea.Msg) (Model, tea.Cmd) {
	nm, cmd := m.Update(msg)
	return nm.(Model), cmd
}

// load answers the latest window fetch with rows.
func load(m Model, rows []sessionlogic.Session) Model {
	return loadPage(m, rows, true, false)
}

func loadPage(m Model, rows []sessionlogic.Session, atStart, more bool) Model {
	res := windowResult{rows: rows, version: 1, more: more}
	if !atStart && len(rows) > 0 {
		res.top = &sessionlogic.Cursor{ID: "0"}
	}
	m, _ = upd(m, windowMsg{id: m.fetchID, req: m.lastReq, res: res})
	return m
}

func keyMsg(k string) tea.KeyMsg {
	switch k {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "pgup":
		return tea.KeyMsg{Type: tea.KeyPgUp}
	case "pgdown":
		return tea.KeyMsg{Type: tea.KeyPgDown}
	case "home":
		return tea.KeyMsg{Type: tea.KeyHome}
	case "end":
		return tea.KeyMsg{Type: tea.KeyEnd}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case " ", "space":
		return tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

// press sends keys one by one and feeds back the messages components emit
// for the root (scroll requests, confirmations, filter changes).
func press(m Model, keys ...string) Model {
	for _, k := range keys {
		var cmd tea.Cmd
		m, cmd = upd(m, keyMsg(k))
		m = drain(m, cmd)
	}
	return m
}

// drain runs cmd and feeds internal messages back into the model. Commands
// that block (ticks) are given up on after a short wait.
func drain(m Model, cmd tea.Cmd) Model {
	for _, msg := range run(cmd) {
		switch msg.(type) {
		case scrolledMsg, scrollUpMsg, jumpMsg, filterChangedMsg, confirmedMsg, cancelledMsg, extendSubmitMsg:
			var next tea.Cmd
			m, next = upd(m, msg)
			m = drain(m, next)
		}
	}
	return m
}

// runWait is how long run waits for a command before giving up on it.
var runWait = 100 * time.Millisecond

// run executes cmd (and batches) and returns the messages that came back
// quickly.
func run(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	ch := make(chan tea.Msg, 1)
	go func() { ch <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-ch:
	case <-time.After(runWait):
		return nil
	}
	if b, ok := msg.(tea.BatchMsg); ok {
		var out []tea.Msg
		for _, c := range b {
			out = append(out, run(c)...)
		}
		return out
	}
	if msg == nil {
		return nil
	}
	return []tea.Msg{msg}
}

// runStore is run for commands that read a real store: it waits up to
// 5 s for each (under -race on a busy machine a read takes longer than
// runWait), so it must not be given a command that holds a poll tick.
func runStore(cmd tea.Cmd) []tea.Msg {
	defer func(w time.Duration) { runWait = w }(runWait)
	runWait = 5 * time.Second
	return run(cmd)
}

// find returns the first message of type T among msgs.
func find[T any](msgs []tea.Msg) (T, bool) {
	for _, m := range msgs {
		if v, ok := m.(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

func lipglossWidth(s string) int { return ansi.StringWidth(s) }
