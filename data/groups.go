package data

import (
	"context"
	"fmt"
	"time"
)

// The operator's aggregate views: active sessions grouped by user or by
// client IP (one account holding hundreds of sessions, one address behind
// many accounts), logins and failed logins over time, and where a row sits
// in a listing. They are optional capabilities (a foreign source may lack
// them); data/sqlite and data/postgres implement all three, each query from
// an index, without reading session rows one by one (migrations 0004 and
// 0007).

// GroupBy names the key of a grouping.
type GroupBy string

const (
	GroupByUser GroupBy = "user" // sessions by username
	GroupByIP   GroupBy = "ip"   // sessions by client IP
)

// Valid reports whether g is a known grouping.
func (g GroupBy) Valid() bool { return g == GroupByUser || g == GroupByIP }

// GroupQuery selects the largest groups of active sessions at Now.
type GroupQuery struct {
	Now time.Time
	By  GroupBy
	// Text is a case-insensitive substring of the group's key (the
	// username, or the IP). Like Query.Text it is data, never SQL.
	Text  string
	Limit int // the largest Limit groups; <= 0 means DefaultGroups, at most MaxGroups
}

// DefaultGroups is how many groups GroupActive returns when asked for none;
// MaxGroups bounds one answer.
const (
	DefaultGroups = 50
	MaxGroups     = 1000
)

// EffectiveLimit is the number of groups q asks for, with the default and
// the bound applied: every store answers the same count.
func (q GroupQuery) EffectiveLimit() int {
	if q.Limit <= 0 {
		return DefaultGroups
	}
	return min(q.Limit, MaxGroups)
}

// Group is one username's, or one IP's, active sessions.
type Group struct {
	Key      string // the username or the IP
	Sessions int64  // active sessions
	// Others counts the distinct values of the other key among them: the
	// IPs a user's sessions come from, or the users behind an IP.
	Others int64
	// Roles are the distinct roles of the sessions (as at login), sorted.
	Roles        []string
	NewestLogin  time.Time
	LastActivity time.Time // the latest activity of any of them
}

// Groups is the answer of GroupActive: the largest groups, by Sessions
// descending then Key ascending.
type Groups struct {
	Groups []Group
	// Total is how many groups the query matched (not only those returned).
	Total int64
}

// Grouper is implemented by sources that can group active sessions.
type Grouper interface {
	GroupActive(ctx context.Context, q GroupQuery) (Groups, error)
}

// HistogramQuery asks for audit counts in Buckets consecutive buckets of
// Step each. The buckets are aligned to Step (a minute bucket starts on the
// minute, in UTC) and the last one holds Now.
type HistogramQuery struct {
	Now     time.Time
	Step    time.Duration // >= 1s; e.g. one minute
	Buckets int           // 1..1440; e.g. 60
}

// Start is the start of the first bucket of q.
func (q HistogramQuery) Start() time.Time {
	return q.Now.Truncate(q.Step).Add(-time.Duration(q.Buckets-1) * q.Step)
}

// End is the end (exclusive) of the last bucket of q.
func (q HistogramQuery) End() time.Time { return q.Now.Truncate(q.Step).Add(q.Step) }

// Check reports a query a store must refuse.
func (q HistogramQuery) Check() error {
	if q.Step < time.Second || q.Buckets < 1 || q.Buckets > 1440 {
		return fmt.Errorf("histogram: want a step of at least 1s and 1 to 1440 buckets, got %s and %d", q.Step, q.Buckets)
	}
	return nil
}

// Histogram counts logins (ActionLogin) and failed logins
// (ActionLoginFailed) in the audit table per bucket, oldest first.
type Histogram struct {
	Start  time.Time // start of the first bucket
	Step   time.Duration
	Logins []int64 // len Buckets
	Failed []int64 // len Buckets
}

// NewHistogram returns the empty histogram for q, for a store to fill.
func NewHistogram(q HistogramQuery) Histogram {
	return Histogram{Start: q.Start(), Step: q.Step, Logins: make([]int64, q.Buckets), Failed: make([]int64, q.Buckets)}
}

// Add counts n entries of action at bucket index i; other actions and
// indexes out of range are ignored.
func (h *Histogram) Add(action string, i int, n int64) {
	if i < 0 || i >= len(h.Logins) {
		return
	}
	switch action {
	case ActionLogin:
		h.Logins[i] += n
	case ActionLoginFailed:
		h.Failed[i] += n
	}
}

// Histogrammer is implemented by sources that can count logins over time.
type Histogrammer interface {
	AuditHistogram(ctx context.Context, q HistogramQuery) (Histogram, error)
}

// Counter is implemented by sources that can count a listing: "95/99,786"
// and "5 matches" in the dashboard.
type Counter interface {
	// CountActive counts the active sessions q selects; when q.After is
	// set, only those at or before it in q's order: the rows above the
	// first row a ListActive with that cursor returns. Limit is ignored.
	CountActive(ctx context.Context, q Query) (int64, error)
}
