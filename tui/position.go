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
// (Manager.Count): the rows at or before the window's top cursor, and the
// total. The position is counted when the window's top, the filter or the
// order has held still for posSettle (a burst of PgDn costs one count, not
// five); the total when the filter changes, and both on the stats' cadence
// for sessions that came and went.
type positionModel struct {
	dueTag   int
	beforeID int
	totalID  int

	want       posKey // the listing shown
	got        posKey // the listing before was counted for
	before     int64
	haveBefore bool
	totalFor   string // the filter total was counted for
	total      int64
	haveTotal  bool
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
	// posMsg answers a count: of the rows before key's top (total false),
	// or of all rows of key's filter (total true).
	posMsg struct {
		id    int
		total bool
		key   posKey
		n     int64
		err   error
	}
)

func countCmd(ctx context.Context, m *sessionlogic.Manager, id int, k posKey, total bool) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, pollTimeout)
		defer cancel()
		q := k.query()
		if total {
			q.After = nil
		}
		n, err := m.Count(ctx, q)
		return posMsg{id: id, total: total, key: k, n: n, err: err}
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

// Ask counts the position of the listing shown, and its total when
// refresh is set or the filter changed.
func (p positionModel) Ask(ctx context.Context, m *sessionlogic.Manager, refresh bool) (positionModel, tea.Cmd) {
	var cmds []tea.Cmd
	if !p.want.hasTop {
		p.got, p.before, p.haveBefore = p.want, 0, true // the start of the list: nothing above
	} else {
		p.beforeID++
		if m != nil {
			cmds = append(cmds, countCmd(ctx, m, p.beforeID, p.want, false))
		}
	}
	if refresh || !p.haveTotal || p.totalFor != p.want.text {
		p.totalID++
		if m != nil {
			cmds = append(cmds, countCmd(ctx, m, p.totalID, p.want, true))
		}
	}
	return p, tea.Batch(cmds...)
}

func (p positionModel) Update(msg tea.Msg, ctx context.Context, m *sessionlogic.Manager) (positionModel, tea.Cmd) {
	switch msg := msg.(type) {
	case posDueMsg:
		if msg.tag == p.dueTag {
			return p.Ask(ctx, m, false)
		}
	case posMsg:
		switch {
		case msg.err != nil:
		case msg.total && msg.id == p.totalID:
			p.totalFor, p.total, p.haveTotal = msg.key.text, msg.n, true
		case !msg.total && msg.id == p.beforeID:
			p.got, p.before, p.haveBefore = msg.key, msg.n, true
		}
	}
	return p, nil
}

// View says where row sel (0-based, in the window of rows rows; more:
// rows follow it) is: "95/99,786", with a filter "3/5 matches". Until the
// count of the current window arrives the position is the last one known,
// marked "~". The total is counted every few seconds while the window is
// listed every poll, so it is never shown below what the window itself
// proves: at least the rows up to its end, and exactly those when nothing
// follows.
func (p positionModel) View(sel int, rows int, more, filtered bool) string {
	if !p.haveTotal {
		return ""
	}
	total := p.total
	if p.haveBefore && p.got == p.want {
		if seen := p.before + int64(rows); !more {
			total = seen
		} else {
			total = max(total, seen)
		}
	}
	if filtered && (total == 0 || rows == 0) {
		if total == 0 {
			return "no matches"
		}
		return plural64(total, "match", "matches")
	}
	if rows == 0 || !p.haveBefore {
		return groupDigits(total)
	}
	mark := ""
	if p.got != p.want || p.totalFor != p.want.text {
		mark = "~"
	}
	at := min(p.before+int64(sel)+1, max(total, 1))
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
