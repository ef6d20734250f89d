package tui

import (
	"context"
	"errors"
	"time"

	"sessionmon/sessionlogic"
)

// The table shows a window of the sorted, filtered list of active sessions.
// The window is defined by a keyset position, top: the cursor of the row just
// above the first row fetched (nil: the start of the list). Every poll asks
// the store for `limit` rows after top, so a poll costs the same at 100
// sessions and at a million. Moving above the first fetched row, to the end
// of the list or to a session that moved out of the window asks for a few
// rows in the reverse order (the same index, walked backwards) to find the
// new top.

// matches mirrors the store's filter (a case-insensitive substring of the
// username, full name, email, role or IP), so the dashboard can tell which
// marked sessions the current filter hides without asking the store.
func matches(s sessionlogic.Session, text string) bool {
	return text == "" || sessionlogic.MatchesFilter(s, text)
}

// place says where a window fetch should put the window.
type place int

const (
	placeTop  place = iota // after req.top (nil: the start)
	placeUp                // req.up rows above req.from
	placeEnd               // the last rows of the list
	placeNear              // around the session req.follow
)

// windowReq is everything a window fetch needs, copied out of the model
// before the command's closure is built.
type windowReq struct {
	text  string
	sort  sessionlogic.SortKey
	desc  bool
	rows  int // visible rows
	limit int // rows to fetch: rows plus a margin

	at   place
	top  *sessionlogic.Cursor
	from *sessionlogic.Cursor // placeUp: the first row fetched now
	up   int                  // placeUp: how many rows to move up

	// follow is the selected session: when a refresh no longer finds it in
	// the window (it moved in the order), the window moves to it. Moves the
	// operator makes (scrolling, jumping, filtering) leave it empty.
	follow string

	// reread: a poll or refresh of the window shown, not a move; a frozen
	// table merges its answer instead of taking the new order.
	reread bool

	// A plain poll may skip the listing when nothing changed since the
	// last change counter and no row in the window has expired.
	poll     bool
	since    int64
	until    time.Time
	listedAt time.Time // when the window was last listed in full

	// What the selection does when the rows arrive (not used by the
	// fetch): by default it stays on its session; selectAt > 0 selects row
	// selectAt-1 instead, selectEnd the last row, and firstIfGone the first
	// row when the selected session is not among the rows.
	selectAt    int
	selectEnd   bool
	firstIfGone bool

	// frozen holds the ids of the rows a frozen table holds (nil when not
	// frozen): those the listing no longer has are read one by one, so
	// the table can update them in place or mark them ended.
	frozen []string
}

// windowResult is what a window fetch found.
type windowResult struct {
	rows      []sessionlogic.Session
	top       *sessionlogic.Cursor
	more      bool // rows exist after the last one fetched
	version   int64
	unchanged bool
	rowErr    error // the store returned rows and an error (a malformed row)
	filled    int   // rows put above the requested position to fill the window
	// byID: frozen rows the listing did not have, as the store has them
	// now (ended ones included); a session the store no longer has maps
	// to its id with EndedAt set.
	byID map[string]sessionlogic.Session
}

func (r windowReq) query(after *sessionlogic.Cursor, limit int, reverse bool) sessionlogic.ListQuery {
	return sessionlogic.ListQuery{
		Text: r.text, Sort: r.sort, Desc: r.desc != reverse,
		Limit: max(1, min(limit, sessionlogic.MaxListLimit)), After: after,
	}
}

// topAbove returns the top cursor that puts n rows of the list above the
// position from (nil: the end of the list) in the window.
func topAbove(ctx context.Context, m *sessionlogic.Manager, r windowReq, from *sessionlogic.Cursor, n int) ([]sessionlogic.Session, *sessionlogic.Cursor, error) {
	page, err := m.Active(ctx, r.query(from, n+1, true))
	if err != nil && len(page.Sessions) == 0 {
		return nil, nil, err
	}
	rev := page.Sessions
	if len(rev) > n {
		return rev[:n], sessionlogic.CursorOf(rev[n], r.sort), nil
	}
	return rev, nil, nil
}

// relistEvery bounds how long an unchanged change counter may stand in for
// a listing. On PostgreSQL versions come from a sequence, drawn when a
// statement runs but visible at commit, so a write can appear later with a
// version below the counter already seen (a force-logout among them): a
// full listing at least this often shows it anyway.
const relistEvery = 5 * time.Second

