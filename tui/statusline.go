package tui

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// msgKind is what a status message is, and so the mark in front of it.
type msgKind int

const (
	msgInfo     msgKind = iota // feedback on a key: no mark
	msgProgress                // an action under way: "…", never ✓
	msgOK                      // an action succeeded: ✓
	msgNoop                    // an action found nothing to do: "–"
	msgErr                     // an action or a read failed: ✗
)

// How long an action's outcome holds the status line against what the
// poll loop says meanwhile (a refresh's "store unreachable" came within
// milliseconds of the force-out it followed and hid it): long enough to
// read, longer for a failure.
const (
	holdOutcome = 5 * time.Second
	holdFailure = 15 * time.Second
)

type statusMsg struct {
	kind msgKind
	text string
	seq  int // which of fg and bg came last
}

// statusModel is the line under the table: on the left the operator's
// last action in words (its progress, then its outcome) or what the poll
// loop last said about the store; on the right the filter, the marks and
// the sort. An action's outcome is held for a while: the poll loop's
// messages wait behind it.
type statusModel struct {
	theme *styleSet
	clock func() time.Time
	width int

	fg        statusMsg // the operator's: feedback, progress, outcome
	holdUntil time.Time // fg wins until then
	bg        statusMsg // the poll loop's: store unreachable, store is back
	seq       int

	// text and isErr are the message shown now (kept for tests and the
	// root's checks).
	text  string
	isErr bool
}

// SetSize sets the width of the line.
func (s *statusModel) SetSize(width, _ int) { s.width = width }

func (s *statusModel) now() time.Time {
	if s.clock == nil {
		return time.Now()
	}
	return s.clock()
}

// Set shows feedback on a key (no mark).
func (s *statusModel) Set(text string) { s.say(msgInfo, text, 0) }

// Progress shows an action under way.
func (s *statusModel) Progress(text string) { s.say(msgProgress, text, 0) }

// Done shows an action's success, held against the poll loop's messages.
func (s *statusModel) Done(text string) { s.say(msgOK, text, holdOutcome) }

// Noop shows an action that found nothing to do, held likewise.
func (s *statusModel) Noop(text string) { s.say(msgNoop, text, holdOutcome) }

// Fail shows an action's failure, held longer.
func (s *statusModel) Fail(text string) { s.say(msgErr, text, holdFailure) }

// SetErr and SetErrText show an error from a key (no selection, say).
func (s *statusModel) SetErr(err error)    { s.say(msgErr, errText(err), 0) }
func (s *statusModel) SetErrText(t string) { s.say(msgErr, t, 0) }

// Background shows what the poll loop says, unless an action's outcome
// is held: then it shows once the hold ends.
func (s *statusModel) Background(text string, isErr bool) {
	k := msgInfo
	if isErr {
		k = msgErr
	}
	s.seq++
	s.bg = statusMsg{kind: k, text: text, seq: s.seq}
	s.pick(s.now())
}

func (s *statusModel) say(k msgKind, text string, hold time.Duration) {
	now := s.now()
	s.seq++
	s.fg = statusMsg{kind: k, text: text, seq: s.seq}
	s.holdUntil = now.Add(hold)
	s.pick(now)
}

// shown is the message the line shows at now: the operator's while it is
// held, else the latest.
func (s *statusModel) shown(now time.Time) statusMsg {
	switch {
	case s.fg.text == "":
		return s.bg
	case s.bg.text == "", now.Before(s.holdUntil), s.fg.seq > s.bg.seq:
		return s.fg
	}
	return s.bg
}

func (s *statusModel) pick(now time.Time) {
	m := s.shown(now)
	s.text, s.isErr = m.text, m.kind == msgErr
}

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

// View renders the line at now. state, when not empty, is the store's
// state cell, shown first when the header is hidden (a short terminal).
func (s statusModel) View(now time.Time, state, filter string, marked, hidden int, order string) string {
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
	right = append(right, order)
	r := s.theme.Dim.Apply(strings.Join(right, " · "))
	rw := ansi.StringWidth(r)

	msg := s.shown(now)
	var left string
	switch msg.kind {
	case msgInfo:
		left = clean(msg.text)
	case msgProgress:
		left = "… " + clean(msg.text)
	case msgOK:
		left = "✓ " + clean(msg.text)
	case msgNoop:
		left = "– " + clean(msg.text)
	case msgErr:
		left = "✗ " + clean(msg.text)
	}
	if msg.text == "" {
		left = ""
	}
	// The left and right parts are kept apart by a bar, so two messages
	// never read as one ("✓ polling paused filter …").
	const gap = " │ "
	if left != "" {
		r, rw = s.theme.Dim.Apply(gap)+r, rw+len([]rune(gap))
	}
	sw := 0
	if state != "" {
		state += " "
		sw = ansi.StringWidth(state)
	}
	avail := width - sw
	if rw > avail || msg.kind >= msgOK && ansi.StringWidth(left)+rw > avail {
		// No room for both: the message wins (an action's outcome always
		// does: the filter and the sort can wait).
		r, rw = "", 0
	}
	left = cut(left, avail-rw)
	switch {
	case left == "":
	case msg.kind == msgErr:
		left = s.theme.Err.Apply(left)
	case msg.kind == msgOK:
		left = s.theme.OK.Apply(left)
	}
	pad := avail - ansi.StringWidth(left) - rw
	if pad < 0 {
		return cut(state+left, width)
	}
	return state + left + strings.Repeat(" ", pad) + r
}
