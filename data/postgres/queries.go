package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"sessionmon/data"
)

// sortCols maps each sort key to its column. Each has a partial index on
// not-ended rows: (column, id) for login time and user; for expiry and last
// activity, which Touch writes on every request, an index on the column's
// minute bucket only (bucketCols), so a touch changes no indexed value
// (migration 0005).
var sortCols = map[data.SortKey]string{
	data.SortExpires:      "expires_at",
	data.SortLastActivity: "last_activity",
	data.SortLoginTime:    "login_time",
	data.SortUser:         "username",
}

// bucketCols names the indexed minute bucket of a sort column that Touch
// writes. The bucket is the column floored to the minute (bucketOf), a
// non-decreasing function of it, so ORDER BY bucket, column, id is the
// same order as ORDER BY column, id: the index walks the buckets in order
// and each bucket's rows are sorted at read time (Incremental Sort), so the
// order and the keyset cursors stay exact to the microsecond.
var bucketCols = map[string]string{
	"expires_at":    "expires_bucket",
	"last_activity": "activity_bucket",
}

// bucketOf is the bucket of the timestamptz expression v: the same
// expression as the generated columns of migration 0005.
func bucketOf(v string) string {
	return `date_bin('1 minute', ` + v + `::timestamptz, timestamptz '2000-01-01 00:00:00+00')`
}

