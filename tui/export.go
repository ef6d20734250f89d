package tui

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"sessionmon/sessionlogic"
)

// exportModel is the `w` prompt: the operator names a file, and the
// sessions the current filter selects (all of them, not only the window)
// are written to it, as CSV or as JSON by the name's extension, in the
// shape of `sessions list --json` (sessionlogic.Exporter). An existing file
// is never overwritten.
type exportModel struct {
	keys  keyMap
	theme *styleSet
	width int

	open   bool
	filter string // the filter the export was opened with
	input  textinput.Model
	err    string // why the name was refused, shown under the prompt
}

// exportTimeout bounds one export (a million sessions take seconds).
const exportTimeout = 5 * time.Minute

type (
	// exportSubmitMsg: the operator named the file.
	exportSubmitMsg struct {
		path   string
		format sessionlogic.ExportFormat
		filter string
	}
	// exportedMsg reports a finished export.
	exportedMsg struct {
		id     int
		path   string
		format sessionlogic.ExportFormat
		n      int
		err    error
	}
)

func newExport(keys keyMap, theme *styleSet) exportModel {
	in := textinput.New()
	in.Prompt = "export to: "
	in.CharLimit = 4096
	in.SetCursorMode(textinput.CursorStatic)
	return exportModel{keys: keys, theme: theme, input: in}
}

// SetSize sets the prompt's width.
func (e *exportModel) SetSize(width, _ int) { e.width = width }

// Open starts the prompt with a name made from now.
func (e exportModel) Open(filter string, now time.Time) (exportModel, tea.Cmd) {
	e.open, e.filter, e.err = true, filter, ""
	e.input.SetValue("sessions-" + now.Format("20060102-150405") + ".csv")
	e.input.CursorEnd()
	return e, e.input.Focus()
}

func (e exportModel) close() exportModel {
	e.open, e.err = false, ""
	e.input.Blur()
	return e
}

func (e exportModel) Update(msg tea.Msg) (exportModel, tea.Cmd) {
	if !e.open {
		return e, nil
	}
	if km, ok := msg.(tea.KeyMsg); ok {
		switch {
		case key.Matches(km, e.keys.Cancel):
			return e.close(), emit(cancelledMsg{})
		case key.Matches(km, e.keys.Save):
			path := expandHome(strings.TrimSpace(e.input.Value()))
			if abs, err := filepath.Abs(path); err == nil {
				path = abs
			}
			format, err := sessionlogic.ExportFormatOf(path)
			if err != nil {
				e.err = "the name must end in .csv or .json"
				return e, nil
			}
			if _, err := os.Stat(path); err == nil {
				e.err = "exists already: choose another name (nothing is overwritten)"
				return e, nil
			}
			filter := e.filter
			return e.close(), emit(exportSubmitMsg{path: path, format: format, filter: filter})
		}
	}
	var cmd tea.Cmd
	e.input, cmd = e.input.Update(msg)
	e.err = ""
	return e, cmd
}

// View is the prompt and what it will write.
func (e exportModel) View() string {
	if !e.open {
		return ""
	}
	e.input.Width = max(1, e.width-len(e.input.Prompt)-1)
	what := "every active session"
	if e.filter != "" {
		what = fmt.Sprintf("the sessions matching %q", clean(e.filter))
	}
	second := e.theme.Dim.Apply("writes " + what + " as CSV or JSON (by the extension) · enter export · esc cancel")
	if e.err != "" {
		second = e.theme.Err.Apply("✗ " + e.err)
	}
	return cut(e.input.View(), e.width) + "\n" + cut(second, e.width)
}

// expandHome turns a leading ~/ into the home directory.
func expandHome(p string) string {
	if strings.HasPrefix(p, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, p[2:])
		}
	}
	return p
}

// exportCmd writes the file. It is created exclusively (never replacing a
// file that appeared since the prompt checked) and removed again when the
// export fails, so a half-written file is never left behind.
func exportCmd(ctx context.Context, m *sessionlogic.Manager, id int, req exportSubmitMsg) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, exportTimeout)
		defer cancel()
		done := exportedMsg{id: id, path: req.path, format: req.format}
		f, err := os.OpenFile(req.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			done.err = fmt.Errorf("export: %w", err)
			return done
		}
		fail := func(err error) tea.Msg {
			f.Close()
			os.Remove(req.path)
			done.n, done.err = 0, err
			return done
		}
		w := bufio.NewWriter(f)
		e, err := sessionlogic.NewExporter(w, req.format)
		if err != nil {
			return fail(err)
		}
		n, err := m.ExportActive(ctx, sessionlogic.ListQuery{Text: req.filter}, e)
		var re *sessionlogic.RowError
		if err != nil && !errors.As(err, &re) {
			return fail(err)
		}
		done.n, done.err = n, err // corrupt rows: the others are written, the bad ones named
		if cerr := e.Close(); cerr != nil {
			return fail(cerr)
		}
		if ferr := w.Flush(); ferr != nil {
			return fail(ferr)
		}
		if ferr := f.Close(); ferr != nil {
			os.Remove(req.path)
			done.n, done.err = 0, fmt.Errorf("export: %w", ferr)
		}
		return done
	}
}
