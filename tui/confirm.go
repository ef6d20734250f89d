package tui

import (
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
)

// actionKind is a destructive action that needs a confirmation.
type actionKind int

const (
	actKill     actionKind = iota // force-logout the captured sessions
	actKillUser                   // force-logout every session of a user
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
	theme *styleSet
	open  bool

	kind     actionKind
	targets  []target // actKill: captured ids and usernames
	username string   // actKillUser
	hidden   int      // marked sessions hidden by the filter
	// actKillUser: the user's active sessions, counted in the background.
	countID  int
	counted  bool
	count    int
	countMax bool
	countErr error
}

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
		switch msg.String() {
		case "y":
			c.open = false
			return c, emit(confirmedMsg{kind: c.kind, targets: c.targets, username: c.username})
		case "n", "N", "enter", "esc", "q":
			c.open = false
			return c, emit(cancelledMsg{})
		}
	}
	return c, nil
}

func (c confirmModel) lines() (title string, body []string) {
	switch c.kind {
	case actKillUser:
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

func (c confirmModel) View(width int) string {
	if !c.open {
		return ""
	}
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
