package tui

import (
	"context"
	"errors"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"sessionmon/sessionlogic"
)

// A store that does not answer at start: the dashboard shows its
// connecting, then stale state with a retry, q quits at any time, and once
// the store answers it lists the sessions (issue 9: `watch` exited 1 with a
// multi-line driver error).
func TestUnreachableStoreAtStart(t *testing.T) {
	e := newEnv(t, 0, 0)
	e.user(t, "ann", "user")
	e.login(t, "ann", 1)
	attempts := 0
	connect := func(context.Context) (*sessionlogic.Manager, error) {
		attempts++
		if attempts < 3 {
			return nil, errors.New("postgres check schema: failed to connect to `user=postgres database=test`:\n\t127.0.0.1:5999 (127.0.0.1): dial error: connection refused")
		}
		return e.m, nil
	}
	m := New(Options{Connect: connect, Store: "postgres postgres@127.0.0.1:5999/test"})
	m, _ = upd(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	if v := m.View(); !strings.Contains(v, "connecting…") || !strings.Contains(v, "postgres@127.0.0.1:5999/test") {
		t.Fatalf("at start:\n%s", v)
	}
	cmd := m.Init()
	for i := 0; i < 2; i++ {
		msg, ok := find[connectedMsg](runStore(cmd))
		if !ok {
			t.Fatalf("attempt %d: no answer", i+1)
		}
		m, cmd = upd(m, msg)
		v := m.View()
		if !strings.Contains(v, "✗ no data yet, retry in") || !strings.Contains(v, "store unreachable: postgres check schema") {
			t.Fatalf("after attempt %d:\n%s", i+1, v)
		}
		// q would quit here.
		if _, qcmd := upd(m, keyMsg("q")); qcmd == nil {
			t.Fatal("q does nothing while connecting")
		} else if _, ok := qcmd().(tea.QuitMsg); !ok {
			t.Fatal("q did not quit while connecting")
		}
		m, cmd = upd(m, connectRetryMsg{})
	}
	msg, _ := find[connectedMsg](runStore(cmd))
	m, cmd = upd(m, msg)
	if m.mgr != e.m {
		t.Fatal("not connected")
	}
	w, ok := find[windowMsg](runStore(cmd))
	if !ok {
		t.Fatal("connected, but no listing asked for")
	}
	m, _ = upd(m, w)
	if v := m.View(); !strings.Contains(v, "● live") || !strings.Contains(v, "ann") || !strings.Contains(v, "store is back") {
		t.Fatalf("connected:\n%s", v)
	}
}

// A DSN that can never work ends the dashboard with its error.
func TestFatalConnectErrorStops(t *testing.T) {
	refused := errors.New(`server error: FATAL: role "nobody" does not exist (SQLSTATE 28000)`)
	m := New(Options{Connect: func(context.Context) (*sessionlogic.Manager, error) { return nil, Fatal(refused) }})
	msg, _ := find[connectedMsg](run(m.Init()))
	m, cmd := upd(m, msg)
	if _, ok := cmd().(tea.QuitMsg); !ok || m.fatal != refused {
		t.Fatalf("fatal %v", m.fatal)
	}
}
