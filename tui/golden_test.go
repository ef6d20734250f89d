package tui

import (
	"errors"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"

	"sessionmon/sessionlogic"
)

// Golden files of View(), colours stripped (TestMain), fixed clock and data.
// Regenerate with: go test ./tui -update

func goldenModel(t *testing.T, w, h int, opts Options) Model {
	t.Helper()
	m := newTest(t, opts)
	m.header.store = "sqlite /var/lib/sessionmon/sessions.db"
	m, _ = upd(m, tea.WindowSizeMsg{Width: w, Height: h})
	m = load(m, fixture())
	m, _ = upd(m, statsMsg{id: m.statsID, stats: sessionlogic.Stats{
		Active: 7, ByRole: map[string]int64{"admin": 2, "staff": 1, "user": 3, "support": 1},
		ExpiringWithin: 2, RecentLogins: 4,
	}})
	return m
}

func requireView(t *testing.T, m Model) {
	t.Helper()
	golden.RequireEqual(t, []byte(m.View()))
}

func TestGoldenTable80x24(t *testing.T) {
	requireView(t, goldenModel(t, 80, 24, Options{}))
}

func TestGoldenTable120x30(t *testing.T) {
	m := goldenModel(t, 120, 30, Options{})
	m = press(m, "down", " ", "down", "down", " ", "S")
	m = load(m, reversed(fixture()))
	requireView(t, m)
}

func TestGoldenTable200x12(t *testing.T) {
	requireView(t, goldenModel(t, 200, 12, Options{}))
}

func TestGoldenTiny20x5(t *testing.T) {
	requireView(t, goldenModel(t, 20, 5, Options{}))
}

func TestGoldenFullHelp(t *testing.T) {
	requireView(t, press(goldenModel(t, 80, 24, Options{}), "?"))
}

func TestGoldenReadOnlyHelp(t *testing.T) {
	requireView(t, press(goldenModel(t, 80, 24, Options{ReadOnly: true}), "?"))
}

func TestGoldenDetail(t *testing.T) {
	m := press(goldenModel(t, 80, 30, Options{}), "down", "down", "down", "enter")
	s := m.detail.session
	s.AbsoluteExpiresAt = t0.Add(30 * 24 * time.Hour)
	m, _ = upd(m, detailMsg{id: m.detail.reqID, session: s, audit: []sessionlogic.AuditEntry{
		{Time: t0.Add(-time.Minute), Actor: "ops", Action: "extend", Username: "alice", SessionID: s.ID, Detail: "by 1h0m0s"},
		{Time: s.LoginTime, Actor: "alice", Action: "login", Username: "alice", SessionID: s.ID, IP: s.IP},
	}})
	requireView(t, m)
}

func TestGoldenAudit(t *testing.T) {
	m := press(goldenModel(t, 80, 24, Options{}), "a")
	m, _ = upd(m, auditMsg{id: m.audit.reqID, entries: []sessionlogic.AuditEntry{
		{Time: t0.Add(-10 * time.Second), Actor: "ops", Action: "force_logout_user", Username: "mallory", Detail: ""},
		{Time: t0.Add(-time.Minute), Actor: "ops", Action: "force_logout", Username: "bob", SessionID: sid(2)},
		{Time: t0.Add(-2 * time.Minute), Actor: "ops", Action: "extend", Username: "alice", SessionID: sid(4), Detail: "by 2h0m0s"},
		{Time: t0.Add(-3 * time.Minute), Actor: "eve", Action: "login_failed", Username: "eve", IP: "203.0.113.9", Detail: "wrong password"},
		{Time: t0.Add(-4 * time.Minute), Actor: "carol", Action: "login", Username: "carol", SessionID: sid(3), IP: "192.0.2.3"},
	}})
	requireView(t, m)
}

func TestGoldenConfirmMarked(t *testing.T) {
	m := goldenModel(t, 80, 24, Options{})
	m = press(m, " ", "down", " ", "down", "down", " ", "/", "b", "o", "b", "enter")
	m = load(m, fixture()[1:2])
	requireView(t, press(m, "x"))
}

func TestGoldenConfirmUser(t *testing.T) {
	m := press(goldenModel(t, 80, 24, Options{}), "X")
	m, _ = upd(m, userCountMsg{id: m.confirm.countID, username: "alice", n: 2})
	requireView(t, m)
}

func TestGoldenExtend(t *testing.T) {
	m := goldenModel(t, 80, 24, Options{ExtendDefault: 90 * time.Minute})
	m.table.rows[0].AbsoluteExpiresAt = t0.Add(time.Hour)
	requireView(t, press(m, "e"))
}

func TestGoldenExtendRefused(t *testing.T) {
	m := goldenModel(t, 80, 24, Options{ExtendDefault: 90 * time.Minute})
	m.table.rows[0].AbsoluteExpiresAt = t0.Add(time.Hour)
	requireView(t, press(m, "e", "backspace", "backspace", "backspace", "backspace", "backspace", "2", "h", "enter"))
}

func TestGoldenFilterEditing(t *testing.T) {
	m := press(goldenModel(t, 80, 24, Options{}), "/", "a", "l")
	m = load(m, []sessionlogic.Session{fixture()[0], fixture()[3]})
	requireView(t, m)
}

func TestGoldenStale(t *testing.T) {
	m := goldenModel(t, 80, 24, Options{})
	m.clock = func() time.Time { return t0.Add(12 * time.Second) }
	m, _ = upd(m, pollTickMsg{tag: m.pollTag})
	m, _ = upd(m, windowMsg{id: m.fetchID, err: errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")})
	requireView(t, m)
}

func TestGoldenPausedEmpty(t *testing.T) {
	m := press(goldenModel(t, 80, 12, Options{}), "p")
	m = press(m, "r")
	requireView(t, load(m, nil))
}

func reversed(rows []sessionlogic.Session) []sessionlogic.Session {
	out := make([]sessionlogic.Session, len(rows))
	for i, r := range rows {
		out[len(rows)-1-i] = r
	}
	return out
}
