// Package tui is sessionmon's live dashboard: a Bubble Tea program that
// shows the active sessions of a store through a *sessionlogic.Manager and
// lets an operator force sessions out or extend them.
//
// Layout: one component per file (header, table, detail, audit, confirm,
// extend, filter, statusline, keys, theme); only Model, the root,
// implements tea.Model. All store I/O runs in tea.Cmds (commands.go) whose
// results carry the id of the request that made them; stale ones are
// dropped. The poll loop is tagged, so pausing, resuming or changing the
// interval never leaves two loops running.
package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"sessionmon/sessionlogic"
)

// Options configure the dashboard.
type Options struct {
	// Manager is the session domain the dashboard reads and acts through
	// (required).
	Manager *sessionlogic.Manager
	// Operator is the name written to the audit table with every action.
	Operator string
	// ReadOnly disables marking, force-logout and extend: the keys neither
	// work nor show in the help.
	ReadOnly bool
	// PollInterval is the initial poll interval (default 1s; kept within
	// 250ms..10s, the range `+` and `-` move in).
	PollInterval time.Duration
	// ExtendDefault prefills the extend prompt (default 1h).
	ExtendDefault time.Duration
	// Now is the clock for countdowns and ages (default Manager.Now).
	Now func() time.Time
	// NoColor turns colours off. NO_COLOR in the environment does too.
	NoColor bool
	// Notice is shown in the status line at start (the demo puts its login
	// server's URL and demo login there), until the first action result.
	Notice string
	// NoPush ignores the store's change notices and only polls. For a store
	// whose notices cover this process only (SQLite) while the sessions are
	// made by another (a separate `sessionmon serve`): the header must not
	// claim "+ push" for logins it would only see on the next poll.
	NoPush bool
}

// Poll intervals `+` and `-` step through. The longest is 10s, so the
// counts in the header (read on a slower cadence) are never older than 10s.
var pollSteps = []time.Duration{
	250 * time.Millisecond, 500 * time.Millisecond, time.Second,
	2 * time.Second, 3 * time.Second, 5 * time.Second, 10 * time.Second,
}

const (
	statsEvery = 5 * time.Second // the stats' own cadence
	maxBackoff = 30 * time.Second
)

type viewMode int

const (
	modeTable viewMode = iota
	modeDetail
	modeAudit
)

// Model is the dashboard, the root tea.Model.
type Model struct {
	mgr           *sessionlogic.Manager
	noPush        bool // Options.NoPush
	ctx           context.Context
	operator      string
	extendDefault time.Duration
	clock         func() time.Time
	theme         *styleSet
	keys          keyMap
	help          help.Model

	width, height int
	bodyHeight    int
	showHeader    bool
	showFooter    bool
	now           time.Time
	mode          viewMode

	// The listing: filter, order and window position.
	filter filterModel
	sort   sessionlogic.SortKey
	desc   bool
	top    *sessionlogic.Cursor

	// Polling.
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
	seq          int // ids for detail, audit, count and action requests

	// Push notices (watch.go): nil without a store that pushes them.
	notices       <-chan struct{}
	noticePending bool

	// help caches the footer, which only changes with the width, the
	// view and `?` (rendering it is a good part of a frame).
	helpc *helpCache

	header  headerModel
	table   tableModel
	detail  detailModel
	audit   auditModel
	confirm confirmModel
	extend  extendModel
	status  statusModel
}

// New returns the dashboard for opts. Colours come from lipgloss's default
// renderer (which honours NO_COLOR), or none with opts.NoColor.
func New(opts Options) Model {
	r := lipgloss.DefaultRenderer()
	if opts.NoColor {
		r = lipgloss.NewRenderer(os.Stdout)
		r.SetColorProfile(termenv.Ascii)
	}
	return newModel(opts, r)
}

