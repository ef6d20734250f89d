// Package tui is sessionmon's live dashboard: a Bubble Tea program that
// shows the active sessions of a store through a *sessionlogic.Manager and
// lets an operator force sessions out or extend them.
//
// Layout: one component per file (header, table, detail, audit, confirm,
// extend, filter, statusline, keys, theme), each with a SetSize; only
// Model, the root, implements tea.Model. The root itself is split the same
// way: tui.go holds the model and routes messages, polling.go the fetch
// and poll loop, actions.go the keys of each view and the actions they
// start, view.go the layout and the frame. All store I/O runs in tea.Cmds
// (commands.go) whose results carry the id of the request that made them;
// stale ones are dropped. The poll loop is tagged, so pausing, resuming or
// changing the interval never leaves two loops running.
package tui

import (
	"context"
	"errors"
	"os"
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
	// (required, unless Connect is given).
	Manager *sessionlogic.Manager
	// Connect, when Manager is nil, opens the store and builds the
	// Manager: the dashboard starts in its connecting state and calls it
	// with backoff until it succeeds (connect.go). An error marked with
	// Fatal ends the dashboard, and Run returns it.
	Connect func(ctx context.Context) (*sessionlogic.Manager, error)
	// Store names the store in the header until Connect has succeeded
	// (no password).
	Store string
	// Operator is the name written to the audit table with every action.
	Operator string
	// ReadOnly disables marking, force-out and extend: the keys do not
	// show in the help, and pressed they say so in the status line.
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
	// Sort is the initial order (default user ▲: see DefaultSort).
	Sort sessionlogic.SortKey
	// NoPush ignores the store's change notices and only polls. For a store
	// whose notices cover this process only (SQLite) while the sessions are
	// made by another (a separate `sessionmon serve`): the header must not
	// claim "+ push" for logins it would only see on the next poll.
	NoPush bool
}

// DefaultSort is the order the dashboard opens in: by user. It depends
// only on who is logged in, never on what they do, so a row moves only
// when a session above it starts or ends; by expiry (sliding with every
// request of every user) the selected row's line moved 10 times in 15 s.
// One user's sessions sit together, so an account with hundreds of them
// shows at a glance. F freezes even the starts and ends (README).
const DefaultSort = sessionlogic.SortUser

type viewMode int

const (
	modeTable viewMode = iota
	modeDetail
	modeAudit
	modeGroups // sessions grouped by user or IP (groups.go)
	modeErrors // the last errors in full (errorview.go)
)

// Model is the dashboard, the root tea.Model. Its state is grouped: the
// listing (what is listed, in which order, from where), the poll loop
// (polling.go), the layout (view.go) and the child components.
type Model struct {
	mgr           *sessionlogic.Manager
	connect       func(context.Context) (*sessionlogic.Manager, error)
	fatal         error // Connect's fatal error: Run returns it
	noPush        bool  // Options.NoPush
	ctx           context.Context
	operator      string
	extendDefault time.Duration
	clock         func() time.Time
	theme         *styleSet
	keys          keyMap
	help          help.Model

	now  time.Time
	mode viewMode
	seq  int // ids for detail, audit, count and action requests

	listing
	poller
	frame
	oncall // groups, sparklines, position, copy, export, errors (oncall.go)

	header  headerModel
	table   tableModel
	detail  detailModel
	audit   auditModel
	confirm confirmModel
	extend  extendModel
	status  statusModel
}

