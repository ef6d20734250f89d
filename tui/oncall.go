package tui

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"sessionmon/sessionlogic"
)

// What an on-call operator reaches for beyond the table, wired into the
// root: sessions grouped by user or IP (groups.go), logins over the last
// hour (sparkline.go), where the selected row sits and how many match
// (position.go), copying an id or a name (clipboard.go), exporting the
// filtered sessions (export.go), and the last errors in full
// (errorview.go). The root calls in at a few points only: observe and
// updateOncall in update, oncallKey in handleKey, oncallSync after every
// message, and the view's dash line, bodies and prompt.

// oncallKeys are the bindings of these views, embedded in keyMap.
type oncallKeys struct {
	Group     key.Binding // cycle the grouping: off, by user, by IP
	GroupNext key.Binding // the same key in the group view
	Jump      key.Binding // group view: list the group's sessions
	CopyID    key.Binding // copy the full session id
	CopyUser  key.Binding // copy the username
	CopyKey   key.Binding // group view: copy the group's user or IP
	CopyErr   key.Binding // error view: copy the newest error for a ticket
	Export    key.Binding // export the filtered sessions to a file
	Save      key.Binding // export prompt: write
	Errors    key.Binding // the last errors in full
}

func newOncallKeys() oncallKeys {
	return oncallKeys{
		Group:     key.NewBinding(key.WithKeys("g"), key.WithHelp("g", "group")),
		GroupNext: key.NewBinding(key.WithKeys("g"), key.WithHelp("g", "user/IP/off")),
		Jump:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "its sessions")),
		CopyID:    key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy id")),
		CopyUser:  key.NewBinding(key.WithKeys("C"), key.WithHelp("C", "copy user")),
		CopyKey:   key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy")),
		CopyErr:   key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy for a ticket")),
		Export:    key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "export")),
		Save:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "export")),
		Errors:    key.NewBinding(key.WithKeys("!"), key.WithHelp("!", "last errors")),
	}
}

// oncall is the root's state for these views.
type oncall struct {
	groups groupsModel
	spark  sparkModel
	pos    positionModel
	export exportModel
	errs   errorModel
	clip   clipboard

	oncallTag int // the live refresh loop (stats cadence)
	exportID  int
	// jumpedFrom is the grouping Enter left, so Esc goes back to it.
	jumpedFrom sessionlogic.GroupBy
	showDash   bool // the dash line is shown (layout)
}

func newOncall(keys keyMap, theme *styleSet, out io.Writer) oncall {
	return oncall{
		groups: newGroups(keys, theme),
		spark:  sparkModel{theme: theme, reqID: 1},
		export: newExport(keys, theme),
		errs:   newErrorView(keys, theme),
		clip: clipboard{
			out:    out,
			tmux:   os.Getenv("TMUX") != "",
			screen: os.Getenv("TMUX") == "" && strings.HasPrefix(os.Getenv("TERM"), "screen"),
		},
	}
}

// oncallTickMsg re-reads the sparklines, the open group view and the
// position, on the stats' cadence.
type oncallTickMsg struct{ tag int }

func oncallTick(tag int) tea.Cmd {
	return tea.Tick(statsEvery, func(time.Time) tea.Msg { return oncallTickMsg{tag: tag} })
}

// oncallInit starts the refresh loop with a first read of the sparklines
// (request 1, set by newOncall: Init's model is a copy, so it cannot
// raise an id).
func (m Model) oncallInit() tea.Cmd {
	if m.mgr == nil {
		return oncallTick(m.oncallTag)
	}
	return tea.Batch(fetchHistCmd(m.ctx, m.mgr, m.spark.reqID), oncallTick(m.oncallTag))
}

func (m *Model) askSpark() tea.Cmd {
	m.spark.reqID++
	if m.mgr == nil {
		return nil
	}
	return fetchHistCmd(m.ctx, m.mgr, m.spark.reqID)
}

// observe records the errors the store's answers carry (only answers the
// root will use), for the error view. It handles nothing.
func (m *Model) observe(msg tea.Msg) {
	var (
		what string
		err  error
	)
	switch msg := msg.(type) {
	case windowMsg:
		if msg.id == m.fetchID {
			what, err = "listing the sessions", msg.err
		}
	case statsMsg:
		if msg.id == m.statsID {
			what, err = "reading the counts", msg.err
		}
	case detailMsg:
		what, err = "reading the session", msg.err
	case auditMsg:
		what, err = "reading the audit", msg.err
	case userCountMsg:
		what, err = "counting "+msg.username+"'s sessions", msg.err
	case actionMsg:
		what, err = "the action", msg.err
	case groupsMsg:
		if msg.id == m.groups.reqID {
			what, err = "grouping the sessions", msg.err
		}
	case histMsg:
		if msg.id == m.spark.reqID {
			what, err = "counting logins", msg.err
		}
	case posMsg:
		if msg.id == m.pos.beforeID && !msg.total || msg.id == m.pos.totalID && msg.total {
			what, err = "counting the sessions", msg.err
		}
	case copiedMsg:
		what, err = "copying", msg.err
	case exportedMsg:
		what, err = "exporting to "+msg.path, msg.err
	}
	if err != nil {
		m.errs = m.errs.Add(m.clock(), what, err)
	}
}

