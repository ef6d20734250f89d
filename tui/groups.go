package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"sessionmon/sessionlogic"
)

// groupsModel is the `g` view: active sessions grouped by user or by IP,
// the largest groups first, with how many of the other key each spans (the
// IPs a user comes from, the users behind an IP: credential stuffing shows
// as one address with many accounts). The store counts them from its
// indexes (Manager.Groups); the view holds only the top groups. Enter
// lists the selected group's sessions (the filter is set to its key).
type groupsModel struct {
	keys  keyMap
	theme *styleSet

	by     sessionlogic.GroupBy // "" while the view is off
	text   string               // the filter the groups were asked with
	reqID  int
	groups sessionlogic.Groups
	loaded bool // the answer for by and text has arrived
	err    error
	at     time.Time // when the answer arrived

	sel, offset   int
	width, height int
}

// maxGroupRows is how many groups the view asks for: the biggest are the
// ones that matter; the filter finds the others.
const maxGroupRows = 200

// groupsMsg answers a groups fetch.
type groupsMsg struct {
	id     int
	groups sessionlogic.Groups
	err    error
	at     time.Time
}

func fetchGroupsCmd(ctx context.Context, m *sessionlogic.Manager, id int, q sessionlogic.GroupQuery) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, pollTimeout)
		defer cancel()
		g, err := m.Groups(ctx, q)
		return groupsMsg{id: id, groups: g, err: err, at: m.Now()}
	}
}

func newGroups(keys keyMap, theme *styleSet) groupsModel {
	return groupsModel{keys: keys, theme: theme}
}

// SetSize sets the view's size (the titles take one line of it).
func (g *groupsModel) SetSize(width, height int) { g.width, g.height = width, max(0, height) }

// nextGroupBy is the `g` cycle: off, by user, by IP, off.
func nextGroupBy(by sessionlogic.GroupBy) sessionlogic.GroupBy {
	switch by {
	case "":
		return sessionlogic.GroupByUser
	case sessionlogic.GroupByUser:
		return sessionlogic.GroupByIP
	}
	return ""
}

// Show switches the view to grouping by (and text); the selection resets
// when the grouping changes.
func (g groupsModel) Show(by sessionlogic.GroupBy, text string) groupsModel {
	if by != g.by || text != g.text {
		g.sel, g.offset, g.loaded, g.groups, g.err = 0, 0, false, sessionlogic.Groups{}, nil
	}
	g.by, g.text = by, text
	return g
}

// Ask issues a fetch of the groups shown.
func (g groupsModel) Ask(ctx context.Context, m *sessionlogic.Manager) (groupsModel, tea.Cmd) {
	g.reqID++
	if m == nil || g.by == "" {
		return g, nil
	}
	return g, fetchGroupsCmd(ctx, m, g.reqID, sessionlogic.GroupQuery{By: g.by, Text: g.text, Limit: maxGroupRows})
}

// Selected is the selected group.
func (g groupsModel) Selected() (sessionlogic.Group, bool) {
	if g.sel < 0 || g.sel >= len(g.groups.Groups) {
		return sessionlogic.Group{}, false
	}
	return g.groups.Groups[g.sel], true
}

func (g groupsModel) Update(msg tea.Msg) (groupsModel, tea.Cmd) {
	switch msg := msg.(type) {
	case groupsMsg:
		if msg.id != g.reqID {
			return g, nil // an older request
		}
		g.err = msg.err
		if msg.err != nil {
			return g, nil // keep the groups shown; the error says they are old
		}
		// Keep the selection on the same key when the order changes.
		// (Only a selection there was: a group with an empty key, the
		// sessions without an IP, must not take the first answer's.)
		s, had := g.Selected()
		g.groups, g.loaded, g.at = msg.groups, true, msg.at
		g.sel = min(g.sel, max(0, len(g.groups.Groups)-1))
		for i, x := range g.groups.Groups {
			if had && x.Key == s.Key {
				g.sel = i
				break
			}
		}
		g.clamp()
	case tea.KeyMsg:
		n := len(g.groups.Groups)
		k := g.keys
		switch {
		case key.Matches(msg, k.Up):
			g.sel--
		case key.Matches(msg, k.Down):
			g.sel++
		case key.Matches(msg, k.PageUp):
			g.sel -= max(1, g.rows()-1)
		case key.Matches(msg, k.PageDown):
			g.sel += max(1, g.rows()-1)
		case key.Matches(msg, k.Home):
			g.sel = 0
		case key.Matches(msg, k.End):
			g.sel = n - 1
		}
		g.sel = max(0, min(g.sel, n-1))
		g.clamp()
	}
	return g, nil
}

func (g groupsModel) rows() int { return max(0, g.height-1) }

func (g *groupsModel) clamp() {
	rows := g.rows()
	if g.sel < g.offset {
		g.offset = g.sel
	}
	if rows > 0 && g.sel >= g.offset+rows {
		g.offset = g.sel - rows + 1
	}
	g.offset = max(0, min(g.offset, len(g.groups.Groups)-rows))
}

