package sqlite

import (
	"context"
	"fmt"
	"strings"

	"sessionmon/data"
)

// DefaultLimit is the page size of ListActive, ChangesSince and Audit when
// the caller asks for none.
const DefaultLimit = 100

// sortColumns maps each sort key to its column. Only these strings are ever
// put into SQL text; everything the caller supplies is bound.
var sortColumns = map[data.SortKey]string{
	data.SortExpires:      "expires_at",
	data.SortLastActivity: "last_activity",
	data.SortLoginTime:    "login_time",
	data.SortUser:         "username",
}

// bucketColumns names the indexed minute bucket of the sort columns that
// Touch writes (migration 0005): the value divided by 60,000,000, which
// never decreases as the value grows, so ORDER BY bucket, column, id is the
// order of column, id, exact to the microsecond; the bucket is only what
// the index holds.
var bucketColumns = map[string]string{
	"expires_at":    "expires_bucket",
	"last_activity": "activity_bucket",
}

// escapeLike makes s a literal LIKE pattern under ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ListActive returns one page of active sessions. A row that cannot be
// decoded is left out of the page, and the error (a *CorruptRowError per bad
// row, joined) names it; the good rows are still returned with it.
func (s *Store) ListActive(ctx context.Context, q data.Query) (data.Page, error) {
	sortKey := q.Sort
	if sortKey == "" {
		sortKey = data.SortExpires
	}
	col, ok := sortColumns[sortKey]
	if !ok {
		return data.Page{}, fmt.Errorf("sqlite: list active: unknown sort key %q", q.Sort)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}

	var b strings.Builder
	args := []any{micros(q.Now)}
	b.WriteString("SELECT " + sessionCols + " FROM sessions WHERE ended_at IS NULL AND expires_at > ?")
	bucket := bucketColumns[col]
	if col == "expires_at" {
		// Lets the index skip the expired buckets.
		b.WriteString(" AND expires_bucket >= ? / 60000000")
		args = append(args, micros(q.Now))
	}
	args = appendFilters(&b, args, q)
	dir, cmp := "ASC", ">"
	if q.Desc {
		dir, cmp = "DESC", "<"
	}
	if c := q.After; c != nil {
		if bucket != "" {
			fmt.Fprintf(&b, " AND %s %s= ? / 60000000", bucket, cmp)
			args = append(args, micros(c.Time))
		}
		fmt.Fprintf(&b, " AND (%s, id) %s (?, ?)", col, cmp)
		if sortKey == data.SortUser {
			args = append(args, c.User, c.ID)
		} else {
			args = append(args, micros(c.Time), c.ID)
		}
	}
	b.WriteString(" ORDER BY ")
	if bucket != "" {
		fmt.Fprintf(&b, "%s %s, ", bucket, dir)
	}
	fmt.Fprintf(&b, "%s %s, id %s LIMIT ?", col, dir, dir)
	args = append(args, limit+1)

	rows, err := s.rs.query(ctx, b.String(), args...)
	if err != nil {
		return data.Page{}, wrap("list active", err)
	}
	defer rows.Close()
	var page data.Page
	var bad rowsErr
	var last *data.Cursor // position of the last row read, good or bad
	n := 0
	for rows.Next() {
		if n++; n > limit {
			page.Next = last // nil only if the last row's position is unreadable
			break
		}
		raw, err := scanRaw(rows)
		if err != nil {
			return data.Page{}, wrap("list active", err)
		}
		last = nil
		if c, ok := rawCursor(sortKey, raw); ok {
			last = c
		}
		sess, err := decodeSession(raw)
		if err != nil {
			bad.add(err)
			continue
		}
		page.Sessions = append(page.Sessions, sess)
	}
	if err := rows.Err(); err != nil {
		return data.Page{}, wrap("list active", err)
	}
	return page, wrap("list active", bad.err())
}

// Stats counts active sessions at q.Now, by role and expiring within
// q.ExpiryWindow (ExpiresAt <= Now+window), and sessions in any state that
// logged in within q.LoginWindow (Now-window <= LoginTime <= Now).
func (s *Store) Stats(ctx context.Context, q data.StatsQuery) (data.Stats, error) {
	now := micros(q.Now)
	st := data.Stats{ByRole: map[string]int64{}}
	err := s.readTx(ctx, "stats", func(t tq) error {
		rows, err := t.query(statsActiveSQL, now, now+q.ExpiryWindow.Microseconds())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var role string
			var n, expiring int64
			if err := rows.Scan(&role, &n, &expiring); err != nil {
				return err
			}
			st.ByRole[role] = n
			st.Active += n
			st.ExpiringWithin += expiring
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return t.queryRow(statsLoginsSQL, now-q.LoginWindow.Microseconds(), now).Scan(&st.RecentLogins)
	})
	if err != nil {
		return data.Stats{}, err
	}
	return st, nil
}

