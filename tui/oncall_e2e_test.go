package tui

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"sessionmon/data"
	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
)

// The on-call views against the real SQLite store: the flaky wrapper
// passes the optional capabilities through (while up).

func (f *flakyStore) GroupActive(ctx context.Context, q data.GroupQuery) (data.Groups, error) {
	if f.down.Load() {
		return data.Groups{}, errDown
	}
	return f.Store.(data.Grouper).GroupActive(ctx, q)
}

func (f *flakyStore) AuditHistogram(ctx context.Context, q data.HistogramQuery) (data.Histogram, error) {
	if f.down.Load() {
		return data.Histogram{}, errDown
	}
	return f.Store.(data.Histogrammer).AuditHistogram(ctx, q)
}

func (f *flakyStore) CountActive(ctx context.Context, q data.Query) (int64, error) {
	if f.down.Load() {
		return 0, errDown
	}
	return f.Store.(data.Counter).CountActive(ctx, q)
}

// One address behind several accounts (credential stuffing) stands out in
// the grouping by IP; Enter lists its sessions; w exports them as JSON in
// the shape of `sessions list --json`. The header line shows the position
// and the logins of the last hour.
func TestEndToEndGroupJumpExport(t *testing.T) {
	e := newEnv(t, 0, 0)
	ctx := context.Background()
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		e.user(t, u, "user")
	}
	login := func(user, ip string) {
		t.Helper()
		if _, _, err := e.m.Login(ctx, sessionlogic.LoginRequest{Username: user, Password: testPassword, IP: ip, UserAgent: "test"}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
	}
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		login(u, "203.0.113.66")
	}
	login("alice", "198.51.100.1")
	login("alice", "198.51.100.2")
	login("bob", "203.0.113.6") // a prefix of the crowded address: not one of its sessions
	if _, _, err := e.m.Login(ctx, sessionlogic.LoginRequest{Username: "bob", Password: "wrong", IP: "203.0.113.66"}); err == nil {
		t.Fatal("a wrong password logged in")
	}

	m := New(Options{Manager: e.m, Operator: "oncall", PollInterval: 250 * time.Millisecond})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(120, 30))
	wait := func(what ...string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), testkit.Contains(what...), teatest.WithDuration(5*time.Second))
	}
	wait("7 active", "1/7", "logins", "7/h", "failed", "1/h")

	tm.Send(keyMsg("g"))
	wait("alice", "3", "1/4 users")
	tm.Send(keyMsg("g"))
	wait("203.0.113.66", "1/4 IPs")
	tm.Send(keyMsg("enter"))
	wait(`filter "ip:203.0.113.66"`, "1/4 matches")

	path := filepath.Join(t.TempDir(), "stuffing.json")
	tm.Send(keyMsg("w"))
	wait("export to:")
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlU})
	tm.Send(keyMsg(path))
	tm.Send(keyMsg("enter"))
	wait("exported 4 sessions")

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []sessionlogic.Fields
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	if len(got) != 4 {
		t.Fatalf("exported %d sessions, want 4", len(got))
	}
	for _, f := range got {
		if f.IP != "203.0.113.66" || len(f.ID) != 64 {
			t.Fatalf("exported %+v", f)
		}
	}

	tm.Send(keyMsg("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}
