package sessionlogic

import (
	"context"
	"fmt"
	"time"

	"sessionmon/data"
)

// The dashboard's aggregate views: sessions grouped by user or by IP,
// logins over time, and where a row sits in a listing. Each needs an
// optional capability of the store (data.Grouper, data.Histogrammer,
// data.Counter); without it the call returns ErrUnsupported.

type (
	GroupBy   = data.GroupBy
	Group     = data.Group
	Groups    = data.Groups
	Histogram = data.Histogram
)

// Groupings for GroupQuery.
const (
	GroupByUser = data.GroupByUser
	GroupByIP   = data.GroupByIP
)

// GroupQuery selects the largest groups of active sessions.
type GroupQuery struct {
	By    GroupBy
	Text  string // case-insensitive substring of the key (username or IP)
	Limit int    // 1..MaxGroups; 0 means data.DefaultGroups
}

// MaxGroups bounds one answer of Groups (the stores' bound).
const MaxGroups = data.MaxGroups

// Histogram window: logins and failed logins per minute over the last hour.
const (
	HistogramStep    = time.Minute
	HistogramBuckets = 60
)

// Groups returns the largest groups of active sessions by user or by IP,
// with counts: one account holding hundreds of sessions, or one address
// behind many accounts, shows at the top.
func (m *Manager) Groups(ctx context.Context, q GroupQuery) (Groups, error) {
	if !q.By.Valid() {
		return Groups{}, fmt.Errorf("%w: group by %q: want %q or %q", ErrInvalidInput, clip(string(q.By), 40), GroupByUser, GroupByIP)
	}
	if q.Limit < 0 || q.Limit > MaxGroups {
		return Groups{}, fmt.Errorf("%w: limit %d: want 1 to %d", ErrInvalidInput, q.Limit, MaxGroups)
	}
	if len(q.Text) > maxFilterLen {
		return Groups{}, fmt.Errorf("%w: filter text is longer than %d characters", ErrInvalidInput, maxFilterLen)
	}
	g, ok := m.src.(data.Grouper)
	if !ok {
		return Groups{}, fmt.Errorf("group sessions: %s: %w", m.src.Describe(), ErrUnsupported)
	}
	text, err := groupText(q.By, q.Text)
	if err != nil {
		return Groups{}, err
	}
	return g.GroupActive(ctx, data.GroupQuery{Now: m.now(), By: q.By, Text: text, Limit: q.Limit})
}

// LoginHistogram counts logins and failed logins per minute over the last
// hour (HistogramBuckets buckets of HistogramStep, the last one holding
// now), from the audit table.
func (m *Manager) LoginHistogram(ctx context.Context) (Histogram, error) {
	h, ok := m.src.(data.Histogrammer)
	if !ok {
		return Histogram{}, fmt.Errorf("login histogram: %s: %w", m.src.Describe(), ErrUnsupported)
	}
	return h.AuditHistogram(ctx, data.HistogramQuery{Now: m.now(), Step: HistogramStep, Buckets: HistogramBuckets})
}

// maxFilterLen is Active's bound on the filter text.
const maxFilterLen = 200

// Count counts the sessions a listing selects (q without Limit) or, when
// q.After is set, those at or before it: the dashboard's "95/99,786" and
// "5 matches".
func (m *Manager) Count(ctx context.Context, q ListQuery) (int64, error) {
	if q.Sort == "" {
		q.Sort = SortExpires
	}
	if !q.Sort.Valid() {
		return 0, fmt.Errorf("%w: sort %q: want one of %v", ErrInvalidInput, clip(string(q.Sort), 40), SortKeys)
	}
	if len(q.Text) > maxFilterLen {
		return 0, fmt.Errorf("%w: filter text is longer than %d characters", ErrInvalidInput, maxFilterLen)
	}
	c, ok := m.src.(data.Counter)
	if !ok {
		return 0, fmt.Errorf("count sessions: %s: %w", m.src.Describe(), ErrUnsupported)
	}
	if err := q.resolve(); err != nil {
		return 0, err
	}
	return c.CountActive(ctx, data.Query{
		Now: m.now(), Username: q.Username, Role: q.Role, IP: q.IP, Text: q.Text,
		Sort: q.Sort, Desc: q.Desc, After: q.After,
	})
}
