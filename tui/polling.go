package tui

import (
	"context"
	"errors"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"sessionmon/sessionlogic"
)

// The poll loop: what the root reads from the store, when, and what it
// does with the answers. One loop is live at a time (pollTag); every fetch
// raises the tag, and its answer re-arms the loop.

// Poll intervals `+` and `-` step through. The longest is 10s, so the
// counts in the header (read on a slower cadence) are never older than 10s.
var pollSteps = []time.Duration{
	250 * time.Millisecond, 500 * time.Millisecond, time.Second,
	2 * time.Second, 3 * time.Second, 5 * time.Second, 10 * time.Second,
}

const (
	statsEvery     = 5 * time.Second // the stats' own cadence
	maxBackoff     = 30 * time.Second
	filterDebounce = 150 * time.Millisecond
)

// filterDueMsg: typing paused; apply the filter change it carries if no
// later one came (tag).
type filterDueMsg struct {
	tag    int
	change filterChangedMsg
}

// poller is the poll loop's state.
type poller struct {
	interval     time.Duration
	paused       bool
	pollTag      int // the live poll loop; a tick with another tag is dropped
	clockTag     int
	fetchID      int // the latest window fetch issued
	fetching     bool
	lastReq      windowReq // the latest window fetch's request
	version      int64     // the store's change counter at the last fetch
	listedAt     time.Time // when the window was last listed in full
	failures     int
	statsID      int
	statsPending bool
	statsAt      time.Time

	// moving: the window fetch in flight answers a move (scroll, jump):
	// table keys typed meanwhile wait in typedAhead and run, in order,
	// once the rows they move through have arrived.
	moving     bool
	typedAhead []tea.KeyMsg

	// The filters ask the store once typing pauses for filterDelay (every
	// keystroke ran a query: 2.1 s to reach "no match" at 100k sessions),
	// and a fetch cancels the one it supersedes (cancelFetch), so a stale
	// query stops instead of holding a connection.
	filterDelay time.Duration
	filterTag   int
	cancelFetch context.CancelFunc

	// Push notices (watch.go): nil without a store that pushes them.
	notices       <-chan struct{}
	noticePending bool
}

func clampInterval(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Second
	}
	return max(pollSteps[0], min(d, pollSteps[len(pollSteps)-1]))
}

func stepInterval(d time.Duration, faster bool) time.Duration {
	if faster {
		for i := len(pollSteps) - 1; i >= 0; i-- {
			if pollSteps[i] < d {
				return pollSteps[i]
			}
		}
		return pollSteps[0]
	}
	for _, s := range pollSteps {
		if s > d {
			return s
		}
	}
	return pollSteps[len(pollSteps)-1]
}

// windowReq copies what a window fetch needs out of the model.
func (m *Model) windowReq(at place) windowReq {
	rows := max(1, m.table.height)
	req := windowReq{
		text: m.filter.value, sort: m.sort, desc: m.desc,
		rows: rows, limit: rows + max(5, rows/2),
		at: at, top: m.top, follow: m.table.selID,
		since: m.version, until: m.table.earliestExpiry(), listedAt: m.listedAt,
	}
	if m.table.pinTop {
		req.follow = "" // the selection is the top row, not a session
	}
	if m.table.frozen {
		// The held rows are read by id when the listing no longer has
		// them; the selection is not followed: the order holds.
		req.frozen, req.follow = m.table.liveIDs(), ""
	}
	return req
}

// fetch issues a window fetch. It raises the poll tag, so a pending tick is
// dropped: the result re-arms the loop.
func (m *Model) fetch(req windowReq) tea.Cmd {
	m.moving = false
	m.fetchID++
	m.pollTag++
	m.fetching = true
	m.lastReq = req
	if m.header.state == stateStale {
		m.header.state = stateReconnecting
	}
	if m.mgr == nil {
		return nil
	}
	if m.cancelFetch != nil {
		m.cancelFetch() // its answer would be dropped: stop its queries
	}
	ctx, cancel := context.WithCancel(m.ctx)
	m.cancelFetch = cancel
	return fetchWindowCmd(ctx, m.mgr, m.fetchID, req)
}

func (m *Model) fetchStats() tea.Cmd {
	m.statsID++
	m.statsPending = true
	if m.mgr == nil {
		return nil
	}
	return fetchStatsCmd(m.ctx, m.mgr, m.statsID)
}