// Position is "3/42 users" for the dash line.
func (g groupsModel) Position() string {
	if !g.loaded {
		return ""
	}
	what, whats := "user", "users"
	if g.by == sessionlogic.GroupByIP {
		what, whats = "IP", "IPs"
	}
	if len(g.groups.Groups) == 0 {
		return "no " + whats
	}
	return fmt.Sprintf("%d/%s", g.sel+1, plural64(g.groups.Total, what, whats))
}

// groupCols are the view's columns: the key, the count with a bar, the
// other key's count, the newest login, the last activity, the roles.
func (g groupsModel) cols() (key, count, bar, others, login, seen, roles int) {
	count, others, login, seen = 8, 6, 7, 8
	key = 15
	if g.by == sessionlogic.GroupByUser {
		key = 12
	}
	spare := g.width - prefixWidth - key - count - others - login - seen - 6
	bar = min(max(0, spare/3), 20)
	roles = max(0, spare-bar-1)
	key += max(0, roles-30) // a wide terminal gives the key the room roles do not need
	roles = min(roles, 30)
	return
}

func (g groupsModel) View(now time.Time) string {
	t := g.theme
	keyW, countW, barW, othersW, loginW, seenW, rolesW := g.cols()
	keyT, othersT := "user", "ips"
	if g.by == sessionlogic.GroupByIP {
		keyT, othersT = "ip", "users"
	}
	var b strings.Builder
	title := strings.Repeat(" ", prefixWidth) + fit(keyT, keyW) + " " + fitRight("sessions", countW) + " "
	if barW > 0 {
		title += strings.Repeat(" ", barW) + " "
	}
	title += fitRight(othersT, othersW) + " " + fit("login", loginW) + " " + fit("seen", seenW) + " " + fit("roles", rolesW)
	b.WriteString(t.ColTitle.Apply(cut(title, g.width)))
	switch {
	case !g.loaded && g.err != nil:
		b.WriteString("\n" + t.Err.Apply(cut("  grouping failed: "+errText(g.err), g.width)))
		return b.String()
	case !g.loaded:
		b.WriteString("\n" + cut("  counting…", g.width))
		return b.String()
	case len(g.groups.Groups) == 0 && g.text != "":
		b.WriteString("\n" + cut(fmt.Sprintf("  no %s matches the filter", keyT), g.width))
		return b.String()
	case len(g.groups.Groups) == 0:
		b.WriteString("\n" + cut("  no active sessions", g.width))
		return b.String()
	}
	// The bars compare each group with the largest; when every group is
	// as large as the largest (one session each) they would say nothing.
	var top int64
	if n := len(g.groups.Groups); n > 0 && g.groups.Groups[0].Sessions > g.groups.Groups[n-1].Sessions {
		top = g.groups.Groups[0].Sessions
	}
	end := min(len(g.groups.Groups), g.offset+g.rows())
	for i := g.offset; i < end; i++ {
		x := g.groups.Groups[i]
		selected := i == g.sel
		paintIf := func(p paint, s string) string {
			if selected {
				return s
			}
			return p.Apply(s)
		}
		var line strings.Builder
		if selected {
			line.WriteString("▸ ")
		} else {
			line.WriteString("  ")
		}
		line.WriteString(fit(clean(x.Key), keyW) + " " + fitRight(groupDigits(x.Sessions), countW) + " ")
		if barW > 0 {
			n := 0
			if top > 0 {
				n = int((x.Sessions*int64(barW) + top - 1) / top)
			}
			line.WriteString(paintIf(t.Marked, strings.Repeat("▆", n)) + strings.Repeat(" ", barW-n) + " ")
		}
		others := fitRight(groupDigits(x.Others), othersW)
		if x.Others > 1 && g.by == sessionlogic.GroupByIP {
			others = paintIf(t.Amber, others) // one address, several accounts
		}
		line.WriteString(others + " " + fit(compact(now.Sub(x.NewestLogin)), loginW) + " " + fit(ago(now, x.LastActivity), seenW) + " ")
		var roles []string
		for _, r := range x.Roles {
			roles = append(roles, paintIf(t.Role(r), clean(r)))
		}
		line.WriteString(cut(strings.Join(roles, ","), rolesW))
		row := cut(line.String(), g.width)
		if selected {
			row = t.Selected.Apply(row)
		}
		b.WriteString("\n" + row)
	}
	if g.err != nil {
		b.WriteString("\n" + t.Err.Apply(cut("  ✗ "+errText(g.err)+" (counts from "+ago(now, g.at)+")", g.width)))
	}
	return b.String()
}

// fitRight right-aligns s in w cells (cut when longer).
func fitRight(s string, w int) string {
	if n := width(s); n < w {
		return strings.Repeat(" ", w-n) + s
	}
	return cut(s, w)
}
