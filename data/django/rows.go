package django

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"sessionmon/data"
)

// The site keys: what the login view of the site this was built from
// stores in the session (DESIGN.md). ip and user_agent are read when a site
// stores them too.
const (
	keyUser         = "user"
	keyUserID       = "user_id"
	keyUserEmail    = "user_email"
	keyUserName     = "user_name"
	keyUserRole     = "user_role"
	keyUserStatus   = "user_status"
	keyLoginTime    = "login_time"
	keyLastActivity = "last_activity"
	keyIP           = "ip"
	keyUserAgent    = "user_agent"

	keyAuthUserID    = "_auth_user_id"
	keyAuthHash      = "_auth_user_hash" // an HMAC of the password hash: never shown
	keySessionExpiry = "_session_expiry"
)

// Markers sessionmon adds to Session.Data (shown in the dashboard's detail
// view and in `sessions list --json`).
const (
	MarkSignature    = "sessionmon.signature"     // valid, valid (sha1), valid (fallback key N), tampered, unchecked (no SECRET_KEY)
	MarkFormat       = "sessionmon.format"        // signed, legacy
	MarkLastActivity = "sessionmon.last_activity" // set when LastActivity is an estimate
	MarkLoginTime    = "sessionmon.login_time"    // set when LoginTime is an estimate
)

// StatusTampered is the Status of a session whose signature fails under the
// site's keys: whatever the row says about its user was not written by the
// site.
const StatusTampered = "tampered"

// RoleAnonymous is the Role of a session without a logged-in user.
const RoleAnonymous = "anonymous"

// row is one django_session row as read.
type row struct {
	key       string
	data      string
	expire    time.Time
	rawExpire any // bound back for compare-and-swap
}

// authUser is a row of auth_user.
type authUser struct {
	id                           int64
	username, email, first, last string
	active, staff, superuser     bool
	lastLogin                    time.Time
}

func (u authUser) role() string {
	switch {
	case u.superuser:
		return "superuser"
	case u.staff:
		return "staff"
	}
	return "user"
}

// parsed is a row decoded and matched to its user: everything a Session
// needs.
type parsed struct {
	dec      Decoded
	verified *Verified // nil: not checked
	tampered bool
	authID   int64 // _auth_user_id, 0 when absent
	site     bool  // the site keys are there
}

// get returns a field's value (kindNone when absent).
func (p *parsed) get(f field) fval {
	if p.dec.fields == nil {
		return fval{}
	}
	return p.dec.fields[f]
}

// parseRow decodes a row's fields (not the whole dict: the index and the
// actions need no more) and checks its signature when the keys are given.
func (s *Source) parseRow(r row) (parsed, error) {
	return s.parseRowAs(r, false)
}

// parseRowDict is parseRow with the whole dict, whose other members a
// Session shows in its Data (a listing, the detail view).
func (s *Source) parseRowDict(r row) (parsed, error) {
	return s.parseRowAs(r, true)
}

func (s *Source) parseRowAs(r row, dict bool) (parsed, error) {
	p, err := s.parseUnverified(r, dict)
	if err != nil {
		return p, err
	}
	if s.opts.Keys.Usable() {
		v, err := s.opts.Keys.Verify(p.dec)
		if err != nil {
			p.tampered = true
		} else {
			p.verified = &v
		}
	}
	return p, nil
}

// parseUnverified is parseRowAs without the signature check.
func (s *Source) parseUnverified(r row, dict bool) (parsed, error) {
	d, err := decode(r.data, dict)
	if err != nil {
		return parsed{}, &data.RowError{SessionID: r.key, Err: err}
	}
	p := parsed{dec: d}
	if p.get(fUser).kind == kindString {
		p.site = true
	}
	if id, ok := p.get(fAuthUserID).int(); ok {
		p.authID = id
	}
	return p, nil
}

// userID is the id toSession gives the row's user (Session.UserID): the
// site's user_id, else _auth_user_id (auth_user's id, whether or not the
// row is there); 0 for an anonymous session.
func (p *parsed) userID() int64 {
	if p.site {
		if id, ok := p.get(fUserID).int(); ok {
			return id
		}
	}
	return p.authID
}

// needsAuthUser reports whether toSession reads the row's auth_user: for
// the user when the site's keys are absent, for the login time when the
// row has none of its own. A listing of the site's sessions then costs no
// auth_user query.
func (p *parsed) needsAuthUser() bool {
	if p.authID == 0 {
		return false
	}
	if !p.site {
		return true
	}
	_, ok := p.get(fLoginTime).time()
	return !ok
}