func (m *Model) statsDue() bool {
	return !m.statsPending && m.clock().Sub(m.statsAt) >= statsEvery
}

// arm schedules the next poll after d, as the only live loop.
func (m *Model) arm(d time.Duration) tea.Cmd {
	m.pollTag++
	if m.paused {
		return nil
	}
	return pollTick(m.pollTag, d)
}

// refresh reads everything shown now: the window, the stats, and the open
// view.
func (m *Model) refresh() tea.Cmd {
	req := m.windowReq(placeTop)
	req.reread = true
	cmds := []tea.Cmd{m.fetch(req), m.fetchStats()}
	cmds = append(cmds, m.refreshView())
	return tea.Batch(cmds...)
}

func (m *Model) refreshView() tea.Cmd {
	switch m.mode {
	case modeDetail:
		m.seq++
		m.detail.reqID = m.seq
		if m.mgr != nil {
			return fetchDetailCmd(m.ctx, m.mgr, m.seq, m.detail.session.ID)
		}
	case modeAudit:
		m.seq++
		m.audit.reqID = m.seq
		if m.mgr != nil {
			return fetchAuditCmd(m.ctx, m.mgr, m.seq, auditLimit, m.audit.user)
		}
	}
	return nil
}

// poll reads what a poll reads: the window, the stats when due, and the
// detail or audit view when open (a session revoked from the CLI shows as
// ended within a poll, not only after r).
func (m *Model) poll() tea.Cmd {
	req := m.windowReq(placeTop)
	req.poll, req.reread = true, true
	cmds := []tea.Cmd{m.fetch(req)}
	if m.statsDue() {
		cmds = append(cmds, m.fetchStats())
	}
	if m.mode != modeTable {
		cmds = append(cmds, m.refreshView())
	}
	return tea.Batch(cmds...)
}

// updatePoll handles the poll loop's messages and the answers to reads; ok
// is false for any other message.
func (m *Model) updatePoll(msg tea.Msg) (cmd tea.Cmd, ok bool) {
	switch msg := msg.(type) {
	case clockTickMsg:
		if msg.tag != m.clockTag {
			return nil, true
		}
		m.now = m.clock()
		return clockTick(m.clockTag), true

	case pollTickMsg:
		if msg.tag != m.pollTag || m.paused {
			return nil, true // a tick of an older loop
		}
		return m.poll(), true

	case watchStartedMsg:
		m.notices = msg.notices
		m.header.push = true
		return waitNoticeCmd(m.notices), true

	case noticeMsg:
		return m.onNotice(), true

	case windowMsg:
		return m.onWindow(msg), true

	case statsMsg:
		m.onStats(msg)
		return nil, true

	case detailMsg:
		m.detail, _ = m.detail.Update(msg)
		return nil, true

	case auditMsg:
		m.audit, _ = m.audit.Update(msg)
		return nil, true

	case scrolledMsg, scrollUpMsg, jumpMsg:
		return m.move(msg), true

	case filterChangedMsg:
		m.filterTag++
		if m.filterDelay <= 0 {
			return m.applyFilter(msg), true
		}
		tag := m.filterTag
		return tea.Tick(m.filterDelay, func(time.Time) tea.Msg { return filterDueMsg{tag: tag, change: msg} }), true

	case filterDueMsg:
		if msg.tag != m.filterTag {
			return nil, true // typing went on
		}
		return m.applyFilter(msg.change), true
	}
	return nil, false
}

func (m *Model) onStats(msg statsMsg) {
	if msg.id != m.statsID {
		return
	}
	m.statsPending = false
	m.statsAt = m.clock()
	if msg.err == nil {
		m.header.stats, m.header.haveStats = msg.stats, true
	}
}

// move fetches the window a move asks for: a scroll, a jump, or a new
// filter.
func (m *Model) move(msg tea.Msg) tea.Cmd {
	switch msg.(type) {
	case scrolledMsg, scrollUpMsg, jumpMsg:
		defer func() { m.moving = true }() // fetch clears it
	}
	switch msg := msg.(type) {
	case scrolledMsg:
		m.top = msg.top
		req := m.windowReq(placeTop)
		req.selectAt, req.follow = max(0, msg.rel+1), ""
		return m.fetch(req)

	case scrollUpMsg:
		req := m.windowReq(placeUp)
		req.from, req.up, req.selectAt, req.follow = msg.from, msg.n, 1, ""
		return m.fetch(req)

	case jumpMsg:
		at := placeTop
		if msg.end {
			at = placeEnd
		} else {
			m.top = nil
		}
		req := m.windowReq(at)
		req.top, req.follow = nil, ""
		if msg.end {
			req.selectEnd = true
		} else {
			req.selectAt = 1
		}
		return m.fetch(req)

	}
	return nil
}

