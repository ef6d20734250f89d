package tui

import (
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"sessionmon/sessionlogic"
)

// auditLimit is how many of the latest audit entries the audit view reads.
const auditLimit = 200

// auditModel is the `a` view: the latest logins and operator actions, who
// did what, when, and to whom. It is read again on every poll while open.
// The title and the column headings stay put while the entries scroll;
// scrolled down, the entries hold still when new ones arrive on top; and
// `/` narrows it to one user (who forced mallory out?), in the store, so
// an older entry is found too.
type auditModel struct {
	keys  keyMap
	theme *styleSet

	reqID   int
	user    string // the user the view is narrowed to ("" for all)
	entries []sessionlogic.AuditEntry
	loaded  bool
	err     error

	offset        int   // the first entry shown
	topID         int64 // its id, to hold it still when entries arrive
	width, height int
}

// auditHead is the title and the column headings.
const auditHead = 2

func newAudit(keys keyMap, theme *styleSet) auditModel {
	return auditModel{keys: keys, theme: theme}
}

// SetSize sets the view's size.
func (a *auditModel) SetSize(width, height int) {
	a.width, a.height = width, max(0, height)
	a.clamp()
}

// rows is how many entries fit under the headings.
func (a auditModel) rows() int { return max(0, a.height-auditHead) }

func (a *auditModel) clamp() {
	a.offset = max(0, min(a.offset, len(a.entries)-a.rows()))
	a.topID = 0
	if a.offset > 0 && a.offset < len(a.entries) {
		a.topID = a.entries[a.offset].ID
	}
}

// Narrow shows only the entries about user ("" for all), from the top.
func (a *auditModel) Narrow(user string) {
	a.user, a.offset, a.topID, a.loaded, a.entries = user, 0, 0, false, nil
}

func (a auditModel) Update(msg tea.Msg) (auditModel, tea.Cmd) {
	switch msg := msg.(type) {
	case auditMsg:
		if msg.id != a.reqID {
			return a, nil
		}
		a.loaded, a.err = true, msg.err
		if msg.err != nil {
			return a, nil
		}
		a.entries = msg.entries
		if a.topID != 0 {
			// Scrolled down: the entry at the top stays at the top, and
			// the new ones come in above it, out of sight.
			for i := range a.entries {
				if a.entries[i].ID == a.topID {
					a.offset = i
					break
				}
			}
		}
		a.clamp()
	case tea.KeyMsg:
		a.offset = scroll(a.keys, msg, a.offset)
		a.clamp()
	}
	return a, nil
}

func (a auditModel) View(_ time.Time) string {
	t := a.theme
	title := auditTitle(len(a.entries))
	if a.user != "" {
		title = fmt.Sprintf("Audit of user %s: %s", clean(a.user), strings.TrimPrefix(auditTitle(len(a.entries)), "Audit: "))
	}
	if a.offset > 0 {
		title += fmt.Sprintf(" (from entry %d)", a.offset+1)
	}
	head := []string{
		cut(t.Title.Apply(title), a.width),
		cut(t.ColTitle.Apply(fit("when", 14)+" "+fit("who", 10)+" "+fit("what", 15)+" "+fit("target", 17)+" "+"detail"), a.width),
	}
	var lines []string
	switch {
	case a.err != nil:
		lines = append(lines, t.Err.Apply("✗ "+errText(a.err)))
	case !a.loaded:
		lines = append(lines, t.Dim.Apply("reading…"))
	case len(a.entries) == 0 && a.user != "":
		lines = append(lines, t.Dim.Apply("no entries about user "+clean(a.user)+" (the name must match exactly)"))
	case len(a.entries) == 0:
		lines = append(lines, t.Dim.Apply("no entries"))
	}
	end := min(len(a.entries), a.offset+a.rows())
	for _, e := range a.entries[min(a.offset, end):end] {
		lines = append(lines, auditLine(e, true))
	}
	body, _ := window(lines, 0, a.width, a.rows())
	out := head[:min(auditHead, a.height)]
	if body != "" {
		out = append(out, body)
	}
	return strings.Join(out, "\n")
}

func auditTitle(n int) string {
	if n == 1 {
		return "Audit: the latest entry"
	}
	return fmt.Sprintf("Audit: the latest %d entries, newest first", n)
}