// updateOncall handles the messages of these views; ok is false for any
// other message.
func (m *Model) updateOncall(msg tea.Msg) (cmd tea.Cmd, ok bool) {
	switch msg := msg.(type) {
	case oncallTickMsg:
		if msg.tag != m.oncallTag {
			return nil, true
		}
		cmds := []tea.Cmd{oncallTick(m.oncallTag)}
		if m.paused {
			return tea.Batch(cmds...), true
		}
		cmds = append(cmds, m.askSpark())
		switch m.mode {
		case modeGroups:
			m.groups, cmd = m.groups.Ask(m.ctx, m.mgr)
			cmds = append(cmds, cmd)
		case modeTable:
			// The total is counted here too rather than taken from the
			// header's stats: those are read on their own schedule, and
			// "1/0" above seven rows is worse than one more count.
			m.pos, cmd = m.pos.Ask(m.ctx, m.mgr, true)
			cmds = append(cmds, cmd)
		}
		return tea.Batch(cmds...), true
	case histMsg:
		m.spark = m.spark.Update(msg)
		return nil, true
	case groupsMsg:
		m.groups, cmd = m.groups.Update(msg)
		return cmd, true
	case posDueMsg, posMsg:
		m.pos, cmd = m.pos.Update(msg, m.ctx, m.mgr)
		return cmd, true
	case copiedMsg:
		if msg.err != nil {
			m.status.SetErr(msg.err)
		} else {
			m.status.Set(fmt.Sprintf("copied %s %s to the clipboard", msg.what, clipLabel(msg.text)))
		}
		return nil, true
	case exportSubmitMsg:
		m.exportID++
		m.status.Set("exporting to " + msg.path + "…")
		if m.mgr == nil {
			return nil, true
		}
		return exportCmd(m.ctx, m.mgr, m.exportID, msg), true
	case exportedMsg:
		switch {
		case msg.id != m.exportID:
		case msg.err != nil && msg.n > 0:
			m.status.SetErrText(fmt.Sprintf("exported %s to %s, but: %s", plural(msg.n, "session"), msg.path, errText(msg.err)))
		case msg.err != nil:
			m.status.SetErr(msg.err)
		default:
			m.status.Set(fmt.Sprintf("exported %s to %s (%s)", plural(msg.n, "session"), msg.path, strings.ToUpper(string(msg.format))))
		}
		return nil, true
	}
	return nil, false
}

// clipLabel shows what was copied, short: an id as its 8 digits.
func clipLabel(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if longID.MatchString(s) && len(s) == 64 {
		return s[:8] + "…"
	}
	if ansi.StringWidth(s) > 24 {
		return fmt.Sprintf("%q", ansi.Truncate(clean(s), 23, "…"))
	}
	return fmt.Sprintf("%q", clean(s))
}

// oncallKey handles the keys of the group and error views, and the keys
// these views add to the table and detail views; ok is false for a key it
// leaves to the view.
func (m *Model) oncallKey(msg tea.KeyMsg) (cmd tea.Cmd, ok bool) {
	k := m.keys
	switch m.mode {
	case modeGroups:
		return m.groupsKey(msg), true
	case modeErrors:
		switch {
		case key.Matches(msg, k.Close), key.Matches(msg, k.Errors):
			m.mode = modeTable
		case key.Matches(msg, k.CopyErr):
			if r, ok := m.errs.Last(); ok {
				return m.clip.Copy("the last error", r.Ticket()), true
			}
		default:
			m.errs = m.errs.Update(msg)
		}
		return nil, true
	}
	if key.Matches(msg, k.Errors) {
		m.mode, m.errs.offset = modeErrors, 0
		return nil, true
	}
	var s sessionlogic.Session
	var have bool
	switch m.mode {
	case modeDetail:
		s, have = m.detail.session, m.detail.session.ID != ""
	case modeTable:
		s, have = m.table.Selected()
	default:
		return nil, false
	}
	switch {
	case key.Matches(msg, k.CopyID), key.Matches(msg, k.CopyUser):
		if !have {
			m.status.SetErrText("no session selected")
			return nil, true
		}
		if key.Matches(msg, k.CopyID) {
			return m.clip.Copy("session id", s.ID), true
		}
		return m.clip.Copy("username", s.Username), true
	}
	if m.mode != modeTable {
		return nil, false
	}
	switch {
	case key.Matches(msg, k.Group):
		return m.openGroups(sessionlogic.GroupByUser), true
	case key.Matches(msg, k.Export):
		m.export, cmd = m.export.Open(m.filter.value, m.now)
		return cmd, true
	case key.Matches(msg, k.Back) && m.jumpedFrom != "" && !m.help.ShowAll:
		// Back from a group's sessions to the groups.
		by := m.jumpedFrom
		m.status.Set("") // the jump's note is done
		m.filter, cmd = m.filter.Clear()
		return tea.Batch(cmd, m.openGroups(by)), true
	}
	return nil, false
}