// ChangesSince returns rows with Version > since in Version order. The
// highest version and the rows are read in one snapshot, so a poller that
// continues from Version misses nothing. Corrupt rows are reported as in
// ListActive, with the good rows.
func (s *Store) ChangesSince(ctx context.Context, since int64, limit int) (data.Changes, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	var ch data.Changes
	var bad rowsErr
	err := s.readTx(ctx, "changes since", func(t tq) error {
		if err := t.queryRow(highestSQL).Scan(&ch.Version); err != nil {
			return err
		}
		rows, err := t.query(changesSQL, since, limit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			if n++; n > limit {
				ch.More = true
				break
			}
			sess, err := scanSession(rows)
			if err != nil {
				bad.add(err)
				continue
			}
			ch.Sessions = append(ch.Sessions, sess)
		}
		return rows.Err()
	})
	if err != nil {
		return data.Changes{}, err
	}
	return ch, wrap("changes since", bad.err())
}

// AppendAudit writes one audit entry.
func (s *Store) AppendAudit(ctx context.Context, e data.AuditEntry) error {
	return s.inTx(ctx, "append audit", func(t tq) error { return insertAudit(t, e) })
}

// Audit returns audit entries, newest first.
func (s *Store) Audit(ctx context.Context, q data.AuditQuery) ([]data.AuditEntry, error) {
	var b strings.Builder
	var args []any
	b.WriteString("SELECT id, time, actor, action, username, session_id, ip, detail FROM audit WHERE 1=1")
	if q.Username != "" {
		b.WriteString(" AND username = ?")
		args = append(args, q.Username)
	}
	if q.SessionID != "" {
		// The redundant term lets SQLite use the partial index.
		b.WriteString(" AND session_id = ? AND session_id <> ''")
		args = append(args, q.SessionID)
	}
	if q.Action != "" {
		b.WriteString(" AND action = ?")
		args = append(args, q.Action)
	}
	if q.BeforeID > 0 {
		b.WriteString(" AND id < ?")
		args = append(args, q.BeforeID)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	b.WriteString(" ORDER BY id DESC LIMIT ?")
	args = append(args, limit)

	rows, err := s.rs.query(ctx, b.String(), args...)
	if err != nil {
		return nil, wrap("audit", err)
	}
	defer rows.Close()
	var out []data.AuditEntry
	for rows.Next() {
		var e data.AuditEntry
		var t any
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Username, &e.SessionID, &e.IP, &e.Detail); err != nil {
			return nil, wrap("audit", err)
		}
		var d decoder
		e.Time = d.time(t, "time")
		if d.err != nil {
			return nil, fmt.Errorf("sqlite: audit: entry %d: %w", e.ID, d.err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("audit", err)
	}
	return out, nil
}

// RecentFailures counts failed logins since q.Since (inclusive) for the
// username, for the IP and for the two together, and finds the failure that
// clears each count at its limit, in one query. An empty username or IP
// counts 0.
func (s *Store) RecentFailures(ctx context.Context, q data.FailureQuery) (data.Failures, error) {
	var (
		f                    data.Failures
		userAt, ipAt, pairAt any
	)
	err := s.rs.queryRow(ctx, failuresSQL, q.Username, q.IP, micros(q.Since),
		int64(q.MaxByUser), int64(q.MaxByIP), int64(q.MaxByUserIP)).
		Scan(&f.ByUser, &f.ByIP, &f.ByUserIP, &userAt, &ipAt, &pairAt)
	if err != nil {
		return data.Failures{}, wrap("recent failures", err)
	}
	var d decoder
	f.UserClearsAt = d.time(userAt, "time")
	f.IPClearsAt = d.time(ipAt, "time")
	f.UserIPClearsAt = d.time(pairAt, "time")
	if d.err != nil {
		return data.Failures{}, fmt.Errorf("sqlite: recent failures: %w", d.err)
	}
	return f, nil
}

// appendFilters adds the operator's filters of q (exact username and role,
// the text as a substring of the shown fields) to a WHERE clause and
// returns args with their values. LIKE is case-insensitive for ASCII
// letters in SQLite; the pattern is bound and its wildcards escaped.
// ListActive and CountActive share it, so a count always counts what the
// listing lists.
func appendFilters(b *strings.Builder, args []any, q data.Query) []any {
	if q.Username != "" {
		b.WriteString(" AND username = ?")
		args = append(args, q.Username)
	}
	if q.Role != "" {
		b.WriteString(" AND role = ?")
		args = append(args, q.Role)
	}
	if q.IP != "" {
		b.WriteString(" AND ip = ?")
		args = append(args, q.IP)
	}
	if q.Text != "" {
		pat := "%" + escapeLike(q.Text) + "%"
		b.WriteString(` AND (username LIKE ? ESCAPE '\' OR full_name LIKE ? ESCAPE '\' OR email LIKE ? ESCAPE '\'` +
			` OR role LIKE ? ESCAPE '\' OR ip LIKE ? ESCAPE '\')`)
		args = append(args, pat, pat, pat, pat, pat)
	}
	return args
}
