// Package data defines the records sessionmon keeps and the Store interface
// that every backend (data/sqlite, data/postgres) implements. It holds no
// policy: expiry arithmetic, token handling and authorisation live in
// sessionlogic, which hands the store fully computed values.
//
// Conventions every store follows (data/storetest checks them):
//   - Times are stored with microsecond precision, in UTC. Callers truncate
//     to the microsecond (sessionlogic's clock does), so values round-trip exactly.
//   - Every write to a session row but Touch raises its Version to a value
//     greater than any Version handed out before, store-wide, and never
//     reuses one (not even after Purge). ChangesSince relies on it. Touch
//     (every authenticated request) changes only LastActivity and the slid
//     ExpiresAt, never whether a session is active, and leaves Version as
//     it was: a Version raised per request would be an indexed value
//     written per request, which on PostgreSQL rules out heap-only updates
//     (issue 11). Readers that show activity relist instead: the dashboard
//     relists its window at least every 5 s whatever the counter says.
//   - Every state change and its audit entry are one transaction.
package data

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Stores wrap them with %w; callers test with errors.Is.
var (
	// ErrNotFound: no such session or user (or, for Touch, no session that
	// is still active: unknown, ended and expired look the same to a holder).
	ErrNotFound = errors.New("not found")
	// ErrEnded: the session exists but has ended (logout, forced, replaced)
	// or expired; it can never be used or extended again.
	ErrEnded = errors.New("session has ended")
	// ErrBeyondLimit: the requested expiry passes the session's absolute limit.
	ErrBeyondLimit = errors.New("expiry would pass the absolute session limit")
	// ErrConflict: a unique value (username) is taken.
	ErrConflict = errors.New("already exists")
	// ErrUserChanged: a guarded write found the user no longer as the caller
	// saw them (deactivated, or the password hash replaced) and changed
	// nothing. See Guard and RehashPassword.
	ErrUserChanged = errors.New("the user changed during login")
)

// RowError reports a stored session row that cannot be decoded (bad JSON in
// data, a timestamp written by hand). It names the session so an operator
// can find and repair it. Listing calls (ListActive, ChangesSince) leave
// such rows out, return the good ones, and return the RowErrors joined: one
// bad row never hides the others. Test with errors.As.
type RowError struct {
	SessionID string
	Err       error
}

