package sessionlogic

import (
	"errors"

	"sessionmon/data"
)

// The records and sentinel errors of package data, re-exported so that the
// server and the dashboard hold only a *Manager and never import a store.
type (
	Session    = data.Session
	User       = data.User
	AuditEntry = data.AuditEntry
	AuditQuery = data.AuditQuery
	Stats      = data.Stats
	Changes    = data.Changes
	Page       = data.Page
	Cursor     = data.Cursor
	SortKey    = data.SortKey
	Store      = data.Store
	Source     = data.Source
	// EndResult is what ForceLogoutMany ended, found already ended, and
	// did not find.
	EndResult = data.EndResult
	// RowError names a stored session row that cannot be decoded. Active
	// and Changes return the good rows together with such errors.
	RowError = data.RowError
)

// Sort keys for ListQuery.
const (
	SortExpires      = data.SortExpires
	SortLastActivity = data.SortLastActivity
	SortLoginTime    = data.SortLoginTime
	SortUser         = data.SortUser
)

// CursorOf is the keyset position of s in the order by k, to resume a
// listing after s.
func CursorOf(s Session, k SortKey) *Cursor { return data.CursorOf(s, k) }

// SortKeys lists every sort key in the order the dashboard cycles them.
var SortKeys = data.SortKeys

// Sentinel errors from the store, for errors.Is.
var (
	ErrNotFound    = data.ErrNotFound
	ErrEnded       = data.ErrEnded
	ErrBeyondLimit = data.ErrBeyondLimit
	ErrConflict    = data.ErrConflict
	// ErrUnsupported: the source cannot do this at all (a login on a
	// watched Django site, an extend without its SECRET_KEY).
	ErrUnsupported = data.ErrUnsupported
	// ErrNotReady: the source is still reading what it needs to answer
	// (a Django source's first pass at a million rows takes seconds): ask
	// again soon. The message says how far it is.
	ErrNotReady = data.ErrNotReady
)

// SplitRowErrors separates the corrupt-row errors inside err (joined or
// wrapped) from the rest. With rest nil the rows returned alongside err are
// good and should be shown, each bad row reported by its id; with rest set
// the call failed.
func SplitRowErrors(err error) (bad []*RowError, rest error) {
	if err == nil {
		return nil, nil
	}
	var others []error
	var walk func(error)
	walk = func(e error) {
		if joined, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range joined.Unwrap() {
				walk(x)
			}
			return
		}
		var re *RowError
		if errors.As(e, &re) {
			bad = append(bad, re)
		} else {
			others = append(others, e)
		}
	}
	walk(err)
	if len(others) > 0 {
		return bad, err
	}
	return bad, nil
}