// openGroups shows the group view grouped by by.
func (m *Model) openGroups(by sessionlogic.GroupBy) tea.Cmd {
	m.jumpedFrom = ""
	m.mode = modeGroups
	m.groups = m.groups.Show(by, m.filter.value)
	var cmd tea.Cmd
	m.groups, cmd = m.groups.Ask(m.ctx, m.mgr)
	return cmd
}

func (m *Model) groupsKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	switch {
	case key.Matches(msg, k.GroupNext):
		by := nextGroupBy(m.groups.by)
		if by == "" {
			m.mode = modeTable
			m.groups = m.groups.Show("", "")
			return nil
		}
		return m.openGroups(by)
	case key.Matches(msg, k.Close):
		m.mode = modeTable
		m.groups = m.groups.Show("", "")
		return nil
	case key.Matches(msg, k.Filter):
		var cmd tea.Cmd
		m.filter, cmd = m.filter.Open()
		return cmd
	case key.Matches(msg, k.CopyKey):
		if g, ok := m.groups.Selected(); ok {
			return m.clip.Copy(string(m.groups.by), g.Key)
		}
		return nil
	case key.Matches(msg, k.Jump):
		g, ok := m.groups.Selected()
		if !ok {
			return nil
		}
		if g.Key == "" {
			// Sessions without an IP (a plain Django site keeps none):
			// no filter term selects an empty field.
			what := "a username"
			if m.groups.by == sessionlogic.GroupByIP {
				what = "an IP"
			}
			m.status.Set("no filter lists the sessions without " + what)
			return nil
		}
		// The group's sessions: the filter is set to the exact term for
		// its key (user:NAME, ip:ADDR, quoted when it holds a space), so
		// 10.0.0.1 does not also list 10.0.0.12's sessions, as a
		// substring would.
		m.jumpedFrom = m.groups.by
		m.mode = modeTable
		m.groups = m.groups.Show("", "")
		var cmd tea.Cmd
		text := sessionlogic.Term(sessionlogic.QualUser, g.Key)
		if m.jumpedFrom == sessionlogic.GroupByIP {
			text = sessionlogic.Term(sessionlogic.QualIP, g.Key)
		}
		m.filter, cmd = m.filter.Set(text)
		m.status.Set(fmt.Sprintf("sessions of %s %s · esc back to the groups", m.jumpedFrom, clean(g.Key)))
		return cmd
	}
	var cmd tea.Cmd
	m.groups, cmd = m.groups.Update(msg)
	return cmd
}

// Set replaces the filter's text, as if typed, without opening the input.
func (f filterModel) Set(text string) (filterModel, tea.Cmd) {
	f.editing = false
	f.input.Blur()
	f.input.SetValue(text)
	if text == f.value {
		return f, nil
	}
	f.value = text
	return f, emit(filterChangedMsg{text: text})
}

// oncallSync runs after every message: it keeps the position count and
// the group view in step with the listing shown.
func (m *Model) oncallSync() tea.Cmd {
	var cmd tea.Cmd
	switch m.mode {
	case modeTable:
		if !m.table.loaded {
			return nil // nothing listed yet (or no store: connecting)
		}
		k := posKey{text: m.filter.value, sort: m.sort, desc: m.desc}
		if m.top != nil {
			k.hasTop, k.top = true, *m.top
		}
		m.pos, cmd = m.pos.Track(k)
	case modeGroups:
		if m.groups.text != m.filter.value {
			m.groups = m.groups.Show(m.groups.by, m.filter.value)
			m.groups, cmd = m.groups.Ask(m.ctx, m.mgr)
		}
	}
	return cmd
}

// dashView is the line under the header: where the selection is (or how
// many groups), then the logins of the last hour.
func (m Model) dashView() string {
	var left string
	switch m.mode {
	case modeGroups:
		left = m.groups.Position()
	case modeTable:
		left = m.pos.View(m.table.sel, len(m.table.rows), m.table.more, m.filter.value != "")
	}
	left = m.theme.Label.Apply(left)
	lw := ansi.StringWidth(left)
	room := m.width - lw
	if lw > 0 {
		room -= 2
	}
	right := m.spark.View(room)
	pad := m.width - lw - ansi.StringWidth(right)
	if pad < 1 {
		return cut(left+" "+right, m.width)
	}
	return left + strings.Repeat(" ", pad) + right
}
