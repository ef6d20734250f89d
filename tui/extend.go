package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"sessionmon/sessionlogic"
)

// extendSubmitMsg: the operator entered a valid duration.
type extendSubmitMsg struct {
	target target
	by     time.Duration
}

// extendModel is the extend prompt: a duration, prefilled with the
// configured default, and the resulting expiry shown as it is typed. A
// duration that would pass the session's absolute limit is refused here,
// before the store is asked (the store refuses it too).
type extendModel struct {
	keys  keyMap
	theme *styleSet
	open  bool
	width int
	input textinput.Model

	target    target
	expiresAt time.Time // as captured when e was pressed
	limit     time.Time // the absolute limit; zero: none
	err       string    // why the last Enter was refused
	now       time.Time // when e was pressed
}

func newExtend(keys keyMap, theme *styleSet) extendModel {
	in := textinput.New()
	in.Prompt = "by: "
	in.CharLimit = 32
	in.Width = 20
	in.SetCursorMode(textinput.CursorStatic)
	return extendModel{keys: keys, theme: theme, input: in}
}

// SetSize sets the width the prompt fits in.
func (e *extendModel) SetSize(width, _ int) { e.width = width }

// Open starts the prompt for session s. limit is its absolute limit (zero
// for none).
func (e extendModel) Open(s sessionlogic.Session, def time.Duration, limit, now time.Time) (extendModel, tea.Cmd) {
	e.open, e.now = true, now
	e.target = target{ID: s.ID, Username: s.Username}
	e.expiresAt, e.limit, e.err = s.ExpiresAt, limit, ""
	e.input.SetValue(showSpan(def))
	e.input.CursorEnd()
	return e, e.input.Focus()
}

// check parses the input and says what the new expiry would be, or why it
// would be refused.
func (e extendModel) check(now time.Time) (time.Duration, time.Time, error) {
	d, err := parseSpan(e.input.Value())
	if err != nil {
		return 0, time.Time{}, err
	}
	if d <= 0 || d > sessionlogic.MaxExtend {
		return 0, time.Time{}, fmt.Errorf("want a duration above 0 and at most %s", span(sessionlogic.MaxExtend))
	}
	at := e.expiresAt.Add(d)
	if !e.limit.IsZero() && at.After(e.limit) {
		room := e.limit.Sub(e.expiresAt)
		if room <= 0 {
			return d, at, fmt.Errorf("refused: the session is at its absolute limit (%s)", clockTime(now, e.limit))
		}
		return d, at, fmt.Errorf("refused: at most %s more; the absolute limit is %s", span(room), clockTime(now, e.limit))
	}
	return d, at, nil
}

func (e extendModel) Update(msg tea.Msg) (extendModel, tea.Cmd) {
	if !e.open {
		return e, nil
	}
	if km, ok := msg.(tea.KeyMsg); ok {
		switch {
		case key.Matches(km, e.keys.Cancel):
			e.open = false
			e.input.Blur()
			return e, emit(cancelledMsg{})
		case key.Matches(km, e.keys.Submit):
			d, _, err := e.check(e.now)
			if err != nil {
				e.err = err.Error()
				return e, nil
			}
			e.open = false
			e.input.Blur()
			return e, emit(extendSubmitMsg{target: e.target, by: d})
		}
	}
	var cmd tea.Cmd
	e.input, cmd = e.input.Update(msg)
	e.err = ""
	return e, cmd
}

func (e extendModel) View(now time.Time) string {
	if !e.open {
		return ""
	}
	width := e.width
	title := fmt.Sprintf("Extend %s's session %s", clean(e.target.Username), clean(shortID(e.target.ID)))
	var preview string
	_, at, err := e.check(now)
	switch {
	case e.err != "":
		preview = e.theme.Err.Apply("✗ " + e.err)
	case err != nil:
		preview = e.theme.Err.Apply(err.Error())
	default:
		preview = fmt.Sprintf("new expiry %s (in %s)", clockTime(now, at), span(at.Sub(now)))
	}
	lines := []string{title, e.input.View(), preview}
	if !e.limit.IsZero() && e.err == "" && err == nil {
		lines = append(lines, "absolute limit "+clockTime(now, e.limit))
	}
	lines = append(lines, "enter: extend    esc: cancel")
	if width < 12 {
		for i := range lines {
			lines[i] = cut(lines[i], width)
		}
		return strings.Join(lines, "\n")
	}
	inner := min(width-4, 76)
	for i := range lines {
		lines[i] = cut(lines[i], inner)
	}
	lines[0] = e.theme.Warn.Apply(lines[0])
	return e.theme.Dialog.Render(strings.Join(lines, "\n"))
}
