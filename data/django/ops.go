package django

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"sessionmon/data"
)

const defaultLimit = 100

// ListActive returns one keyset window of active sessions. The default
// order (by expiry, no filter) is a window on Django's expire_date index,
// decoded row by row: its cost does not grow with the table. Filters and
// the other orders are answered from the index (index.go).
func (s *Source) ListActive(ctx context.Context, q data.Query) (data.Page, error) {
	if q.Sort == "" {
		q.Sort = data.SortExpires
	}
	if !q.Sort.Valid() {
		return data.Page{}, fmt.Errorf("django list: unknown sort key %q", q.Sort)
	}
	if q.Limit <= 0 {
		q.Limit = defaultLimit
	}
	if q.Now.IsZero() {
		q.Now = time.Now()
	}
	if q.Sort == data.SortExpires && q.Username == "" && q.Role == "" && q.Text == "" && q.IP == "" {
		return s.window(ctx, q)
	}
	return s.fromIndex(ctx, q)
}

func (s *Source) window(ctx context.Context, q data.Query) (data.Page, error) {
	// A row that cannot be decoded is left out of the page (and named in
	// the error); read on so the page still holds Limit good rows.
	var out []data.Session
	var errs []error
	after := q.After
	for {
		need := q.Limit - len(out)
		rs, err := s.windowRows(ctx, q.Now, after, q.Desc, need+1)
		if err != nil {
			return data.Page{}, fmt.Errorf("django list: %w", err)
		}
		more := len(rs) > need
		if more {
			rs = rs[:need]
		}
		ss, err := s.sessions(ctx, s.db, rs)
		if err != nil {
			var re *data.RowError
			if !errors.As(err, &re) {
				return data.Page{}, fmt.Errorf("django list: %w", err)
			}
			errs = append(errs, err)
		}
		out = append(out, ss...)
		if len(out) >= q.Limit || !more {
			page := data.Page{Sessions: out}
			if more && len(out) > 0 {
				page.Next = data.CursorOf(out[len(out)-1], data.SortExpires)
			}
			return page, errors.Join(errs...)
		}
		last := rs[len(rs)-1]
		after = &data.Cursor{Time: last.expire, ID: last.key}
	}
}

// windowRows reads up to n active rows in expire_date order after a cursor.
func (s *Source) windowRows(ctx context.Context, now time.Time, after *data.Cursor, desc bool, n int) ([]row, error) {
	d := s.dialect
	args := []any{d.timeArg(now)}
	where := "expire_date > " + d.ph(1)
	cmp, order := ">", "ASC"
	if desc {
		cmp, order = "<", "DESC"
	}
	if after != nil {
		t := d.timeArg(after.Time)
		where += fmt.Sprintf(" AND (expire_date %s %s OR (expire_date = %s AND session_key %s %s))", cmp, d.ph(2), d.ph(3), cmp, d.ph(4))
		args = append(args, t, t, after.ID)
	}
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf(
		"SELECT session_key, session_data, %s FROM django_session WHERE %s ORDER BY expire_date %s, session_key %s LIMIT %d",
		d.expireSel(), where, order, order, n), args...)
	if err != nil {
		return nil, err
	}
	return s.scanRows(rows)
}

// fromIndex answers the filters and the orders the expire_date index
// cannot from the decode index: one pass that keeps only the page's
// entries (query.go).
func (s *Source) fromIndex(ctx context.Context, q data.Query) (data.Page, error) {
	if err := s.idx.refresh(ctx, q.Now); err != nil {
		return data.Page{}, fmt.Errorf("django list: %w", err)
	}
	return s.idx.list(q), s.idx.rowErrors()
}