func (e *RowError) Error() string {
	return fmt.Sprintf("corrupt session row %q: %v", e.SessionID, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// User statuses.
const (
	StatusActive   = "active"
	StatusInactive = "inactive"
)

// Why a session ended (sessions.end_reason).
const (
	EndLogout   = "logout"   // the holder logged out
	EndForced   = "forced"   // an operator forced it out (or the user was deactivated)
	EndExpired  = "expired"  // recorded when an expired row is swept
	EndReplaced = "replaced" // the holder logged in again from the same browser
)

// Audit actions.
const (
	ActionLogin          = "login"
	ActionLoginFailed    = "login_failed"
	ActionLogout         = "logout"
	ActionForceLogout    = "force_logout"
	ActionForceLogoutAll = "force_logout_user"
	ActionExtend         = "extend"
	ActionPurge          = "purge"
	ActionUserAdd        = "user_add"
	ActionUserRole       = "user_set_role"
	ActionUserDeactivate = "user_deactivate"
	ActionUserActivate   = "user_activate"
)

// User is a row of the users table.
type User struct {
	ID           int64
	Username     string
	Email        string
	FullName     string
	Role         string
	Status       string // StatusActive or StatusInactive
	PasswordHash string
	CreatedAt    time.Time
}

// Session is a row of the sessions table. ID is the hex SHA-256 of the
// cookie token; the token itself is never stored.
type Session struct {
	ID string

	// The user as they were at login (Django's session keys user, user_id,
	// user_email, user_name, user_role, user_status).
	UserID   int64
	Username string
	Email    string
	FullName string
	Role     string
	Status   string

	// Data holds further keys, stored as a JSON object. Nil and empty are
	// the same ("{}" in the store).
	Data map[string]any

	IP        string
	UserAgent string

	LoginTime    time.Time
	LastActivity time.Time
	ExpiresAt    time.Time
	// AbsoluteExpiresAt caps ExpiresAt: Touch and Extend never move
	// ExpiresAt past it. Zero means no absolute limit.
	AbsoluteExpiresAt time.Time

	EndedAt   time.Time // zero while not ended
	EndReason string    // one of the End* constants, "" while not ended
	EndedBy   string    // operator or username that ended it

	Version int64 // raised on every write but Touch; see ChangesSince
}

// Active reports whether the session can be used at now.
func (s Session) Active(now time.Time) bool {
	return s.EndedAt.IsZero() && s.ExpiresAt.After(now)
}

// AuditEntry is a row of the append-only audit table.
type AuditEntry struct {
	ID        int64 // assigned by the store
	Time      time.Time
	Actor     string // operator name, or the username for the user's own actions
	Action    string // one of the Action* constants
	Username  string // the user the action concerns, if any
	SessionID string // the session the action concerns, if any
	IP        string // client IP for logins and failed logins
	Detail    string // free text: counts, durations, reasons
}

// SortKey orders ListActive.
type SortKey string

const (
	SortExpires      SortKey = "expires"
	SortLastActivity SortKey = "last_activity"
	SortLoginTime    SortKey = "login_time"
	SortUser         SortKey = "user"
)

// SortKeys lists every valid SortKey, in the order the dashboard cycles them.
var SortKeys = []SortKey{SortExpires, SortLastActivity, SortLoginTime, SortUser}

// Valid reports whether k is a known sort key.
func (k SortKey) Valid() bool {
	for _, v := range SortKeys {
		if k == v {
			return true
		}
	}
	return false
}

// Cursor marks a position in a ListActive order for keyset paging: the sort
// value of the last row seen and its ID as a tie-breaker.
type Cursor struct {
	Time time.Time // for time sort keys
	User string    // for SortUser
	ID   string
}

// CursorOf is the keyset position of s in the order by k (SortExpires when
// k is empty): the cursor to resume a ListActive after s.
func CursorOf(s Session, k SortKey) *Cursor {
	c := &Cursor{ID: s.ID}
	switch k {
	case SortLastActivity:
		c.Time = s.LastActivity
	case SortLoginTime:
		c.Time = s.LoginTime
	case SortUser:
		c.User = s.Username
	default:
		c.Time = s.ExpiresAt
	}
	return c
}

// Query selects active sessions (EndedAt zero and ExpiresAt after Now).
type Query struct {
	Now      time.Time
	Username string // exact match, if set
	Role     string // exact match, if set
	IP       string // exact match, if set (the IP as the store holds it)
	// Text is a case-insensitive substring matched against username, full
	// name, email, role and IP. It is data, never SQL: stores bind it as a
	// parameter and escape LIKE wildcards.
	Text  string
	Sort  SortKey // zero value means SortExpires
	Desc  bool
	Limit int     // <= 0 means the store's default (100)
	After *Cursor // keyset: rows strictly after this position in the order
}

// Page is one window of ListActive.
type Page struct {
	Sessions []Session
	// Next is the cursor for the following page; nil when this is the last.
	Next *Cursor
}

// Stats are the operator's headline counts at Now.
type Stats struct {
	Active         int64
	ByRole         map[string]int64
	ExpiringWithin int64 // active sessions whose ExpiresAt is within the window
	RecentLogins   int64 // sessions whose LoginTime is within the login window (any state)
}

// StatsQuery parameterises Stats.
type StatsQuery struct {
	Now          time.Time
	ExpiryWindow time.Duration // e.g. one hour
	LoginWindow  time.Duration // e.g. five minutes
}

// Changes is the result of ChangesSince.
type Changes struct {
	Sessions []Session // rows whose Version > since, in Version order, any state
	// Version is the highest version the store has handed out (not just in
	// this batch): the poller's next "since" once More is false.
	Version int64
	More    bool // the batch was cut at the limit; ask again from the last row's Version
}

// AuditQuery selects audit rows, newest first.
type AuditQuery struct {
	Username  string
	SessionID string
	Action    string
	Limit     int   // <= 0 means 100
	BeforeID  int64 // keyset: entries with ID < BeforeID; 0 = from the newest
}

// FailureQuery counts recent failed logins, for throttling across replicas.
type FailureQuery struct {
	Username string // "" counts 0 (for ByUser and ByUserIP)
	IP       string // "" counts 0 (for ByIP and ByUserIP)
	// Since is inclusive: a failure at exactly Since is counted.
	Since time.Time
	// MaxByUser, MaxByIP and MaxByUserIP are the throttle's limits. For a
	// count that has reached its limit (> 0), the store also says which
	// failure must leave the window for the count to drop below it
	// (Failures.UserClearsAt, IPClearsAt, UserIPClearsAt). A limit <= 0
	// asks for the count only.
	MaxByUser int
	MaxByIP   int
	// MaxByUserIP is the limit for the username from the IP (both given).
	MaxByUserIP int
}

// Failures is the answer of RecentFailures.
type Failures struct {
	ByUser   int64 // failed logins for the username at or after Since
	ByIP     int64 // failed logins from the IP at or after Since
	ByUserIP int64 // failed logins for the username from the IP at or after Since
	// UserClearsAt is the time of the failure whose leaving the window
	// brings ByUser below MaxByUser: with c = ByUser >= L = MaxByUser > 0,
	// the (c-L+1)-th oldest counted failure (the L-th newest). Zero when
	// ByUser < MaxByUser or MaxByUser <= 0. Failures with equal times leave
	// together, so the time is what counts, not which row.
	UserClearsAt time.Time
	// IPClearsAt is the same for ByIP and MaxByIP.
	IPClearsAt time.Time
	// UserIPClearsAt is the same for ByUserIP and MaxByUserIP.
	UserIPClearsAt time.Time
}

// End describes how a session is ended.
type End struct {
	At     time.Time
	Reason string // EndLogout, EndForced, EndReplaced, EndExpired
	By     string
}

// EndResult is the outcome of EndSessions.
type EndResult struct {
	Ended []Session // ended by this call (as they are now)
	// Already had ended or expired before this call (EndedAt, EndReason
	// and EndedBy as stored, where the source keeps them).
	Already []Session
	// Missing are ids the source does not have (never existed, purged, or
	// deleted by the app).
	Missing []string
}

// Guard makes CreateSession conditional on the user as a login saw them.
// The zero Guard checks nothing (seeding, tests, the demo).
type Guard struct {
	// PasswordHash, when not empty, is the hash the login checked the
	// password against. The session is then created only if user
	// Session.UserID is still active and still has exactly this hash;
	// otherwise nothing is written (no session, no replace, no audit) and
	// CreateSession returns ErrUserChanged.
	//
	// The check is atomic with the insert, and a deactivating SetUserStatus
	// or a SetUserPassword is ordered against it, even on another process:
	// a guarded CreateSession either commits first, and its session is
	// among those the deactivation or reset ends, or finds the user changed.
	// So a login whose password check ran before a deactivation or a reset
	// can never leave a live session behind it.
	PasswordHash string
}

// Source is the operator's half of a store: what the dashboard, the CLI's
// `sessions` commands and the operator half of sessionlogic read and do. A
// foreign session table (a Django site's django_session) can be a Source
// without being a Store: it has no users, logins or throttle of ours.
// Methods take a context first and wrap errors with the operation's name.
// Every state change and the audit entry passed with it are written in one
// transaction (a foreign source keeps its audit somewhere durable of its
// own, never in the foreign app's tables).
//
// Optional capabilities are separate interfaces, as scs keeps its Store at
// three methods: Watcher (push notices), IDChecker (the source's id shape),
// ActionRefuser (actions it cannot do, and why).
type Source interface {
	// ListActive returns one keyset window of active sessions.
	ListActive(ctx context.Context, q Query) (Page, error)
	Stats(ctx context.Context, q StatsQuery) (Stats, error)
	// ChangesSince returns rows written after version since (Version > since):
	// logins, ends, extends; not touches (Store.Touch).
	// A source without a change counter returns an empty Changes with
	// Version 0; pollers then relist.
	ChangesSince(ctx context.Context, since int64, limit int) (Changes, error)
	// Session returns a session in any state it still has. ErrNotFound.
	Session(ctx context.Context, id string) (Session, error)
	// UserByUsername resolves a username (for ForceLogoutUser). ErrNotFound.
	UserByUsername(ctx context.Context, username string) (User, error)
	// EndSession ends one active session and returns it as ended (EndedAt,
	// EndReason, EndedBy set, even by a source that deletes the row).
	// ErrNotFound for an unknown id, ErrEnded for one already ended or
	// expired (at end.At). An empty audit.Username is filled from the row
	// it ends, so callers need not read the session first. An empty end.By
	// means the holder ended it (a logout, known only by its token): the
	// row's username is then EndedBy, and the audit's Actor when empty.
	EndSession(ctx context.Context, id string, end End, audit AuditEntry) (Session, error)
	// EndSessions ends the given active sessions in one transaction,
	// writing one audit entry per session ended: audit is the template,
	// and the source fills its SessionID and Username from each row it
	// ends. ids are distinct (callers deduplicate); an empty list ends
	// nothing. Each list of the result keeps the order of ids. A row that
	// cannot be decoded is ended all the same, listed in Ended with what
	// is known (ID and the end), and its *RowError returned joined with
	// the result, as ListActive does.
	EndSessions(ctx context.Context, ids []string, end End, audit AuditEntry) (EndResult, error)
	// EndUserSessions ends every active session of a user and returns how
	// many. It does not fence logins: a guarded CreateSession racing it may
	// survive it, as if it came after. When the user changed (deactivated,
	// password reset) use SetUserStatus or SetUserPassword, which do. An
	// empty audit.Username is filled with the user's.
	EndUserSessions(ctx context.Context, userID int64, end End, audit AuditEntry) (int, error)
	// Extend moves an active session's ExpiresAt later by d. It never
	// revives an ended or expired session (ErrEnded) and never passes
	// AbsoluteExpiresAt (ErrBeyondLimit, nothing changed). ErrNotFound for
	// an unknown id. An empty audit.Username is filled from the row.
	Extend(ctx context.Context, id string, d time.Duration, now time.Time, audit AuditEntry) (Session, error)
	// Audit lists the operator actions recorded, newest first. There is no
	// update or delete: the audit is append-only.
	Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)

	// Ping checks the source is reachable.
	Ping(ctx context.Context) error
	// Describe names the store for operators, with any password redacted:
	// "sqlite /path/to/file.db", "postgres postgres@127.0.0.1:5432/test".
	Describe() string
	Close() error
}

// Store is the whole persistence of sessionmon's own login server: the
// operator's Source plus what the server needs on top (users, logins,
// touch, throttle, purge). data/sqlite and data/postgres implement it.
type Store interface {
	Source

	// Users.
	CreateUser(ctx context.Context, u User, audit AuditEntry) (User, error) // ErrConflict on a taken username
	ListUsers(ctx context.Context) ([]User, error)                          // by username
	SetUserRole(ctx context.Context, username, role string, audit AuditEntry) (User, error)
	// SetUserStatus changes a user's status. Deactivating also ends every
	// active session of the user with end (in the same transaction) and
	// returns how many it ended.
	SetUserStatus(ctx context.Context, username, status string, end End, audit AuditEntry) (User, int, error)
	// SetUserPassword replaces a user's password hash and ends every active
	// session of the user with end, with audit (written even when none was
	// active), in one transaction: a reset logs the user out everywhere. It
	// returns the user and how many sessions it ended. ErrNotFound.
	SetUserPassword(ctx context.Context, username, hash string, end End, audit AuditEntry) (User, int, error)
	// RehashPassword replaces a user's password hash with hash only if it is
	// still old (compare-and-swap), so a login's re-hash of the same
	// password at a new cost never undoes a reset that landed meanwhile. It
	// ends no session and writes no audit entry. ErrUserChanged when the
	// hash is no longer old (nothing changed), ErrNotFound.
	RehashPassword(ctx context.Context, username, old, hash string) error

	// CreateSession inserts s (Version is assigned by the store and returned).
	// If replaceID is not empty, that session is ended with reason
	// EndReplaced in the same transaction (when still active). A non-zero
	// guard makes it conditional on the user (ErrUserChanged); see Guard.
	CreateSession(ctx context.Context, s Session, replaceID string, guard Guard, audit AuditEntry) (Session, error)
	// Touch is the hot path: in one statement, for a session that is not
	// ended and whose ExpiresAt is after now, it sets LastActivity = now and
	// ExpiresAt = max(ExpiresAt, min(expires, AbsoluteExpiresAt)), leaves
	// Version unchanged (see the package doc), and returns the updated row. Touch never shortens a session,
	// so an operator's Extend survives the holder's next request.
	// Unknown, ended or expired: ErrNotFound.
	Touch(ctx context.Context, id string, now, expires time.Time) (Session, error)

	// Purge deletes sessions that ended, or expired, before `before`, and
	// returns how many. The audit entry is written only when it deleted any.
	Purge(ctx context.Context, before time.Time, audit AuditEntry) (int64, error)

	// AppendAudit records an entry of the server's own (a failed login).
	AppendAudit(ctx context.Context, e AuditEntry) error
	// RecentFailures counts ActionLoginFailed entries at or after q.Since
	// for the username, for the IP and for the two together (the username
	// from that IP), and for each count at its limit says which failure
	// clears it (see Failures), all in one read of the store, so a throttle
	// shared by replicas answers from one consistent view.
	RecentFailures(ctx context.Context, q FailureQuery) (Failures, error)
}

// IDChecker is implemented by sources whose session ids have a shape other
// than sessionmon's own (64 lowercase hex digits, the SHA-256 of a token):
// a Django session key is 32 characters of [a-z0-9]. Callers validate an
// operator's id with it before any query.
type IDChecker interface {
	// CheckID returns nil for a well-formed id, else an error that says
	// what the shape should be.
	CheckID(id string) error
}

// ErrUnsupported: the source cannot do this action at all (not a transient
// failure). Refusals wrap it with the reason.
var ErrUnsupported = errors.New("not supported by this source")

// ErrNotReady: the source is up but still reading what it needs before it
// can answer (a Django source's first pass over a large table). Not a
// failure: ask again soon. Sources wrap it with their progress.
var ErrNotReady = errors.New("not ready yet")

// ActionRefuser is implemented by sources that cannot do every operator
// action: a Django source without the site's SECRET_KEY cannot extend, an
// operator whose database role can only SELECT can do nothing but watch.
type ActionRefuser interface {
	// Refuse returns nil when action (ActionForceLogout,
	// ActionForceLogoutAll, ActionExtend) is supported, else an error
	// wrapping ErrUnsupported that says why, in words for the operator.
	Refuse(action string) error
}

// Watcher is implemented by stores that can push change notices to other
// processes (PostgreSQL's LISTEN/NOTIFY). Watch calls notify after every
// committed login, end and extend, and once after each (re)connect, until
// ctx is done; it reconnects by itself and returns ctx.Err(). Touch does not
// notify. Pollers use notices to refresh at once and keep polling as the
// fallback.
type Watcher interface {
	Watch(ctx context.Context, notify func()) error
}