// applyFilter asks the store for what a filter change shows: the table's
// rows from the top, or the audit view's entries about one user.
func (m *Model) applyFilter(msg filterChangedMsg) tea.Cmd {
	if msg.audit {
		m.audit.Narrow(msg.text)
		return m.refreshView()
	}
	m.top = nil
	req := m.windowReq(placeTop)
	req.firstIfGone, req.follow = true, ""
	return m.fetch(req)
}

func (m *Model) onWindow(msg windowMsg) tea.Cmd {
	if msg.id != m.fetchID {
		return nil // superseded by a later fetch
	}
	m.fetching, m.moving = false, false
	if m.cancelFetch != nil {
		m.cancelFetch() // done: release its context
		m.cancelFetch = nil
	}
	m.now = m.clock()
	cmd := m.onWindowResult(msg)
	return tea.Batch(cmd, m.typeAhead())
}

// typeAhead runs the table keys typed while a move was in flight, until
// one of them moves the window again.
func (m *Model) typeAhead() tea.Cmd {
	var cmds []tea.Cmd
	for len(m.typedAhead) > 0 && !m.moving {
		if m.confirm.open {
			// Never confirm with a y typed before the dialog showed.
			m.typedAhead = nil
			break
		}
		k := m.typedAhead[0]
		m.typedAhead = m.typedAhead[1:]
		cmds = append(cmds, m.onKey(k)) // a "/" on the way opens the filter for the rest
	}
	if len(m.typedAhead) == 0 {
		m.typedAhead = nil
	}
	return tea.Batch(cmds...)
}

func (m *Model) onWindowResult(msg windowMsg) tea.Cmd {
	if errors.Is(msg.err, sessionlogic.ErrNotReady) {
		// Up, and still reading (a Django site's first pass at a
		// million rows): say how far, not "unreachable", and ask again
		// at the poll's pace, not with a failure's backoff.
		m.header.state = stateReading
		m.status.Background(errText(msg.err), false)
		return m.arm(m.interval)
	}
	if msg.err != nil {
		m.failures++
		if msg.reachable {
			m.header.state = stateQueryError
			m.status.Background("listing failed: "+errText(msg.err), true)
			return m.arm(m.interval)
		}
		backoff := min(time.Second<<min(m.failures-1, 5), maxBackoff)
		m.header.state = stateStale
		m.header.retryAt = m.now.Add(backoff)
		m.status.Background("store unreachable: "+errText(msg.err), true)
		return m.arm(backoff)
	}
	if m.failures > 0 {
		m.status.Background("store is back", false)
	} else if m.header.state == stateReading {
		m.status.Background("", false) // the progress is over
	}
	m.failures = 0
	m.header.state, m.header.lastOK, m.header.retryAt = stateLive, m.now, time.Time{}
	m.version = msg.res.version
	if msg.res.rowErr != nil {
		m.status.Background(errText(msg.res.rowErr), true)
	}
	if !msg.res.unchanged && m.table.frozen && msg.req.reread {
		// Frozen, and a poll or refresh (not a move, a new sort or
		// filter): values in place, order held. A re-read asked for
		// before the freeze merges too (without the reads by id).
		m.listedAt = m.now
		m.table.Merge(msg.res.rows, msg.res.byID, m.now)
	} else if !msg.res.unchanged {
		m.listedAt = m.now
		m.top = msg.res.top
		found := m.table.SetRows(msg.res.rows, msg.res.top == nil, msg.res.more)
		switch {
		case msg.req.selectAt > 0:
			// Rows put above the requested top (near the end of the list)
			// move the target down by as many.
			m.table.selectIndex(msg.req.selectAt - 1 + msg.res.filled)
		case msg.req.firstIfGone && !found:
			m.table.Select(false)
		case msg.req.selectEnd:
			m.table.Select(true)
		}
	}
	if m.noticePending {
		m.noticePending = false
		return m.arm(0) // a notice came in while this fetch was in flight
	}
	return m.arm(m.interval)
}