// Stats counts the active sessions from the index: a few seconds behind
// for rows the site deleted (the checks of deletes.go, every 2 s; at
// worst FullSyncEvery), current for rows it saved, and, with StatsMaxAge,
// counted at most that long ago (see Options).
func (s *Source) Stats(ctx context.Context, q data.StatsQuery) (data.Stats, error) {
	if q.Now.IsZero() {
		q.Now = time.Now()
	}
	x := s.idx
	key := [2]time.Duration{q.ExpiryWindow, q.LoginWindow}
	if s.opts.StatsMaxAge > 0 {
		// Counts younger than StatsMaxAge are the answer as they are:
		// no refresh (a round trip and the rows saved since), which the
		// poll's listing makes anyway.
		x.statsMu.Lock()
		if !x.statsAt.IsZero() && x.statsKey == key && time.Since(x.statsAt) <= s.opts.StatsMaxAge {
			st := x.stats
			x.statsMu.Unlock()
			return st, nil
		}
		x.statsMu.Unlock()
	}
	if err := x.refresh(ctx, q.Now); err != nil {
		return data.Stats{}, fmt.Errorf("django stats: %w", err)
	}
	if s.opts.StatsMaxAge <= 0 {
		return x.count(q), nil
	}
	x.statsMu.Lock()
	defer x.statsMu.Unlock()
	if x.statsAt.IsZero() || x.statsKey != key {
		x.stats, x.statsAt, x.statsKey = x.count(q), time.Now(), key
		return x.stats, nil
	}
	if time.Since(x.statsAt) > s.opts.StatsMaxAge && !x.statsRunning {
		x.statsRunning = true
		gen := x.statsGen
		x.wg.Add(1)
		go func() {
			defer x.wg.Done()
			st := x.count(data.StatsQuery{Now: time.Now(), ExpiryWindow: key[0], LoginWindow: key[1]})
			x.statsMu.Lock()
			x.statsRunning = false
			if x.statsGen == gen { // else sessions left meanwhile: the next Stats counts
				x.stats, x.statsAt = st, time.Now()
			}
			x.statsMu.Unlock()
		}()
	}
	return x.stats, nil
}

// count walks the index.
func (x *index) count(q data.StatsQuery) data.Stats {
	now := q.Now.UnixMicro()
	soon := q.Now.Add(q.ExpiryWindow).UnixMicro()
	since := q.Now.Add(-q.LoginWindow).UnixMicro()
	st := data.Stats{ByRole: map[string]int64{}}
	x.mu.Lock()
	defer x.mu.Unlock()
	roleOf, roles := x.userRoles()
	byRole := make([]int64, len(roles))
	// Column by column (keymap.go): a dead slot's expiry and login are 0.
	for c, ch := range x.m.chunks {
		n := x.m.live(c)
		for i, l := range ch.login[:n] {
			if login := fromSeconds(l); login >= since && login <= now && ch.cf[i]&uint32(flagLoginEst) == 0 && ch.key[i].live() {
				st.RecentLogins++
			}
		}
		for i, exp := range ch.expire[:n] {
			if exp <= now {
				continue
			}
			st.Active++
			byRole[roleOf[ch.user[i]]]++
			if exp <= soon {
				st.ExpiringWithin++
			}
		}
	}
	for _, e := range x.m.other {
		if e.login >= since && e.login <= now && e.flags()&flagLoginEst == 0 {
			st.RecentLogins++
		}
		if e.expire <= now {
			continue
		}
		st.Active++
		byRole[roleOf[e.user]]++
		if e.expire <= soon {
			st.ExpiringWithin++
		}
	}
	for r, n := range byRole {
		if n > 0 {
			st.ByRole[strings.Clone(roles[r])] += n
		}
	}
	return st
}

// ChangesSince: django_session has no change counter, so this source is
// poll-only (Version 0): pollers relist, which the expire_date index makes
// cheap.
func (s *Source) ChangesSince(ctx context.Context, since int64, limit int) (data.Changes, error) {
	return data.Changes{}, nil
}

// Session returns a session in any state it still has: Django deletes a
// row on logout, so an ended session is ErrNotFound, an expired one (not
// yet swept by clearsessions) is returned with its past ExpiresAt.
func (s *Source) Session(ctx context.Context, id string) (data.Session, error) {
	if err := s.CheckID(id); err != nil {
		return data.Session{}, fmt.Errorf("django session: %w: %v", data.ErrNotFound, err)
	}
	r, err := s.readRow(ctx, s.db, id, false)
	if err != nil {
		return data.Session{}, fmt.Errorf("django session: %w", err)
	}
	ss, err := s.sessions(ctx, s.db, []row{r})
	if err != nil {
		return data.Session{}, fmt.Errorf("django session: %w", err)
	}
	return ss[0], nil
}

