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
)

// RowErrors returns the corrupt-row errors inside err (joined or wrapped),
// and nil when err holds none: the caller then treats err as a failure.
func RowErrors(err error) []*RowError {
	var out []*RowError
	var walk func(error)
	walk = func(e error) {
		var re *RowError
		if joined, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range joined.Unwrap() {
				walk(x)
			}
			return
		}
		if errors.As(e, &re) {
			out = append(out, re)
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// OnlyRowErrors reports whether err is made only of corrupt-row errors, so
// the rows returned with it are good and should be shown.
func OnlyRowErrors(err error) bool {
	if err == nil {
		return false
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		var re *RowError
		return errors.As(err, &re)
	}
	for _, x := range joined.Unwrap() {
		if !OnlyRowErrors(x) {
			return false
		}
	}
	return true
}
