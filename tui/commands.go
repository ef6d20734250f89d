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

// Every store call runs inside a tea.Cmd. Each result is a named message
// carrying the id of the request that made it; the root model drops results
// whose id is not the latest it issued for that kind of request.

// Timeouts for one command's store calls.
const (
	pollTimeout   = 4 * time.Second
	actionTimeout = 10 * time.Second
)

// Tick messages. The tag ties a tick to the loop that armed it: arming a
// new loop raises the tag, so ticks of an older loop are ignored and never
// re-arm (bubbles/timer does the same).
type (
	pollTickMsg  struct{ tag int }
	clockTickMsg struct{ tag int }
)

// emit returns a command that hands msg to the root: how a component asks
// for something it cannot do itself (another window, a confirmed action).
func emit(msg tea.Msg) tea.Cmd { return func() tea.Msg { return msg } }

func pollTick(tag int, d time.Duration) tea.Cmd {
	return tea.Tick(d, func(time.Time) tea.Msg { return pollTickMsg{tag: tag} })
}

func clockTick(tag int) tea.Cmd {
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return clockTickMsg{tag: tag} })
}

// windowMsg answers a window fetch.
type windowMsg struct {
	id  int
	req windowReq
	res windowResult
	err error
	// reachable is set on an error when a Ping succeeded: the store is up
	// but the query failed (a malformed row, say).
	reachable bool
}

func fetchWindowCmd(ctx context.Context, m *sessionlogic.Manager, id int, req windowReq) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, pollTimeout)
		defer cancel()
		res, err := fetchWindow(ctx, m, req)
		msg := windowMsg{id: id, req: req, res: res, err: err}
		if err != nil && ctx.Err() == nil {
			msg.reachable = m.Ping(ctx) == nil
		}
		return msg
	}
}

// statsMsg answers a stats fetch.
type statsMsg struct {
	id    int
	stats sessionlogic.Stats
	err   error
}

func fetchStatsCmd(ctx context.Context, m *sessionlogic.Manager, id int) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, pollTimeout)
		defer cancel()
		st, err := m.Stats(ctx)
		return statsMsg{id: id, stats: st, err: err}
	}
}

// detailMsg answers the detail view's fetch: the session as it is now and
// its audit history.
type detailMsg struct {
	id       int
	session  sessionlogic.Session
	audit    []sessionlogic.AuditEntry
	err      error // reading the session
	auditErr error
}

func fetchDetailCmd(ctx context.Context, m *sessionlogic.Manager, id int, sid string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, pollTimeout)
		defer cancel()
		msg := detailMsg{id: id}
		msg.session, msg.err = m.Session(ctx, sid)
		msg.audit, msg.auditErr = m.Audit(ctx, sessionlogic.AuditQuery{SessionID: sid, Limit: 100})
		return msg
	}
}

// auditMsg answers the audit view's fetch.
type auditMsg struct {
	id      int
	entries []sessionlogic.AuditEntry
	err     error
}

func fetchAuditCmd(ctx context.Context, m *sessionlogic.Manager, id, limit int, user string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, pollTimeout)
		defer cancel()
		es, err := m.Audit(ctx, sessionlogic.AuditQuery{Limit: limit, Username: user})
		return auditMsg{id: id, entries: es, err: err}
	}
}

// userCountMsg answers how many active sessions a user has, for the X
// confirmation.
type userCountMsg struct {
	id       int
	username string
	n        int
	more     bool
	err      error
}

const maxUserCount = 1000

func countUserCmd(ctx context.Context, m *sessionlogic.Manager, id int, username string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, pollTimeout)
		defer cancel()
		p, err := m.Active(ctx, sessionlogic.ListQuery{Username: username, Limit: maxUserCount})
		return userCountMsg{id: id, username: username, n: len(p.Sessions), more: p.Next != nil, err: err}
	}
}

// actionMsg reports a finished action in words for the status line.
type actionMsg struct {
	id   int
	text string
	err  error
	done []string // session ids the action ended or changed (marks to drop)
	noop bool     // nothing to do: the sessions had already ended
}

// target is a session captured when an action key is pressed: the action
// uses these values, never a row index resolved later.
type target struct {
	ID       string
	Username string
}

// forceOutCmd ends the targets in one call (ForceLogoutMany: one store
// transaction, one audit entry each), so marking fifty sessions is one
// action, not fifty. Sessions that had already ended are not a success:
// the message says so, and who ended them.
func forceOutCmd(ctx context.Context, m *sessionlogic.Manager, id int, operator string, targets []target) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, actionTimeout)
		defer cancel()
		ids := make([]string, len(targets))
		name := make(map[string]string, len(targets))
		for i, t := range targets {
			ids[i], name[t.ID] = t.ID, t.Username
		}
		res, err := m.ForceLogoutMany(ctx, operator, ids)
		bad, rest := sessionlogic.SplitRowErrors(err)
		if rest != nil {
			return actionMsg{id: id, err: fmt.Errorf("force-out failed for %s: %w", plural(len(targets), "session"), err)}
		}
		var (
			users []string
			done  []string
			gone  []string // how each session that had already ended ended
		)
		seen := map[string]bool{}
		for _, s := range res.Ended {
			if u := name[s.ID]; !seen[u] {
				seen[u] = true
				users = append(users, u)
			}
			done = append(done, s.ID)
		}
		now := m.Now()
		for _, s := range res.Already {
			gone = append(gone, fmt.Sprintf("%s's session %s %s", clean(name[s.ID]), shortID(s.ID), endedHow(s, now)))
			done = append(done, s.ID)
		}
		for _, sid := range res.Missing {
			gone = append(gone, fmt.Sprintf("%s's session %s is no longer in the store", clean(name[sid]), shortID(sid)))
			done = append(done, sid)
		}
		msg := actionMsg{id: id, done: done}
		var parts []string
		if len(res.Ended) > 0 {
			parts = append(parts, fmt.Sprintf("forced out %s: %s", joinUsers(users), plural(len(res.Ended), "session")))
		}
		switch {
		case len(gone) == 1 && len(res.Ended) == 0:
			msg.noop = true
			parts = append(parts, "nothing to do: "+gone[0])
		case len(gone) == 1:
			parts = append(parts, "already ended: "+gone[0])
		case len(gone) > 1 && len(res.Ended) == 0:
			msg.noop = true
			parts = append(parts, fmt.Sprintf("nothing to do: the %d sessions had already ended (%s, …)", len(gone), gone[0]))
		case len(gone) > 1:
			parts = append(parts, fmt.Sprintf("%d had already ended (%s, …)", len(gone), gone[0]))
		}
		if len(bad) > 0 {
			msg.noop = false
			msg.err = fmt.Errorf("forced out, but: %w", err)
		}
		msg.text = strings.Join(parts, "; ")
		return msg
	}
}