func newModel(opts Options, r *lipgloss.Renderer) Model {
	theme := newStyleSet(r)
	keys := newKeyMap(opts.ReadOnly)
	m := Model{
		mgr:           opts.Manager,
		noPush:        opts.NoPush,
		ctx:           context.Background(),
		operator:      opts.Operator,
		extendDefault: opts.ExtendDefault,
		clock:         opts.Now,
		theme:         &theme,
		keys:          keys,
		help:          help.New(),
		width:         80,
		height:        24,
		sort:          sessionlogic.SortExpires,
		interval:      clampInterval(opts.PollInterval),
		filter:        newFilter(),
		table:         newTable(keys, &theme),
		detail:        newDetail(keys, &theme),
		audit:         newAudit(keys, &theme),
		confirm:       confirmModel{theme: &theme},
		extend:        newExtend(&theme),
		status:        statusModel{theme: &theme},
		helpc:         &helpCache{},
	}
	if m.operator == "" {
		m.operator = "operator"
	}
	if m.extendDefault <= 0 {
		m.extendDefault = time.Hour
	}
	if m.clock == nil {
		if m.mgr != nil {
			m.clock = m.mgr.Now
		} else {
			m.clock = time.Now
		}
	}
	m.help.Styles = theme.Help
	m.now = m.clock()
	m.header = headerModel{theme: &theme, interval: m.interval, readOnly: opts.ReadOnly}
	if m.mgr != nil {
		m.header.store = m.mgr.Describe()
	}
	if opts.Notice != "" {
		m.status.Set(opts.Notice)
	}
	m.fetchID, m.statsID, m.statsPending, m.fetching = 1, 1, true, true
	m.layout()
	return m
}

func clampInterval(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Second
	}
	return max(pollSteps[0], min(d, pollSteps[len(pollSteps)-1]))
}

// Run runs the dashboard in the terminal's alternate screen until the
// operator quits or ctx is cancelled; either way it returns nil, and the
// terminal is restored. Store calls use contexts derived from ctx.
func Run(ctx context.Context, opts Options) error {
	if opts.Manager == nil {
		return errors.New("tui: Options.Manager is required")
	}
	r := lipgloss.DefaultRenderer()
	if opts.NoColor {
		r = lipgloss.NewRenderer(os.Stdout)
		r.SetColorProfile(termenv.Ascii)
	}
	// Ask the terminal for its background before Bubble Tea owns the
	// input, so adaptive colours never race with key reading.
	r.HasDarkBackground()
	m := newModel(opts, r)
	m.ctx = ctx
	// No signal handler of Bubble Tea's own: the caller's ctx ends on
	// SIGINT and SIGTERM (main's signal.NotifyContext). With both, one
	// SIGTERM reaches both; when ctx wins, v1.3.10's handler blocks for
	// ever sending QuitMsg to the stopped event loop, and shutdown waits
	// for it: `watch` hung on SIGTERM (seen in e2e/reliability
	// TestShutdownWhilePostgresHangs, goroutine dump at tea.go:303).
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithContext(ctx), tea.WithoutSignalHandler())
	_, err := p.Run()
	if err != nil && ctx.Err() != nil && errors.Is(err, tea.ErrProgramKilled) {
		return nil
	}
	return err
}

// Init starts the first fetches and the one-second clock.
func (m Model) Init() tea.Cmd {
	if m.mgr == nil {
		return clockTick(m.clockTag)
	}
	return tea.Batch(
		fetchWindowCmd(m.ctx, m.mgr, m.fetchID, m.windowReq(placeTop)),
		fetchStatsCmd(m.ctx, m.mgr, m.statsID),
		clockTick(m.clockTag),
		m.watchCmd(),
	)
}

// windowReq copies what a window fetch needs out of the model.
func (m *Model) windowReq(at place) windowReq {
	rows := max(1, m.table.height)
	return windowReq{
		text: m.filter.value, sort: m.sort, desc: m.desc,
		rows: rows, limit: rows + max(5, rows/2),
		at: at, top: m.top, follow: m.table.selID,
		since: m.version, until: m.table.earliestExpiry(), listedAt: m.listedAt,
	}
}

// fetch issues a window fetch. It raises the poll tag, so a pending tick is
// dropped: the result re-arms the loop.
func (m *Model) fetch(req windowReq) tea.Cmd {
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
	return fetchWindowCmd(m.ctx, m.mgr, m.fetchID, req)
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
	cmds := []tea.Cmd{m.fetch(m.windowReq(placeTop)), m.fetchStats()}
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
			return fetchAuditCmd(m.ctx, m.mgr, m.seq, auditLimit)
		}
	}
	return nil
}

