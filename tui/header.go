package tui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"sessionmon/sessionlogic"
)

// storeState is what the header says about the store.
type storeState int

const (
	stateConnecting   storeState = iota // no answer yet
	stateLive                           // the last poll succeeded
	stateStale                          // the last poll failed; retrying with backoff
	stateReconnecting                   // stale, and a retry is in flight
	stateQueryError                     // the store answers, but the listing failed
	stateReading                        // the store answers that it is still reading (ErrNotReady)
)

// headerModel is the two lines at the top: the store and its state, then
// the counts.
type headerModel struct {
	theme *styleSet
	width int
	store string // Manager.Describe(), password already redacted

	state    storeState
	lastOK   time.Time // when the last poll succeeded
	retryAt  time.Time // when the next retry starts (stale)
	interval time.Duration
	push     bool // the store pushes change notices (poll + push)
	paused   bool
	readOnly bool

	stats     sessionlogic.Stats
	haveStats bool
}

const headerHeight = 2

// SetSize sets the width of the header's lines (it is always headerHeight
// lines).
func (h *headerModel) SetSize(width, _ int) { h.width = width }

// Badge is the state cell: whether the rows shown are live, stale or
// paused. Paused replaces "● live": the rows are as old as the last poll.
func (h headerModel) Badge(now time.Time) string {
	t := h.theme
	if h.paused && h.state == stateLive {
		return t.Paused.Apply("⏸ paused, " + span(now.Sub(h.lastOK)) + " old")
	}
	var badge string
	switch h.state {
	case stateConnecting:
		badge = t.Paused.Apply("connecting…")
	case stateLive:
		badge = t.Live.Apply("● live")
	case stateStale:
		retry := ""
		if !h.retryAt.IsZero() && h.retryAt.After(now) {
			retry = ", retry in " + span(h.retryAt.Sub(now)+time.Second-1)
		}
		badge = t.Stale.Apply("✗ " + h.staleFor(now) + retry)
	case stateReconnecting:
		badge = t.Stale.Apply("✗ " + h.staleFor(now) + ", reconnecting…")
	case stateQueryError:
		badge = t.Stale.Apply("! query failed, " + h.staleFor(now))
	case stateReading:
		badge = t.Paused.Apply("◌ reading the store…")
	}
	if h.paused {
		badge += " " + t.Paused.Apply("⏸ paused")
	}
	return badge
}

func (h headerModel) View(now time.Time) string {
	width := h.width
	t := h.theme
	badge := h.Badge(now)
	poll := "poll " + showSpan(h.interval)
	if h.paused {
		poll = t.Dim.Apply("(p resumes, poll " + showSpan(h.interval) + ")")
	} else {
		if h.push {
			poll += " + push"
		}
		poll = t.Dim.Apply(poll)
	}
	if h.readOnly {
		poll += "  " + t.Paused.Apply("read-only")
	}
	// The store's name comes last: it can be long, and the state must show.
	line1 := t.Title.Apply("sessionmon") + "  " + badge + "  " + poll + "  " + t.Dim.Apply(clean(h.store))

	var line2 string
	if h.haveStats {
		st := h.stats
		exp := fmt.Sprintf("%d expiring <1h", st.ExpiringWithin)
		if st.ExpiringWithin > 0 {
			exp = t.Amber.Apply(exp)
		}
		// The counts first; the roles (there may be many) last.
		parts := []string{fmt.Sprintf("%d active", st.Active), exp, plural(int(st.RecentLogins), "login") + " in 5m"}
		roles := make([]string, 0, len(st.ByRole))
		for r := range st.ByRole {
			roles = append(roles, r)
		}
		sort.Strings(roles)
		var byRole []string
		for _, r := range roles {
			byRole = append(byRole, t.Role(r).Apply(clean(r))+" "+fmt.Sprint(st.ByRole[r]))
		}
		if len(byRole) > 0 {
			parts = append(parts, strings.Join(byRole, " "))
		}
		line2 = strings.Join(parts, t.Dim.Apply(" · "))
	} else {
		line2 = t.Dim.Apply("counts: waiting for the store")
	}
	return cut(line1, width) + "\n" + cut(line2, width)
}

func (h headerModel) staleFor(now time.Time) string {
	if h.lastOK.IsZero() {
		return "no data yet"
	}
	return "stale " + span(now.Sub(h.lastOK))
}