// likeEscaper makes text match itself literally in (I)LIKE, whose default
// escape character is the backslash.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ListActive returns one keyset page of active sessions. The SQL is built
// from fixed fragments only; every value, the filter text included, is a
// bound parameter.
func (s *Store) ListActive(ctx context.Context, q data.Query) (data.Page, error) {
	if q.Sort == "" {
		q.Sort = data.SortExpires
	}
	col, ok := sortCols[q.Sort]
	if !ok {
		return data.Page{}, fmt.Errorf("postgres list active: unknown sort key %q", q.Sort)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var b strings.Builder
	now := arg(q.Now)
	b.WriteString(`SELECT ` + sessionCols + ` FROM sessions WHERE ended_at IS NULL AND expires_at > ` + now)
	bucket := bucketCols[col]
	if col == "expires_at" {
		// Lets the index skip the buckets that expired (the exact test
		// above decides within the first one).
		b.WriteString(` AND expires_bucket >= ` + bucketOf(now))
	}
	writeFilters(&b, q, arg)
	dir, cmp := "", ">"
	if q.Desc {
		dir, cmp = " DESC", "<"
	}
	if q.After != nil {
		var v any = q.After.Time
		if q.Sort == data.SortUser {
			v = q.After.User
		}
		p := arg(v)
		if bucket != "" {
			// The exact row comparison decides; the bucket bound is what
			// the index can use.
			b.WriteString(` AND ` + bucket + ` ` + cmp + `= ` + bucketOf(p))
		}
		b.WriteString(` AND (` + col + `, id) ` + cmp + ` (` + p + `, ` + arg(q.After.ID) + `)`)
	}
	b.WriteString(` ORDER BY `)
	if bucket != "" {
		b.WriteString(bucket + dir + `, `)
	}
	b.WriteString(col + dir + `, id` + dir + ` LIMIT ` + arg(limit+1))

	rows, err := s.pool.Query(ctx, b.String(), args...)
	if err != nil {
		return data.Page{}, wrap("list active", err)
	}
	list, err := scanSessions(rows)
	var badRows error
	var re *data.RowError
	if errors.As(err, &re) {
		badRows, err = err, nil // the good rows are still shown
	}
	if err != nil {
		return data.Page{}, wrap("list active", err)
	}
	page := data.Page{Sessions: list}
	if len(list) > limit {
		page.Sessions = list[:limit]
		page.Next = data.CursorOf(page.Sessions[limit-1], q.Sort)
	}
	return page, badRows
}

// Stats counts active sessions, by role, and those expiring within
// (Now, Now+ExpiryWindow] in one pass over the active rows, and sessions in
// any state that logged in at or after Now-LoginWindow (no upper bound, so a
// replica whose clock runs ahead is still counted) from the two login_time
// indexes. Both queries go in one round trip.
func (s *Store) Stats(ctx context.Context, q data.StatsQuery) (data.Stats, error) {
	st := data.Stats{ByRole: map[string]int64{}}
	b := &pgx.Batch{}
	b.Queue(`SELECT role, count(*), count(*) FILTER (WHERE expires_at <= $2)
		FROM sessions WHERE ended_at IS NULL AND expires_at > $1
		  AND expires_bucket >= `+bucketOf("$1")+` GROUP BY role`,
		q.Now, q.Now.Add(q.ExpiryWindow)).Query(func(rows pgx.Rows) error {
		var (
			role           string
			active, expiry int64
		)
		_, err := pgx.ForEachRow(rows, []any{&role, &active, &expiry}, func() error {
			st.ByRole[role] = active
			st.Active += active
			st.ExpiringWithin += expiry
			return nil
		})
		return err
	})
	b.Queue(`SELECT (SELECT count(*) FROM sessions WHERE ended_at IS NULL AND login_time >= $1)
		+ (SELECT count(*) FROM sessions WHERE ended_at IS NOT NULL AND login_time >= $1)`,
		q.Now.Add(-q.LoginWindow)).QueryRow(func(r pgx.Row) error {
		return r.Scan(&st.RecentLogins)
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return data.Stats{}, wrap("stats", err)
	}
	return st, nil
}

// ChangesSince returns rows with Version > since in version order, at most
// limit (<= 0: 1000), and the highest version handed out: the larger of the
// highest version in the table and the highest Purge deleted. That is read
// first, in the same round trip, so it never exceeds what a later read sees.
//
// Caveat: versions are drawn when a statement runs but become visible when
// it commits, so under concurrent writes a lower version can commit after a
// higher one was returned; a poller that moves "since" past it misses that
// write until its next full refresh (LISTEN on ChangeChannel narrows the gap
// for logins, ends and extends).
func (s *Store) ChangesSince(ctx context.Context, since int64, limit int) (data.Changes, error) {
	if limit <= 0 {
		limit = 1000
	}
	b := &pgx.Batch{}
	var (
		ch      data.Changes
		badRows error
	)
	b.Queue(`SELECT greatest(coalesce((SELECT max(version) FROM sessions), 0),
		(SELECT coalesce(max(v), 0) FROM purged_version))`).QueryRow(func(r pgx.Row) error {
		return r.Scan(&ch.Version)
	})
	b.Queue(`SELECT `+sessionCols+` FROM sessions WHERE version > $1 ORDER BY version LIMIT $2`,
		since, limit+1).Query(func(rows pgx.Rows) error {
		list, err := scanSessions(rows)
		ch.Sessions = list
		var re *data.RowError
		if errors.As(err, &re) {
			badRows, err = err, nil
		}
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return data.Changes{}, wrap("changes since "+strconv.FormatInt(since, 10), err)
	}
	if len(ch.Sessions) > limit {
		ch.Sessions = ch.Sessions[:limit]
		ch.More = true
	}
	if n := len(ch.Sessions); n > 0 {
		ch.Version = max(ch.Version, ch.Sessions[n-1].Version)
	}
	return ch, badRows
}

// Purge deletes sessions that ended, or expired, before `before`, remembers
// the highest version it deleted (see ChangesSince), and logs audit only when
// it deleted any, in one statement.
func (s *Store) Purge(ctx context.Context, before time.Time, audit data.AuditEntry) (int64, error) {
	args := auditArgs(pgx.NamedArgs{"before": before}, audit)
	var n int64
	err := s.pool.QueryRow(ctx, `WITH gone AS (
			DELETE FROM sessions
			WHERE ended_at < @before
			   OR (ended_at IS NULL AND expires_bucket <= `+bucketOf("@before")+` AND expires_at < @before)
			RETURNING version
		), n AS (
			SELECT count(*) AS c, max(version) AS v FROM gone
		), mark AS (
			UPDATE purged_version SET v = greatest(purged_version.v, n.v) FROM n WHERE n.c > 0
		), logged AS (`+insertAudit+`FROM n WHERE n.c > 0)
		SELECT c FROM n`, args).Scan(&n)
	if err != nil {
		return 0, wrap("purge", err)
	}
	return n, nil
}

// writeFilters adds the operator's filters of q (exact username and role,
// the text as a case-insensitive substring of the shown fields, its LIKE
// wildcards escaped) to a WHERE clause, binding each value through arg.
// ListActive and CountActive share it, so a count always counts what the
// listing lists.
func writeFilters(b *strings.Builder, q data.Query, arg func(any) string) {
	if q.Username != "" {
		b.WriteString(` AND username = ` + arg(q.Username))
	}
	if q.Role != "" {
		b.WriteString(` AND role = ` + arg(q.Role))
	}
	if q.IP != "" {
		b.WriteString(` AND ip = ` + arg(q.IP))
	}
	if q.Text != "" {
		p := arg("%" + likeEscaper.Replace(q.Text) + "%")
		b.WriteString(` AND (username ILIKE ` + p + ` OR full_name ILIKE ` + p + ` OR email ILIKE ` + p +
			` OR role ILIKE ` + p + ` OR ip ILIKE ` + p + `)`)
	}
}
