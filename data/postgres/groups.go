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

// groupSQL groups active sessions by one key in one statement, in two
// steps: top counts the sessions per key and keeps the largest $2
// (count(*) OVER () counts every group before LIMIT); only then are the
// costlier aggregates (distinct other keys, distinct roles, the newest
// login and activity) computed, for those keys alone, each a range of the
// key's partial index of migration 0007 (sessions_active_by_user_idx,
// sessions_active_by_ip_idx). The index holds the expiry's minute bucket,
// never a column Touch writes on every request (Touch stays HOT, 0005): a
// session whose bucket is later than now's is active; only the rows of
// now's bucket are checked against expires_at. $1 now, $2 the limit, $3
// the ILIKE pattern of the key (only in the filtered shape). Ties order by
// key in byte order ("C"), as in the SQLite store.
const groupSQL = `WITH top AS MATERIALIZED (
	SELECT %[1]s AS k, count(*) AS n, count(*) OVER () AS total FROM sessions
	WHERE ended_at IS NULL AND expires_bucket >= ` + nowBucket + ` AND (expires_bucket > ` + nowBucket + ` OR expires_at > $1)%[3]s
	GROUP BY %[1]s ORDER BY count(*) DESC, %[1]s COLLATE "C" LIMIT $2)
SELECT top.k, top.n, d.others, d.roles, d.login, d.seen, top.total
FROM top CROSS JOIN LATERAL (
	SELECT count(DISTINCT s.%[2]s) AS others, array_agg(DISTINCT s.role) AS roles,
		max(s.login_time) AS login, max(s.last_activity) AS seen
	FROM sessions s WHERE s.ended_at IS NULL AND s.%[1]s = top.k
		AND s.expires_bucket >= ` + nowBucket + ` AND (s.expires_bucket > ` + nowBucket + ` OR s.expires_at > $1)) d
ORDER BY top.n DESC, top.k COLLATE "C"`

// nowBucket is the bucket of now ($1), as in migration 0005.
const nowBucket = `date_bin('1 minute', $1::timestamptz, timestamptz '2000-01-01 00:00:00+00')`

// groupStmts[by][filtered] is the statement for a grouping, with or
// without the key filter.
var groupStmts = map[data.GroupBy][2]string{
	data.GroupByUser: {
		fmt.Sprintf(groupSQL, "username", "ip", ""),
		fmt.Sprintf(groupSQL, "username", "ip", ` AND username ILIKE $3`),
	},
	data.GroupByIP: {
		fmt.Sprintf(groupSQL, "ip", "username", ""),
		fmt.Sprintf(groupSQL, "ip", "username", ` AND ip ILIKE $3`),
	},
}

// GroupActive returns the largest groups of active sessions by username or
// by IP.
func (s *Store) GroupActive(ctx context.Context, q data.GroupQuery) (data.Groups, error) {
	stmts, ok := groupStmts[q.By]
	if !ok {
		return data.Groups{}, fmt.Errorf("postgres group active: unknown grouping %q", q.By)
	}
	limit := q.EffectiveLimit()
	stmt, args := stmts[0], []any{q.Now, limit}
	if q.Text != "" {
		stmt, args = stmts[1], append(args, "%"+likeEscaper.Replace(q.Text)+"%")
	}
	rows, err := s.pool.Query(ctx, stmt, args...)
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

// CountActive counts the active sessions q selects, or those at or before
// q.After in q's order, with ListActive's conditions: the bucket bounds let
// the expiry and activity indexes skip what cannot match, the exact
// comparisons decide. (ListActive builds the same WHERE clause; keep them
// in step.)
func (s *Store) CountActive(ctx context.Context, q data.Query) (int64, error) {
	if q.Sort == "" {
		q.Sort = data.SortExpires
	}
	col, ok := sortCols[q.Sort]
	if !ok {
		return 0, fmt.Errorf("postgres count active: unknown sort key %q", q.Sort)
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var b strings.Builder
	now := arg(q.Now)
	// A session in a later bucket than now's is active from the index
	// alone; only now's bucket needs expires_at.
	b.WriteString(`SELECT count(*) FROM sessions WHERE ended_at IS NULL AND expires_bucket >= ` + bucketOf(now) +
		` AND (expires_bucket > ` + bucketOf(now) + ` OR expires_at > ` + now + `)`)
	writeFilters(&b, q, arg)
	if c := q.After; c != nil {
		cmp := "<="
		if q.Desc {
			cmp = ">="
		}
		var v any = c.Time
		if q.Sort == data.SortUser {
			v = c.User
		}
		p := arg(v)
		if bucket := bucketCols[col]; bucket != "" {
			// Whole buckets before the cursor's count from the index;
			// only the cursor's own bucket is compared row by row.
			b.WriteString(` AND (` + bucket + ` ` + cmp[:1] + ` ` + bucketOf(p) + ` OR (` + bucket + ` = ` + bucketOf(p) +
				` AND (` + col + `, id) ` + cmp + ` (` + p + `, ` + arg(c.ID) + `)))`)
		} else {
			b.WriteString(` AND (` + col + `, id) ` + cmp + ` (` + p + `, ` + arg(c.ID) + `)`)
		}
	}
	var n int64
	if err := s.pool.QueryRow(ctx, b.String(), args...).Scan(&n); err != nil {
		return 0, wrap("count active", err)
	}
	return n, nil
}