// toSession builds the operator's view of a row. users holds auth_user
// rows for the fallback (may be nil).
func (s *Source) toSession(r row, p parsed, users map[int64]authUser) data.Session {
	ss := data.Session{ID: r.key, ExpiresAt: r.expire.UTC()}
	marks := map[string]any{MarkFormat: p.dec.Format.String()}
	au, haveAU := users[p.authID]
	switch {
	case p.site:
		ss.Username = p.get(fUser).str()
		if id, ok := p.get(fUserID).int(); ok {
			ss.UserID = id
		} else {
			ss.UserID = p.authID
		}
		ss.Email, ss.FullName = p.get(fUserEmail).str(), p.get(fUserName).str()
		ss.Role, ss.Status = p.get(fUserRole).str(), p.get(fUserStatus).str()
	case p.authID != 0 && haveAU:
		ss.UserID, ss.Username, ss.Email = au.id, au.username, au.email
		ss.FullName = strings.TrimSpace(au.first + " " + au.last)
		ss.Role = au.role()
		ss.Status = data.StatusActive
		if !au.active {
			ss.Status = data.StatusInactive
		}
	case p.authID != 0:
		ss.UserID = p.authID
		ss.FullName = fmt.Sprintf("(user %d not in auth_user)", p.authID)
		ss.Role = "user"
	default:
		ss.Role = RoleAnonymous
	}
	if t, ok := p.get(fLastActivity).time(); ok {
		ss.LastActivity = t
	} else {
		age := s.opts.CookieAge
		if n, ok := p.get(fSessionExpiry).int(); ok && n > 0 {
			age = time.Duration(n) * time.Second
		}
		ss.LastActivity = ss.ExpiresAt.Add(-age)
		marks[MarkLastActivity] = "estimated: expire_date − cookie age (" + age.String() + ")"
	}
	if t, ok := p.get(fLoginTime).time(); ok {
		ss.LoginTime = t
	} else if haveAU && !au.lastLogin.IsZero() && !au.lastLogin.After(ss.LastActivity) {
		ss.LoginTime = au.lastLogin.UTC()
		marks[MarkLoginTime] = "estimated: the user's last login (auth_user.last_login)"
	} else {
		ss.LoginTime = ss.LastActivity
		marks[MarkLoginTime] = "unknown: shown as the last activity"
	}
	// To the second, on every path (window, detail, index): the index
	// keeps them so (keymap.go's chunk), and a listing must not show a
	// session's times differently depending on the order it is sorted by.
	ss.LoginTime, ss.LastActivity = ss.LoginTime.Truncate(time.Second), ss.LastActivity.Truncate(time.Second)
	ss.IP, ss.UserAgent = p.get(fIP).str(), p.get(fUserAgent).str()
	switch {
	case p.tampered:
		ss.Status = StatusTampered
		marks[MarkSignature] = "tampered: the signature does not match the site's SECRET_KEY"
	case p.verified == nil:
		marks[MarkSignature] = "unchecked (no SECRET_KEY)"
	case p.verified.KeyIndex > 0:
		marks[MarkSignature] = fmt.Sprintf("valid (fallback key %d)", p.verified.KeyIndex)
	case p.verified.Algorithm == SHA1:
		marks[MarkSignature] = "valid (sha1)"
	default:
		marks[MarkSignature] = "valid"
	}
	// The other members (none when only the fields were decoded).
	for k, v := range p.dec.Dict {
		switch k {
		case keyUser, keyUserID, keyUserEmail, keyUserName, keyUserRole, keyUserStatus,
			keyLoginTime, keyLastActivity, keyIP, keyUserAgent, keyAuthHash:
			continue
		}
		marks[k] = v
	}
	ss.Data = marks
	return ss
}

// The readers of a field: a string, an integer stored as a JSON number or
// a decimal string (Django stores _auth_user_id as str(pk)), a time.

func (v fval) str() string {
	if v.kind == kindString {
		return v.s
	}
	return ""
}

func (v fval) int() (int64, bool) {
	if v.kind == kindString || v.kind == kindNumber {
		// json.Number.Int64 is this ParseInt too.
		if n, err := strconv.ParseInt(v.s, 10, 64); err == nil {
			return n, true
		}
	}
	return 0, false
}

func (v fval) time() (time.Time, bool) {
	switch v.kind {
	case kindString:
		return timeOfString(v.s)
	case kindNumber:
		return timeOfNumber(json.Number(v.s))
	}
	return time.Time{}, false
}

// timeOfString and timeOfNumber read a time a site stored as ISO 8601 text
// (datetime.isoformat(), naive taken as UTC) or as Unix seconds.
func timeOfString(x string) (time.Time, bool) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, x); err == nil {
			return t.UTC().Truncate(time.Microsecond), true
		}
	}
	return time.Time{}, false
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999"}

