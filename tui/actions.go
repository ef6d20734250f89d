package tui

import (
	"fmt"
	"sort"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"sessionmon/sessionlogic"
)

// The keys of each view and the actions they start. One word names the
// action everywhere: "force out" (the keys x and X, the dialogs, the
// status line), which is the domain's Manager.ForceLogout and
// ForceLogoutUser.

// handleKey handles a key when no modal component is open: the keys that
// work in every view first, then the open view's.
func (m *Model) handleKey(msg tea.KeyMsg) tea.Cmd {
	if cmd, ok := m.globalKey(msg); ok {
		return cmd
	}
	if key.Matches(msg, m.keys.ReadOnly) && m.mode != modeAudit {
		m.status.SetErrText("read-only: this dashboard changes no session (started with --read-only)")
		return nil
	}
	if m.moving && m.mode == modeTable {
		// The rows this key acts on are on their way: it waits for them
		// (a burst of PgDn moves five pages, not one).
		if len(m.typedAhead) < maxTypeAhead {
			m.typedAhead = append(m.typedAhead, msg)
		}
		return nil
	}
	if cmd, ok := m.oncallKey(msg); ok {
		return cmd
	}
	switch m.mode {
	case modeDetail:
		return m.detailKey(msg)
	case modeAudit:
		return m.auditKey(msg)
	}
	return m.tableKey(msg)
}

// maxTypeAhead bounds the keys kept while a move is in flight.
const maxTypeAhead = 64

// globalKey handles the keys that work in every view: quit, help, and the
// poll loop's.
func (m *Model) globalKey(msg tea.KeyMsg) (tea.Cmd, bool) {
	k := m.keys
	switch {
	case key.Matches(msg, k.Quit):
		return tea.Quit, true
	case key.Matches(msg, k.Help):
		m.help.ShowAll = !m.help.ShowAll
		return nil, true
	case key.Matches(msg, k.Pause):
		m.paused = !m.paused
		m.header.paused = m.paused
		if m.paused {
			m.pollTag++ // the pending tick dies
			m.status.Set("polling paused")
			return nil, true
		}
		m.status.Set("polling resumed")
		return m.refresh(), true
	case key.Matches(msg, k.Faster), key.Matches(msg, k.Slower):
		m.interval = stepInterval(m.interval, key.Matches(msg, k.Faster))
		m.header.interval = m.interval
		if m.paused {
			m.status.Set("poll interval " + showSpan(m.interval) + " once resumed (p)")
		} else {
			m.status.Set("polling every " + showSpan(m.interval))
		}
		if m.fetching {
			return nil, true // the result arms the loop at the new interval
		}
		return m.arm(m.interval), true
	case key.Matches(msg, k.Refresh):
		m.status.Set("refreshed")
		return m.refresh(), true
	}
	return nil, false
}

// detailKey handles a key in the detail view.
func (m *Model) detailKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	s := m.detail.session
	switch {
	case key.Matches(msg, k.Close), key.Matches(msg, k.Detail):
		m.mode = modeTable
		return nil
	case key.Matches(msg, k.Audit):
		return m.openAudit()
	case key.Matches(msg, k.ForceOut):
		return m.openForceOut([]target{{ID: s.ID, Username: s.Username}}, 0)
	case key.Matches(msg, k.ForceOutUser):
		return m.openForceOutUser(s.Username)
	case key.Matches(msg, k.Extend):
		return m.openExtend(s)
	}
	var cmd tea.Cmd
	m.detail, cmd = m.detail.Update(msg)
	return cmd
}

// auditKey handles a key in the audit view.
func (m *Model) auditKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	switch {
	case key.Matches(msg, k.Close) && m.audit.user != "":
		// Esc first drops the narrowing, then leaves.
		var cmd tea.Cmd
		m.auditFilter, cmd = m.auditFilter.Clear()
		return cmd
	case key.Matches(msg, k.Close), key.Matches(msg, k.Audit):
		m.mode = modeTable
		return nil
	case key.Matches(msg, k.Filter):
		var cmd tea.Cmd
		m.auditFilter, cmd = m.auditFilter.Open()
		return cmd
	}
	var cmd tea.Cmd
	m.audit, cmd = m.audit.Update(msg)
	return cmd
}

