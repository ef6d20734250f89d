package sessionlogic

import "sessionmon/data"

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
)

// Sort keys for ListQuery.
const (
	SortExpires      = data.SortExpires
	SortLastActivity = data.SortLastActivity
	SortLoginTime    = data.SortLoginTime
	SortUser         = data.SortUser
)

// SortKeys lists every sort key in the order the dashboard cycles them.
var SortKeys = data.SortKeys

// Sentinel errors from the store, for errors.Is.
var (
	ErrNotFound    = data.ErrNotFound
	ErrEnded       = data.ErrEnded
	ErrBeyondLimit = data.ErrBeyondLimit
	ErrConflict    = data.ErrConflict
)
