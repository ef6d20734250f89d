package tui

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// statusModel is the line under the table: the last action's result or the
// last error, in words, and on the right the filter and the marks.
type statusModel struct {
	theme *styleSet
	width int
	text  string
	isErr bool
}

// SetSize sets the width of the line.
func (s *statusModel) SetSize(width, _ int) { s.width = width }

func (s *statusModel) Set(text string)     { s.text, s.isErr = text, false }
func (s *statusModel) SetErr(err error)    { s.text, s.isErr = errText(err), true }
func (s *statusModel) SetErrText(t string) { s.text, s.isErr = t, true }

// errText is an error as one clean line. Session ids (64 hex digits) are
// shortened to the 8 digits the table shows, so the line stays readable.
func errText(err error) string {
	if err == nil {
		return ""
	}
	// Driver errors span lines and indent with tabs ("failed to connect
	// to …:\n\t127.0.0.1:5432: dial error …"): one line, single spaces.
	s := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), ":\n", ": ")), " ")
	s = longID.ReplaceAllStringFunc(s, func(id string) string { return id[:8] + "…" })
	return clean(s)
}

var longID = regexp.MustCompile(`\b[0-9a-f]{64}\b`)

func (s statusModel) View(filter string, marked, hidden int, sortName string) string {
	width := s.width
	var right []string
	if filter != "" {
		right = append(right, "filter "+fmt.Sprintf("%q", clean(filter)))
	}
	if marked > 0 {
		m := fmt.Sprintf("%d marked", marked)
		if hidden > 0 {
			m += fmt.Sprintf(" (%d hidden by filter)", hidden)
		}
		right = append(right, m)
	}
	right = append(right, "sort "+sortName)
	r := s.theme.Dim.Apply(strings.Join(right, " · "))
	rw := ansi.StringWidth(r)

	var left string
	switch {
	case s.text == "":
	case s.isErr:
		left = "✗ " + clean(s.text)
	default:
		left = "✓ " + clean(s.text)
	}
	if rw+1 > width || s.isErr && ansi.StringWidth(left)+rw+1 > width {
		// No room for both: the message wins (an error always does).
		r, rw = "", 0
	}
	lw := width - rw - 1
	left = cut(left, lw)
	if s.isErr {
		left = s.theme.Err.Apply(left)
	} else if left != "" {
		left = s.theme.OK.Apply(left)
	}
	pad := width - ansi.StringWidth(left) - rw
	if pad < 0 {
		return cut(left, width)
	}
	return left + strings.Repeat(" ", pad) + r
}
