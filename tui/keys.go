package tui

import "github.com/charmbracelet/bubbles/key"

// keyMap is every key the dashboard answers to. A disabled binding neither
// matches (key.Matches ignores it) nor shows in help, so read-only mode is
// nothing more than disabling the action bindings.
//
// bubbles/table's defaults (d, u, f, b, g and space for paging) are not
// used: the table here has its own bindings, and space marks a session.
type keyMap struct {
	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Home     key.Binding
	End      key.Binding

	Detail  key.Binding
	Back    key.Binding
	Filter  key.Binding
	Sort    key.Binding
	Reverse key.Binding
	Freeze  key.Binding

	Mark         key.Binding
	ForceOut     key.Binding // Manager.ForceLogout of the selected or marked sessions
	ForceOutUser key.Binding // Manager.ForceLogoutUser of the selected session's user
	Extend       key.Binding

	Pause   key.Binding
	Faster  key.Binding
	Slower  key.Binding
	Refresh key.Binding
	Audit   key.Binding
	Help    key.Binding
	Quit    key.Binding

	// Keys of the detail and audit views and of the modal components.
	Close     key.Binding // leave the detail or audit view
	ForceQuit key.Binding // quits from anywhere, a dialog included
	Yes       key.Binding // the confirmation's only yes
	No        key.Binding // the confirmation's no (its default)
	Submit    key.Binding // the extend prompt: extend
	Cancel    key.Binding // the extend prompt, the filter: leave without change
	Accept    key.Binding // the filter: keep it and leave the input

	// ReadOnly holds the action keys in read-only mode (and matches
	// nothing otherwise), so they answer with a word instead of silence.
	ReadOnly key.Binding

	oncallKeys // group, copy, export, errors (oncall.go)
}

// newKeyMap returns the bindings; readOnly disables the actions that
// change sessions (mark, force out, extend).
func newKeyMap(readOnly bool) keyMap {
	k := keyMap{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "page down")),
		Home:     key.NewBinding(key.WithKeys("home"), key.WithHelp("home", "first")),
		End:      key.NewBinding(key.WithKeys("end"), key.WithHelp("end", "last")),

		Detail:  key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "detail")),
		Back:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back/clear")),
		Filter:  key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Sort:    key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sort")),
		Reverse: key.NewBinding(key.WithKeys("S"), key.WithHelp("S", "reverse")),
		Freeze:  key.NewBinding(key.WithKeys("F", "Z"), key.WithHelp("F", "freeze order")),

		Mark:         key.NewBinding(key.WithKeys(" "), key.WithHelp("space", "mark")),
		ForceOut:     key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "force out")),
		ForceOutUser: key.NewBinding(key.WithKeys("X"), key.WithHelp("X", "force out user")),
		Extend:       key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "extend")),

		Pause:   key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause")),
		Faster:  key.NewBinding(key.WithKeys("+", "="), key.WithHelp("+", "poll faster")),
		Slower:  key.NewBinding(key.WithKeys("-", "_"), key.WithHelp("-", "poll slower")),
		Refresh: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "refresh")),
		Audit:   key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "audit")),
		Help:    key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:    key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),

		Close:     key.NewBinding(key.WithKeys("esc", "backspace"), key.WithHelp("esc", "back")),
		ForceQuit: key.NewBinding(key.WithKeys("ctrl+c")),
		Yes:       key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "yes")),
		No:        key.NewBinding(key.WithKeys("n", "N", "enter", "esc", "q"), key.WithHelp("n, enter, esc", "no")),
		Submit:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "extend")),
		Cancel:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
		Accept:    key.NewBinding(key.WithKeys("enter", "tab"), key.WithHelp("enter", "keep")),

		oncallKeys: newOncallKeys(),
	}
	k.ReadOnly = key.NewBinding(key.WithKeys(" ", "x", "X", "e"))
	k.ReadOnly.SetEnabled(readOnly)
	if readOnly {
		for _, b := range []*key.Binding{&k.Mark, &k.ForceOut, &k.ForceOutUser, &k.Extend} {
			b.SetEnabled(false)
		}
	}
	return k
}

// ShortHelp is the footer line (help.KeyMap).
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Detail, k.Filter, k.Group, k.Sort, k.ForceOut, k.Extend, k.Pause, k.Audit, k.Help, k.Quit}
}

// FullHelp is the `?` view (help.KeyMap).
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End},
		{k.Detail, k.Audit, k.Back, k.Filter, k.Sort, k.Reverse, k.Freeze, k.Group},
		{k.Mark, k.ForceOut, k.ForceOutUser, k.Extend, k.CopyID, k.CopyUser, k.Export},
		{k.Pause, k.Faster, k.Slower, k.Refresh, k.Errors, k.Help, k.Quit},
	}
}

// viewKeys is the help of one view: the detail and audit views list only
// the keys that work there.
type viewKeys struct {
	k    keyMap
	mode viewMode
}

func (v viewKeys) ShortHelp() []key.Binding {
	k := v.k
	switch v.mode {
	case modeDetail:
		return []key.Binding{k.Close, k.ForceOut, k.ForceOutUser, k.Extend, k.Refresh, k.Audit, k.Help, k.Quit}
	case modeAudit:
		return []key.Binding{k.Close, auditFilterHelp, k.Up, k.Down, k.Refresh, k.Pause, k.Help, k.Quit}
	case modeGroups:
		return []key.Binding{k.Jump, k.GroupNext, k.Filter, k.CopyKey, k.Close, k.Help, k.Quit}
	case modeErrors:
		return []key.Binding{k.Close, k.CopyErr, k.Up, k.Down, k.Help, k.Quit}
	}
	return k.ShortHelp()
}

func (v viewKeys) FullHelp() [][]key.Binding {
	k := v.k
	switch v.mode {
	case modeDetail:
		return [][]key.Binding{
			{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End},
			{k.Close, k.Audit, k.ForceOut, k.ForceOutUser, k.Extend, k.CopyID, k.CopyUser},
			{k.Pause, k.Faster, k.Slower, k.Refresh, k.Help, k.Quit},
		}
	case modeAudit:
		return [][]key.Binding{
			{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End},
			{k.Close, auditFilterHelp, k.Pause, k.Faster, k.Slower, k.Refresh, k.Help, k.Quit},
		}
	case modeGroups, modeErrors:
		return [][]key.Binding{
			{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End},
			v.ShortHelp(),
		}
	}
	return k.FullHelp()
}

// auditFilterHelp is `/` as the audit view's help names it.
var auditFilterHelp = key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "user"))
