package tui

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"sessionmon/sessionlogic"
)

// The table of active sessions. It is not bubbles/table: that one cuts
// cells with an ANSI-unaware truncation (so colours bleed into the next
// column), keeps its cursor as a row index, and renders twice the visible
// rows. This one renders only the visible rows, cuts every cell to its
// width before colouring it, and keeps the selection on a session id.
//
// It holds a window of the sorted list (see window.go); moving past the
// rows it holds asks the root, with a message, to fetch another window.

type column int

const (
	colUser column = iota
	colName
	colRole
	colStatus
	colIP
	colLogin
	colLast
	colExpires
	colID
)

type colSpec struct {
	col             column
	title           string
	min, ideal, max int
	prio            int // lower stays longer when the terminal is narrow
	grow            int // lower grows towards its ideal width first
}

// The widest a column gets (max) keeps a row one line to the eye on a
// wide terminal: at 200 columns the role sat 117 cells after the name.
var colSpecs = []colSpec{
	{colUser, "user", 8, 10, 16, 0, 0},
	{colName, "name", 8, 22, 32, 5, 5},
	{colRole, "role", 6, 7, 10, 2, 3},
	{colStatus, "status", 8, 8, 10, 7, 6},
	{colIP, "ip", 9, 15, 24, 3, 4},
	{colLogin, "age", 6, 7, 8, 4, 2},
	{colLast, "seen", 7, 8, 9, 1, 2},
	{colExpires, "expires", 8, 11, 12, 0, 1},
	{colID, "id", 8, 8, 12, 6, 6},
}

// prefixWidth is the selection and mark column in front of every row.
const prefixWidth = 2

type tableCol struct {
	colSpec
	width int
}

// layoutColumns fits the columns in width: drop the least important ones
// until the minimum widths fit, then grow each towards its ideal width, in
// order of importance, then share what is left out among the columns up
// to their widest, the name first; past that the row ends and the rest of
// the line stays blank.
func layoutColumns(width int) []tableCol {
	specs := append([]colSpec(nil), colSpecs...)
	// need counts the most important columns at their ideal width, so a
	// minor column is dropped before they are squeezed.
	need := func(ss []colSpec) int {
		n := prefixWidth
		for i, s := range ss {
			if i > 0 {
				n++
			}
			n += s.min
			if s.prio <= 2 {
				n += s.ideal - s.min
			}
		}
		return n
	}
	for need(specs) > width {
		worst := -1
		for i, s := range specs {
			if s.prio > 0 && (worst < 0 || s.prio > specs[worst].prio) {
				worst = i
			}
		}
		if worst < 0 {
			break
		}
		specs = append(specs[:worst], specs[worst+1:]...)
	}
	cols := make([]tableCol, len(specs))
	spare := width - prefixWidth - max(0, len(specs)-1)
	for i, s := range specs {
		cols[i] = tableCol{colSpec: s, width: s.min}
		spare -= s.min
	}
	for grow := 0; grow <= 6 && spare > 0; grow++ {
		for i := range cols {
			if cols[i].grow == grow && cols[i].width < cols[i].ideal {
				add := min(spare, cols[i].ideal-cols[i].width)
				cols[i].width += add
				spare -= add
			}
		}
	}
	// The name first (it is the one that is often cut), then every
	// column a share at a time, so the extra width is spread, not piled.
	for i := range cols {
		if cols[i].col == colName && spare > 0 {
			add := min(spare, cols[i].max-cols[i].width)
			cols[i].width += add
			spare -= add
		}
	}
	for spare > 0 {
		grew := false
		for i := range cols {
			if spare > 0 && cols[i].width < cols[i].max {
				cols[i].width++
				spare--
				grew = true
			}
		}
		if !grew {
			break
		}
	}
	return cols
}

// Messages from the table to the root: the window must move. They carry
// keyset cursors, not row indexes, so rows replaced in between cannot
// shift them.
type (
	// scrolledMsg: show the rows after top, and select the row rel rows
	// into them (rel < 0: keep the selected session).
	scrolledMsg struct {
		top *sessionlogic.Cursor
		rel int
	}
	// scrollUpMsg: show the list from n rows above the row at from, and
	// select the first.
	scrollUpMsg struct {
		from *sessionlogic.Cursor
		n    int
	}
	// jumpMsg: go to the first (end false) or last rows of the list.
	jumpMsg struct{ end bool }
)