// readRow reads one row (locking it on PostgreSQL when lock is set).
func (s *Source) readRow(ctx context.Context, q queryer, key string, lock bool) (row, error) {
	stmt := "SELECT session_key, session_data, " + s.dialect.expireSel() + " FROM django_session WHERE session_key = " + s.dialect.ph(1)
	if _, pg := s.dialect.(postgresDialect); pg && lock {
		stmt += " FOR UPDATE"
	}
	rows, err := q.QueryContext(ctx, stmt, key)
	if err != nil {
		return row{}, err
	}
	rs, err := s.scanRows(rows)
	if err != nil {
		return row{}, err
	}
	if len(rs) == 0 {
		return row{}, data.ErrNotFound
	}
	return rs[0], nil
}

// indexed reports whether the index has been built. A dashboard's has
// (its first Stats builds it); a one-shot command's (sessions revoke-user)
// has not, and building it, every row decoded and verified into a map, would
// be most of the command's time at a million rows: without it a user's
// sessions are found in one streaming pass that decodes only what names
// each row's user (eachActive).
func (s *Source) indexed() bool {
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	return s.idx.synced
}

// UserByUsername resolves a username as the sessions name it: from the
// site's own keys when its sessions carry them, else from auth_user.
func (s *Source) UserByUsername(ctx context.Context, username string) (data.User, error) {
	if !s.indexed() {
		return s.userByUsernameStreaming(ctx, username)
	}
	if err := s.idx.refreshWait(ctx); err != nil {
		return data.User{}, fmt.Errorf("django user: %w", err)
	}
	x := s.idx
	x.mu.Lock()
	for i := range x.users.len() {
		u := x.users.at(uint32(i))
		if u.username == username && u.id != 0 {
			u = u.owned()
			x.mu.Unlock()
			return data.User{ID: u.id, Username: u.username, Email: u.email, FullName: u.fullName, Role: u.role, Status: u.status}, nil
		}
	}
	x.mu.Unlock()
	if u, ok, err := s.authUserNamed(ctx, username); err != nil || ok {
		return u, err
	}
	return data.User{}, fmt.Errorf("django user %q: %w", username, data.ErrNotFound)
}

// authUserNamed reads the auth_user row of a username.
func (s *Source) authUserNamed(ctx context.Context, username string) (data.User, bool, error) {
	if !s.authUser {
		return data.User{}, false, nil
	}
	rs, err := s.db.QueryContext(ctx, "SELECT id, username, email, first_name, last_name, is_active, is_staff, is_superuser, last_login FROM auth_user WHERE username = "+s.dialect.ph(1), username)
	if err != nil {
		return data.User{}, false, fmt.Errorf("django user: %w", err)
	}
	defer rs.Close()
	if !rs.Next() {
		if err := rs.Err(); err != nil {
			return data.User{}, false, fmt.Errorf("django user: %w", err)
		}
		return data.User{}, false, nil
	}
	u, err := s.scanAuthUser(rs)
	if err != nil {
		return data.User{}, false, fmt.Errorf("django user: %w", err)
	}
	st := data.StatusActive
	if !u.active {
		st = data.StatusInactive
	}
	return data.User{ID: u.id, Username: u.username, Email: u.email, FullName: strings.TrimSpace(u.first + " " + u.last), Role: u.role(), Status: st}, true, nil
}

// userByUsernameStreaming is UserByUsername without the index: auth_user
// first (one indexed read, and the id every session of the user carries
// when the site stores Django's own user ids), else the first active
// session whose site keys name the user. (The index prefers the sessions'
// own keys; the two differ only for a site whose user_id is not
// auth_user's id.)
func (s *Source) userByUsernameStreaming(ctx context.Context, username string) (data.User, error) {
	if u, ok, err := s.authUserNamed(ctx, username); err != nil || ok {
		return u, err
	}
	var u data.User
	err := s.eachActive(ctx, time.Now(), func(rs []row, ps []parsed, ok []bool) bool {
		for i := range rs {
			p := &ps[i]
			if ok[i] && p.site && p.get(fUser).str() == username && p.userID() != 0 {
				u = data.User{ID: p.userID(), Username: username, Email: p.get(fUserEmail).str(), FullName: p.get(fUserName).str(),
					Role: p.get(fUserRole).str(), Status: p.get(fUserStatus).str()}
				return true
			}
		}
		return false
	})
	if err != nil {
		return data.User{}, fmt.Errorf("django user: %w", err)
	}
	if u.ID == 0 {
		return data.User{}, fmt.Errorf("django user %q: %w", username, data.ErrNotFound)
	}
	return u, nil
}