// Update handles one message. Modal components (confirm, extend, filter)
// get keys first.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := m.update(msg)
	if m.layout() {
		cmd = tea.Batch(cmd, m.fetch(m.windowReq(placeTop)))
	}
	return m, cmd
}

func (m *Model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = max(0, msg.Width), max(0, msg.Height)
		return nil

	case tea.KeyMsg:
		if msg.String() == "ctrl+c" {
			return tea.Quit
		}
		if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste {
			// Keys typed faster than the program reads arrive as one
			// message ("/mal"): handle them one by one, so the first can
			// open the filter and the rest go into it. A confirmation
			// opened on the way drops the rest: only a y pressed on its
			// own confirms (never the y of "xy" pasted in one go).
			cmds := make([]tea.Cmd, 0, len(msg.Runes))
			for i, r := range msg.Runes {
				if i > 0 && m.confirm.open {
					break
				}
				cmds = append(cmds, m.update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt && i == 0}))
			}
			return tea.Batch(cmds...)
		}
		if msg.Alt && msg.Type == tea.KeyRunes {
			// The dashboard binds no alt keys: an Esc typed just before
			// a key arrives glued to it as alt+key. Take it as both.
			esc := m.update(tea.KeyMsg{Type: tea.KeyEsc})
			msg.Alt = false
			return tea.Batch(esc, m.update(msg))
		}
		var cmd tea.Cmd
		switch {
		case m.confirm.open:
			m.confirm, cmd = m.confirm.Update(msg)
		case m.extend.open:
			m.extend, cmd = m.extend.Update(msg)
		case m.filter.editing:
			m.filter, cmd = m.filter.Update(msg)
		default:
			cmd = m.handleKey(msg)
		}
		return cmd

	case clockTickMsg:
		if msg.tag != m.clockTag {
			return nil
		}
		m.now = m.clock()
		return clockTick(m.clockTag)

	case pollTickMsg:
		if msg.tag != m.pollTag || m.paused {
			return nil // a tick of an older loop
		}
		return m.poll()

	case watchStartedMsg:
		m.notices = msg.notices
		m.header.push = true
		return waitNoticeCmd(m.notices)

	case noticeMsg:
		return m.onNotice()

	case windowMsg:
		return m.onWindow(msg)
	}
	return m.updateRest(msg)
}

// poll reads what a poll reads: the window, the stats when due, and the
// audit view when open.
func (m *Model) poll() tea.Cmd {
	req := m.windowReq(placeTop)
	req.poll = true
	cmds := []tea.Cmd{m.fetch(req)}
	if m.statsDue() {
		cmds = append(cmds, m.fetchStats())
	}
	if m.mode == modeAudit {
		cmds = append(cmds, m.refreshView())
	}
	return tea.Batch(cmds...)
}

func (m *Model) updateRest(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case statsMsg:
		if msg.id != m.statsID {
			return nil
		}
		m.statsPending = false
		m.statsAt = m.clock()
		if msg.err == nil {
			m.header.stats, m.header.haveStats = msg.stats, true
		}
		return nil

	case detailMsg:
		m.detail, _ = m.detail.Update(msg)
		return nil

	case auditMsg:
		m.audit, _ = m.audit.Update(msg)
		return nil

	case userCountMsg:
		m.confirm, _ = m.confirm.Update(msg)
		return nil

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

	case filterChangedMsg:
		m.top = nil
		req := m.windowReq(placeTop)
		req.firstIfGone, req.follow = true, ""
		return m.fetch(req)

	case confirmedMsg:
		return m.act(msg)

	case extendSubmitMsg:
		m.seq++
		m.status.Set(fmt.Sprintf("extending %s's session %s by %s…", msg.target.Username, shortID(msg.target.ID), showSpan(msg.by)))
		if m.mgr == nil {
			return nil
		}
		return extendCmd(m.ctx, m.mgr, m.seq, m.operator, msg.target, msg.by)

	case cancelledMsg:
		m.status.Set("cancelled: nothing changed")
		return nil

	case actionMsg:
		for _, id := range msg.done {
			delete(m.table.marks, id)
		}
		switch {
		case msg.err != nil && msg.text != "":
			m.status.SetErrText(msg.text + "; " + errText(msg.err))
		case msg.err != nil:
			m.status.SetErr(msg.err)
		default:
			m.status.Set(msg.text)
		}
		return m.refresh()
	}

	// Anything else (a paste, a cursor message) goes to the open input.
	var cmd tea.Cmd
	switch {
	case m.extend.open:
		m.extend, cmd = m.extend.Update(msg)
	case m.filter.editing:
		m.filter, cmd = m.filter.Update(msg)
	}
	return cmd
}