// endedHow says how and when a session that is no longer active ended:
// "was forced out by ops 2m ago", "was logged out by its holder 5s ago",
// "expired 1h ago".
func endedHow(s sessionlogic.Session, now time.Time) string {
	when := ago(now, s.EndedAt)
	by := clean(s.EndedBy)
	switch {
	case s.EndedAt.IsZero() && !s.ExpiresAt.After(now):
		return "expired " + ago(now, s.ExpiresAt)
	case s.EndedAt.IsZero():
		return "had ended"
	case s.EndReason == endForced && by != "":
		return "was forced out by " + by + " " + when
	case s.EndReason == endLogout:
		return "was logged out by its holder " + when
	case s.EndReason == endExpired:
		return "expired " + when
	case s.EndReason == endReplaced:
		return "was replaced by a new login " + when
	case by != "":
		return "was ended (" + clean(s.EndReason) + ") by " + by + " " + when
	}
	return "had ended " + when
}

// Session.EndReason values (data.End*: the dashboard holds only a
// Manager, and sessionlogic does not re-export them).
const (
	endLogout   = "logout"
	endForced   = "forced"
	endExpired  = "expired"
	endReplaced = "replaced"
)

// forceOutUserCmd forces out every active session of username through
// ForceLogoutMany, so the audit names each session ended (an entry per
// session, with its id) rather than one entry with neither count nor ids.
// Sessions the user starts while it runs are ended by another round, up
// to maxUserRounds.
func forceOutUserCmd(ctx context.Context, m *sessionlogic.Manager, id int, operator, username string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, actionTimeout)
		defer cancel()
		var (
			ended int
			done  []string
		)
		partial := func(err error) actionMsg {
			msg := actionMsg{id: id, done: done, err: err}
			if ended > 0 {
				msg.text = fmt.Sprintf("forced out %s: %s", clean(username), plural(ended, "session"))
			}
			return msg
		}
		for range maxUserRounds {
			p, err := m.Active(ctx, sessionlogic.ListQuery{Username: username, Limit: sessionlogic.MaxListLimit})
			if _, rest := sessionlogic.SplitRowErrors(err); rest != nil {
				return partial(fmt.Errorf("force out %s: list the sessions: %w", clean(username), err))
			}
			if len(p.Sessions) == 0 {
				break
			}
			ids := make([]string, len(p.Sessions))
			for i := range p.Sessions {
				ids[i] = p.Sessions[i].ID
			}
			res, err := m.ForceLogoutMany(ctx, operator, ids)
			for _, s := range res.Ended {
				done = append(done, s.ID)
			}
			ended += len(res.Ended)
			if _, rest := sessionlogic.SplitRowErrors(err); rest != nil {
				return partial(fmt.Errorf("force out %s: %w", clean(username), err))
			}
			if len(res.Ended) == 0 {
				break // what is left ended by itself meanwhile
			}
		}
		if ended == 0 {
			return actionMsg{id: id, noop: true, text: fmt.Sprintf("nothing to do: %s had no active session", clean(username))}
		}
		return actionMsg{id: id, done: done, text: fmt.Sprintf("forced out %s: %s", clean(username), plural(ended, "session"))}
	}
}

// maxUserRounds bounds X's rounds of listing and ending: a user who keeps
// logging in cannot hold the dashboard's action open.
const maxUserRounds = 10

func extendCmd(ctx context.Context, m *sessionlogic.Manager, id int, operator string, t target, d time.Duration) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, actionTimeout)
		defer cancel()
		s, err := m.Extend(ctx, operator, t.ID, d)
		switch {
		case errors.Is(err, sessionlogic.ErrBeyondLimit):
			return actionMsg{id: id, err: fmt.Errorf("refused: extending %s's session %s by %s would pass the absolute session limit",
				t.Username, sessionlogic.ShortID(t.ID), showSpan(d))}
		case err != nil:
			return actionMsg{id: id, err: err}
		}
		return actionMsg{id: id, done: []string{t.ID}, text: fmt.Sprintf("extended %s's session %s by %s: expires in %s",
			t.Username, sessionlogic.ShortID(t.ID), showSpan(d), span(s.ExpiresAt.Sub(m.Now())))}
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// joinUsers names up to three users: "alice", "alice, bob", "alice, bob, carol +2".
func joinUsers(users []string) string {
	switch {
	case len(users) == 0:
		return "nobody"
	case len(users) <= 3:
		return strings.Join(users, ", ")
	}
	return fmt.Sprintf("%s +%d", strings.Join(users[:3], ", "), len(users)-3)
}
