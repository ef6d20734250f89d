package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"

	"sessionmon/sessionlogic"
)

// frame is the layout: the window's size and how it is shared out.
type frame struct {
	width, height int
	bodyHeight    int
	showHeader    bool
	showFooter    bool

	// helpc caches the footer, which only changes with the width, the
	// view and `?` (rendering it is a good part of a frame).
	helpc *helpCache
}

// layout sizes the components from the window size. It reports whether the
// table grew past the rows it holds, so a larger window must be fetched.
func (m *Model) layout() bool {
	w, h := m.width, m.height
	m.help.Width = w
	m.showHeader = h >= 10
	m.showFooter = h >= 6
	m.header.SetSize(w, headerHeight)
	m.status.SetSize(w, 1)
	m.filter.SetSize(w, 1)
	m.auditFilter.SetSize(w, 1)
	m.confirm.SetSize(w, h)
	m.extend.SetSize(w, h)
	m.export.SetSize(w, h)
	fixed := 1 // the status line
	if m.showHeader {
		fixed += headerHeight
	}
	if m.showDash = h >= 12; m.showDash {
		fixed++ // position and sparklines (oncall.go)
	}
	if m.showFooter {
		fixed += m.footerHeight()
	}
	if d := m.dialogView(); d != "" {
		fixed += lipgloss.Height(d)
	}
	m.bodyHeight = max(0, h-fixed)

	before := m.table.height
	m.table.SetSize(w, max(0, m.bodyHeight-1)) // one line of column titles
	m.detail.SetSize(w, m.bodyHeight)
	m.audit.SetSize(w, m.bodyHeight)
	m.groups.SetSize(w, m.bodyHeight)
	m.errs.SetSize(w, m.bodyHeight)
	return m.table.height > before && m.table.loaded && len(m.table.rows) < m.table.height &&
		(m.table.more || !m.table.atStart)
}

func (m *Model) footerHeight() int {
	if m.filter.editing || m.auditFilter.editing {
		return 1
	}
	return lipgloss.Height(m.helpView())
}

// helpKeys are the keys of the current view, for the footer and `?`.
func (m *Model) helpKeys() help.KeyMap {
	return viewKeys{k: m.keys, mode: m.mode}
}

func (m Model) dialogView() string {
	switch {
	case m.confirm.open:
		return m.confirm.View()
	case m.extend.open:
		return m.extend.View(m.now)
	case m.export.open:
		return m.export.View()
	}
	return ""
}

// View renders the frame. It renders only the visible rows and never more
// than the window's lines.
func (m Model) View() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	parts := make([]string, 0, 6)
	if m.showHeader {
		parts = append(parts, m.header.View(m.now))
	}
	if m.showDash {
		parts = append(parts, m.dashView())
	}
	// Every part keeps to the width by itself (the table cuts each cell,
	// the others cut their lines), so the frame is not measured again.
	var body string
	switch m.mode {
	case modeDetail:
		body = m.detail.View(m.now)
	case modeAudit:
		body = m.audit.View(m.now)
	case modeGroups:
		body = m.groups.View(m.now)
	case modeErrors:
		body = m.errs.View(m.now)
	default:
		body = m.table.View(m.now, sessionlogic.FilterSubstring(m.filter.value))
	}
	if m.bodyHeight > 0 {
		parts = append(parts, padLines(body, m.bodyHeight))
	}
	if d := m.dialogView(); d != "" {
		parts = append(parts, cutLines(d, m.width))
	}
	hidden := 0
	for _, s := range m.table.marks {
		if !matches(s, m.filter.value) {
			hidden++
		}
	}
	// Without the header (a short terminal) the status line keeps its
	// state cell: whether what is shown is live, stale or paused.
	state := ""
	if !m.showHeader {
		state = m.header.Badge(m.now)
	}
	order := "sort " + sortName(m.sort, m.desc)
	if m.table.frozen {
		order += " · frozen (F)"
		if m.table.fresh > 0 {
			order += fmt.Sprintf(" · %d new", m.table.fresh)
		}
	}
	parts = append(parts, cut(m.status.View(m.now, state, m.filter.value, len(m.table.marks), hidden, order), m.width))
	if m.showFooter {
		switch {
		case m.filter.editing:
			parts = append(parts, m.filter.View())
		case m.auditFilter.editing:
			parts = append(parts, m.auditFilter.View())
		default:
			parts = append(parts, m.helpView())
		}
	}
	out := strings.Join(parts, "\n")
	if n := strings.Count(out, "\n") + 1; n > m.height {
		lines := strings.Split(out, "\n")
		out = strings.Join(lines[:m.height], "\n")
	}
	return out
}

type helpCache struct {
	width int
	all   bool
	mode  viewMode
	view  string
}

func (m Model) helpView() string {
	c := m.helpc
	if c == nil {
		return cutLines(m.help.View(m.helpKeys()), m.width)
	}
	if c.view == "" || c.width != m.width || c.all != m.help.ShowAll || c.mode != m.mode {
		*c = helpCache{width: m.width, all: m.help.ShowAll, mode: m.mode, view: cutLines(m.help.View(m.helpKeys()), m.width)}
	}
	return c.view
}

func sortName(k sessionlogic.SortKey, desc bool) string {
	name := map[sessionlogic.SortKey]string{
		sessionlogic.SortExpires:      "expires",
		sessionlogic.SortLastActivity: "last seen",
		sessionlogic.SortLoginTime:    "login time",
		sessionlogic.SortUser:         "user",
	}[k]
	if desc {
		return name + " ▼"
	}
	return name + " ▲"
}

// cutLines cuts every line of s to w cells.
func cutLines(s string, w int) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = cut(l, w)
	}
	return strings.Join(lines, "\n")
}

// padLines makes s exactly n lines: cut or padded with empty lines.
func padLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	for len(lines) < n {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}
