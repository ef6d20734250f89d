package tui

import (
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// errorModel is the `!` view: the last errors in full, newest first, each
// with its time and what failed, wrapped to the width instead of cut to one
// status line, so the operator can read a whole driver error and paste it
// into a ticket (`c` copies the newest). It keeps the last maxErrors.
type errorModel struct {
	keys  keyMap
	theme *styleSet

	log    []errorRecord // oldest first
	offset int           // first line shown
	width  int
	height int
}

type errorRecord struct {
	at    time.Time
	what  string // "listing", "stats", "force out", …
	text  string // err.Error(), whole
	times int    // the same error in a row, counted instead of repeated
	last  time.Time
}

const maxErrors = 20

func newErrorView(keys keyMap, theme *styleSet) errorModel {
	return errorModel{keys: keys, theme: theme}
}

// SetSize sets the view's size.
func (e *errorModel) SetSize(width, height int) { e.width, e.height = width, max(0, height) }

// Add records err, met at at while doing what. The same error again (a
// poll failing every second) raises the count of the last record.
func (e errorModel) Add(at time.Time, what string, err error) errorModel {
	if err == nil {
		return e
	}
	text := err.Error()
	if n := len(e.log); n > 0 && e.log[n-1].what == what && e.log[n-1].text == text {
		e.log = append([]errorRecord(nil), e.log...)
		e.log[n-1].times++
		e.log[n-1].last = at
		return e
	}
	log := make([]errorRecord, 0, min(len(e.log)+1, maxErrors))
	log = append(log, e.log[max(0, len(e.log)+1-maxErrors):]...)
	e.log = append(log, errorRecord{at: at, what: what, text: text, times: 1, last: at})
	return e
}

// Last is the newest error's text, for the clipboard.
func (e errorModel) Last() (errorRecord, bool) {
	if len(e.log) == 0 {
		return errorRecord{}, false
	}
	return e.log[len(e.log)-1], true
}

// Ticket is r as text to paste into a ticket: the time, what failed and
// the whole error.
func (r errorRecord) Ticket() string {
	s := fmt.Sprintf("%s %s failed: %s", r.at.UTC().Format(time.RFC3339), r.what, r.text)
	if r.times > 1 {
		s += fmt.Sprintf(" (%d times, last at %s)", r.times, r.last.UTC().Format(time.RFC3339))
	}
	return s
}

func (e errorModel) lines(now time.Time) []string {
	t := e.theme
	w := max(10, e.width-2)
	if len(e.log) == 0 {
		return []string{"  no errors since the dashboard started"}
	}
	var out []string
	for i := len(e.log) - 1; i >= 0; i-- {
		r := e.log[i]
		head := fmt.Sprintf("%s (%s) · %s", r.at.Format("2006-01-02 15:04:05 MST"), ago(now, r.at), r.what)
		if r.times > 1 {
			head += fmt.Sprintf(" · %d times, last %s", r.times, ago(now, r.last))
		}
		out = append(out, t.Label.Apply(cut(head, e.width)))
		for _, l := range strings.Split(r.text, "\n") {
			l = clean(strings.ReplaceAll(l, "\t", "    "))
			for _, wl := range strings.Split(ansi.Wrap(l, w, " /:,"), "\n") {
				out = append(out, "  "+t.Err.Apply(wl))
			}
		}
		out = append(out, "")
	}
	return out
}

func (e errorModel) Update(msg tea.KeyMsg) errorModel {
	e.offset = scroll(e.keys, msg, e.offset)
	return e
}

func (e errorModel) View(now time.Time) string {
	lines := e.lines(now)
	title := e.theme.ColTitle.Apply(cut(fmt.Sprintf("errors (%d, newest first)", len(e.log)), e.width))
	body := max(0, e.height-1)
	off := max(0, min(e.offset, len(lines)-body))
	end := min(len(lines), off+body)
	return title + "\n" + strings.Join(lines[off:end], "\n")
}