// tableKey handles a key in the table view.
func (m *Model) tableKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	switch {
	case key.Matches(msg, k.Back):
		if m.help.ShowAll {
			m.help.ShowAll = false
			return nil
		}
		var cmd tea.Cmd
		m.filter, cmd = m.filter.Clear()
		return cmd
	case key.Matches(msg, k.Filter):
		var cmd tea.Cmd
		m.filter, cmd = m.filter.Open()
		return cmd
	case key.Matches(msg, k.Sort), key.Matches(msg, k.Reverse):
		if key.Matches(msg, k.Sort) {
			m.sort = nextSort(m.sort)
		} else {
			m.desc = !m.desc
		}
		m.table.sort, m.table.desc = m.sort, m.desc
		m.top = nil
		return m.fetch(m.windowReq(placeNear))
	case key.Matches(msg, k.Freeze):
		return m.toggleFreeze()
	case key.Matches(msg, k.Mark):
		m.table.ToggleMark()
		return nil
	case key.Matches(msg, k.ForceOut):
		if len(m.table.marks) > 0 {
			return m.openForceOut(m.markedTargets())
		}
		if s, ok := m.selected(); ok {
			return m.openForceOut([]target{{ID: s.ID, Username: s.Username}}, 0)
		}
		return nil
	case key.Matches(msg, k.ForceOutUser):
		if s, ok := m.selected(); ok {
			return m.openForceOutUser(s.Username)
		}
		return nil
	case key.Matches(msg, k.Extend):
		if s, ok := m.selected(); ok {
			return m.openExtend(s)
		}
		return nil
	case key.Matches(msg, k.Detail):
		s, ok := m.table.Selected()
		if !ok {
			return nil
		}
		m.mode = modeDetail
		m.detail = m.detail.Open(s, 0)
		return m.refreshView()
	case key.Matches(msg, k.Audit):
		return m.openAudit()
	}
	var mv tea.Msg
	if m.table, mv = m.table.Navigate(msg); mv != nil {
		return m.move(mv)
	}
	return nil
}

// toggleFreeze holds the rows' order (values still update in place; new
// and ended sessions are marked, not inserted or removed) or lets it go:
// then the rows are listed afresh, the selection on its session.
func (m *Model) toggleFreeze() tea.Cmd {
	if !m.table.frozen {
		m.table.Freeze(m.now)
		m.status.Set("order frozen: rows hold still, values update; F follows again")
		return nil
	}
	m.table.Unfreeze()
	m.status.Set("following the order again")
	return m.fetch(m.windowReq(placeTop))
}

// selected is the selected session for an action key; without one it says
// so in the status line.
func (m *Model) selected() (sessionlogic.Session, bool) {
	s, ok := m.table.Selected()
	if !ok {
		m.status.SetErrText("no session selected")
	}
	return s, ok
}

// markedTargets are the marked sessions, by user then id, and how many of
// them the filter hides.
func (m *Model) markedTargets() (ts []target, hidden int) {
	ts = make([]target, 0, len(m.table.marks))
	for _, s := range m.table.marks {
		ts = append(ts, target{ID: s.ID, Username: s.Username})
		if !matches(s, m.filter.value) {
			hidden++
		}
	}
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].Username != ts[j].Username {
			return ts[i].Username < ts[j].Username
		}
		return ts[i].ID < ts[j].ID
	})
	return ts, hidden
}

func (m *Model) openAudit() tea.Cmd {
	m.mode = modeAudit
	m.audit.offset = 0
	return m.refreshView()
}

