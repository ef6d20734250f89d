package tui

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"
	"golang.org/x/crypto/bcrypt"

	"sessionmon/data"
	"sessionmon/data/sqlite"
	"sessionmon/internal/fakeclock"
	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
)

// The layer against a real store: the SQLite store, a fake clock, and
// sessions made by Manager.AddUser and Manager.Login.

// flakyStore is a store that can be taken down: every read and write then
// fails as a lost connection would.
type flakyStore struct {
	data.Store
	down atomic.Bool
}

var errDown = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

func (f *flakyStore) ListActive(ctx context.Context, q data.Query) (data.Page, error) {
	if f.down.Load() {
		return data.Page{}, errDown
	}
	return f.Store.ListActive(ctx, q)
}

func (f *flakyStore) Stats(ctx context.Context, q data.StatsQuery) (data.Stats, error) {
	if f.down.Load() {
		return data.Stats{}, errDown
	}
	return f.Store.Stats(ctx, q)
}

func (f *flakyStore) ChangesSince(ctx context.Context, since int64, limit int) (data.Changes, error) {
	if f.down.Load() {
		return data.Changes{}, errDown
	}
	return f.Store.ChangesSince(ctx, since, limit)
}

func (f *flakyStore) Ping(ctx context.Context) error {
	if f.down.Load() {
		return errDown
	}
	return f.Store.Ping(ctx)
}

type env struct {
	m     *sessionlogic.Manager
	st    *sqlite.Store
	path  string
	clock *fakeclock.Clock
	flaky *flakyStore
}