type tableModel struct {
	keys  keyMap
	theme *styleSet

	rows    []sessionlogic.Session
	sel     int    // index of the selected row in rows
	selID   string // the selected session; survives refreshes
	offset  int    // index of the first visible row
	atStart bool   // rows[0] is the first of the list
	more    bool   // there are rows after the last one held
	loaded  bool
	// pinTop: the selection is on the first row of the list and stays
	// there (the top of the list, whatever it holds) instead of following
	// its session down as sessions start above it. Moving away clears it;
	// Home, or moving back to the first row, sets it.
	pinTop bool

	marks map[string]sessionlogic.Session

	// Frozen (F): polls update the rows' values in place and never their
	// order; rows that ended stay, marked, and sessions that started in
	// the window's range since frozenAt are counted (fresh), not inserted.
	frozen   bool
	frozenAt time.Time
	fresh    int

	sort sessionlogic.SortKey
	desc bool

	width, height int // height: visible rows
	cols          []tableCol

	filter string // set by View for its rows
}

func newTable(keys keyMap, theme *styleSet) tableModel {
	return tableModel{keys: keys, theme: theme, atStart: true, pinTop: true, marks: map[string]sessionlogic.Session{}, sort: sessionlogic.SortExpires}
}

// SetSize sets the width and the number of visible rows.
func (t *tableModel) SetSize(width, rows int) {
	if width != t.width || t.cols == nil {
		t.cols = layoutColumns(width)
	}
	t.width, t.height = width, max(0, rows)
	t.clampOffset()
}

// SetRows replaces the rows held and re-anchors the selection on the
// selected session's id. When that session is gone, the selection stays at
// the same position.
func (t *tableModel) SetRows(rows []sessionlogic.Session, atStart, more bool) (found bool) {
	t.rows, t.atStart, t.more, t.loaded = rows, atStart, more, true
	t.offset = 0
	idx := -1
	if t.selID != "" {
		for i := range rows {
			if rows[i].ID == t.selID {
				idx = i
				break
			}
		}
	}
	found = idx >= 0
	if t.pinTop && atStart {
		idx = 0
	} else if idx < 0 {
		idx = t.sel
	}
	t.selectIndex(idx)
	return found
}

// Freeze holds the order of the rows held from now on.
func (t *tableModel) Freeze(now time.Time) {
	t.frozen, t.frozenAt, t.fresh = true, now, 0
}

// Unfreeze lets the order go; the next rows set replace the held ones.
func (t *tableModel) Unfreeze() {
	t.frozen, t.fresh = false, 0
}

// liveIDs are the ids of the rows held that have not ended, for a frozen
// poll to read.
func (t tableModel) liveIDs() []string {
	ids := make([]string, 0, len(t.rows))
	for i := range t.rows {
		if t.rows[i].EndedAt.IsZero() {
			ids = append(ids, t.rows[i].ID)
		}
	}
	return ids
}

// Merge takes a frozen poll's answer: every row held gets its values from
// the listing, or from its own read (byID) when the listing no longer has
// it; none moves, none goes, none comes in. Sessions that started since
// the freeze and now fall in the window's range are counted.
func (t *tableModel) Merge(rows []sessionlogic.Session, byID map[string]sessionlogic.Session, now time.Time) {
	held := make(map[string]int, len(t.rows))
	for i := range t.rows {
		held[t.rows[i].ID] = i
	}
	t.fresh = 0
	for _, s := range rows {
		if i, ok := held[s.ID]; ok {
			t.rows[i] = s
		} else if s.LoginTime.After(t.frozenAt) {
			t.fresh++
		}
	}
	for id, s := range byID {
		i, ok := held[id]
		switch {
		case !ok:
		case s.Username == "": // gone from the store: keep what was shown
			t.rows[i].EndedAt = s.EndedAt
		default:
			t.rows[i] = s
		}
	}
	t.loaded = true
}

// Select puts the selection on the first (end false) or last row held.
func (t *tableModel) Select(end bool) {
	if end {
		t.selectIndex(len(t.rows) - 1)
		t.offset = max(0, len(t.rows)-t.height)
		return
	}
	t.offset = 0
	t.selectIndex(0)
}

func (t *tableModel) selectIndex(i int) {
	t.sel = max(0, min(i, len(t.rows)-1))
	if len(t.rows) == 0 {
		t.sel = 0
		// Keep selID: if the session comes back in view, so does the selection.
		return
	}
	t.selID = t.rows[t.sel].ID
	t.clampOffset()
}

func (t *tableModel) clampOffset() {
	if t.sel < t.offset {
		t.offset = t.sel
	}
	if t.height > 0 && t.sel >= t.offset+t.height {
		t.offset = t.sel - t.height + 1
	}
	t.offset = max(0, min(t.offset, len(t.rows)-1))
}

// Selected returns the selected session, if any.
func (t tableModel) Selected() (sessionlogic.Session, bool) {
	if t.sel < 0 || t.sel >= len(t.rows) {
		return sessionlogic.Session{}, false
	}
	return t.rows[t.sel], true
}

