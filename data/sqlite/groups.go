package sqlite

import (
	"context"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"sessionmon/data"
)

var (
	_ data.Grouper      = (*Store)(nil)
	_ data.Histogrammer = (*Store)(nil)
	_ data.Counter      = (*Store)(nil)
)

// groupSQL groups active sessions by one key in one statement (one
// snapshot), in two steps. top counts the sessions per key and keeps the
// largest ?2 (count(*) OVER () counts every group before LIMIT); only then
// are the costlier aggregates (distinct other keys, distinct roles, the
// newest login and activity) computed, for those keys alone, by seeking
// each in the same index. Both steps read one partial index of migration
// 0007 in key order (sessions_active_by_user, sessions_active_by_ip), which
// holds the expiry's minute bucket: a session whose bucket is later than
// now's (?4) is active without reading the table; only the rows of now's
// bucket, and last_activity for the top groups' rows, are read from it.
// ?1 now, ?2 the limit, ?3 the LIKE pattern of the key (only in the
// filtered shape), ?4 now's bucket. Roles are hex-encoded so no role can be
// mistaken for group_concat's separator.
const groupSQL = `WITH top(k, n, total) AS MATERIALIZED (
	SELECT %[1]s, count(*), count(*) OVER () FROM sessions INDEXED BY %[3]s
	WHERE ended_at IS NULL AND expires_bucket >= ?4 AND (expires_bucket > ?4 OR expires_at > ?1)%[4]s
	GROUP BY %[1]s ORDER BY count(*) DESC, %[1]s LIMIT ?2)
SELECT top.k, top.n, count(DISTINCT s.%[2]s), group_concat(DISTINCT hex(s.role)),
	max(s.login_time), max(s.last_activity), top.total
FROM top CROSS JOIN sessions AS s INDEXED BY %[3]s
WHERE s.%[1]s = top.k AND s.ended_at IS NULL AND s.expires_bucket >= ?4 AND (s.expires_bucket > ?4 OR s.expires_at > ?1)
GROUP BY top.k ORDER BY top.n DESC, top.k`

// groupStmts[by][filtered] is the statement for a grouping, with or
// without the key filter (a LIKE '%%' on every row costs as much as the
// counting itself). ?3 is bound in both (empty when unused), so the
// placeholders keep their numbers.
var groupStmts = map[data.GroupBy][2]string{
	data.GroupByUser: {
		fmt.Sprintf(groupSQL, "username", "ip", "sessions_active_by_user", " AND ?3 = ?3"),
		fmt.Sprintf(groupSQL, "username", "ip", "sessions_active_by_user", ` AND username LIKE ?3 ESCAPE '\'`),
	},
	data.GroupByIP: {
		fmt.Sprintf(groupSQL, "ip", "username", "sessions_active_by_ip", " AND ?3 = ?3"),
		fmt.Sprintf(groupSQL, "ip", "username", "sessions_active_by_ip", ` AND ip LIKE ?3 ESCAPE '\'`),
	},
}

// GroupActive returns the largest groups of active sessions by username or
// by IP.
func (s *Store) GroupActive(ctx context.Context, q data.GroupQuery) (data.Groups, error) {
	stmts, ok := groupStmts[q.By]
	if !ok {
		return data.Groups{}, fmt.Errorf("sqlite: group active: unknown grouping %q", q.By)
	}
	limit := q.EffectiveLimit()
	now := micros(q.Now)
	stmt, args := stmts[0], []any{now, limit, "", now / bucketMicros}
	if q.Text != "" {
		stmt, args[2] = stmts[1], "%"+escapeLike(q.Text)+"%"
	}
	rows, err := s.rs.query(ctx, stmt, args...)
	if err != nil {
		return data.Groups{}, wrap("group active", err)
	}
	defer rows.Close()
	var out data.Groups
	for rows.Next() {
		var (
			g             data.Group
			roles         string
			login, active any
		)
		if err := rows.Scan(&g.Key, &g.Sessions, &g.Others, &roles, &login, &active, &out.Total); err != nil {
			return data.Groups{}, wrap("group active", err)
		}
		var d decoder
		g.NewestLogin = d.time(login, "login_time")
		g.LastActivity = d.time(active, "last_activity")
		if d.err != nil {
			return data.Groups{}, fmt.Errorf("sqlite: group active: %s: %w", g.Key, d.err)
		}
		if g.Roles, err = unhexRoles(roles); err != nil {
			return data.Groups{}, fmt.Errorf("sqlite: group active: %s: %w", g.Key, err)
		}
		out.Groups = append(out.Groups, g)
	}
	if err := rows.Err(); err != nil {
		return data.Groups{}, wrap("group active", err)
	}
	return out, nil
}

