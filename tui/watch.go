package tui

import (
	"context"

	tea "github.com/charmbracelet/bubbletea"

	"sessionmon/sessionlogic"
)

// Push notices: on a store that can push them, a login, force-out or extend
// triggers a poll at once, so a new session shows within milliseconds
// instead of up to a poll interval. PostgreSQL (LISTEN/NOTIFY) hears every
// process; SQLite hears only this one, so the demo (server and dashboard in
// one process) gets push and a standalone `watch` on SQLite turns it off
// (Options.NoPush). Polling stays the fallback and keeps running.

// watchStartedMsg hands the notice channel to the model.
type watchStartedMsg struct{ notices <-chan struct{} }

// noticeMsg: the store says sessions changed.
type noticeMsg struct{}

// watchCmd starts push notices unless Options.NoPush turned them off.
func (m Model) watchCmd() tea.Cmd {
	if m.noPush {
		return nil
	}
	return startWatchCmd(m.ctx, m.mgr)
}

// startWatchCmd starts the store's watcher, when it has one. Notices are
// coalesced into a channel of one: a burst of logins becomes one poll.
// The channel is closed when the watcher stops (ctx done).
func startWatchCmd(ctx context.Context, mgr *sessionlogic.Manager) tea.Cmd {
	if mgr == nil || !mgr.CanWatch() {
		return nil
	}
	return func() tea.Msg {
		ch := make(chan struct{}, 1)
		go func() {
			defer close(ch)
			_ = mgr.Watch(ctx, func() {
				select {
				case ch <- struct{}{}:
				default: // a poll is already due
				}
			})
		}()
		return watchStartedMsg{notices: ch}
	}
}

// waitNoticeCmd waits for the next notice; nil once the watcher stopped.
func waitNoticeCmd(ch <-chan struct{}) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		if _, ok := <-ch; !ok {
			return nil
		}
		return noticeMsg{}
	}
}

// onNotice polls now, or right after the fetch in flight (which may have
// read the store before the change).
func (m *Model) onNotice() tea.Cmd {
	next := waitNoticeCmd(m.notices)
	switch {
	case m.paused:
		return next
	case m.fetching:
		m.noticePending = true
		return next
	default:
		return tea.Batch(next, m.poll())
	}
}