// ToggleMark marks or unmarks the selected session.
func (t *tableModel) ToggleMark() {
	s, ok := t.Selected()
	if !ok {
		return
	}
	if _, on := t.marks[s.ID]; on {
		delete(t.marks, s.ID)
	} else {
		t.marks[s.ID] = s
	}
}

// Navigate moves the selection for a key. Moving past the rows held
// returns the move the root must make (a scrolledMsg, scrollUpMsg or
// jumpMsg), synchronously: keys typed before the window arrives wait for
// it in the root, which must know at once that this one asked for it.
func (t tableModel) Navigate(km tea.KeyMsg) (tableModel, tea.Msg) {
	t, mv := t.navigate(km)
	if j, ok := mv.(jumpMsg); ok {
		t.pinTop = !j.end
	} else {
		t.pinTop = t.sel == 0 && t.atStart && mv == nil
	}
	return t, mv
}

func (t tableModel) navigate(km tea.KeyMsg) (tableModel, tea.Msg) {
	page := max(1, t.height)
	switch {
	case key.Matches(km, t.keys.Up):
		return t.moveUp(1)
	case key.Matches(km, t.keys.Down):
		return t.moveDown(1, 0)
	case key.Matches(km, t.keys.PageUp):
		return t.moveUp(page)
	case key.Matches(km, t.keys.PageDown):
		return t.moveDown(page, page)
	case key.Matches(km, t.keys.Home):
		return t, jumpMsg{end: false}
	case key.Matches(km, t.keys.End):
		return t, jumpMsg{end: true}
	}
	return t, nil
}

// moveDown moves the selection n rows down and the view at least scroll
// rows (a page down moves both by a page). Past the rows held, it asks for
// the window that holds the target.
func (t tableModel) moveDown(n, scroll int) (tableModel, tea.Msg) {
	if len(t.rows) == 0 {
		return t, nil
	}
	target := t.sel + n
	offset := max(t.offset+scroll, target-max(1, t.height)+1)
	if target >= len(t.rows) {
		if !t.more {
			t.selectIndex(len(t.rows) - 1)
			return t, nil
		}
		// Not held yet: fetch from a row that is held.
		offset = max(1, min(offset, len(t.rows)))
		rel := target - offset
		t.selectIndex(len(t.rows) - 1)
		return t, scrolledMsg{top: sessionlogic.CursorOf(t.rows[offset-1], t.sort), rel: rel}
	}
	before := t.offset
	t.sel, t.selID = target, t.rows[target].ID
	t.offset = min(offset, target)
	t.clampOffset()
	if t.offset != before && t.offset > 0 {
		// The target is held: the selection stays on it by id.
		return t, scrolledMsg{top: sessionlogic.CursorOf(t.rows[t.offset-1], t.sort), rel: -1}
	}
	return t, nil
}

// moveUp moves the selection n rows up; above the first row held it asks
// for the rows above.
func (t tableModel) moveUp(n int) (tableModel, tea.Msg) {
	if len(t.rows) == 0 {
		return t, nil
	}
	target := t.sel - n
	if target < 0 && !t.atStart {
		return t, scrollUpMsg{from: sessionlogic.CursorOf(t.rows[0], t.sort), n: -target}
	}
	t.selectIndex(max(0, target))
	return t, nil
}

// View renders the column titles and the visible rows only.
func (t tableModel) View(now time.Time, filter string) string {
	t.filter = filter // highlighted in the cells (highlight.go)
	var b strings.Builder
	t.writeTitles(&b)
	switch {
	case !t.loaded:
		b.WriteString("\n" + cut("  loading…", t.width))
	case len(t.rows) == 0 && filter != "":
		b.WriteString("\n" + cut("  no active session matches the filter", t.width))
	case len(t.rows) == 0:
		b.WriteString("\n" + cut("  no active sessions", t.width))
	}
	end := min(len(t.rows), t.offset+t.height)
	for i := t.offset; i < end; i++ {
		b.WriteByte('\n')
		if t.width <= prefixWidth {
			var row strings.Builder
			t.writeRow(&row, i, now)
			b.WriteString(cut(row.String(), t.width))
			continue
		}
		t.writeRow(&b, i, now)
	}
	return b.String()
}

func (t tableModel) writeTitles(b *strings.Builder) {
	var line strings.Builder
	line.WriteString(strings.Repeat(" ", prefixWidth))
	for i, c := range t.cols {
		if i > 0 {
			line.WriteByte(' ')
		}
		title := c.title
		if sortColumn(t.sort) == c.col {
			if t.desc {
				title = "▼" + title
			} else {
				title = "▲" + title
			}
		}
		line.WriteString(fit(title, c.width))
	}
	b.WriteString(t.theme.ColTitle.Apply(cut(line.String(), t.width)))
}