// unhexRoles decodes group_concat(DISTINCT hex(role)), sorted.
func unhexRoles(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	roles := make([]string, 0, len(parts))
	for _, p := range parts {
		b, err := hex.DecodeString(p)
		if err != nil {
			return nil, fmt.Errorf("roles: %w", err)
		}
		roles = append(roles, string(b))
	}
	sort.Strings(roles)
	return roles, nil
}

// histogramSQL counts logins and failed logins per bucket: ?1 the start,
// ?2 the step, ?3 the end (exclusive), all in microseconds. Two ranges of
// the covering index audit_action_time (migration 0004): it reads only the
// entries in the window, however long the audit table is.
const histogramSQL = `SELECT action, (time - ?1) / ?2, count(*) FROM audit
WHERE action IN ('login', 'login_failed') AND time >= ?1 AND time < ?3
GROUP BY 1, 2`

// AuditHistogram counts logins and failed logins per bucket.
func (s *Store) AuditHistogram(ctx context.Context, q data.HistogramQuery) (data.Histogram, error) {
	if err := q.Check(); err != nil {
		return data.Histogram{}, fmt.Errorf("sqlite: %w", err)
	}
	h := data.NewHistogram(q)
	rows, err := s.rs.query(ctx, histogramSQL, micros(h.Start), q.Step.Microseconds(), micros(q.End()))
	if err != nil {
		return data.Histogram{}, wrap("audit histogram", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			action string
			i, n   int64
		)
		if err := rows.Scan(&action, &i, &n); err != nil {
			return data.Histogram{}, wrap("audit histogram", err)
		}
		h.Add(action, int(i), n)
	}
	if err := rows.Err(); err != nil {
		return data.Histogram{}, wrap("audit histogram", err)
	}
	return h, nil
}

// bucketMicros is the width of the minute buckets of migration 0005.
const bucketMicros = 60_000_000

// CountActive counts the active sessions q selects, or those at or before
// q.After in q's order, with ListActive's conditions: the bucket bounds
// let the expiry and activity indexes skip what cannot match, the exact
// comparisons decide. (ListActive builds the same WHERE clause; keep them
// in step.)
func (s *Store) CountActive(ctx context.Context, q data.Query) (int64, error) {
	sortKey := q.Sort
	if sortKey == "" {
		sortKey = data.SortExpires
	}
	col, ok := sortColumns[sortKey]
	if !ok {
		return 0, fmt.Errorf("sqlite: count active: unknown sort key %q", q.Sort)
	}
	var b strings.Builder
	// A session in a later bucket than now's is active from the index
	// alone; only now's bucket needs expires_at from the table.
	args := []any{micros(q.Now) / bucketMicros, micros(q.Now)}
	b.WriteString("SELECT count(*) FROM sessions WHERE ended_at IS NULL AND expires_bucket >= ?1 AND (expires_bucket > ?1 OR expires_at > ?2)")
	args = appendFilters(&b, args, q)
	if c := q.After; c != nil {
		cmp := "<="
		if q.Desc {
			cmp = ">="
		}
		if bucket := bucketColumns[col]; bucket != "" {
			// Whole buckets before the cursor's count from the index;
			// only the cursor's own bucket is compared row by row.
			strict := cmp[:1]
			fmt.Fprintf(&b, " AND (%[1]s %[2]s ? / 60000000 OR (%[1]s = ? / 60000000 AND (%[3]s, id) %[4]s (?, ?)))",
				bucket, strict, col, cmp)
			t := micros(c.Time)
			args = append(args, t, t, t, c.ID)
		} else {
			fmt.Fprintf(&b, " AND (%s, id) %s (?, ?)", col, cmp)
			if sortKey == data.SortUser {
				args = append(args, c.User, c.ID)
			} else {
				args = append(args, micros(c.Time), c.ID)
			}
		}
	}
	var n int64
	if err := s.rs.queryRow(ctx, b.String(), args...).Scan(&n); err != nil {
		return 0, wrap("count active", err)
	}
	return n, nil
}
