package tui

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"golang.org/x/crypto/bcrypt"

	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
)

// On a store that pushes notices (SQLite pushes this process's own), the
// dashboard listens and says "+ push"; with NoPush (a standalone `watch` on
// SQLite, whose sessions are made by another process) it only polls and
// does not claim push.
func TestPushNoticesAndNoPush(t *testing.T) {
	st := testkit.OpenSQLite(t)
	mgr, err := sessionlogic.New(sessionlogic.Options{Store: st, PasswordCost: bcrypt.MinCost,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	for _, noPush := range []bool{false, true} {
		m := newModel(Options{Manager: mgr, Operator: "ops", NoPush: noPush}, lipgloss.DefaultRenderer())
		m.ctx = ctx
		m, _ = upd(m, tea.WindowSizeMsg{Width: 100, Height: 24})
		cmd := m.watchCmd()
		if noPush {
			if cmd != nil {
				t.Fatal("NoPush: the dashboard still starts listening for notices")
			}
			if strings.Contains(m.View(), "push") {
				t.Errorf("NoPush: header claims push:\n%s", m.View())
			}
			continue
		}
		if cmd == nil {
			t.Fatal("a store that pushes notices: the dashboard does not listen")
		}
		m, _ = upd(m, cmd())
		if !strings.Contains(m.View(), "+ push") {
			t.Errorf("listening for notices, but the header does not say so:\n%s", m.View())
		}
	}
}
