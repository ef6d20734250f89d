package postgres

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"sessionmon/data"
)

var (
	_ data.Grouper      = (*Store)(nil)
	_ data.Histogrammer = (*Store)(nil)
	_ data.Counter      = (*Store)(nil)
)

// DefaultGroups is how many groups GroupActive returns when asked for none;
// MaxGroups bounds the answer.
const (
	DefaultGroups = 50
	MaxGroups     = 1000
)

// groupSQL groups active sessions by one key: $1 now, $2 the ILIKE pattern
// of the key ('%' for all), $3 the limit. Every column it reads is in the
// covering partial index of migration 0004 for that key
// (sessions_active_by_user_idx, sessions_active_by_ip_idx), in key order, so
// it can run as an index-only scan feeding a GroupAggregate. count(*) OVER
// () counts the groups before LIMIT. Ties order by key in byte order ("C"),
// as in the SQLite store.
const groupSQL = `SELECT %[1]s, count(*), count(DISTINCT %[2]s), array_agg(DISTINCT role),
	max(login_time), max(last_activity), count(*) OVER ()
FROM sessions
WHERE ended_at IS NULL AND expires_at > $1 AND %[1]s ILIKE $2
GROUP BY %[1]s ORDER BY count(*) DESC, %[1]s COLLATE "C" LIMIT $3`

var (
	groupByUserSQL = fmt.Sprintf(groupSQL, "username", "ip")
	groupByIPSQL   = fmt.Sprintf(groupSQL, "ip", "username")
)

// GroupActive returns the largest groups of active sessions by username or
// by IP.
func (s *Store) GroupActive(ctx context.Context, q data.GroupQuery) (data.Groups, error) {
	stmt := groupByUserSQL
	switch q.By {
	case data.GroupByUser:
	case data.GroupByIP:
		stmt = groupByIPSQL
	default:
		return data.Groups{}, fmt.Errorf("postgres group active: unknown grouping %q", q.By)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultGroups
	}
	limit = min(limit, MaxGroups)
	rows, err := s.pool.Query(ctx, stmt, q.Now, "%"+likeEscaper.Replace(q.Text)+"%", limit)
	if err != nil {
		return data.Groups{}, wrap("group active", err)
	}
	var (
		out           data.Groups
		g             data.Group
		login, active time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&g.Key, &g.Sessions, &g.Others, &g.Roles, &login, &active, &out.Total}, func() error {
		g.NewestLogin, g.LastActivity = login.UTC(), active.UTC()
		sort.Strings(g.Roles) // array_agg(DISTINCT) sorts by the database's collation
		out.Groups = append(out.Groups, g)
		g = data.Group{}
		return nil
	})
	if err != nil {
		return data.Groups{}, wrap("group active", err)
	}
	return out, nil
}

// histogramSQL counts logins and failed logins per bucket: $1 the start,
// $2 the step in microseconds, $3 the end (exclusive). Two ranges of
// audit_action_time_idx (migration 0004): only the entries in the window
// are read, however long the audit table is.
const histogramSQL = `SELECT action, (extract(epoch FROM time - $1::timestamptz) * 1000000)::bigint / $2::bigint AS b, count(*)
FROM audit
WHERE action IN ('login', 'login_failed') AND time >= $1 AND time < $3
GROUP BY 1, 2`

// AuditHistogram counts logins and failed logins per bucket.
func (s *Store) AuditHistogram(ctx context.Context, q data.HistogramQuery) (data.Histogram, error) {
	if err := q.Check(); err != nil {
		return data.Histogram{}, fmt.Errorf("postgres %w", err)
	}
	h := data.NewHistogram(q)
	rows, err := s.pool.Query(ctx, histogramSQL, h.Start, q.Step.Microseconds(), q.End())
	if err != nil {
		return data.Histogram{}, wrap("audit histogram", err)
	}
	var (
		action string
		i, n   int64
	)
	_, err = pgx.ForEachRow(rows, []any{&action, &i, &n}, func() error {
		h.Add(action, int(i), n)
		return nil
	})
	if err != nil {
		return data.Histogram{}, wrap("audit histogram", err)
	}
	return h, nil
}

// CountActive counts the active sessions q selects and those at or before
// q.After in q's order, in one statement (one snapshot). The count before
// the cursor walks the sort key's index up to it.
func (s *Store) CountActive(ctx context.Context, q data.Query) (data.Position, error) {
	if q.Sort == "" {
		q.Sort = data.SortExpires
	}
	col, ok := sortCols[q.Sort]
	if !ok {
		return data.Position{}, fmt.Errorf("postgres count active: unknown sort key %q", q.Sort)
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var b strings.Builder
	b.WriteString(`SELECT (SELECT count(*) FROM sessions`)
	activeWhere(&b, arg, q)
	b.WriteString(`), `)
	if c := q.After; c != nil {
		b.WriteString(`(SELECT count(*) FROM sessions`)
		activeWhere(&b, arg, q)
		cmp := "<="
		if q.Desc {
			cmp = ">="
		}
		var v any = c.Time
		if q.Sort == data.SortUser {
			v = c.User
		}
		b.WriteString(` AND (` + col + `, id) ` + cmp + ` (` + arg(v) + `, ` + arg(c.ID) + `))`)
	} else {
		b.WriteString(`0`)
	}
	var p data.Position
	if err := s.pool.QueryRow(ctx, b.String(), args...).Scan(&p.Total, &p.Before); err != nil {
		return data.Position{}, wrap("count active", err)
	}
	return p, nil
}