func (m *Model) onWindow(msg windowMsg) tea.Cmd {
	if msg.id != m.fetchID {
		return nil // superseded by a later fetch
	}
	m.fetching = false
	m.now = m.clock()
	if msg.err != nil {
		m.failures++
		if msg.reachable {
			m.header.state = stateQueryError
			m.status.SetErrText("listing failed: " + errText(msg.err))
			return m.arm(m.interval)
		}
		backoff := min(time.Second<<min(m.failures-1, 5), maxBackoff)
		m.header.state = stateStale
		m.header.retryAt = m.now.Add(backoff)
		m.status.SetErrText("store unreachable: " + errText(msg.err))
		return m.arm(backoff)
	}
	if m.failures > 0 {
		m.status.Set("store is back")
	}
	m.failures = 0
	m.header.state, m.header.lastOK, m.header.retryAt = stateLive, m.now, time.Time{}
	m.version = msg.res.version
	if msg.res.rowErr != nil {
		m.status.SetErr(msg.res.rowErr)
	}
	if !msg.res.unchanged {
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

// handleKey handles a key when no modal component is open.
func (m *Model) handleKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	// Keys that work in every view.
	switch {
	case key.Matches(msg, k.Quit):
		return tea.Quit
	case key.Matches(msg, k.Help):
		m.help.ShowAll = !m.help.ShowAll
		return nil
	case key.Matches(msg, k.Pause):
		m.paused = !m.paused
		m.header.paused = m.paused
		if m.paused {
			m.pollTag++ // the pending tick dies
			m.status.Set("polling paused")
			return nil
		}
		m.status.Set("polling resumed")
		return m.refresh()
	case key.Matches(msg, k.Faster), key.Matches(msg, k.Slower):
		m.interval = stepInterval(m.interval, key.Matches(msg, k.Faster))
		m.header.interval = m.interval
		m.status.Set("polling every " + showSpan(m.interval))
		if m.fetching {
			return nil // the result arms the loop at the new interval
		}
		return m.arm(m.interval)
	case key.Matches(msg, k.Refresh):
		m.status.Set("refreshed")
		return m.refresh()
	}

	switch m.mode {
	case modeDetail:
		switch {
		case key.Matches(msg, k.Back), key.Matches(msg, k.Detail), msg.String() == "backspace":
			m.mode = modeTable
			return nil
		case key.Matches(msg, k.Audit):
			return m.openAudit()
		case key.Matches(msg, k.Kill):
			return m.openKill([]target{{ID: m.detail.session.ID, Username: m.detail.session.Username}}, 0)
		case key.Matches(msg, k.KillUser):
			return m.openKillUser(m.detail.session.Username)
		case key.Matches(msg, k.Extend):
			return m.openExtend(m.detail.session)
		}
		var cmd tea.Cmd
		m.detail, cmd = m.detail.Update(msg)
		return cmd
	case modeAudit:
		switch {
		case key.Matches(msg, k.Back), key.Matches(msg, k.Audit), msg.String() == "backspace":
			m.mode = modeTable
			return nil
		}
		var cmd tea.Cmd
		m.audit, cmd = m.audit.Update(msg)
		return cmd
	}

	switch {
	case key.Matches(msg, k.Back):
		if m.help.ShowAll {
			m.help.ShowAll = false
			return nil
		}
		var cmd tea.Cmd
		m.filter, cmd = m.filter.Clear()
		return cmd
	case key.Matches(msg, k.Filter):
		var cmd tea.Cmd
		m.filter, cmd = m.filter.Open()
		return cmd
	case key.Matches(msg, k.Sort), key.Matches(msg, k.Reverse):
		if key.Matches(msg, k.Sort) {
			m.sort = nextSort(m.sort)
		} else {
			m.desc = !m.desc
		}
		m.table.sort, m.table.desc = m.sort, m.desc
		m.top = nil
		return m.fetch(m.windowReq(placeNear))
	case key.Matches(msg, k.Mark):
		m.table.ToggleMark()
		return nil
	case key.Matches(msg, k.Kill):
		if len(m.table.marks) > 0 {
			ts := make([]target, 0, len(m.table.marks))
			hidden := 0
			for _, s := range m.table.marks {
				ts = append(ts, target{ID: s.ID, Username: s.Username})
				if !matches(s, m.filter.value) {
					hidden++
				}
			}
			sort.Slice(ts, func(i, j int) bool {
				if ts[i].Username != ts[j].Username {
					return ts[i].Username < ts[j].Username
				}
				return ts[i].ID < ts[j].ID
			})
			return m.openKill(ts, hidden)
		}
		s, ok := m.table.Selected()
		if !ok {
			m.status.SetErrText("no session selected")
			return nil
		}
		return m.openKill([]target{{ID: s.ID, Username: s.Username}}, 0)
	case key.Matches(msg, k.KillUser):
		s, ok := m.table.Selected()
		if !ok {
			m.status.SetErrText("no session selected")
			return nil
		}
		return m.openKillUser(s.Username)
	case key.Matches(msg, k.Extend):
		s, ok := m.table.Selected()
		if !ok {
			m.status.SetErrText("no session selected")
			return nil
		}
		return m.openExtend(s)
	case key.Matches(msg, k.Detail):
		s, ok := m.table.Selected()
		if !ok {
			return nil
		}
		m.mode = modeDetail
		m.detail = m.detail.Open(s, 0)
		return m.refreshView()
	case key.Matches(msg, k.Audit):
		return m.openAudit()
	}
	var cmd tea.Cmd
	m.table, cmd = m.table.Update(msg)
	return cmd
}

func (m *Model) openAudit() tea.Cmd {
	m.mode = modeAudit
	m.audit.offset = 0
	return m.refreshView()
}

// openKill opens the confirmation for force-logging-out ts, captured now.
func (m *Model) openKill(ts []target, hidden int) tea.Cmd {
	if len(ts) == 0 || ts[0].ID == "" {
		return nil
	}
	m.confirm = confirmModel{theme: m.theme, open: true, kind: actKill, targets: ts, hidden: hidden}
	return nil
}

// openKillUser opens the confirmation for force-logging-out every session
// of username, and counts them in the background.
func (m *Model) openKillUser(username string) tea.Cmd {
	if username == "" {
		return nil
	}
	m.seq++
	m.confirm = confirmModel{theme: m.theme, open: true, kind: actKillUser, username: username, countID: m.seq}
	if m.mgr == nil {
		return nil
	}
	return countUserCmd(m.ctx, m.mgr, m.seq, username)
}

func (m *Model) openExtend(s sessionlogic.Session) tea.Cmd {
	if s.ID == "" {
		return nil
	}
	limit := s.AbsoluteExpiresAt
	if limit.IsZero() && m.mgr != nil && m.mgr.AbsoluteTimeout() > 0 {
		limit = s.LoginTime.Add(m.mgr.AbsoluteTimeout())
	}
	var cmd tea.Cmd
	m.extend, cmd = m.extend.Open(s, m.extendDefault, limit, m.now)
	return cmd
}

// act runs a confirmed destructive action on the targets the dialog
// captured when the key was pressed.
func (m *Model) act(c confirmedMsg) tea.Cmd {
	m.seq++
	switch c.kind {
	case actKillUser:
		m.status.Set("logging out every session of " + c.username + "…")
		if m.mgr != nil {
			return forceLogoutUserCmd(m.ctx, m.mgr, m.seq, m.operator, c.username)
		}
	default:
		m.status.Set(fmt.Sprintf("logging out %s…", plural(len(c.targets), "session")))
		if m.mgr != nil {
			return forceLogoutCmd(m.ctx, m.mgr, m.seq, m.operator, c.targets)
		}
	}
	return nil
}

func nextSort(k sessionlogic.SortKey) sessionlogic.SortKey {
	for i, s := range sessionlogic.SortKeys {
		if s == k {
			return sessionlogic.SortKeys[(i+1)%len(sessionlogic.SortKeys)]
		}
	}
	return sessionlogic.SortKeys[0]
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

func sortName(k sessionlogic.SortKey, desc bool) string {
	name := map[sessionlogic.SortKey]string{
		sessionlogic.SortExpires:      "expires",
		sessionlogic.SortLastActivity: "last seen",
		sessionlogic.SortLoginTime:    "login time",
		sessionlogic.SortUser:         "user",
	}[k]
	if desc {
		return name + " ▼"
	}
	return name + " ▲"
}

// layout sizes the components from the window size. It reports whether the
// table grew past the rows it holds, so a larger window must be fetched.
func (m *Model) layout() bool {
	w, h := m.width, m.height
	m.help.Width = w
	m.showHeader = h >= 10
	m.showFooter = h >= 6
	fixed := 1 // the status line
	if m.showHeader {
		fixed += headerHeight
	}
	if m.showFooter {
		fixed += m.footerHeight()
	}
	fixed += lipgloss.Height(m.dialogView())
	if m.dialogView() == "" {
		fixed-- // lipgloss.Height("") is 1
	}
	m.bodyHeight = max(0, h-fixed)

	before := m.table.height
	m.table.SetSize(w, max(0, m.bodyHeight-1)) // one line of column titles
	m.detail.height, m.audit.height = m.bodyHeight, m.bodyHeight
	return m.table.height > before && m.table.loaded && len(m.table.rows) < m.table.height &&
		(m.table.more || !m.table.atStart)
}

func (m *Model) footerHeight() int {
	if m.filter.editing {
		return 1
	}
	return lipgloss.Height(m.helpView())
}

// helpKeys are the keys of the current view, for the footer and `?`.
func (m *Model) helpKeys() help.KeyMap {
	return viewKeys{k: m.keys, mode: m.mode}
}

func (m Model) dialogView() string {
	switch {
	case m.confirm.open:
		return m.confirm.View(m.width)
	case m.extend.open:
		return m.extend.View(m.now, m.width)
	}
	return ""
}

// View renders the frame. It renders only the visible rows and never more
// than the window's lines.
func (m Model) View() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	parts := make([]string, 0, 6)
	if m.showHeader {
		parts = append(parts, m.header.View(m.now, m.width))
	}
	// Every part keeps to the width by itself (the table cuts each cell,
	// the others cut their lines), so the frame is not measured again.
	var body string
	switch m.mode {
	case modeDetail:
		body = m.detail.View(m.now, m.width, m.bodyHeight)
	case modeAudit:
		body = m.audit.View(m.now, m.width, m.bodyHeight)
	default:
		body = m.table.View(m.now, m.filter.value)
	}
	if m.bodyHeight > 0 {
		parts = append(parts, padLines(body, m.bodyHeight))
	}
	if d := m.dialogView(); d != "" {
		parts = append(parts, cutLines(d, m.width))
	}
	hidden := 0
	for _, s := range m.table.marks {
		if !matches(s, m.filter.value) {
			hidden++
		}
	}
	parts = append(parts, cut(m.status.View(m.width, m.filter.value, len(m.table.marks), hidden, sortName(m.sort, m.desc)), m.width))
	if m.showFooter {
		if m.filter.editing {
			parts = append(parts, m.filter.View(m.width))
		} else {
			parts = append(parts, m.helpView())
		}
	}
	out := strings.Join(parts, "\n")
	if n := strings.Count(out, "\n") + 1; n > m.height {
		lines := strings.Split(out, "\n")
		out = strings.Join(lines[:m.height], "\n")
	}
	return out
}

type helpCache struct {
	width int
	all   bool
	mode  viewMode
	view  string
}

func (m Model) helpView() string {
	c := m.helpc
	if c == nil {
		return cutLines(m.help.View(m.helpKeys()), m.width)
	}
	if c.view == "" || c.width != m.width || c.all != m.help.ShowAll || c.mode != m.mode {
		*c = helpCache{width: m.width, all: m.help.ShowAll, mode: m.mode, view: cutLines(m.help.View(m.helpKeys()), m.width)}
	}
	return c.view
}

// cutLines cuts every line of s to w cells.
func cutLines(s string, w int) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = cut(l, w)
	}
	return strings.Join(lines, "\n")
}

// padLines makes s exactly n lines: cut or padded with empty lines.
func padLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	for len(lines) < n {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}