// openForceOut opens the confirmation for forcing ts out, captured now.
func (m *Model) openForceOut(ts []target, hidden int) tea.Cmd {
	if len(ts) == 0 || ts[0].ID == "" {
		return nil
	}
	m.confirm = m.confirm.Open(confirmModel{kind: actForceOut, targets: ts, hidden: hidden})
	return nil
}

// openForceOutUser opens the confirmation for forcing every session of
// username out, and counts them in the background.
func (m *Model) openForceOutUser(username string) tea.Cmd {
	if username == "" {
		return nil
	}
	m.seq++
	m.confirm = m.confirm.Open(confirmModel{kind: actForceOutUser, username: username, countID: m.seq})
	if m.mgr == nil {
		return nil
	}
	return countUserCmd(m.ctx, m.mgr, m.seq, username)
}

func (m *Model) openExtend(s sessionlogic.Session) tea.Cmd {
	if s.ID == "" {
		return nil
	}
	limit := s.AbsoluteExpiresAt
	if limit.IsZero() && m.mgr != nil && m.mgr.AbsoluteTimeout() > 0 {
		limit = s.LoginTime.Add(m.mgr.AbsoluteTimeout())
	}
	var cmd tea.Cmd
	m.extend, cmd = m.extend.Open(s, m.extendDefault, limit, m.now)
	return cmd
}

// updateAction handles the dialogs' answers and the actions' results; ok
// is false for any other message.
func (m *Model) updateAction(msg tea.Msg) (cmd tea.Cmd, ok bool) {
	switch msg := msg.(type) {
	case userCountMsg:
		m.confirm, _ = m.confirm.Update(msg)
		return nil, true
	case confirmedMsg:
		return m.act(msg), true
	case extendSubmitMsg:
		return m.extendBy(msg), true
	case cancelledMsg:
		m.status.Set("cancelled: nothing changed")
		return nil, true
	case actionMsg:
		return m.onAction(msg), true
	}
	return nil, false
}

// act runs a confirmed destructive action on the targets the dialog
// captured when the key was pressed.
func (m *Model) act(c confirmedMsg) tea.Cmd {
	m.seq++
	switch c.kind {
	case actForceOutUser:
		m.status.Progress("forcing out every session of " + c.username + "…")
		if m.mgr != nil {
			return forceOutUserCmd(m.ctx, m.mgr, m.seq, m.operator, c.username)
		}
	default:
		m.status.Progress(fmt.Sprintf("forcing out %s…", plural(len(c.targets), "session")))
		if m.mgr != nil {
			return forceOutCmd(m.ctx, m.mgr, m.seq, m.operator, c.targets)
		}
	}
	return nil
}

func (m *Model) extendBy(msg extendSubmitMsg) tea.Cmd {
	m.seq++
	m.status.Progress(fmt.Sprintf("extending %s's session %s by %s…", msg.target.Username, shortID(msg.target.ID), showSpan(msg.by)))
	if m.mgr == nil {
		return nil
	}
	return extendCmd(m.ctx, m.mgr, m.seq, m.operator, msg.target, msg.by)
}

// onAction shows an action's outcome and reads what it changed.
func (m *Model) onAction(msg actionMsg) tea.Cmd {
	for _, id := range msg.done {
		delete(m.table.marks, id)
	}
	switch {
	case msg.err != nil && msg.text != "":
		m.status.Fail(msg.text + "; " + errText(msg.err))
	case msg.err != nil:
		m.status.Fail(errText(msg.err))
	case msg.noop:
		m.status.Noop(msg.text)
	default:
		m.status.Done(msg.text)
	}
	return m.refresh()
}

func nextSort(k sessionlogic.SortKey) sessionlogic.SortKey {
	for i, s := range sessionlogic.SortKeys {
		if s == k {
			return sessionlogic.SortKeys[(i+1)%len(sessionlogic.SortKeys)]
		}
	}
	return sessionlogic.SortKeys[0]
}