func fetchWindow(ctx context.Context, m *sessionlogic.Manager, r windowReq) (windowResult, error) {
	res := windowResult{version: r.since}
	// The change counter tells cheaply whether anything was written. If it
	// cannot be read (a corrupt row in the feed, a store going away), the
	// listing below is what decides.
	ch, err := m.Changes(ctx, r.since, 1)
	if err == nil || ch.Version > 0 {
		res.version = ch.Version
	}
	if err == nil && r.poll && ch.Version == r.since && m.Now().Before(r.until) &&
		m.Now().Sub(r.listedAt) < relistEvery {
		res.unchanged = true
		return res, nil
	}

	top := r.top
	switch r.at {
	case placeUp:
		if _, top, err = topAbove(ctx, m, r, r.from, r.up); err != nil {
			return res, err
		}
	case placeEnd:
		if _, top, err = topAbove(ctx, m, r, nil, r.rows); err != nil {
			return res, err
		}
	case placeNear:
		// The selected session in the new order; if it is gone (or the
		// filter hides it), the start of the list.
		if top, err = nearTop(ctx, m, r, r.follow); err != nil {
			top = nil
		}
	}

	page, err := m.Active(ctx, r.query(top, r.limit, false))
	if err != nil {
		if len(page.Sessions) == 0 {
			return res, err
		}
		res.rowErr = err
	}
	rows := page.Sessions
	res.more = page.Next != nil

	// The selected session left the window (its sort key moved): follow it.
	if r.follow != "" && !contains(rows, r.follow) {
		if nt, err := nearTop(ctx, m, r, r.follow); err == nil {
			if p, err := m.Active(ctx, r.query(nt, r.limit, false)); err == nil && contains(p.Sessions, r.follow) {
				rows, top, res.more = p.Sessions, nt, p.Next != nil
			}
		}
	}
	// Near the end of the list the window would be short: fill it from
	// above. This comes after following, which puts the followed session a
	// third of the way down and so leaves the window short when it moved
	// to the end of the list: the table never shows a blank line while
	// more sessions exist than fit.
	if top != nil && len(rows) < r.rows {
		need := r.rows - len(rows)
		var anchor *sessionlogic.Cursor
		if len(rows) > 0 {
			anchor = sessionlogic.CursorOf(rows[0], r.sort)
		}
		above, newTop, err := topAbove(ctx, m, r, anchor, need)
		if err != nil {
			return res, err
		}
		filled := make([]sessionlogic.Session, 0, len(above)+len(rows))
		for i := len(above) - 1; i >= 0; i-- {
			filled = append(filled, above[i])
		}
		rows = append(filled, rows...)
		top = newTop
		res.filled = len(above)
	}

	res.rows, res.top = rows, top
	if r.frozen != nil {
		res.byID = lookupMissing(ctx, m, r.frozen, rows)
	}
	return res, nil
}

// lookupMissing reads the frozen rows the listing does not hold: moved
// elsewhere in the order, or ended.
func lookupMissing(ctx context.Context, m *sessionlogic.Manager, ids []string, rows []sessionlogic.Session) map[string]sessionlogic.Session {
	out := map[string]sessionlogic.Session{}
	for _, id := range ids {
		if contains(rows, id) {
			continue
		}
		s, err := m.Session(ctx, id)
		switch {
		case err == nil:
			out[id] = s
		case errors.Is(err, sessionlogic.ErrNotFound):
			out[id] = sessionlogic.Session{ID: id, EndedAt: m.Now()} // purged
		}
		// Another error (the store going away): the row keeps its values.
	}
	return out
}

// nearTop returns a top that shows session id about a third of the way down
// the window, or an error if it is not an active session of the list.
func nearTop(ctx context.Context, m *sessionlogic.Manager, r windowReq, id string) (*sessionlogic.Cursor, error) {
	s, err := m.Session(ctx, id)
	if err != nil {
		return nil, err
	}
	if !s.Active(m.Now()) || !matches(s, r.text) {
		return nil, errGone
	}
	_, top, err := topAbove(ctx, m, r, sessionlogic.CursorOf(s, r.sort), r.rows/3)
	return top, err
}

var errGone = errors.New("session is no longer active")

func contains(rows []sessionlogic.Session, id string) bool {
	for i := range rows {
		if rows[i].ID == id {
			return true
		}
	}
	return false
}