// listing is what the table lists: the filter, the order and the window's
// keyset position.
type listing struct {
	filter filterModel
	// auditFilter narrows the audit view to one user.
	auditFilter filterModel
	sort        sessionlogic.SortKey
	desc        bool
	top         *sessionlogic.Cursor
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
		connect:       opts.Connect,
		noPush:        opts.NoPush,
		ctx:           context.Background(),
		operator:      opts.Operator,
		extendDefault: opts.ExtendDefault,
		clock:         opts.Now,
		theme:         &theme,
		keys:          keys,
		help:          help.New(),
		listing:       listing{sort: DefaultSort, filter: newFilter(keys), auditFilter: newAuditFilter(keys)},
		poller:        poller{interval: clampInterval(opts.PollInterval), filterDelay: filterDebounce},
		frame:         frame{width: 80, height: 24, helpc: &helpCache{}},
		table:         newTable(keys, &theme),
		detail:        newDetail(keys, &theme),
		audit:         newAudit(keys, &theme),
		confirm:       newConfirm(keys, &theme),
		extend:        newExtend(keys, &theme),
		status:        statusModel{theme: &theme},
		oncall:        newOncall(keys, &theme, os.Stdout),
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
	if opts.Sort.Valid() {
		m.sort = opts.Sort
	}
	m.table.sort = m.sort
	m.status.clock = m.clock
	m.help.Styles = theme.Help
	m.now = m.clock()
	m.header = headerModel{theme: &theme, interval: m.interval, readOnly: opts.ReadOnly}
	m.header.store = opts.Store
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

// Run runs the dashboard in the terminal's alternate screen until the
// operator quits or ctx is cancelled; either way it returns nil, and the
// terminal is restored. Store calls use contexts derived from ctx.
func Run(ctx context.Context, opts Options) error {
	if opts.Manager == nil && opts.Connect == nil {
		return errors.New("tui: Options.Manager or Options.Connect is required")
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
	final, err := p.Run()
	if err != nil && ctx.Err() != nil && errors.Is(err, tea.ErrProgramKilled) {
		return nil
	}
	if fm, ok := final.(Model); ok && err == nil && fm.fatal != nil {
		return fm.fatal
	}
	return err
}

// Init starts the first fetches and the one-second clock.
func (m Model) Init() tea.Cmd {
	if m.connecting() {
		return tea.Batch(connectCmd(m.ctx, m.connect), clockTick(m.clockTag))
	}
	if m.mgr == nil {
		return clockTick(m.clockTag)
	}
	return tea.Batch(
		fetchWindowCmd(m.ctx, m.mgr, m.fetchID, m.windowReq(placeTop)),
		fetchStatsCmd(m.ctx, m.mgr, m.statsID),
		clockTick(m.clockTag),
		m.watchCmd(),
		m.oncallInit(),
	)
}

// Update handles one message. Modal components (confirm, extend, filter)
// get keys first.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := m.update(msg)
	if m.layout() {
		cmd = tea.Batch(cmd, m.fetch(m.windowReq(placeTop)))
	}
	cmd = tea.Batch(cmd, m.oncallSync())
	return m, cmd
}

// update routes one message: sizes and keys here, the poll loop's
// messages to polling.go, action results to actions.go.
func (m *Model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = max(0, msg.Width), max(0, msg.Height)
		return nil
	case tea.KeyMsg:
		return m.onKey(msg)
	}
	m.observe(msg)
	if cmd, ok := m.updateConnect(msg); ok {
		return cmd
	}
	if cmd, ok := m.updateOncall(msg); ok {
		return cmd
	}
	if cmd, ok := m.updatePoll(msg); ok {
		return cmd
	}
	if cmd, ok := m.updateAction(msg); ok {
		return cmd
	}
	// Anything else (a paste, a cursor message) goes to the open input.
	var cmd tea.Cmd
	switch {
	case m.extend.open:
		m.extend, cmd = m.extend.Update(msg)
	case m.export.open:
		m.export, cmd = m.export.Update(msg)
	case m.filter.editing:
		m.filter, cmd = m.filter.Update(msg)
	case m.auditFilter.editing:
		m.auditFilter, cmd = m.auditFilter.Update(msg)
	}
	return cmd
}

// onKey gives a key to the open modal component, or to the view's keys.
func (m *Model) onKey(msg tea.KeyMsg) tea.Cmd {
	if key.Matches(msg, m.keys.ForceQuit) {
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
			cmds = append(cmds, m.onKey(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt && i == 0}))
		}
		return tea.Batch(cmds...)
	}
	if msg.Alt && msg.Type == tea.KeyRunes {
		// The dashboard binds no alt keys: an Esc typed just before
		// a key arrives glued to it as alt+key. Take it as both.
		esc := m.onKey(tea.KeyMsg{Type: tea.KeyEsc})
		msg.Alt = false
		return tea.Batch(esc, m.onKey(msg))
	}
	var cmd tea.Cmd
	switch {
	case m.confirm.open:
		m.confirm, cmd = m.confirm.Update(msg)
	case m.extend.open:
		m.extend, cmd = m.extend.Update(msg)
	case m.export.open:
		m.export, cmd = m.export.Update(msg)
	case m.filter.editing:
		m.filter, cmd = m.filter.Update(msg)
	case m.auditFilter.editing:
		m.auditFilter, cmd = m.auditFilter.Update(msg)
	default:
		cmd = m.handleKey(msg)
	}
	return cmd
}