func sortColumn(k sessionlogic.SortKey) column {
	switch k {
	case sessionlogic.SortLastActivity:
		return colLast
	case sessionlogic.SortLoginTime:
		return colLogin
	case sessionlogic.SortUser:
		return colUser
	}
	return colExpires
}

func (t tableModel) writeRow(b *strings.Builder, i int, now time.Time) {
	s := &t.rows[i]
	selected := i == t.sel
	_, marked := t.marks[s.ID]

	ended := !s.Active(now)
	var line strings.Builder
	line.Grow(t.width + 64)
	switch {
	case selected:
		line.WriteString("▸")
	default:
		line.WriteString(" ")
	}
	if ended && t.frozen {
		// Ended while frozen: still shown, marked, until F.
		line.WriteString("✗")
	} else if marked {
		line.WriteString(t.colour(selected, t.theme.Marked, "✓"))
	} else {
		line.WriteString(" ")
	}
	used := prefixWidth
	for ci, c := range t.cols {
		if ci > 0 {
			if used+1 >= t.width {
				break
			}
			line.WriteByte(' ')
			used++
		}
		w := c.width
		if used+w > t.width {
			w = t.width - used
		}
		if w <= 0 {
			break
		}
		used += w
		text, p := t.cell(s, c.col, now)
		switch {
		case c.col == colExpires && !s.EndedAt.IsZero():
			text, p = "ended", t.theme.Dim
		case c.col == colExpires && w >= len("13d23:59:59"):
			text = countdown(s.ExpiresAt, now) // ticks every second, at any distance
		case ended && t.frozen:
			p = t.theme.Dim
		}
		line.WriteString(t.colourMatch(selected, p, fit(text, w), c.col))
	}
	if selected {
		b.WriteString(t.theme.Selected.Apply(line.String()))
		return
	}
	b.WriteString(line.String())
}

// colour colours a cell that has already been cut to its width. The
// selected row is painted whole (reverse video) instead, so a cell's reset
// cannot end the highlight half-way.
func (t tableModel) colour(selected bool, p paint, s string) string {
	if selected {
		return s
	}
	return p.Apply(s)
}

// cell returns the plain text of a cell and the paint it gets.
func (t tableModel) cell(s *sessionlogic.Session, c column, now time.Time) (string, paint) {
	switch c {
	case colUser:
		return clean(s.Username), paint{}
	case colName:
		return clean(s.FullName), paint{}
	case colRole:
		return clean(s.Role), t.theme.Role(s.Role)
	case colStatus:
		return clean(s.Status), paint{}
	case colIP:
		return clean(s.IP), paint{}
	case colLogin:
		return compact(now.Sub(s.LoginTime)), paint{}
	case colLast:
		return ago(now, s.LastActivity), paint{}
	case colExpires:
		return expiresIn(s.ExpiresAt, now), t.theme.Expiry(s.ExpiresAt, now)
	case colID:
		return clean(sessionlogic.ShortID(s.ID)), paint{}
	}
	return "", paint{}
}

// countdown is the time left as a running clock: "13d23:59:48",
// "05:03:12", "00:00:09". Unlike expiresIn's compact form its last field
// moves every second, so a glance shows the table is live.
func countdown(at, now time.Time) string {
	if !at.After(now) {
		return "expired"
	}
	d := at.Sub(now) + time.Second - 1 // round up: never 00:00:00 while active
	s := int64(d / time.Second)
	days, s := s/86400, s%86400
	b := make([]byte, 0, 12)
	if days > 0 {
		b = strconv.AppendInt(b, days, 10)
		b = append(b, 'd')
	}
	for i, v := range [3]int64{s / 3600, s % 3600 / 60, s % 60} {
		if i > 0 {
			b = append(b, ':')
		}
		if v < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	return string(b)
}

func expiresIn(at, now time.Time) string {
	if !at.After(now) {
		return "expired"
	}
	// Round up, so a countdown reads 1s in its last second and never 0s
	// while the session is still active.
	return compact(at.Sub(now) + time.Second - 1)
}

// earliestExpiry is the first moment a row held will expire: until then a
// poll that sees no change in the store need not list the window again.
func (t tableModel) earliestExpiry() time.Time {
	var first time.Time
	for i := range t.rows {
		if e := t.rows[i].ExpiresAt; first.IsZero() || e.Before(first) {
			first = e
		}
	}
	if first.IsZero() {
		return time.Time{}
	}
	return first
}
