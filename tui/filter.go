package tui

import (
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
)

// maxFilter is the longest filter the Manager accepts.
const maxFilter = 200

// filterChangedMsg: the filter text changed (as typed, or cleared). audit
// tells the audit view's user filter from the table's.
type filterChangedMsg struct {
	text  string
	audit bool
}

// filterModel is the `/` input. The filter applies as it is typed; Enter
// keeps it and leaves the input, Esc clears it. The text goes to the store
// as data (Manager.Active's Text), never as SQL.
type filterModel struct {
	audit   bool // the audit view's user filter
	keys    keyMap
	width   int
	editing bool
	value   string
	input   textinput.Model
}

func newFilter(keys keyMap) filterModel {
	return newInput(keys, "/", "user, name, email, role or IP", false)
}

// newAuditFilter is the audit view's `/`: one username, matched exactly
// by the store.
func newAuditFilter(keys keyMap) filterModel {
	return newInput(keys, "user: ", "the exact username (who forced them out?)", true)
}

func newInput(keys keyMap, prompt, placeholder string, audit bool) filterModel {
	in := textinput.New()
	in.Prompt = prompt
	in.Placeholder = placeholder
	in.CharLimit = maxFilter
	in.SetCursorMode(textinput.CursorStatic)
	return filterModel{keys: keys, input: in, audit: audit}
}

// SetSize sets the width of the input line.
func (f *filterModel) SetSize(width, _ int) { f.width = width }

// Open starts editing the filter.
func (f filterModel) Open() (filterModel, tea.Cmd) {
	f.editing = true
	f.input.SetValue(f.value)
	f.input.CursorEnd()
	return f, f.input.Focus()
}

// Clear drops the filter.
func (f filterModel) Clear() (filterModel, tea.Cmd) {
	f.editing = false
	f.input.Blur()
	f.input.SetValue("")
	if f.value == "" {
		return f, nil
	}
	f.value = ""
	return f, emit(filterChangedMsg{audit: f.audit})
}

func (f filterModel) Update(msg tea.Msg) (filterModel, tea.Cmd) {
	if !f.editing {
		return f, nil
	}
	if km, ok := msg.(tea.KeyMsg); ok {
		switch {
		case key.Matches(km, f.keys.Cancel):
			return f.Clear()
		case key.Matches(km, f.keys.Accept):
			f.editing = false
			f.input.Blur()
			return f, nil
		}
	}
	var cmd tea.Cmd
	f.input, cmd = f.input.Update(msg)
	if v := f.input.Value(); v != f.value {
		f.value = v
		return f, tea.Batch(cmd, emit(filterChangedMsg{text: v, audit: f.audit}))
	}
	return f, cmd
}

func (f filterModel) View() string {
	f.input.Width = max(1, f.width-width(f.input.Prompt)-2)
	return cut(f.input.View(), f.width)
}
