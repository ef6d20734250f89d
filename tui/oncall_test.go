package tui

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"sessionmon/sessionlogic"
)

// Update tests of the on-call views: groups, sparklines, position, copy,
// export, errors, and the filter's highlight.

func TestSparkline(t *testing.T) {
	for _, c := range []struct {
		vs    []int64
		cells int
		want  string
	}{
		{[]int64{0, 1, 2, 4, 8}, 5, " ▁▂▄█"},
		{[]int64{0, 0, 0}, 3, "   "},
		{[]int64{3, 3}, 2, "██"},
		// Fewer cells than buckets: each cell sums two, and the newest
		// bucket ends the last cell.
		{[]int64{1, 0, 0, 0, 5, 3}, 3, "▁ █"},
		{[]int64{9, 1, 1, 1, 1}, 2, "█▃"}, // [9 1] [1 1 1]: the newest three fill the last cell
		{nil, 5, ""},
		{[]int64{1, 2}, 0, ""},
	} {
		if got := sparkline(c.vs, c.cells); got != c.want {
			t.Errorf("sparkline(%v, %d) = %q, want %q", c.vs, c.cells, got, c.want)
		}
	}
	// Every cell is one rune wide, so the line is exactly cells wide.
	vs := make([]int64, 60)
	for i := range vs {
		vs[i] = int64(i % 7)
	}
	for _, cells := range []int{60, 30, 29, 7} {
		if w := ansi.StringWidth(sparkline(vs, cells)); w > cells || w < cells/2 {
			t.Errorf("sparkline of 60 in %d cells is %d wide", cells, w)
		}
	}
}

