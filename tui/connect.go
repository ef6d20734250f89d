package tui

import (
	"context"
	"errors"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"sessionmon/sessionlogic"
)

// Connecting: `watch` on a store that does not answer at start shows the
// dashboard in its connecting/stale state and retries with backoff, as it
// does after a later outage, instead of exiting with a driver error. The
// caller supplies Options.Connect; an error it marks with Fatal (a DSN
// that can never work: a bad scheme, authentication refused) ends the
// dashboard, and Run returns it.

// fatalError marks a Connect error that no retry can mend.
type fatalError struct{ err error }

func (e fatalError) Error() string { return e.err.Error() }
func (e fatalError) Unwrap() error { return e.err }

// Fatal marks err, returned by Options.Connect, as one no retry can mend:
// the dashboard stops and Run returns err.
func Fatal(err error) error {
	if err == nil {
		return nil
	}
	return fatalError{err}
}

// connectTimeout bounds one connection attempt.
const connectTimeout = 10 * time.Second

type (
	// connectedMsg answers a Connect attempt.
	connectedMsg struct {
		mgr *sessionlogic.Manager
		err error
	}
	// connectRetryMsg: the backoff after a failed attempt is over.
	connectRetryMsg struct{}
)

func connectCmd(ctx context.Context, connect func(context.Context) (*sessionlogic.Manager, error)) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, connectTimeout)
		defer cancel()
		mgr, err := connect(ctx)
		if err == nil && mgr == nil {
			err = errors.New("tui: Options.Connect returned no Manager")
		}
		return connectedMsg{mgr: mgr, err: err}
	}
}

// connecting reports whether the dashboard still waits for its store.
func (m *Model) connecting() bool { return m.mgr == nil && m.connect != nil }

// updateConnect handles the connection's messages; ok is false for any
// other message.
func (m *Model) updateConnect(msg tea.Msg) (cmd tea.Cmd, ok bool) {
	switch msg := msg.(type) {
	case connectRetryMsg:
		if !m.connecting() {
			return nil, true
		}
		m.header.state = stateReconnecting
		return connectCmd(m.ctx, m.connect), true

	case connectedMsg:
		if !m.connecting() {
			return nil, true
		}
		m.now = m.clock()
		if msg.err != nil {
			var fatal fatalError
			if errors.As(msg.err, &fatal) {
				m.fatal = fatal.err
				return tea.Quit, true
			}
			m.failures++
			backoff := min(time.Second<<min(m.failures-1, 5), maxBackoff)
			m.header.state = stateStale
			m.header.retryAt = m.now.Add(backoff)
			m.status.Background("store unreachable: "+errText(msg.err), true)
			return tea.Tick(backoff, func(time.Time) tea.Msg { return connectRetryMsg{} }), true
		}
		m.mgr = msg.mgr
		m.header.store = m.mgr.Describe()
		if m.failures > 0 {
			m.status.Background("store is back", false)
		}
		m.failures = 0
		return tea.Batch(m.refresh(), m.watchCmd()), true
	}
	return nil, false
}
