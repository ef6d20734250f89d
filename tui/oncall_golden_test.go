package tui

import (
	"errors"
	"testing"
	"time"

	"sessionmon/sessionlogic"
)

// Golden views of the on-call additions (colours stripped, TestMain).

// withDash answers the position count and the histogram of m.
func withDash(m Model) Model {
	m, _ = upd(m, posDueMsg{tag: m.pos.dueTag})
	m, _ = upd(m, posMsg{id: m.pos.totalID, total: true, key: m.pos.want, n: 99786})
	h := sessionlogic.Histogram{Start: t0.Truncate(time.Minute).Add(-59 * time.Minute), Step: time.Minute,
		Logins: make([]int64, 60), Failed: make([]int64, 60)}
	for i := range h.Logins {
		h.Logins[i] = int64(20 + (i*7)%13)
	}
	for i := 50; i < 60; i++ {
		h.Failed[i] = int64((i - 49) * 9) // a burst of failures in the last ten minutes
	}
	m, _ = upd(m, histMsg{id: m.spark.reqID, hist: h})
	return m
}

func TestGoldenDashLine80x24(t *testing.T) {
	m := withDash(goldenModel(t, 80, 24, Options{}))
	requireView(t, press(m, "down", "down"))
}

func TestGoldenGroupsByIP120x30(t *testing.T) {
	m := withDash(goldenModel(t, 120, 30, Options{}))
	m = press(m, "g", "g")
	m, _ = upd(m, groupsMsg{id: m.groups.reqID, at: t0, groups: sessionlogic.Groups{Total: 214, Groups: []sessionlogic.Group{
		{Key: "203.0.113.66", Sessions: 412, Others: 371, Roles: []string{"admin", "staff", "user"}, NewestLogin: t0.Add(-4 * time.Second), LastActivity: t0.Add(-time.Second)},
		{Key: "198.51.100.23", Sessions: 38, Others: 1, Roles: []string{"user"}, NewestLogin: t0.Add(-3 * time.Hour), LastActivity: t0.Add(-time.Minute)},
		{Key: "192.0.2.7", Sessions: 12, Others: 2, Roles: []string{"support", "user"}, NewestLogin: t0.Add(-26 * time.Hour), LastActivity: t0.Add(-40 * time.Minute)},
		{Key: "2001:db8::1", Sessions: 3, Others: 1, Roles: []string{"admin"}, NewestLogin: t0.Add(-5 * 24 * time.Hour), LastActivity: t0.Add(-2 * time.Hour)},
	}}})
	requireView(t, m)
}

func TestGoldenGroupsByUser80x24(t *testing.T) {
	m := withDash(goldenModel(t, 80, 24, Options{}))
	m = press(m, "g")
	m, _ = upd(m, groupsMsg{id: m.groups.reqID, at: t0, groups: groupsFixture()})
	requireView(t, press(m, "down"))
}

func TestGoldenErrorView(t *testing.T) {
	m := goldenModel(t, 80, 24, Options{})
	m.clock = func() time.Time { return t0.Add(-30 * time.Second) }
	m, _ = upd(m, actionMsg{id: m.seq, err: errors.New("force out failed for 1 of 1: postgres end session: write failed: conn closed")})
	m.clock = fixedNow
	m, _ = upd(m, statsMsg{id: m.statsID, err: errors.New("failed to connect to `user=postgres database=test`:\n\t127.0.0.1:5432 (127.0.0.1): dial error: dial tcp 127.0.0.1:5432: connect: connection refused\n\t[::1]:5432 (localhost): dial error: dial tcp [::1]:5432: connect: connection refused")})
	requireView(t, press(m, "!"))
}

func TestGoldenExportPrompt(t *testing.T) {
	m := goldenModel(t, 80, 24, Options{})
	requireView(t, press(m, "/", "a", "l", "enter", "w"))
}
