package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"sessionmon/sessionlogic"
)

// sparkModel is the logins and failed logins of the last hour, a minute per
// bucket (Manager.LoginHistogram, from the audit table), drawn as two
// sparklines on the line under the header. It is read on the stats'
// cadence, not every poll: a minute bucket cannot change much in a second.
type sparkModel struct {
	theme *styleSet
	reqID int
	hist  sessionlogic.Histogram
	have  bool
	err   error
}

// histMsg answers a histogram fetch.
type histMsg struct {
	id   int
	hist sessionlogic.Histogram
	err  error
}

func fetchHistCmd(ctx context.Context, m *sessionlogic.Manager, id int) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, pollTimeout)
		defer cancel()
		h, err := m.LoginHistogram(ctx)
		return histMsg{id: id, hist: h, err: err}
	}
}

func (s sparkModel) Update(msg histMsg) sparkModel {
	if msg.id != s.reqID {
		return s // an older request
	}
	s.err = msg.err
	if msg.err == nil {
		s.hist, s.have = msg.hist, true
	}
	return s
}

// sparkBars are the eight heights of a sparkline cell, lowest first. A zero
// bucket is a space, so "nothing" and "a little" never look alike.
var sparkBars = []rune("▁▂▃▄▅▆▇█")

// sparkline draws vs in cells cells: each cell sums len(vs)/cells buckets
// (the newest buckets are kept whole when they do not divide evenly), and
// its height is scaled to the largest cell.
func sparkline(vs []int64, cells int) string {
	if cells <= 0 || len(vs) == 0 {
		return ""
	}
	per := (len(vs) + cells - 1) / cells // buckets per cell
	n := (len(vs) + per - 1) / per
	sums := make([]int64, n)
	// Align on the newest bucket: the last cell always ends with it.
	off := n*per - len(vs)
	for i, v := range vs {
		sums[(i+off)/per] += v
	}
	var top int64
	for _, v := range sums {
		top = max(top, v)
	}
	var b strings.Builder
	for _, v := range sums {
		switch {
		case v == 0:
			b.WriteByte(' ')
		default:
			// 1..top maps onto the 8 heights; any non-zero cell shows.
			i := int((v*int64(len(sparkBars)) - 1) / top)
			b.WriteRune(sparkBars[min(i, len(sparkBars)-1)])
		}
	}
	return b.String()
}

func sum(vs []int64) (n int64) {
	for _, v := range vs {
		n += v
	}
	return n
}

// View is the two sparklines with their totals, in at most width cells:
// "logins ▁▂▅█▃ 342/h  failed  ▁ ▇ 12/h". With little room the lines get
// fewer cells (each then sums more minutes); with none, only the totals.
func (s sparkModel) View(width int) string {
	t := s.theme
	if !s.have {
		if errors.Is(s.err, sessionlogic.ErrUnsupported) {
			// A foreign source (a Django site) keeps no login audit:
			// say so in a few words, not as a failure.
			return t.Dim.Apply(cut("logins over time: not recorded by this source", width))
		}
		if s.err != nil {
			return t.Dim.Apply(cut("logins: "+errText(s.err), width))
		}
		return ""
	}
	h := s.hist
	logins, failed := sum(h.Logins), sum(h.Failed)
	span := showSpan(h.Step * time.Duration(len(h.Logins)))
	if span == "1h" {
		span = "h"
	}
	lt := fmt.Sprintf(" %s/%s", groupDigits(logins), span)
	ft := fmt.Sprintf(" %s/%s", groupDigits(failed), span)
	fixed := len("logins ") + width0(lt) + len("  failed ") + width0(ft)
	cells := min(len(h.Logins), (width-fixed)/2)
	if cells < 6 {
		return cut(t.Dim.Apply("logins")+lt+"  "+t.Dim.Apply("failed")+ft, width)
	}
	fp := t.Dim
	// Failures in the last five minutes are worth a look: amber.
	if n := len(h.Failed); sum(h.Failed[max(0, n-5):]) > 0 {
		fp = t.Amber
	}
	return t.Dim.Apply("logins ") + t.OK.Apply(sparkline(h.Logins, cells)) + lt +
		"  " + t.Dim.Apply("failed ") + fp.Apply(sparkline(h.Failed, cells)) + ft
}

// width0 is the width of plain ASCII text.
func width0(s string) int { return len(s) }

// groupDigits writes n with thousands separators: 99,786.
func groupDigits(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
