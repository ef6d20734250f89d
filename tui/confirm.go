package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// actionKind is a destructive action that needs a confirmation.
type actionKind int

const (
	actForceOut     actionKind = iota // force the captured sessions out
	actForceOutUser                   // force every session of a user out
)

// confirmedMsg: the operator pressed y. It carries what the dialog
// captured when the action key was pressed.
type confirmedMsg struct {
	kind     actionKind
	targets  []target
	username string
}

// cancelledMsg: the operator said no.
type cancelledMsg struct{}

// confirmModel asks before a destructive action. It names the targets, the
// number of sessions and how many marked sessions the filter hides. It
// defaults to No: Enter, n, Esc and q cancel; only y confirms; other keys
// do nothing.
type confirmModel struct {
	keys  keyMap
	theme *styleSet
	open  bool
	width int

	kind     actionKind
	targets  []target // actForceOut: captured ids and usernames
	username string   // actForceOutUser
	hidden   int      // marked sessions hidden by the filter
	// actForceOutUser: the user's active sessions, counted in the background.
	countID  int
	counted  bool
	count    int
	countMax bool
	countErr error
}

func newConfirm(keys keyMap, theme *styleSet) confirmModel {
	return confirmModel{keys: keys, theme: theme}
}

// Open returns the dialog open on what c names (kind, targets, username,
// countID), with the component's keys, theme and size.
func (c confirmModel) Open(what confirmModel) confirmModel {
	what.keys, what.theme, what.width, what.open = c.keys, c.theme, c.width, true
	return what
}

// SetSize sets the width the dialog fits in.
func (c *confirmModel) SetSize(width, _ int) { c.width = width }

func (c confirmModel) Update(msg tea.Msg) (confirmModel, tea.Cmd) {
	if !c.open {
		return c, nil
	}
	switch msg := msg.(type) {
	case userCountMsg:
		if msg.id == c.countID {
			c.counted, c.count, c.countMax, c.countErr = true, msg.n, msg.more, msg.err
		}
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, c.keys.Yes):
			c.open = false
			return c, emit(confirmedMsg{kind: c.kind, targets: c.targets, username: c.username})
		case key.Matches(msg, c.keys.No):
			c.open = false
			return c, emit(cancelledMsg{})
		}
	}
	return c, nil
}

func (c confirmModel) lines() (title string, body []string) {
	switch c.kind {
	case actForceOutUser:
		title = fmt.Sprintf("Force out every session of %s?", clean(c.username))
		switch {
		case c.countErr != nil:
			body = append(body, "Could not count the sessions: "+errText(c.countErr))
		case !c.counted:
			body = append(body, "Counting the user's active sessions…")
		case c.countMax:
			body = append(body, fmt.Sprintf("More than %d active sessions will end.", c.count))
		default:
			body = append(body, fmt.Sprintf("%s will end.", plural(c.count, "active session")))
		}
	default:
		var users []string
		seen := map[string]bool{}
		for _, t := range c.targets {
			if !seen[t.Username] {
				seen[t.Username] = true
				users = append(users, clean(t.Username))
			}
		}
		if len(c.targets) == 1 {
			title = fmt.Sprintf("Force out %s's session %s?", users[0], clean(shortID(c.targets[0].ID)))
		} else {
			title = fmt.Sprintf("Force out %s of %s?", plural(len(c.targets), "session"), joinUsers(users))
		}
		if c.hidden > 0 {
			verb := "are"
			if c.hidden == 1 {
				verb = "is"
			}
			body = append(body, fmt.Sprintf("%d of the marked sessions %s hidden by the filter.", c.hidden, verb))
		}
	}
	body = append(body, "The holder's next request will be refused.", "y: yes    n, enter, esc: no")
	return title, body
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func (c confirmModel) View() string {
	if !c.open {
		return ""
	}
	width := c.width
	title, body := c.lines()
	if width < 12 {
		out := []string{cut(title, width)}
		for _, l := range body {
			out = append(out, cut(l, width))
		}
		return strings.Join(out, "\n")
	}
	inner := min(width-4, 76)
	out := []string{c.theme.Warn.Apply(cut(title, inner))}
	for _, l := range body {
		out = append(out, cut(l, inner))
	}
	return c.theme.Dialog.Render(strings.Join(out, "\n"))
}
