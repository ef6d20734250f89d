package tui

import (
	"fmt"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"sessionmon/sessionlogic"
)

// auditLimit is how many of the latest audit entries the audit view reads.
const auditLimit = 200

// auditModel is the `a` view: the latest logins and operator actions, who
// did what, when, and to whom. It is read again on every poll while open.
type auditModel struct {
	keys  keyMap
	theme *styleSet

	reqID   int
	entries []sessionlogic.AuditEntry
	loaded  bool
	err     error

	offset        int
	width, height int
}

func newAudit(keys keyMap, theme *styleSet) auditModel {
	return auditModel{keys: keys, theme: theme}
}

// SetSize sets the view's size.
func (a *auditModel) SetSize(width, height int) { a.width, a.height = width, max(0, height) }

func (a auditModel) Update(msg tea.Msg) (auditModel, tea.Cmd) {
	switch msg := msg.(type) {
	case auditMsg:
		if msg.id != a.reqID {
			return a, nil
		}
		a.loaded, a.err = true, msg.err
		if msg.err == nil {
			a.entries = msg.entries
		}
	case tea.KeyMsg:
		a.offset = min(scroll(a.keys, msg, a.offset), max(0, len(a.entries)+2-a.height))
	}
	return a, nil
}

func (a auditModel) View(_ time.Time) string {
	width, height := a.width, a.height
	t := a.theme
	title := t.Title.Apply(auditTitle(len(a.entries)))
	cols := t.ColTitle.Apply(fit("when", 14) + " " + fit("who", 10) + " " + fit("what", 15) + " " + fit("target", 17) + " " + "detail")
	lines := []string{title, cols}
	switch {
	case a.err != nil:
		lines = append(lines, t.Err.Apply("✗ "+errText(a.err)))
	case !a.loaded:
		lines = append(lines, t.Dim.Apply("reading…"))
	case len(a.entries) == 0:
		lines = append(lines, t.Dim.Apply("no entries"))
	}
	for _, e := range a.entries {
		lines = append(lines, auditLine(e, true))
	}
	v, _ := window(lines, a.offset, width, height)
	return v
}

func auditTitle(n int) string {
	if n == 1 {
		return "Audit: the latest entry"
	}
	return fmt.Sprintf("Audit: the latest %d entries, newest first", n)
}