func TestGroupDigits(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 99786: "99,786", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSparkViewTotalsAndWidth(t *testing.T) {
	m := newTest(t, Options{})
	h := sessionlogic.Histogram{Start: t0.Add(-59 * time.Minute), Step: time.Minute, Logins: make([]int64, 60), Failed: make([]int64, 60)}
	h.Logins[0], h.Logins[59], h.Failed[58] = 1200, 30, 4
	m, _ = upd(m, histMsg{id: m.spark.reqID, hist: h})
	for _, w := range []int{200, 80, 40, 12} {
		v := m.spark.View(w)
		if ansi.StringWidth(v) > w {
			t.Errorf("width %d: %q is %d wide", w, v, ansi.StringWidth(v))
		}
		if w >= 40 && !strings.Contains(v, "1,230/h") {
			t.Errorf("width %d: %q lacks the logins total", w, v)
		}
	}
	// An older answer is dropped.
	m, _ = upd(m, histMsg{id: m.spark.reqID - 1, hist: sessionlogic.Histogram{Logins: []int64{1}, Failed: []int64{0}}})
	if sum(m.spark.hist.Logins) != 1230 {
		t.Fatal("a stale histogram replaced the current one")
	}
}

// A source without a login audit (a Django site) answers the histogram
// with ErrUnsupported: the line says so in a few words, not as an error
// naming the store.
func TestSparkViewOnASourceWithoutAudit(t *testing.T) {
	m := newTest(t, Options{})
	err := fmt.Errorf("login histogram: django sqlite /srv/site.db (no SECRET_KEY…): %w", sessionlogic.ErrUnsupported)
	m, _ = upd(m, histMsg{id: m.spark.reqID, err: err})
	v := m.spark.View(100)
	if !strings.Contains(v, "not recorded by this source") || strings.Contains(v, "django sqlite") {
		t.Errorf("spark line on an unsupported source = %q", v)
	}
}

// g cycles off → by user → by IP → off; each grouping asks the store.
func TestGroupKeyCycles(t *testing.T) {
	m := newTest(t, Options{})
	m = load(m, fixture())
	m = press(m, "g")
	if m.mode != modeGroups || m.groups.by != sessionlogic.GroupByUser {
		t.Fatalf("after g: mode %d by %q", m.mode, m.groups.by)
	}
	id := m.groups.reqID
	m = press(m, "g")
	if m.mode != modeGroups || m.groups.by != sessionlogic.GroupByIP || m.groups.reqID == id {
		t.Fatalf("after g g: mode %d by %q (a new request: %v)", m.mode, m.groups.by, m.groups.reqID != id)
	}
	m = press(m, "g")
	if m.mode != modeTable || m.groups.by != "" {
		t.Fatalf("after g g g: mode %d by %q", m.mode, m.groups.by)
	}
	m = press(m, "g", "esc")
	if m.mode != modeTable {
		t.Fatal("esc did not leave the group view")
	}
}

func groupsFixture() sessionlogic.Groups {
	return sessionlogic.Groups{Total: 3, Groups: []sessionlogic.Group{
		{Key: "mallory", Sessions: 412, Others: 37, Roles: []string{"user"}, NewestLogin: t0.Add(-time.Minute), LastActivity: t0.Add(-2 * time.Second)},
		{Key: "alice", Sessions: 2, Others: 2, Roles: []string{"admin"}, NewestLogin: t0.Add(-time.Hour), LastActivity: t0.Add(-time.Minute)},
		{Key: "bob", Sessions: 1, Others: 1, Roles: []string{"staff"}, NewestLogin: t0.Add(-2 * time.Hour), LastActivity: t0.Add(-time.Hour)},
	}}
}

// Enter on a group lists its sessions (the filter is its key); Esc goes
// back to the groups.
func TestGroupJumpAndBack(t *testing.T) {
	m := newTest(t, Options{})
	m = load(m, fixture())
	m = press(m, "g")
	m, _ = upd(m, groupsMsg{id: m.groups.reqID, groups: groupsFixture(), at: t0})
	m = press(m, "down")
	if g, _ := m.groups.Selected(); g.Key != "alice" {
		t.Fatalf("selected %q, want alice", g.Key)
	}
	// A refresh that reorders keeps the selection on alice.
	re := groupsFixture()
	re.Groups[1], re.Groups[2] = re.Groups[2], re.Groups[1]
	m, _ = upd(m, groupsMsg{id: m.groups.reqID, groups: re, at: t0})
	if g, _ := m.groups.Selected(); g.Key != "alice" {
		t.Fatalf("after a reorder selected %q, want alice", g.Key)
	}
	// A stale answer is dropped.
	m, _ = upd(m, groupsMsg{id: m.groups.reqID - 1, groups: sessionlogic.Groups{}, at: t0})
	if len(m.groups.groups.Groups) != 3 {
		t.Fatal("a stale groups answer replaced the current one")
	}
	m = press(m, "enter")
	if m.mode != modeTable || m.filter.value != "user:alice" {
		t.Fatalf("after enter: mode %d filter %q", m.mode, m.filter.value)
	}
	if m.lastReq.text != "user:alice" {
		t.Fatalf("the listing was not asked for alice's sessions: %+v", m.lastReq)
	}
	m = press(m, "esc")
	if m.mode != modeGroups || m.groups.by != sessionlogic.GroupByUser || m.filter.value != "" {
		t.Fatalf("after esc: mode %d by %q filter %q", m.mode, m.groups.by, m.filter.value)
	}
	// Esc again leaves the groups; a third clears nothing and stays.
	m = press(m, "esc", "esc")
	if m.mode != modeTable {
		t.Fatalf("mode %d after esc esc", m.mode)
	}
}

// The filter typed in the group view narrows the groups (by their key).
func TestGroupFilterAsksAgain(t *testing.T) {
	m := newTest(t, Options{})
	m = press(load(m, fixture()), "g", "g")
	id := m.groups.reqID
	m = press(m, "/", "1", "0", ".", "enter")
	if m.mode != modeGroups || m.groups.text != "10." || m.groups.reqID == id {
		t.Fatalf("mode %d groups text %q (asked again: %v)", m.mode, m.groups.text, m.groups.reqID != id)
	}
}

func TestPositionView(t *testing.T) {
	ctx := context.Background()
	var p positionModel
	k := posKey{sort: sessionlogic.SortExpires, hasTop: true, top: sessionlogic.Cursor{ID: "x"}}
	p, cmd := p.Track(k)
	if cmd == nil {
		t.Fatal("a new listing starts no settle timer")
	}
	p, _ = p.Update(posDueMsg{tag: p.dueTag - 1}, ctx, nil)
	if p.beforeID != 0 || p.totalID != 0 {
		t.Fatal("an old settle timer asked for a count")
	}
	p, _ = p.Update(posDueMsg{tag: p.dueTag}, ctx, nil)
	if p.beforeID != 1 || p.totalID != 1 {
		t.Fatalf("the settle timer asked for counts %d, %d", p.beforeID, p.totalID)
	}
	if p.View(0, 5, true, false) != "" {
		t.Fatal("a position before any count")
	}
	p, _ = p.Update(posMsg{id: 1, total: true, key: k, n: 99786}, ctx, nil)
	if got := p.View(4, 20, true, false); got != "99,786" {
		t.Errorf("View before the position count = %q, want the total", got)
	}
	p, _ = p.Update(posMsg{id: 1, key: k, n: 90}, ctx, nil)
	if got := p.View(4, 20, true, false); got != "95/99,786" {
		t.Errorf("View = %q, want 95/99,786", got)
	}
	// The window moved: the last count is shown, marked, until the next.
	p, _ = p.Track(posKey{sort: sessionlogic.SortExpires, hasTop: true, top: sessionlogic.Cursor{ID: "y"}})
	if got := p.View(0, 20, true, false); got != "~91/99,786" {
		t.Errorf("View while counting = %q", got)
	}
	p, _ = p.Update(posDueMsg{tag: p.dueTag}, ctx, nil)
	if p.beforeID != 2 || p.totalID != 1 {
		t.Fatalf("a move asked for counts %d, %d; want the position only", p.beforeID, p.totalID)
	}
	// The total lags the window (counted every few seconds, the window
	// listed every poll): never below what the window shows.
	p, _ = p.Update(posMsg{id: 2, key: p.want, n: 99790}, ctx, nil)
	if got := p.View(2, 20, true, false); got != "99,793/99,810" {
		t.Errorf("View with a stale total = %q, want 99,793/99,810", got)
	}
	if got := p.View(2, 3, false, false); got != "99,793/99,793" {
		t.Errorf("View at the end of the list = %q, want 99,793/99,793", got)
	}
	// An older answer is dropped.
	p, _ = p.Update(posMsg{id: 1, key: k, n: 7}, ctx, nil)
	if p.before == 7 {
		t.Error("an older count replaced the newer")
	}
	// A filter: the total is counted again.
	fk := posKey{text: "al", sort: sessionlogic.SortExpires}
	p, _ = p.Track(fk)
	p, _ = p.Update(posDueMsg{tag: p.dueTag}, ctx, nil)
	if p.totalID != 2 || !p.haveBefore || p.before != 0 {
		t.Fatalf("a filter at the start: totalID %d before %d/%v", p.totalID, p.before, p.haveBefore)
	}
	p, _ = p.Update(posMsg{id: 2, total: true, key: fk, n: 5}, ctx, nil)
	if got := p.View(2, 5, false, true); got != "3/5 matches" {
		t.Errorf("View = %q, want 3/5 matches", got)
	}
	p, _ = p.Update(posMsg{id: 2, total: true, key: fk, n: 0}, ctx, nil)
	if got := p.View(0, 0, false, true); got != "no matches" {
		t.Errorf("View = %q, want no matches", got)
	}
}

// The position is asked once the window holds still, not per key.
func TestPositionSettlesBeforeCounting(t *testing.T) {
	m := newTest(t, Options{})
	m = loadPage(m, manyRows(40), true, true)
	tag := m.pos.dueTag
	m = press(m, "pgdown")
	m = loadPage(m, manyRows(40)[10:], false, true)
	if m.pos.dueTag == tag {
		t.Fatal("a new top did not restart the settle timer")
	}
	if m.pos.want.top.ID != "0" {
		t.Fatalf("position wanted for %+v", m.pos.want)
	}
}

func TestCopyOSC52(t *testing.T) {
	m := newTest(t, Options{})
	m = load(m, fixture())
	var buf bytes.Buffer
	m.clip = clipboard{out: &buf}
	m, cmd := upd(m, keyMsg("c"))
	msgs := run(cmd)
	want := "\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(fixture()[0].ID)) + "\x07"
	if buf.String() != want {
		t.Fatalf("wrote %q, want %q", buf.String(), want)
	}
	cm, ok := find[copiedMsg](msgs)
	if !ok {
		t.Fatal("no copiedMsg")
	}
	m, _ = upd(m, cm)
	if !strings.Contains(m.status.text, "copied session id "+fixture()[0].ID[:8]) {
		t.Fatalf("status %q", m.status.text)
	}

	// C copies the username; inside tmux the sequence is wrapped for
	// passthrough, every ESC doubled.
	buf.Reset()
	m.clip.tmux = true
	_, cmd = upd(m, keyMsg("C"))
	run(cmd)
	inner := "\x1b\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte("alice")) + "\x07"
	if buf.String() != "\x1bPtmux;"+inner+"\x1b\\" {
		t.Fatalf("tmux: wrote %q", buf.String())
	}

	// In the detail view c copies the open session's id.
	buf.Reset()
	m.clip.tmux = false
	m = press(m, "down", "enter")
	_, cmd = upd(m, keyMsg("c"))
	run(cmd)
	if !strings.Contains(buf.String(), base64.StdEncoding.EncodeToString([]byte(fixture()[1].ID))) {
		t.Fatalf("detail: wrote %q", buf.String())
	}
}

func TestCopyWithNothingSelected(t *testing.T) {
	m := newTest(t, Options{})
	m = load(m, nil)
	m.clip = clipboard{out: &bytes.Buffer{}}
	m = press(m, "c")
	if !m.status.isErr || !strings.Contains(m.status.text, "no session selected") {
		t.Fatalf("status %q", m.status.text)
	}
}

func TestExportPrompt(t *testing.T) {
	dir := t.TempDir()
	m := newTest(t, Options{})
	m = load(m, fixture())
	m = press(m, "/", "a", "l", "enter", "w")
	if !m.export.open || m.export.filter != "al" {
		t.Fatalf("export prompt open %v filter %q", m.export.open, m.export.filter)
	}
	if !strings.Contains(m.View(), "the sessions matching \"al\"") {
		t.Fatalf("the prompt does not say what it writes:\n%s", m.View())
	}
	clear := func(m Model) Model {
		for range 60 {
			m = press(m, "backspace")
		}
		return m
	}
	m = clear(m)
	m = press(m, strings.Split(filepath.Join(dir, "out.txt"), "")...)
	m = press(m, "enter")
	if !m.export.open || !strings.Contains(m.export.err, ".csv or .json") {
		t.Fatalf("a .txt name: open %v err %q", m.export.open, m.export.err)
	}
	exists := filepath.Join(dir, "taken.json")
	if err := os.WriteFile(exists, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	m = clear(m)
	m = press(m, strings.Split(exists, "")...)
	m = press(m, "enter")
	if !m.export.open || !strings.Contains(m.export.err, "exists") {
		t.Fatalf("an existing name: open %v err %q", m.export.open, m.export.err)
	}
	m = clear(m)
	m = press(m, strings.Split(filepath.Join(dir, "out.json"), "")...)
	m, cmd := upd(m, keyMsg("enter"))
	sub, ok := find[exportSubmitMsg](run(cmd))
	if !ok || sub.format != sessionlogic.ExportJSON || sub.filter != "al" || sub.path != filepath.Join(dir, "out.json") {
		t.Fatalf("submit %+v (%v)", sub, ok)
	}
	if m.export.open {
		t.Fatal("the prompt stayed open")
	}
	m, _ = upd(m, sub)
	if !strings.Contains(m.status.text, "exporting to") {
		t.Fatalf("status %q", m.status.text)
	}
	m, _ = upd(m, exportedMsg{id: m.exportID, path: sub.path, format: sub.format, n: 2})
	if m.status.isErr || m.status.text != "exported 2 sessions to "+sub.path+" (JSON)" {
		t.Fatalf("status %q", m.status.text)
	}
	// Esc cancels.
	m = press(m, "w", "esc")
	if m.export.open || m.status.text != "cancelled: nothing changed" {
		t.Fatalf("esc: open %v status %q", m.export.open, m.status.text)
	}
}

// The errors met are kept whole with their time; ! shows them, c copies
// the newest for a ticket.
func TestErrorView(t *testing.T) {
	m := newTest(t, Options{})
	m = load(m, fixture())
	long := errors.New("failed to connect to `user=postgres database=test`:\n\t127.0.0.1:5432 (127.0.0.1): dial error: dial tcp 127.0.0.1:5432: connect: connection refused\n\t[::1]:5432 (localhost): dial error: dial tcp [::1]:5432: connect: connection refused; session " + sid(1))
	m, _ = upd(m, pollTickMsg{tag: m.pollTag})
	m, _ = upd(m, windowMsg{id: m.fetchID, err: long})
	m, _ = upd(m, pollTickMsg{tag: m.pollTag})
	m, _ = upd(m, windowMsg{id: m.fetchID, err: long})
	m, _ = upd(m, windowMsg{id: m.fetchID - 5, err: errors.New("an old fetch's error")})
	if len(m.errs.log) != 1 || m.errs.log[0].times != 2 {
		t.Fatalf("log %+v", m.errs.log)
	}
	m = press(m, "!")
	if m.mode != modeErrors {
		t.Fatal("! did not open the error view")
	}
	v := ansi.Strip(m.View())
	for _, want := range []string{"2031-03-04 05:06:07 UTC", "listing the sessions", "2 times", "[::1]:5432", sid(1)[:40]} {
		if !strings.Contains(strings.ReplaceAll(v, "\n  ", ""), want) {
			t.Errorf("the error view lacks %q:\n%s", want, v)
		}
	}
	var buf bytes.Buffer
	m.clip = clipboard{out: &buf}
	_, cmd := upd(m, keyMsg("c"))
	run(cmd)
	got, _ := base64.StdEncoding.DecodeString(strings.TrimSuffix(strings.TrimPrefix(buf.String(), "\x1b]52;c;"), "\x07"))
	if !strings.HasPrefix(string(got), "2031-03-04T05:06:07Z listing the sessions failed: failed to connect") || !strings.Contains(string(got), sid(1)) {
		t.Fatalf("copied %q", got)
	}
	m = press(m, "esc")
	if m.mode != modeTable {
		t.Fatal("esc did not leave the error view")
	}
}

func TestErrorLogIsBounded(t *testing.T) {
	var e errorModel
	for i := range 3 * maxErrors {
		e = e.Add(t0, "x", errors.New(strings.Repeat("e", i+1)))
	}
	if len(e.log) != maxErrors || e.log[maxErrors-1].text != strings.Repeat("e", 3*maxErrors) {
		t.Fatalf("%d records, last %q", len(e.log), e.log[len(e.log)-1].text)
	}
}

func TestMatchSpans(t *testing.T) {
	for _, c := range []struct {
		s, f string
		want [][2]int
	}{
		{"alice", "LI", [][2]int{{1, 3}}},
		{"10.0.0.1 10.0.0.12", "10.0.0.1", [][2]int{{0, 8}, {9, 17}}},
		{"aaaa", "aa", [][2]int{{0, 2}, {2, 4}}},
		{"Mehrangiz مهرانگیز", "مهر", [][2]int{{10, 16}}},
		{"ÄRGER", "är", [][2]int{{0, 3}}},
		{"bob", "x", nil},
		{"", "x", nil},
	} {
		got := matchSpans(c.s, c.f)
		if len(got) != len(c.want) {
			t.Errorf("matchSpans(%q, %q) = %v, want %v", c.s, c.f, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("matchSpans(%q, %q) = %v, want %v", c.s, c.f, got, c.want)
			}
		}
	}
}

// The filter's match is underlined in the cells it searched, and only
// there; the text is unchanged.
func TestFilterMatchHighlighted(t *testing.T) {
	r := lipgloss.NewRenderer(&bytes.Buffer{})
	r.SetColorProfile(termenv.ANSI256)
	m := newModel(Options{Now: fixedNow}, r)
	m, _ = upd(m, tea.WindowSizeMsg{Width: 120, Height: 24})
	m = press(m, "/", "a", "l", "enter")
	m = load(m, []sessionlogic.Session{fixture()[2], fixture()[0]})
	lines := strings.Split(m.table.View(t0, m.filter.value), "\n")
	row := lines[2] // alice's row, not selected
	if !strings.Contains(row, m.theme.Match.pre+"al") || ansi.Strip(row) != ansi.Strip(strings.ReplaceAll(row, m.theme.Match.pre, "")) {
		t.Fatalf("alice's row has no highlighted match: %q", row)
	}
	if m.theme.Match.pre == "" {
		t.Fatal("the match paint is empty with colours on")
	}
	// The id column is not searched: no highlight in it even if it matched.
	if strings.Count(row, m.theme.Match.pre) != 2 { // "al" in alice and in Alice Example
		t.Fatalf("%d highlights in %q", strings.Count(row, m.theme.Match.pre), row)
	}
}

// Enter on a group whose key holds a space lists that key's sessions
// exactly (a quoted term), and on the group of sessions without an IP says
// why it cannot, staying in the groups.
func TestGroupJumpQuotesAndRefusesEmpty(t *testing.T) {
	m := newTest(t, Options{})
	m = load(m, fixture())
	m = press(m, "g")
	gs := sessionlogic.Groups{Total: 2, Groups: []sessionlogic.Group{
		{Key: "mary ann", Sessions: 2, Roles: []string{"user"}, NewestLogin: t0.Add(-time.Minute), LastActivity: t0},
		{Key: "", Sessions: 5, Roles: []string{"user"}, NewestLogin: t0.Add(-time.Hour), LastActivity: t0},
	}}
	m, _ = upd(m, groupsMsg{id: m.groups.reqID, groups: gs, at: t0})
	if g, _ := m.groups.Selected(); g.Key != "mary ann" {
		t.Fatalf("selected %q, want mary ann", g.Key)
	}
	m = press(m, "enter")
	if m.mode != modeTable || m.filter.value != `user:"mary ann"` || m.lastReq.text != `user:"mary ann"` {
		t.Fatalf("after enter on \"mary ann\": mode %d filter %q request %q", m.mode, m.filter.value, m.lastReq.text)
	}
	m = press(m, "esc")
	m, _ = upd(m, groupsMsg{id: m.groups.reqID, groups: gs, at: t0})
	m = press(m, "down", "enter")
	if m.mode != modeGroups || m.filter.value != "" || !strings.Contains(m.View(), "no filter lists the sessions without a username") {
		t.Fatalf("after enter on the empty key: mode %d filter %q\n%s", m.mode, m.filter.value, m.View())
	}
}