func timeOfNumber(x json.Number) (time.Time, bool) {
	if f, err := x.Float64(); err == nil && f > 0 {
		return time.UnixMicro(int64(f * 1e6)).UTC(), true
	}
	return time.Time{}, false
}

// loadAuthUsers reads the auth_user rows of ids (the fallback join).
func (s *Source) loadAuthUsers(ctx context.Context, q queryer, ids []int64) (map[int64]authUser, error) {
	out := make(map[int64]authUser, len(ids))
	if !s.authUser || len(ids) == 0 {
		return out, nil
	}
	// A user's sessions name the same id: ask for each once (a page of a
	// cold build holds several sessions of many users).
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	const sel = "SELECT id, username, email, first_name, last_name, is_active, is_staff, is_superuser, last_login FROM auth_user WHERE "
	read := func(rows *sql.Rows, err error) error {
		if err != nil {
			return fmt.Errorf("read auth_user: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			u, err := s.scanAuthUser(rows)
			if err != nil {
				return err
			}
			out[u.id] = u
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read auth_user: %w", err)
		}
		return nil
	}
	if _, pg := s.dialect.(postgresDialect); pg {
		// One array parameter: a page of a cold build (thousands of ids)
		// is one statement, not one per IN list of batch.
		if err := read(q.QueryContext(ctx, sel+"id = ANY($1)", ids)); err != nil {
			return nil, err
		}
		return out, nil
	}
	for start := 0; start < len(ids); start += batch {
		part := ids[start:min(len(ids), start+batch)]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		if err := read(q.QueryContext(ctx, sel+"id IN "+inList(s.dialect, 1, len(part)), args...)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Source) scanAuthUser(sc interface{ Scan(...any) error }) (authUser, error) {
	var u authUser
	var last any
	if err := sc.Scan(&u.id, &u.username, &u.email, &u.first, &u.last, &u.active, &u.staff, &u.superuser, &last); err != nil {
		return u, fmt.Errorf("read auth_user: %w", err)
	}
	switch v := last.(type) {
	case time.Time:
		u.lastLogin = v.UTC()
	case string:
		u.lastLogin, _ = parseSQLiteTime(v)
	}
	return u, nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// batch bounds the values of one IN list.
const batch = 500

// scanRows reads (session_key, session_data, expire_date) rows.
func (s *Source) scanRows(rows *sql.Rows) ([]row, error) {
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		var e any
		if err := rows.Scan(&r.key, &r.data, &e); err != nil {
			return nil, err
		}
		var err error
		if r.expire, r.rawExpire, err = s.dialect.scanExpire(e); err != nil {
			return nil, &data.RowError{SessionID: r.key, Err: err}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// sessionCache keeps the Sessions of recently listed rows by key, valid
// while the row's expire_date and data are unchanged (Django moves
// expire_date on every save): a dashboard polling the same window decodes
// only the rows that changed. It is bounded, and cleared by every full
// sync of the index, so a renamed auth_user shows within FullSyncEvery.
type sessionCache struct {
	mu sync.Mutex
	m  map[string]cachedSession
}

type cachedSession struct {
	expire int64
	sum    uint64 // FNV-1a of session_data: a rewrite that keeps expire_date (a forger's) is a miss
	s      data.Session
}

func sum64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

const sessionCacheMax = 4096

func (c *sessionCache) get(r row) (data.Session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[r.key]
	if !ok || e.expire != r.expire.UnixMicro() || e.sum != sum64(r.data) {
		return data.Session{}, false
	}
	ss := e.s
	ss.Data = maps.Clone(e.s.Data) // callers may change theirs
	return ss, true
}

func (c *sessionCache) put(r row, ss data.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= sessionCacheMax {
		c.m = make(map[string]cachedSession)
	}
	c.m[r.key] = cachedSession{r.expire.UnixMicro(), sum64(r.data), ss}
}

func (c *sessionCache) clear() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

// sessions turns rows into Sessions, leaving out (and returning, joined)
// those that cannot be decoded.
func (s *Source) sessions(ctx context.Context, q queryer, rs []row) ([]data.Session, error) {
	ps := make([]parsed, len(rs))
	ok := make([]bool, len(rs))
	cached := make([]data.Session, len(rs))
	hit := make([]bool, len(rs))
	var errs []error
	var ids []int64
	for i, r := range rs {
		if cached[i], hit[i] = s.cache.get(r); hit[i] {
			continue
		}
		p, err := s.parseRowDict(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ps[i], ok[i] = p, true
		if p.needsAuthUser() {
			ids = append(ids, p.authID)
		}
	}
	users, err := s.loadAuthUsers(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	out := make([]data.Session, 0, len(rs))
	for i, r := range rs {
		switch {
		case hit[i]:
			out = append(out, cached[i])
		case ok[i]:
			ss := s.toSession(r, ps[i], users)
			s.cache.put(r, ss)
			ss.Data = maps.Clone(ss.Data)
			out = append(out, ss)
		}
	}
	return out, errors.Join(errs...)
}

// streamActive reads the rows active at `at` (with or without
// session_data) on PostgreSQL in one statement, read as it streams, and
// hands them to fn in batches of streamBatch, reading the next batch while fn
// works on one. One statement is a sequential pass over the table; pages
// by session_key (what SQLite needs, see index.scanActive) each fetched
// their rows from all over the heap, which made most of a cold build's
// time at a million rows. PostgreSQL's reads take no lock Django waits
// for.
// streamBatch is how many rows streamActive hands over at once. Three
// batches are alive at a time (read, queued, decoded), at about 600 bytes a
// row with its session_data: small batches keep them out of the heap's
// peak during a cold build (a cost the collector doubles), and a thousand
// rows still amortise a hand-over.
const streamBatch = 1000

func (s *Source) streamActive(ctx context.Context, at time.Time, fn func([]row) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, "SELECT session_key, session_data, "+s.dialect.expireSel()+
		" FROM django_session WHERE expire_date > "+s.dialect.ph(1), s.dialect.timeArg(at))
	if err != nil {
		return fmt.Errorf("django sync: %w", err)
	}
	batches := make(chan []row, 1)
	var readErr error // written by the reader before it closes batches
	go func() {
		defer close(batches)
		defer rows.Close()
		rs := make([]row, 0, streamBatch)
		send := func() bool {
			select {
			case batches <- rs:
				rs = make([]row, 0, streamBatch)
				return true
			case <-ctx.Done():
				readErr = ctx.Err() // a pass cut short must not look complete
				return false
			}
		}
		for rows.Next() {
			var r row
			var e any
			if readErr = rows.Scan(&r.key, &r.data, &e); readErr != nil {
				return
			}
			var err error
			if r.expire, r.rawExpire, err = s.dialect.scanExpire(e); err != nil {
				readErr = &data.RowError{SessionID: r.key, Err: err}
				return
			}
			if rs = append(rs, r); len(rs) == streamBatch && !send() {
				return
			}
		}
		if readErr = rows.Err(); readErr == nil && len(rs) > 0 {
			send()
		}
	}()
	for rs := range batches {
		if err := fn(rs); err != nil {
			cancel()
			for range batches { // let the reader stop
			}
			return err
		}
	}
	if readErr != nil {
		return fmt.Errorf("django sync: %w", readErr)
	}
	return nil
}

// eachActive reads every row active at `at` once, without the index, and
// hands fn each batch decoded (fields only, signatures unchecked: enough to
// name a row's user) with, per row, whether it decoded; fn returns true to
// stop. On PostgreSQL it streams one statement (streamActive); on SQLite it
// reads short statements by session_key, as the index's scans do, because a
// long read would hold the shared lock that a site on a rollback journal
// needs to commit.
func (s *Source) eachActive(ctx context.Context, at time.Time, fn func(rs []row, ps []parsed, ok []bool) bool) error {
	d := s.dialect
	errStop := errors.New("stop")
	decodeBatch := func(rs []row) error {
		ps, ok := make([]parsed, len(rs)), make([]bool, len(rs))
		spread(len(rs), func(i int) {
			var err error
			ps[i], err = s.parseUnverified(rs[i], false)
			ok[i] = err == nil
		})
		if fn(rs, ps, ok) {
			return errStop
		}
		return nil
	}
	if _, pg := d.(postgresDialect); pg {
		if err := s.streamActive(ctx, at, decodeBatch); err != nil && err != errStop {
			return err
		}
		return nil
	}
	stmt := fmt.Sprintf("SELECT session_key, session_data, %s FROM django_session WHERE expire_date > %s AND session_key > %s ORDER BY session_key LIMIT %d",
		d.expireSel(), d.ph(1), d.ph(2), scanPage)
	after := ""
	for {
		rows, err := s.db.QueryContext(ctx, stmt, d.timeArg(at), after)
		if err != nil {
			return err
		}
		rs, err := s.scanRows(rows)
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			return nil
		}
		if err := decodeBatch(rs); err != nil || len(rs) < scanPage {
			return nil
		}
		after = rs[len(rs)-1].key
	}
}

// spread calls fn(i) for every i below n, over all the cores once n is
// large enough to pay for the goroutines: decoding (zlib, JSON, HMAC) is
// what a cold index and a streamed pass cost.
func spread(n int, fn func(i int)) {
	workers := 1
	if n >= 256 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				fn(i)
			}
		})
	}
	wg.Wait()
}
