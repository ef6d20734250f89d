package tui

import (
	"context"
	"fmt"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"sessionmon/sessionlogic"
)

// positionModel is where the selected row sits in the whole listing and how
// many sessions the listing holds: "95/99,786", or with a filter
// "3/5 matches". The table holds only a window, so the store counts
// (Manager.Position): the rows at or before the window's top cursor, and
// the total. A count is asked when the window's top, the filter or the
// order has held still for posSettle (a burst of PgDn costs one count, not
// five), and on the stats' cadence for rows that came and went.
type positionModel struct {
	reqID  int
	dueTag int
	want   posKey // the listing the numbers should be for
	got    posKey // the listing the numbers are for
	pos    sessionlogic.Position
	have   bool
	err    error
}

// posSettle is how long the listing must hold still before it is counted.
const posSettle = 150 * time.Millisecond

// posKey names one listing position: the filter, the order and the top.
type posKey struct {
	text   string
	sort   sessionlogic.SortKey
	desc   bool
	hasTop bool
	top    sessionlogic.Cursor
}

func (k posKey) query() sessionlogic.ListQuery {
	q := sessionlogic.ListQuery{Text: k.text, Sort: k.sort, Desc: k.desc}
	if k.hasTop {
		top := k.top
		q.After = &top
	}
	return q
}

type (
	// posDueMsg: the listing has held still; count it if tag is the latest.
	posDueMsg struct{ tag int }
	// posMsg answers a count.
	posMsg struct {
		id  int
		key posKey
		pos sessionlogic.Position
		err error
	}
)

func countPositionCmd(ctx context.Context, m *sessionlogic.Manager, id int, k posKey) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, pollTimeout)
		defer cancel()
		p, err := m.Position(ctx, k.query())
		return posMsg{id: id, key: k, pos: p, err: err}
	}
}

// Track notes the listing now shown; when it differs from the last one it
// returns the settle timer.
func (p positionModel) Track(k posKey) (positionModel, tea.Cmd) {
	if k == p.want {
		return p, nil
	}
	p.want = k
	p.dueTag++
	tag := p.dueTag
	return p, tea.Tick(posSettle, func(time.Time) tea.Msg { return posDueMsg{tag: tag} })
}

// Ask issues a count of the listing now wanted.
func (p positionModel) Ask(ctx context.Context, m *sessionlogic.Manager) (positionModel, tea.Cmd) {
	p.reqID++
	if m == nil {
		return p, nil
	}
	return p, countPositionCmd(ctx, m, p.reqID, p.want)
}

func (p positionModel) Update(msg tea.Msg, ctx context.Context, m *sessionlogic.Manager) (positionModel, tea.Cmd) {
	switch msg := msg.(type) {
	case posDueMsg:
		if msg.tag == p.dueTag {
			return p.Ask(ctx, m)
		}
	case posMsg:
		if msg.id != p.reqID {
			return p, nil // an older count
		}
		p.err = msg.err
		if msg.err == nil {
			p.pos, p.got, p.have = msg.pos, msg.key, true
		}
	}
	return p, nil
}

// View says where row sel (0-based, in the window) is: "95/99,786", with a
// filter "3/5 matches". Until the count of the current window arrives the
// position is the last one known, marked "~".
func (p positionModel) View(sel int, rows int, filtered bool) string {
	if !p.have {
		return ""
	}
	total := p.pos.Total
	if filtered && total == 0 {
		return "no matches"
	}
	if rows == 0 {
		if filtered {
			return plural64(total, "match", "matches")
		}
		return groupDigits(total)
	}
	at := p.pos.Before + int64(sel) + 1
	mark := ""
	if p.got != p.want {
		mark = "~"
	}
	at = min(at, max(total, 1))
	if filtered {
		return fmt.Sprintf("%s%s/%s", mark, groupDigits(at), plural64(total, "match", "matches"))
	}
	return fmt.Sprintf("%s%s/%s", mark, groupDigits(at), groupDigits(total))
}

func plural64(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return groupDigits(n) + " " + many
}