// begin starts a write transaction (BEGIN IMMEDIATE on SQLite, through
// _txlock, so a Django write cannot slip between our read and our write).
func (s *Source) begin(ctx context.Context) (*sql.Tx, error) {
	return s.db.BeginTx(ctx, nil)
}

// endRows deletes the given active rows and writes audit (one entry per
// session, from the template, when perSession; else the template once)
// atomically with the delete when the audit table is in the site's
// database, else right after it. It returns the sessions ended (in the
// order of keys), those found expired, and the keys not found.
func (s *Source) endRows(ctx context.Context, keys []string, end data.End, audit data.AuditEntry, perSession bool) (ended, already []data.Session, missing []string, err error) {
	if err := s.Refuse(data.ActionForceLogout); err != nil {
		return nil, nil, nil, err
	}
	if _, pg := s.dialect.(postgresDialect); pg && perSession {
		return s.endRowsAtOnce(ctx, keys, end, audit)
	}
	return s.endRowsLocked(ctx, keys, end, audit, perSession)
}

// endRowsLocked is endRows in one transaction: each row read and locked,
// deleted, its audit written, committed. SQLite (BEGIN IMMEDIATE holds the
// database for the whole transaction anyway) and a user's force-out (one
// audit entry for all its sessions) go this way; so do rows the site kept
// rewriting under endRowsAtOnce.
func (s *Source) endRowsLocked(ctx context.Context, keys []string, end data.End, audit data.AuditEntry, perSession bool) (ended, already []data.Session, missing []string, err error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	defer tx.Rollback()
	var live []row
	for _, k := range keys {
		r, err := s.readRow(ctx, tx, k, true)
		if errors.Is(err, data.ErrNotFound) {
			missing = append(missing, k)
			continue
		}
		if err != nil {
			return nil, nil, nil, err
		}
		if !r.expire.After(end.At) {
			ss, _ := s.sessions(ctx, tx, []row{r})
			if len(ss) == 1 {
				already = append(already, ss[0])
			}
			continue
		}
		live = append(live, r)
	}
	for start := 0; start < len(live); start += batch {
		part := live[start:min(len(live), start+batch)]
		args := make([]any, len(part))
		for i, r := range part {
			args[i] = r.key
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM django_session WHERE session_key IN "+inList(s.dialect, 1, len(part)), args...); err != nil {
			return nil, nil, nil, err
		}
	}
	ss, rowErrs, err := s.endedSessions(ctx, tx, live, end)
	if err != nil {
		return nil, nil, nil, err
	}
	var entries []data.AuditEntry
	if perSession {
		entries = sessionEntries(audit, ss)
	} else if len(ss) > 0 || audit.Action != "" {
		entries = append(entries, audit)
	}
	if s.audit.inSite() {
		if err := s.audit.insert(ctx, tx, entries); err != nil {
			return nil, nil, nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, nil, err
	}
	for _, x := range ss {
		s.idx.forget(x.ID)
	}
	if !s.audit.inSite() {
		if err := s.audit.insert(ctx, nil, entries); err != nil {
			return ss, already, missing, fmt.Errorf("the sessions were ended but their audit entry was not written to %s: %w", s.auditDesc, err)
		}
	}
	return ss, already, missing, errors.Join(rowErrs...)
}

// endedSessions decodes the rows about to be ended, in order. A row that
// cannot be decoded is ended all the same, named by its key, and its
// RowError returned in rowErrs.
func (s *Source) endedSessions(ctx context.Context, q queryer, rs []row, end data.End) (ss []data.Session, rowErrs []error, err error) {
	ss = make([]data.Session, 0, len(rs))
	for _, r := range rs {
		x, err := s.sessions(ctx, q, []row{r})
		var rerr *data.RowError
		switch {
		case err == nil:
			ss = append(ss, x[0])
		case errors.As(err, &rerr):
			rowErrs = append(rowErrs, err)
			ss = append(ss, data.Session{ID: r.key, ExpiresAt: r.expire})
		default:
			return nil, nil, err
		}
	}
	for i := range ss {
		ss[i].EndedAt, ss[i].EndReason, ss[i].EndedBy = end.At, end.Reason, end.By
	}
	return ss, rowErrs, nil
}

// sessionEntries is the audit template filled in for each session.
func sessionEntries(audit data.AuditEntry, ss []data.Session) []data.AuditEntry {
	entries := make([]data.AuditEntry, 0, len(ss))
	for _, x := range ss {
		e := audit
		e.SessionID = x.ID
		if e.Username == "" {
			e.Username = x.Username
		}
		entries = append(entries, e)
	}
	return entries
}

// atOnceRounds bounds how often endRowsAtOnce reads again rows the site
// rewrote between its read and its delete.
const atOnceRounds = 3

// endRowsAtOnce is endRows on PostgreSQL with one audit entry per session,
// built for the holder's next request to be refused as soon as possible:
// the DELETE's commit is what refuses it, so every round trip before it is
// latency (BEGIN, SELECT … FOR UPDATE, an auth_user read, DELETE, INSERT,
// COMMIT were six). The rows are read without a transaction and decoded
// (the audit entry names each session's user), then deleted together with
// their audit entries in one statement, a data-modifying WITH (one
// transaction: the audit is as atomic and durable as before), and only if
// each row is still exactly as read: Django rewrites a row on every
// request, and the audit must name the user of the row deleted. A row
// rewritten meanwhile is read again; after atOnceRounds, the locking
// transaction ends the rest.
func (s *Source) endRowsAtOnce(ctx context.Context, keys []string, end data.End, audit data.AuditEntry) (ended, already []data.Session, missing []string, err error) {
	var rowErrs []error
	todo := keys
	for round := 0; round < atOnceRounds && len(todo) > 0; round++ {
		rs, err := s.readRows(ctx, todo)
		if err != nil {
			return nil, nil, nil, err
		}
		var live []row
		for _, k := range todo {
			r, ok := rs[k]
			switch {
			case !ok:
				missing = append(missing, k)
			case !r.expire.After(end.At):
				if ss, _ := s.sessions(ctx, s.db, []row{r}); len(ss) == 1 {
					already = append(already, ss[0])
				}
			default:
				live = append(live, r)
			}
		}
		ss, errs, err := s.endedSessions(ctx, s.db, live, end)
		if err != nil {
			return nil, nil, nil, err
		}
		deleted, err := s.deleteAudited(ctx, live, sessionEntries(audit, ss))
		if err != nil {
			return nil, nil, nil, err
		}
		todo = nil
		var done []data.Session
		for i, r := range live {
			if deleted[r.key] {
				done = append(done, ss[i])
			} else {
				todo = append(todo, r.key)
			}
		}
		for _, x := range done {
			s.idx.forget(x.ID)
		}
		ended = append(ended, done...)
		rowErrs = append(rowErrs, errs...)
		if !s.audit.inSite() && len(done) > 0 {
			if err := s.audit.insert(ctx, nil, sessionEntries(audit, done)); err != nil {
				return orderSessions(keys, ended), already, missing, fmt.Errorf("the sessions were ended but their audit entry was not written to %s: %w", s.auditDesc, err)
			}
		}
	}
	if len(todo) > 0 {
		e, a, m, err := s.endRowsLocked(ctx, todo, end, audit, true)
		var rerr *data.RowError
		if err != nil && !errors.As(err, &rerr) {
			return orderSessions(keys, ended), already, missing, err
		}
		ended, already, missing = append(ended, e...), append(already, a...), append(missing, m...)
		if err != nil {
			rowErrs = append(rowErrs, err)
		}
	}
	return orderSessions(keys, ended), already, orderLike(keys, missing), errors.Join(rowErrs...)
}

// readRows reads rows by key, without a lock.
func (s *Source) readRows(ctx context.Context, keys []string) (map[string]row, error) {
	out := make(map[string]row, len(keys))
	err := s.eachByKey(ctx, keys, func(rs []row) error {
		for _, r := range rs {
			out[r.key] = r
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachByKey reads the rows of keys (those that exist), batch keys a
// statement, and hands each statement's rows to fn.
func (s *Source) eachByKey(ctx context.Context, keys []string, fn func([]row) error) error {
	for start := 0; start < len(keys); start += batch {
		part := keys[start:min(len(keys), start+batch)]
		args := make([]any, len(part))
		for i, k := range part {
			args[i] = k
		}
		rows, err := s.db.QueryContext(ctx, "SELECT session_key, session_data, "+s.dialect.expireSel()+
			" FROM django_session WHERE session_key IN "+inList(s.dialect, 1, len(part)), args...)
		if err != nil {
			return err
		}
		rs, err := s.scanRows(rows)
		if err != nil {
			return err
		}
		if err := fn(rs); err != nil {
			return err
		}
	}
	return nil
}

// deleteAudited deletes, in one PostgreSQL statement, each row of rs that
// is still as read (same session_data and expire_date), and, when the
// audit table is in the site's database, inserts the entries (entries[i]
// is rs[i]'s) of the rows deleted, in order. It returns the keys deleted.
func (s *Source) deleteAudited(ctx context.Context, rs []row, entries []data.AuditEntry) (map[string]bool, error) {
	deleted := make(map[string]bool, len(rs))
	for start := 0; start < len(rs); start += batch {
		part := rs[start:min(len(rs), start+batch)]
		es := entries[start:min(len(rs), start+batch)]
		keys, datas, users := make([]string, len(part)), make([]string, len(part)), make([]string, len(part))
		expires := make([]time.Time, len(part))
		for i, r := range part {
			keys[i], datas[i], users[i], expires[i] = r.key, r.data, es[i].Username, r.expire
		}
		stmt := `WITH v AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) WITH ORDINALITY AS v(k, data, expire, username, n)
), d AS (
	DELETE FROM django_session s USING v
	WHERE s.session_key = v.k AND s.session_data = v.data AND s.expire_date = v.expire
	RETURNING s.session_key
)`
		args := []any{keys, datas, expires, users}
		if s.audit.inSite() {
			// The template's fields are the same in every entry; the
			// session and its user come from v.
			e := es[0]
			stmt += `, a AS (
	INSERT INTO sessionmon_django_audit (at, actor, action, username, session_key, ip, detail)
	SELECT $5, $6, $7, v.username, v.k, $8, $9 FROM v JOIN d ON d.session_key = v.k ORDER BY v.n
)`
			args = append(args, e.Time.UTC(), e.Actor, e.Action, e.IP, e.Detail)
		}
		rows, err := s.db.QueryContext(ctx, stmt+" SELECT session_key FROM d", args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, err
			}
			deleted[k] = true
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, err
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return deleted, nil
}

// orderSessions returns ss in the order their ids have in keys.
func orderSessions(keys []string, ss []data.Session) []data.Session {
	if len(ss) < 2 {
		return ss
	}
	pos := make(map[string]int, len(keys))
	for i, k := range keys {
		if _, ok := pos[k]; !ok {
			pos[k] = i
		}
	}
	sort.SliceStable(ss, func(i, j int) bool { return pos[ss[i].ID] < pos[ss[j].ID] })
	return ss
}

// EndSession deletes one session's row, as Django's own logout (flush)
// does: the holder's next request finds no session. See Warnings for
// cached_db.
func (s *Source) EndSession(ctx context.Context, id string, end data.End, audit data.AuditEntry) (data.Session, error) {
	if err := s.CheckID(id); err != nil {
		return data.Session{}, fmt.Errorf("django end session: %w: %v", data.ErrNotFound, err)
	}
	audit.SessionID = id
	ended, already, missing, err := s.endRows(ctx, []string{id}, end, audit, true)
	var rerr *data.RowError
	switch {
	case errors.As(err, &rerr) && len(ended) == 1:
		return ended[0], fmt.Errorf("django end session: ended, but: %w", err)
	case err != nil:
		return data.Session{}, fmt.Errorf("django end session: %w", err)
	case len(missing) > 0:
		return data.Session{}, fmt.Errorf("django end session %s: %w", id, data.ErrNotFound)
	case len(already) > 0:
		return already[0], fmt.Errorf("django end session %s: %w", id, data.ErrEnded)
	}
	return ended[0], nil
}

// EndSessions deletes the given active sessions in one transaction, with
// one audit entry per session ended (the template filled with each row's
// key and user). Ids that are not Django keys, or not in the table, are
// Missing; rows already expired are Already.
func (s *Source) EndSessions(ctx context.Context, ids []string, end data.End, audit data.AuditEntry) (data.EndResult, error) {
	var res data.EndResult
	var keys []string
	for _, id := range ids {
		if s.CheckID(id) != nil {
			res.Missing = append(res.Missing, id)
		} else {
			keys = append(keys, id)
		}
	}
	if len(keys) == 0 {
		return res, nil
	}
	ended, already, missing, err := s.endRows(ctx, keys, end, audit, true)
	var rerr *data.RowError
	if err != nil && !errors.As(err, &rerr) {
		return data.EndResult{}, fmt.Errorf("django end sessions: %w", err)
	}
	res.Ended, res.Already = ended, already
	res.Missing = orderLike(ids, append(res.Missing, missing...))
	if err != nil {
		return res, fmt.Errorf("django end sessions: ended, but: %w", err)
	}
	return res, nil
}

// orderLike returns the elements of sub in the order they have in all.
func orderLike(all, sub []string) []string {
	if len(sub) < 2 {
		return sub
	}
	in := map[string]bool{}
	for _, x := range sub {
		in[x] = true
	}
	out := make([]string, 0, len(sub))
	for _, x := range all {
		if in[x] {
			out = append(out, x)
		}
	}
	return out
}

// EndUserSessions deletes every active session of a user, found through
// the index (the user id is inside session_data) or, when there is none
// yet, one streaming pass, in one transaction with one audit entry.
func (s *Source) EndUserSessions(ctx context.Context, userID int64, end data.End, audit data.AuditEntry) (int, error) {
	if !s.indexed() {
		return s.endUserStreaming(ctx, userID, end, audit)
	}
	if err := s.idx.refreshWait(ctx); err != nil {
		return 0, fmt.Errorf("django end user sessions: %w", err)
	}
	x := s.idx
	now := end.At.UnixMicro()
	var keys []string
	x.mu.Lock()
	x.m.each(func(k32 [32]byte, k string, e entry) {
		if u := x.users.at(e.user); u.id == userID && e.expire > now {
			keys = append(keys, keyString(k32, k))
			if audit.Username == "" {
				audit.Username = strings.Clone(u.username)
			}
		}
	})
	x.mu.Unlock()
	sort.Strings(keys)
	ended, _, _, err := s.endRows(ctx, keys, end, audit, false)
	if err != nil {
		return 0, fmt.Errorf("django end user sessions: %w", err)
	}
	return len(ended), nil
}

// endUserStreaming is EndUserSessions without the index: the keys of the
// user's active sessions from one pass that decodes only the fields naming
// each row's user (a row matches as it would in the index: Session.UserID),
// then the locking transaction, which re-reads each row before it deletes.
func (s *Source) endUserStreaming(ctx context.Context, userID int64, end data.End, audit data.AuditEntry) (int, error) {
	var keys []string
	err := s.eachActive(ctx, end.At, func(rs []row, ps []parsed, ok []bool) bool {
		for i := range rs {
			if ok[i] && ps[i].userID() == userID {
				keys = append(keys, rs[i].key)
				if audit.Username == "" && ps[i].site {
					audit.Username = ps[i].get(fUser).str()
				}
			}
		}
		return false
	})
	if err != nil {
		return 0, fmt.Errorf("django end user sessions: %w", err)
	}
	if audit.Username == "" && len(keys) > 0 && s.authUser {
		users, err := s.loadAuthUsers(ctx, s.db, []int64{userID})
		if err != nil {
			return 0, fmt.Errorf("django end user sessions: %w", err)
		}
		audit.Username = users[userID].username
	}
	sort.Strings(keys)
	ended, _, _, err := s.endRows(ctx, keys, end, audit, false)
	if err != nil {
		return 0, fmt.Errorf("django end user sessions: %w", err)
	}
	return len(ended), nil
}

// Extend moves a session's expiry d later. Django recomputes expire_date
// from the session's own data on the holder's next request (SESSION_SAVE_
// EVERY_REQUEST), so the change must be in the data: Extend sets
// _session_expiry (what request.session.set_expiry(seconds) sets) to the
// seconds from now to the new expiry, re-signs the data as Django does
// (same format, same algorithm, SECRET_KEY), and writes it with the new
// expire_date, only if the row is still exactly as read (compare-and-swap:
// Django rewrites the whole row on every request). From then on each
// request slides the expiry by that longer window, so the extension is
// never undone.
func (s *Source) Extend(ctx context.Context, id string, d time.Duration, now time.Time, audit data.AuditEntry) (data.Session, error) {
	if err := s.CheckID(id); err != nil {
		return data.Session{}, fmt.Errorf("django extend: %w: %v", data.ErrNotFound, err)
	}
	if err := s.Refuse(data.ActionExtend); err != nil {
		return data.Session{}, fmt.Errorf("django extend: %w", err)
	}
	if d <= 0 {
		return data.Session{}, fmt.Errorf("django extend: duration %v: want more than zero", d)
	}
	for attempt := 0; attempt < 5; attempt++ {
		ss, err := s.extendOnce(ctx, id, d, now, audit)
		if errors.Is(err, errLostRace) {
			continue // Django saved the row meanwhile: read it again
		}
		if err != nil {
			return data.Session{}, fmt.Errorf("django extend %s: %w", id, err)
		}
		return ss, nil
	}
	return data.Session{}, fmt.Errorf("django extend %s: the site kept rewriting the row; try again", id)
}

var errLostRace = errors.New("row changed")

// ErrTamperedRow: Extend will not re-sign a row whose signature fails.
var ErrTamperedRow = errors.New("the row's signature does not match the site's SECRET_KEY: not re-signing it (force it out instead)")

func (s *Source) extendOnce(ctx context.Context, id string, d time.Duration, now time.Time, audit data.AuditEntry) (data.Session, error) {
	r, err := s.readRow(ctx, s.db, id, false)
	if err != nil {
		return data.Session{}, err
	}
	if !r.expire.After(now) {
		return data.Session{}, data.ErrEnded
	}
	p, err := s.parseRow(r)
	if err != nil {
		return data.Session{}, err
	}
	if p.tampered || p.verified == nil {
		return data.Session{}, ErrTamperedRow
	}
	newExpire := r.expire.Add(d).UTC().Truncate(time.Microsecond)
	age := int64(math.Ceil(newExpire.Sub(now).Seconds()))
	js, err := SetKey(p.dec.JSON, keySessionExpiry, json.RawMessage(fmt.Sprint(age)))
	if err != nil {
		return data.Session{}, err
	}
	enc, err := s.opts.Keys.Encode(js, EncodeOptions{Format: p.dec.Format, Algorithm: p.verified.Algorithm, Now: now})
	if err != nil {
		return data.Session{}, err
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return data.Session{}, err
	}
	defer tx.Rollback()
	ph := s.dialect.ph
	res, err := tx.ExecContext(ctx, "UPDATE django_session SET session_data = "+ph(1)+", expire_date = "+ph(2)+
		" WHERE session_key = "+ph(3)+" AND session_data = "+ph(4)+" AND expire_date = "+ph(5),
		enc, s.dialect.timeArg(newExpire), id, r.data, r.rawExpire)
	if err != nil {
		return data.Session{}, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return data.Session{}, err
	} else if n == 0 {
		return data.Session{}, errLostRace
	}
	nr := row{key: id, data: enc, expire: newExpire}
	ss, err := s.sessions(ctx, tx, []row{nr})
	if err != nil {
		return data.Session{}, err
	}
	audit.SessionID = id
	if audit.Username == "" {
		audit.Username = ss[0].Username
	}
	if s.audit.inSite() {
		if err := s.audit.insert(ctx, tx, []data.AuditEntry{audit}); err != nil {
			return data.Session{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		return data.Session{}, err
	}
	if !s.audit.inSite() {
		if err := s.audit.insert(ctx, nil, []data.AuditEntry{audit}); err != nil {
			return ss[0], fmt.Errorf("the session was extended but its audit entry was not written to %s: %w", s.auditDesc, err)
		}
	}
	return ss[0], nil
}