func newEnv(t testing.TB, absolute, idle time.Duration) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessions.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{st: st, path: path, clock: fakeclock.New(t0), flaky: &flakyStore{Store: st}}
	e.m, err = sessionlogic.New(sessionlogic.Options{
		Store: e.flaky, SaveEveryRequest: true, PasswordCost: bcrypt.MinCost,
		AbsoluteTimeout: absolute, IdleTimeout: idle, Now: e.clock.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

const testPassword = "correct horse battery"

func (e *env) user(t testing.TB, name, role string) {
	t.Helper()
	_, err := e.m.AddUser(context.Background(), "setup", sessionlogic.NewUser{
		Username: name, Password: testPassword, Email: name + "@example.com",
		FullName: strings.ToUpper(name[:1]) + name[1:] + " Example", Role: role,
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) login(t testing.TB, name string, i int) (string, sessionlogic.Session) {
	t.Helper()
	tok, s, err := e.m.Login(context.Background(), sessionlogic.LoginRequest{
		Username: name, Password: testPassword, IP: fmt.Sprintf("198.51.100.%d", i), UserAgent: "test-agent/1.0",
		Data: map[string]any{"n": i},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok, s
}

// Start the dashboard on a real store, see the sessions, force the selected
// one out with x then y, and check the store: the session ended, its holder
// is refused, and the audit names the operator.
func TestEndToEndForceLogout(t *testing.T) {
	e := newEnv(t, 0, 0)
	e.user(t, "alice", "admin")
	e.user(t, "bob", "staff")
	tokens := map[string]string{}
	for i, u := range []string{"alice", "bob", "alice"} {
		tok, s := e.login(t, u, i+1)
		tokens[s.ID] = tok
	}
	ctx := context.Background()
	first, err := e.m.Active(ctx, sessionlogic.ListQuery{Sort: DefaultSort, Limit: 1}) // the first row shown
	if err != nil || len(first.Sessions) != 1 {
		t.Fatal(err)
	}
	target := first.Sessions[0]

	tm := teatest.NewTestModel(t, New(Options{Manager: e.m, Operator: "oncall-jane", PollInterval: 250 * time.Millisecond}),
		teatest.WithInitialTermSize(80, 24))
	teatest.WaitFor(t, tm.Output(), testkit.Contains("alice", "bob", "3 active", "live"), teatest.WithDuration(5*time.Second))

	tm.Send(keyMsg("x"))
	teatest.WaitFor(t, tm.Output(), testkit.Contains("Force out "+target.Username+"'s session "+sessionlogic.ShortID(target.ID)), teatest.WithDuration(3*time.Second))
	tm.Send(keyMsg("y"))
	teatest.WaitFor(t, tm.Output(), testkit.Contains("forced out "+target.Username+": 1 session", "2 active"), teatest.WithDuration(3*time.Second))

	s, err := e.m.Session(ctx, target.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.EndedAt.IsZero() || s.EndReason != data.EndForced || s.EndedBy != "oncall-jane" {
		t.Fatalf("session after force-out: ended %v reason %q by %q", s.EndedAt, s.EndReason, s.EndedBy)
	}
	if _, err := e.m.Authenticate(ctx, tokens[target.ID]); !errors.Is(err, sessionlogic.ErrNoSession) {
		t.Fatalf("the holder's next request: %v, want ErrNoSession", err)
	}
	audit, err := e.m.Audit(ctx, sessionlogic.AuditQuery{SessionID: target.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) == 0 || audit[0].Action != data.ActionForceLogout || audit[0].Actor != "oncall-jane" {
		t.Fatalf("audit %+v", audit)
	}
	// The other sessions are untouched.
	for id, tok := range tokens {
		if id == target.ID {
			continue
		}
		if _, err := e.m.Authenticate(ctx, tok); err != nil {
			t.Fatalf("session %s: %v", sessionlogic.ShortID(id), err)
		}
	}

	tm.Send(keyMsg("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

// X forces out every session of the selected user; the confirmation counts
// them first.
func TestEndToEndForceLogoutUser(t *testing.T) {
	e := newEnv(t, 0, 0)
	e.user(t, "alice", "admin")
	e.user(t, "bob", "staff")
	e.login(t, "alice", 1)
	e.clock.Advance(time.Second)
	e.login(t, "bob", 2)
	e.clock.Advance(time.Second)
	e.login(t, "alice", 3)

	tm := teatest.NewTestModel(t, New(Options{Manager: e.m, Operator: "oncall-jane", PollInterval: 250 * time.Millisecond}),
		teatest.WithInitialTermSize(80, 24))
	teatest.WaitFor(t, tm.Output(), testkit.Contains("alice", "bob", "3 active"), teatest.WithDuration(5*time.Second))
	tm.Send(keyMsg("X"))
	teatest.WaitFor(t, tm.Output(), testkit.Contains("Force out every session of alice?", "2 active sessions will end"), teatest.WithDuration(3*time.Second))
	tm.Send(keyMsg("y"))
	teatest.WaitFor(t, tm.Output(), testkit.Contains("forced out alice: 2 sessions"), teatest.WithDuration(3*time.Second))
	tm.Send(keyMsg("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))

	p, err := e.m.Active(context.Background(), sessionlogic.ListQuery{})
	if err != nil || len(p.Sessions) != 1 || p.Sessions[0].Username != "bob" {
		t.Fatalf("left %+v, %v", p.Sessions, err)
	}
	// The audit records the count and the ids: an entry per session ended
	// (issue 9: the one X entry had neither).
	audit, _ := e.m.Audit(context.Background(), sessionlogic.AuditQuery{Username: "alice", Action: data.ActionForceLogout})
	if len(audit) != 2 || audit[0].SessionID == "" || audit[1].SessionID == "" || audit[0].SessionID == audit[1].SessionID {
		t.Fatalf("audit %+v", audit)
	}
	for _, a := range audit {
		if a.Actor != "oncall-jane" || a.Username != "alice" {
			t.Fatalf("audit %+v", a)
		}
	}
}

// The store goes away: the table stays with a stale badge, the dashboard
// retries with backoff, and recovers by itself when the store is back.
func TestEndToEndStoreOutage(t *testing.T) {
	e := newEnv(t, 0, 0)
	e.user(t, "alice", "admin")
	e.login(t, "alice", 1)

	tm := teatest.NewTestModel(t, New(Options{Manager: e.m, PollInterval: 250 * time.Millisecond}),
		teatest.WithInitialTermSize(80, 24))
	teatest.WaitFor(t, tm.Output(), testkit.Contains("alice", "live"), teatest.WithDuration(5*time.Second))
	e.flaky.down.Store(true)
	teatest.WaitFor(t, tm.Output(), testkit.Contains("stale", "store unreachable"), teatest.WithDuration(5*time.Second))
	e.flaky.down.Store(false)
	teatest.WaitFor(t, tm.Output(), testkit.Contains("live", "store is back"), teatest.WithDuration(5*time.Second))
	tm.Send(keyMsg("q"))
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(Model)
	if len(fm.table.rows) != 1 || fm.header.state != stateLive {
		t.Fatalf("rows %d state %v", len(fm.table.rows), fm.header.state)
	}
}

// The keyset window against the real store: every way of placing the
// window gives the same rows as the full list cut at the same place.
func TestWindowAgainstStore(t *testing.T) {
	e := newEnv(t, 0, 0)
	for _, u := range []string{"ann", "ben", "cat", "dan", "eve", "fay"} {
		e.user(t, u, "user")
	}
	names := []string{"ann", "ben", "cat", "dan", "eve", "fay"}
	for i := range 60 {
		e.login(t, names[i%len(names)], i)
		if i%4 != 0 { // some ties on the sort key, broken by id
			e.clock.Advance(time.Second)
		}
	}
	ctx := context.Background()
	for _, sortKey := range sessionlogic.SortKeys {
		for _, desc := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s-desc=%v", sortKey, desc), func(t *testing.T) {
				p, err := e.m.Active(ctx, sessionlogic.ListQuery{Sort: sortKey, Desc: desc, Limit: 1000})
				if err != nil || len(p.Sessions) != 60 {
					t.Fatalf("%d rows, %v", len(p.Sessions), err)
				}
				full := p.Sessions
				base := windowReq{sort: sortKey, desc: desc, rows: 10, limit: 15}
				cur := func(i int) *sessionlogic.Cursor { return sessionlogic.CursorOf(full[i], sortKey) }
				check := func(name string, r windowReq, from int, atStart bool) {
					t.Helper()
					res, err := fetchWindow(ctx, e.m, r)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					want := full[from:min(len(full), from+r.limit)]
					if len(res.rows) != len(want) {
						t.Fatalf("%s: %d rows, want %d", name, len(res.rows), len(want))
					}
					for i := range want {
						if res.rows[i].ID != want[i].ID {
							t.Fatalf("%s: row %d is %s, want %s", name, i, sessionlogic.ShortID(res.rows[i].ID), sessionlogic.ShortID(want[i].ID))
						}
					}
					if (res.top == nil) != atStart {
						t.Fatalf("%s: top %+v, want at start %v", name, res.top, atStart)
					}
					if res.top != nil && res.top.ID != full[from-1].ID {
						t.Fatalf("%s: top is %s, want %s", name, sessionlogic.ShortID(res.top.ID), sessionlogic.ShortID(full[from-1].ID))
					}
					if res.more != (from+r.limit < len(full)) {
						t.Fatalf("%s: more %v", name, res.more)
					}
				}
				r := base
				check("start", r, 0, true)
				r.top = cur(4)
				check("after row 4", r, 5, false)
				r = base
				r.at, r.from, r.up = placeUp, cur(5), 3
				check("3 up from row 5", r, 2, false)
				r.from, r.up = cur(2), 5
				check("5 up from row 2", r, 0, true)
				r = base
				r.at = placeEnd
				check("end", r, 50, false)
				r = base
				r.top = cur(55)
				check("short window fills from above", r, 50, false)
				r.top = cur(59)
				check("past the end", r, 50, false)
				r = base
				r.at, r.follow = placeNear, full[30].ID
				check("near row 30", r, 27, false)
				r = base
				r.poll, r.follow = true, full[40].ID
				check("a poll follows row 40 out of the window", r, 37, false)
				r.poll = false
				check("a refresh follows row 40 out of the window", r, 37, false)
			})
		}
	}

	// A poll with nothing changed and nothing expired lists nothing.
	ch, err := e.m.Changes(ctx, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	res, err := fetchWindow(ctx, e.m, windowReq{rows: 10, limit: 15, poll: true, since: ch.Version, until: t0.Add(time.Hour), listedAt: e.clock.Now()})
	if err != nil || !res.unchanged {
		t.Fatalf("unchanged %v, %v", res.unchanged, err)
	}
	// A listing older than relistEvery is redone even with nothing changed:
	// on PostgreSQL a write can surface below the counter already seen.
	res, err = fetchWindow(ctx, e.m, windowReq{rows: 10, limit: 15, poll: true, since: ch.Version, until: t0.Add(time.Hour), listedAt: e.clock.Now().Add(-relistEvery)})
	if err != nil || res.unchanged {
		t.Fatalf("stale listing: unchanged %v, %v; want a fresh listing", res.unchanged, err)
	}
	// Once a row expires, the same poll lists again.
	res, err = fetchWindow(ctx, e.m, windowReq{rows: 10, limit: 15, poll: true, since: ch.Version, until: e.clock.Now()})
	if err != nil || res.unchanged || len(res.rows) != 15 {
		t.Fatalf("unchanged %v rows %d, %v", res.unchanged, len(res.rows), err)
	}
	// The filter goes to the store as text.
	res, err = fetchWindow(ctx, e.m, windowReq{text: "EVE@", rows: 10, limit: 15})
	if err != nil || len(res.rows) != 10 {
		t.Fatalf("filter: %d rows, %v", len(res.rows), err)
	}
	for _, s := range res.rows {
		if s.Username != "eve" {
			t.Fatalf("filter matched %s", s.Username)
		}
	}
	res, err = fetchWindow(ctx, e.m, windowReq{text: `%' OR 1=1 --`, rows: 10, limit: 15})
	if err != nil || len(res.rows) != 0 {
		t.Fatalf("hostile filter: %d rows, %v", len(res.rows), err)
	}
}

// A row broken by hand in the store is reported by the dashboard as an
// error line naming the session; the other rows still show.
func TestMalformedRowInStore(t *testing.T) {
	e := newEnv(t, 0, 0)
	e.user(t, "alice", "admin")
	_, bad := e.login(t, "alice", 1)
	e.login(t, "alice", 2)
	e.login(t, "alice", 3)
	db, err := sql.Open("sqlite", e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE sessions SET data = '{not json' WHERE id = ?`, bad.ID); err != nil {
		t.Fatal(err)
	}

	m := New(Options{Manager: e.m, Sort: sessionlogic.SortExpires})
	m, _ = upd(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	for _, msg := range runStore(m.Init()) { // the clock's tick comes after 1 s
		m, _ = upd(m, msg)
	}
	if len(m.table.rows) != 2 {
		t.Fatalf("%d rows shown, want the 2 good ones", len(m.table.rows))
	}
	if v := m.View(); !strings.Contains(v, sessionlogic.ShortID(bad.ID)) || !strings.Contains(v, "✗") {
		t.Fatalf("no error line naming the session:\n%s", v)
	}
}

// Actions through the real Manager: the words in the status line.
func TestActionsAgainstStore(t *testing.T) {
	e := newEnv(t, 3*time.Hour, time.Hour)
	e.user(t, "alice", "admin")
	_, s1 := e.login(t, "alice", 1)
	_, s2 := e.login(t, "alice", 2)
	ctx := context.Background()
	if _, err := e.m.ForceLogout(ctx, "someone-else", s2.ID); err != nil {
		t.Fatal(err)
	}
	msgs := run(forceOutCmd(ctx, e.m, 1, "ops", []target{{s1.ID, "alice"}, {s2.ID, "alice"}}))
	a, _ := find[actionMsg](msgs)
	want := "forced out alice: 1 session; already ended: alice's session " + sessionlogic.ShortID(s2.ID) + " was forced out by someone-else 0s ago"
	if a.err != nil || a.noop || a.text != want || len(a.done) != 2 {
		t.Fatalf("%+v", a)
	}
	// Nothing left to do is not a success: it says who ended the session.
	// (issue 9: "✓ logged out nobody: 0 sessions; 1 session had …")
	a, _ = find[actionMsg](run(forceOutCmd(ctx, e.m, 1, "ops", []target{{s2.ID, "alice"}})))
	want = "nothing to do: alice's session " + sessionlogic.ShortID(s2.ID) + " was forced out by someone-else 0s ago"
	if a.err != nil || !a.noop || a.text != want {
		t.Fatalf("%+v", a)
	}
	m := load(newTest(t, Options{}), fixture())
	m, _ = upd(m, a)
	if v := m.View(); strings.Contains(v, "✓") || !strings.Contains(v, "– nothing to do: alice's session") {
		t.Fatalf("a no-op shown as:\n%s", v)
	}

	_, s3 := e.login(t, "alice", 3)
	a, _ = find[actionMsg](run(extendCmd(ctx, e.m, 2, "ops", target{s3.ID, "alice"}, 2*time.Hour+time.Minute)))
	if a.err == nil || !strings.Contains(a.err.Error(), "refused: extending alice's session") {
		t.Fatalf("beyond the limit: %+v", a)
	}
	// The prompt refuses it before asking the store, from the Manager's
	// absolute timeout when the row does not carry its limit.
	row := s3
	row.AbsoluteExpiresAt = time.Time{}
	m = load(newTest(t, Options{}), []sessionlogic.Session{row})
	m.mgr = e.m
	m = press(m, "e", "backspace", "backspace", "3", "h")
	if !strings.Contains(m.View(), "refused: at most 2h 00m more; the absolute limit is 08:06:07 UTC") {
		t.Fatalf("the prompt did not refuse:\n%s", m.View())
	}
	e.clock.Advance(30 * time.Minute)
	a, _ = find[actionMsg](run(extendCmd(ctx, e.m, 3, "ops", target{s3.ID, "alice"}, 30*time.Minute)))
	if a.err != nil || !strings.HasPrefix(a.text, "extended alice's session "+sessionlogic.ShortID(s3.ID)+" by 30m") {
		t.Fatalf("%+v", a)
	}
	audit, _ := e.m.Audit(ctx, sessionlogic.AuditQuery{SessionID: s3.ID, Action: data.ActionExtend})
	if len(audit) != 1 || audit[0].Actor != "ops" {
		t.Fatalf("audit %+v", audit)
	}
}

// Terminal abuse: thousands of random keys and resizes (including 0x0, 1x1
// and 20x5) against a live store, in the real program loop with polls and
// store answers arriving in between. Every frame the program draws fits the
// terminal it was drawn for (no line wider, no more lines), at every size
// the storm sets; then ctrl+c still quits.
func TestStormTeatest(t *testing.T) {
	e := newEnv(t, 0, 0)
	e.user(t, "alice", "admin")
	e.user(t, "bob", "staff")
	for i := range 30 {
		e.login(t, []string{"alice", "bob"}[i%2], i)
	}
	fm := &frameCheck{Model: New(Options{Manager: e.m, Operator: "storm", PollInterval: 250 * time.Millisecond})}
	tm := teatest.NewTestModel(t, fm, teatest.WithInitialTermSize(80, 24))
	teatest.WaitFor(t, tm.Output(), testkit.Contains("alice"), teatest.WithDuration(5*time.Second))
	rng := rand.New(rand.NewPCG(1, 2))
	sent := map[[2]int]bool{}
	for range 2000 {
		msg := randomMsg(rng)
		if sz, ok := msg.(tea.WindowSizeMsg); ok {
			sent[[2]int{sz.Width, sz.Height}] = true
		}
		tm.Send(msg)
	}
	tm.Send(keyMsg("ctrl+c"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))

	fm.mu.Lock()
	defer fm.mu.Unlock()
	for _, err := range fm.bad {
		t.Error(err)
	}
	if fm.overflows > len(fm.bad) {
		t.Errorf("... and %d more frames that overflow", fm.overflows-len(fm.bad))
	}
	for sz := range sent {
		if fm.frames[sz] == 0 {
			t.Errorf("the storm set %dx%d, but no frame was drawn at that size", sz[0], sz[1])
		}
	}
	if len(sent) < 5 || fm.frames[[2]int{0, 0}] == 0 || fm.frames[[2]int{1, 1}] == 0 {
		t.Errorf("the storm checked too few sizes (%d; 0x0 and 1x1 among them?): %v", len(sent), fm.frames)
	}
}

// frameCheck wraps the dashboard in the program and checks every frame it
// draws (every View after an Update) against the last size the terminal
// announced. The program calls View on its own goroutine: the findings are
// read under mu once it has finished.
type frameCheck struct {
	tea.Model
	mu        sync.Mutex
	w, h      int
	sized     bool
	frames    map[[2]int]int // frames drawn, per size
	overflows int
	bad       []error // the first few overflows
}

func (f *frameCheck) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if sz, ok := msg.(tea.WindowSizeMsg); ok {
		f.mu.Lock()
		f.w, f.h, f.sized = sz.Width, sz.Height, true
		f.mu.Unlock()
	}
	var cmd tea.Cmd
	f.Model, cmd = f.Model.Update(msg)
	return f, cmd
}

func (f *frameCheck) View() string {
	v := f.Model.View()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.sized { // the first frame, before the terminal's size is known
		return v
	}
	if f.frames == nil {
		f.frames = map[[2]int]int{}
	}
	f.frames[[2]int{f.w, f.h}]++
	if err := fits(v, f.w, f.h); err != nil {
		f.overflows++
		if len(f.bad) < 5 {
			f.bad = append(f.bad, err)
		}
	}
	return v
}

// The same storm straight into Update, with store results of every kind
// mixed in, checking every frame fits the window.
func TestStormUpdate(t *testing.T) {
	m := load(newTest(t, Options{}), manyRows(40))
	defer func(d time.Duration) { runWait = d }(runWait)
	runWait = 5 * time.Millisecond
	rng := rand.New(rand.NewPCG(3, 4))
	w, h := 80, 24
	for i := range 3000 {
		var msg tea.Msg
		switch rng.IntN(10) {
		case 0:
			rows := manyRows(rng.IntN(60))
			rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
			msg = windowMsg{id: m.fetchID - rng.IntN(2), res: windowResult{rows: rows, more: rng.IntN(2) == 0, top: maybeCursor(rng)}}
		case 1:
			msg = windowMsg{id: m.fetchID, err: errDown, reachable: rng.IntN(2) == 0}
		case 2:
			msg = statsMsg{id: m.statsID, stats: sessionlogic.Stats{Active: int64(i), ByRole: map[string]int64{"x": 1}}}
		case 3:
			msg = pollTickMsg{tag: m.pollTag - rng.IntN(2)}
		default:
			msg = randomMsg(rng)
		}
		if sz, ok := msg.(tea.WindowSizeMsg); ok {
			w, h = sz.Width, sz.Height
		}
		var cmd tea.Cmd
		m, cmd = upd(m, msg)
		if _, isKey := msg.(tea.KeyMsg); isKey && cmd != nil {
			// Emitted messages (confirmations, scrolls) go back in; ticks
			// are given up on at once, and there is no store to call.
			m = drain(m, cmd)
		}
		checkFits(t, m, max(0, w), max(0, h))
	}
}

func maybeCursor(rng *rand.Rand) *sessionlogic.Cursor {
	if rng.IntN(2) == 0 {
		return nil
	}
	return &sessionlogic.Cursor{ID: "x"}
}

var stormKeys = []string{
	"x", "X", "y", "y", "n", "e", "enter", "esc", "/", "a", "p", "+", "-", "r", "s", "S", " ",
	"up", "down", "pgup", "pgdown", "home", "end", "?", "backspace", "tab", "1", "h", "d", "z", "é", "日本",
}

func randomMsg(rng *rand.Rand) tea.Msg {
	if rng.IntN(12) == 0 {
		sizes := [][2]int{{0, 0}, {20, 5}, {1, 1}, {80, 24}, {200, 60}, {30, 3}, {5, 50}, {rng.IntN(300), rng.IntN(100)}}
		s := sizes[rng.IntN(len(sizes))]
		return tea.WindowSizeMsg{Width: s[0], Height: s[1]}
	}
	return keyMsg(stormKeys[rng.IntN(len(stormKeys))])
}

// settle answers the latest window fetch from the store, synchronously.
func settle(t *testing.T, m Model) Model {
	t.Helper()
	msg := fetchWindowCmd(context.Background(), m.mgr, m.fetchID, m.lastReq)()
	if w := msg.(windowMsg); w.err != nil {
		t.Fatal(w.err)
	}
	m, _ = upd(m, msg)
	return m
}

// Moving through a list far longer than the window, a page or a row at a
// time, lands on the same row as counting in the full list.
func TestPagingAgainstStore(t *testing.T) {
	e := newEnv(t, 0, 0)
	e.user(t, "ann", "user")
	for i := range 100 {
		e.login(t, "ann", i)
		e.clock.Advance(time.Second)
	}
	p, err := e.m.Active(context.Background(), sessionlogic.ListQuery{Limit: 1000})
	if err != nil || len(p.Sessions) != 100 {
		t.Fatal(len(p.Sessions), err)
	}
	full := p.Sessions
	m := New(Options{Manager: e.m, Sort: sessionlogic.SortExpires})
	m, _ = upd(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m.lastReq = m.windowReq(placeTop)
	m = settle(t, m)
	page := m.table.height
	pos := 0
	steps := []struct {
		key  string
		move func(int) int
	}{
		{"pgdown", func(p int) int { return p + page }},
		{"pgdown", func(p int) int { return p + page }},
		{"down", func(p int) int { return p + 1 }},
		{"pgup", func(p int) int { return p - page }},
		{"pgup", func(p int) int { return max(0, p-page) }},
		{"end", func(int) int { return 99 }},
		{"pgup", func(p int) int { return p - page }},
		{"up", func(p int) int { return p - 1 }},
		{"pgdown", func(p int) int { return min(99, p+page) }},
		{"pgdown", func(p int) int { return min(99, p+page) }},
		{"home", func(int) int { return 0 }},
		{"up", func(int) int { return 0 }},
	}
	for i, s := range steps {
		before := m.fetchID
		m = press(m, s.key)
		if m.fetchID != before {
			m = settle(t, m)
		}
		pos = s.move(pos)
		got, _ := m.table.Selected()
		if got.ID != full[pos].ID {
			t.Fatalf("step %d (%s): selected %s, want row %d (%s)", i, s.key, sessionlogic.ShortID(got.ID), pos, sessionlogic.ShortID(full[pos].ID))
		}
		if m.table.sel < m.table.offset || m.table.sel >= m.table.offset+m.table.height {
			t.Fatalf("step %d: the selection is out of view", i)
		}
	}
	for range 30 {
		m = press(m, "down")
		if m.fetching {
			m = settle(t, m)
		}
	}
	if got, _ := m.table.Selected(); got.ID != full[30].ID {
		t.Fatalf("30 downs: selected %s", sessionlogic.ShortID(got.ID))
	}
}
