package django

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"sessionmon/data"
	"sessionmon/internal/offheap"
)

// index is the decode cache behind everything that needs every active row
// decoded: a user's sessions (the user id lives inside session_data, so the
// table has no index on it), filters, the other sort orders and Stats.
//
// It is keyed by session key and expire_date: Django rewrites expire_date on
// every save (SESSION_SAVE_EVERY_REQUEST moves it to now + age), so a row
// whose key and expire_date are unchanged is a row we have decoded before.
// Keeping it current costs, per refresh, one query on the expire_date index
// for the rows saved since the last one (expire_date above the highest seen,
// less a slack for commits that land out of order), decoding only those;
// every few seconds in the background, counts of the active rows (in
// all, or by ranges of expire_date on a rollback-journal SQLite site)
// against the index's, to drop rows the site deleted (logouts) within
// seconds (deletes.go); and, every FullSyncEvery (or ten times its duration), one
// pass over the keys and expire dates of the active rows, to drop what the
// counts cannot tell and pick up rows saved with a short custom expiry,
// decoding only the rows it has not seen.
//
// An entry is small (no session dict: the detail view reads the row): 46
// bytes with its key (keymap.go), the user fields and the client interned
// in arenas (tables.go). Listings read kept orders (orders.go) or make one
// pass (query.go), never a Session per entry.
type index struct {
	s *Source

	mem       *offheap.Owner // where m, users and clients keep their memory
	mu        sync.Mutex
	m         keyMap
	errs      map[string]error // rows that cannot be decoded, by key
	errExpire map[string]int64 // and their expire_date (checkDeletes counts them)
	users     userTable        // interned: entries refer to them by number (tables.go)
	clients   clientTable
	watermark time.Time // highest expire_date seen
	synced    bool      // a full sync has completed
	lastFull  time.Time
	fullTook  time.Duration // how long the last full sync took
	lastCheck time.Time     // the last checkDeletes
	checkTook time.Duration // the last check's counts (checkDeletesTimed)
	building  *buildRun     // the first full sync, while it runs (firstSync)
	expected  int           // active rows counted when the first sync began
	running   bool          // a background full sync is under way
	checking  bool          // a checkDeletes is under way
	journal   string        // SQLite's journal mode, once read (checkDeletes' goroutine only)
	scratch   checkScratch  // checkDeletes' goroutine only
	// refreshPage is the incremental refresh's page, kept from one to the
	// next (under syncMu): it grows to what the site saves in a refresh's
	// slack, thousands of rows on a busy site, every poll.
	refreshPage keyPage
	wg          sync.WaitGroup

	statsMu      sync.Mutex
	stats        data.Stats
	statsAt      time.Time
	statsKey     [2]time.Duration
	statsRunning bool
	statsGen     uint64 // raised by statsStale

	// syncMu serialises full syncs and incremental refreshes (never held
	// while answering from the map).
	syncMu sync.Mutex

	qc queryCache // what listings reuse between polls (query.go); under mu
}

type userInfo struct {
	id                                      int64
	username, email, fullName, role, status string
}

type client struct{ ip, ua string }

const (
	flagLastEst uint8 = 1 << iota
	flagLoginEst
	flagTampered
	flagUnchecked
)

// entry is one session in the index as its methods pass it (keyMap keeps
// it in columns, login and last in seconds: 46 bytes with the key).
type entry struct {
	expire, login, last int64  // Unix microseconds; login and last whole seconds (wholeSeconds)
	user                uint32 // into index.users
	cf                  uint32 // the client (into index.clients) << 4 | flags
}

func (e entry) client() uint32 { return e.cf >> 4 }
func (e entry) flags() uint8   { return uint8(e.cf & 15) }

func (e *entry) setClient(c uint32) { e.cf = c<<4 | e.cf&15 }

// slack covers commits that land after a later expire_date was seen.
const slack = 5 * time.Second

func newIndex(s *Source) *index {
	mem := offheap.NewOwner()
	x := &index{s: s, mem: mem, m: newKeyMap(mem), users: newUserTable(mem), clients: newClientTable(mem),
		errs: map[string]error{}, errExpire: map[string]int64{}}
	offheap.Attach(x, mem) // an index dropped without Close still returns its memory
	return x
}

func (x *index) wait() { x.wg.Wait() }

// refresh brings the index up to date for a reader at now: a full sync the
// first time (blocking), then the rows saved since the last refresh; and a
// background full sync when the last is older than FullSyncEvery.
func (x *index) refresh(ctx context.Context, now time.Time) error {
	return x.refreshMode(ctx, false)
}

// refreshWait is refresh for an action that must see every row saved
// before it (a user's force-out): it waits for a full sync under way
// instead of answering from the index as it was.
func (x *index) refreshWait(ctx context.Context) error {
	return x.refreshMode(ctx, true)
}

// firstSync waits until the index has made its first full sync, which
// runs once, in the background, until ctx is done: then it returns
// data.ErrNotReady with how far the sync is. The sync is not bound to the
// caller's context: at a million rows it takes longer (15 to 30 s here)
// than a dashboard's poll waits (4 s), and when each poll's deadline cut
// it short, every next poll began by reading every key again, the
// dashboard said "store unreachable" for a minute, and the key lists made
// the process's peak. Close stops it.
func (x *index) firstSync(ctx context.Context) error {
	x.mu.Lock()
	if x.synced {
		x.mu.Unlock()
		return nil
	}
	b := x.building
	if b == nil {
		b = &buildRun{done: make(chan struct{})}
		x.building = b
		x.wg.Add(1)
		go x.build(b)
	}
	x.mu.Unlock()
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		x.mu.Lock()
		n, of := x.m.len(), x.expected
		x.mu.Unlock()
		return notReadyError{n, of}
	}
}

// notReadyError is data.ErrNotReady with the first sync's progress, in
// words short enough for a dashboard's status line.
type notReadyError struct{ n, of int }

func (e notReadyError) Error() string {
	return fmt.Sprintf("reading the site's sessions: %s of ~%s", grouped(e.n), grouped(e.of))
}

func (e notReadyError) Is(target error) bool { return target == data.ErrNotReady }

// grouped writes n with thousands separators.
func grouped(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// buildRun is one background first sync: done closes when it ends, with
// err.
type buildRun struct {
	done chan struct{}
	err  error
}

func (x *index) build(b *buildRun) {
	defer x.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // Close cancels it; its end (cancel above) ends this
		select {
		case <-x.s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	x.syncMu.Lock()
	if !x.synced {
		b.err = x.full(ctx, time.Now())
	}
	x.syncMu.Unlock()
	x.mu.Lock()
	// A sync that failed is started again by the next refresh, from what
	// it had read (full makes a pass, not a cold build, when the index
	// holds entries).
	x.building = nil
	x.mu.Unlock()
	close(b.done)
}

func (x *index) refreshMode(ctx context.Context, wait bool) error {
	// The index holds what is in the table and not expired by the clock;
	// a reader's own Now (a test's, a what-if) filters at query time.
	now := time.Now()
	x.mu.Lock()
	first := !x.synced
	x.mu.Unlock()
	var err error
	if first {
		err = x.firstSync(ctx)
	} else if wait {
		x.syncMu.Lock()
		err = x.incremental(ctx, now)
		x.syncMu.Unlock()
	} else if x.syncMu.TryLock() {
		err = x.incremental(ctx, now)
		x.syncMu.Unlock()
	} // else a full sync is under way: answer from the index as it is (the
	// dashboard's poll must not wait for it)
	if err != nil {
		return err
	}
	x.mu.Lock()
	// A full sync is due every FullSyncEvery, but never more often than
	// ten times its own duration: on a table so large that a pass takes
	// seconds, it may use a tenth of the time, not all of it.
	due := !first && !x.running && time.Since(x.lastFull) > max(x.s.opts.FullSyncEvery, 10*x.fullTook)
	if due {
		x.running = true
		x.wg.Add(1)
	}
	// The cheaper check for rows the site deleted (deletes.go), beside
	// the full syncs. Not during one: its pass drops what the site
	// deleted anyway, and while it holds syncMu no refresh brings the
	// index up to date, so every minute the site saved in since would
	// differ and be read again (at 100 saves/s, 200,000 keys in maps: the
	// dashboard's heap peak).
	check := !first && !x.checking && !x.running && time.Since(x.lastCheck) > max(deleteCheckEvery, 4*x.checkTook)
	if check {
		x.checking = true
		x.wg.Add(1)
	}
	x.mu.Unlock()
	if check {
		go x.background(func(ctx context.Context) {
			took, _ := x.checkDeletesTimed(ctx) // a failure leaves the index as it was; the next check retries
			x.mu.Lock()
			x.lastCheck, x.checkTook, x.checking = time.Now(), took, false
			x.mu.Unlock()
		})
	}
	if due {
		go x.background(func(ctx context.Context) {
			x.syncMu.Lock()
			_ = x.full(ctx, time.Now()) // a failure leaves the old index; the next refresh retries
			x.syncMu.Unlock()
			x.mu.Lock()
			x.running = false
			x.mu.Unlock()
		})
	}
	return nil
}

// background runs fn (a full sync or a check), cancelled when the source
// closes.
func (x *index) background(fn func(ctx context.Context)) {
	defer x.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-x.s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	fn(ctx)
}

// incremental reads the rows saved since the watermark: their keys and
// expiry dates first, then the data of those it has not decoded. The
// slack makes every refresh see again the rows of its last seconds (on a
// busy site, thousands): reading their data each time cost more than the
// rest of a poll.
func (x *index) incremental(ctx context.Context, now time.Time) error {
	s := x.s
	x.mu.Lock()
	from := x.watermark.Add(-slack)
	x.mu.Unlock()
	if from.Before(now) {
		from = now
	}
	stmt := "SELECT session_key, " + s.dialect.expireSel() + " FROM django_session WHERE expire_date > " + s.dialect.ph(1) +
		" ORDER BY expire_date LIMIT " + strconv.Itoa(refreshPage)
	page := &x.refreshPage
	for {
		var need []string
		var last time.Time
		n, err := s.eachKeyPage(ctx, page, refreshPage, func(p *keyPage) error {
			x.mu.Lock()
			defer x.mu.Unlock()
			for i := range p.len() {
				if !x.m.seeSame(p.key(i), p.expire[i]) {
					need = append(need, string(p.key(i)))
				}
			}
			last = p.lastExpire()
			return nil
		}, stmt, s.dialect.timeArg(from))
		if err != nil {
			return fmt.Errorf("django refresh: %w", err)
		}
		if err := x.fetch(ctx, need); err != nil {
			return err
		}
		if n < refreshPage {
			return nil
		}
		if !last.After(from) {
			return nil // a page of rows with one expire_date: the full sync will see the rest
		}
		from = last
	}
}

// refreshPage is how many rows one statement of a refresh reads.
const refreshPage = 5000

// full checks every active row's key and expire_date, decodes the rows it
// has not seen, and drops the rows that are gone.
func (x *index) full(ctx context.Context, now time.Time) error {
	s := x.s
	start := time.Now()
	x.mu.Lock()
	cold := x.m.len() == 0
	x.mu.Unlock()
	if cold {
		return x.cold(ctx, now)
	}
	var need []string
	x.mu.Lock()
	x.m.beginPass()
	x.mu.Unlock()
	passOK := false
	defer func() {
		x.mu.Lock()
		if !passOK {
			x.m.endPass(nil) // keep what a failed pass did not get to see
		}
		x.mu.Unlock()
	}()
	err := x.eachActiveKey(ctx, now, func(p *keyPage) error {
		x.mu.Lock()
		defer x.mu.Unlock()
		for i := range p.len() {
			if !x.m.seeSame(p.key(i), p.expire[i]) {
				need = append(need, string(p.key(i)))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("django sync: %w", err)
	}
	if err := x.fetch(ctx, need); err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	// Drop what this pass did not see: rows the site deleted. Incremental
	// refreshes cannot run meanwhile (syncMu), so nothing was added behind
	// the pass's back; a row saved during it, behind its key cursor, is
	// newer than the watermark and comes back with the next refresh.
	x.m.endPass(func(entry) bool { return true })
	passOK = true
	if len(x.errs) > 0 {
		needed := make(map[string]bool, len(need))
		for _, k := range need {
			needed[k] = true
		}
		for k := range x.errs {
			if !needed[k] {
				delete(x.errs, k)
				delete(x.errExpire, k)
			}
		}
	}
	x.synced, x.lastFull, x.fullTook = true, time.Now(), time.Since(start)
	x.gc()
	s.cache.clear()
	return nil
}

// fetch reads and decodes the rows of the given keys.
func (x *index) fetch(ctx context.Context, keys []string) error {
	return x.fetchSeeing(ctx, keys, nil)
}

// fetchSeeing is fetch, showing each batch of rows read to seen first.
func (x *index) fetchSeeing(ctx context.Context, keys []string, seen func([]row)) error {
	var addErr error // add's own error, already described
	err := x.s.eachByKey(ctx, keys, func(rs []row) error {
		if seen != nil {
			seen(rs)
		}
		addErr = x.add(ctx, rs)
		return addErr
	})
	if addErr != nil {
		return addErr
	}
	if err != nil {
		return fmt.Errorf("django sync: %w", err)
	}
	return nil
}

// cold builds an empty index in one pass over the active rows, decoding
// them as they come.
func (x *index) cold(ctx context.Context, now time.Time) error {
	// Size the key table once, for the rows there (it takes an eighth
	// more before it grows): growing it by doubling would leave it up to
	// twice the size it needs.
	var n int
	s := x.s
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM django_session WHERE expire_date > "+s.dialect.ph(1), s.dialect.timeArg(now)).Scan(&n); err != nil {
		return fmt.Errorf("django sync: %w", err)
	}
	x.mu.Lock()
	// The kept orders hold the old map's slot numbers: they go with it (a
	// listing read them in the new map, out of range when the site had
	// emptied and filled again).
	x.resetOrders()
	x.m.release()
	x.m = newKeyMapSized(x.mem, n)
	x.expected = n
	x.mu.Unlock()
	err := x.scanActive(ctx, now, func(rs []row) error { return x.add(ctx, rs) })
	if err != nil {
		return err
	}
	x.mu.Lock()
	x.synced, x.lastFull = true, time.Now()
	x.lastCheck = x.lastFull
	x.mu.Unlock()
	// The build's garbage (every row read and decoded once) left the Go
	// heap at its largest; the index itself is not on it. Give those pages
	// back now, before the first listing's sort adds its own, rather than
	// as the runtime's scavenger would, over minutes: one collection of a
	// heap of a few MB, once per source.
	debug.FreeOSMemory()
	return nil
}

// scanPage is how many rows one statement of eachActiveKey reads on SQLite.
const scanPage = 5000

// eachActiveKey reads the key and expire_date of every active row, in
// pages. PostgreSQL streams one statement (a sequential pass). SQLite
// reads short statements by session_key: a long-running read would hold
// SQLite's shared lock, and a site on a rollback journal (Django's
// default) cannot commit while any reader holds it.
func (x *index) eachActiveKey(ctx context.Context, now time.Time, fn func(*keyPage) error) error {
	s := x.s
	d := s.dialect
	page := newKeyPage(scanPage)
	if _, pg := d.(postgresDialect); pg {
		_, err := s.eachKeyPage(ctx, page, scanPage, fn, "SELECT session_key, expire_date FROM django_session WHERE expire_date > $1", d.timeArg(now))
		return err
	}
	stmt := fmt.Sprintf("SELECT session_key, %s FROM django_session WHERE expire_date > ? AND session_key > ? ORDER BY session_key LIMIT %d",
		d.expireSel(), scanPage)
	after := ""
	for {
		n, err := s.eachKeyPage(ctx, page, scanPage, func(p *keyPage) error {
			after = string(p.key(p.len() - 1))
			return fn(p)
		}, stmt, d.timeArg(now), after)
		if err != nil || n < scanPage {
			return err
		}
	}
}

// scanActive reads the active rows with their data, for a cold build: on
// PostgreSQL one streamed statement (rows.go), on SQLite short statements
// by session_key (see eachActiveKey).
func (x *index) scanActive(ctx context.Context, now time.Time, fn func([]row) error) error {
	s := x.s
	d := s.dialect
	if _, pg := d.(postgresDialect); pg {
		return s.streamActive(ctx, now, fn)
	}
	// Rows with their data are a few hundred bytes each: pages as small
	// as streamActive's batches keep them out of the heap's peak during a
	// cold build (and each statement shorter).
	stmt := fmt.Sprintf("SELECT session_key, session_data, %s FROM django_session WHERE expire_date > ? AND session_key > ? ORDER BY session_key LIMIT %d",
		d.expireSel(), streamBatch)
	after := ""
	for {
		rows, err := s.db.QueryContext(ctx, stmt, d.timeArg(now), after)
		if err != nil {
			return fmt.Errorf("django sync: %w", err)
		}
		rs, err := s.scanRows(rows)
		if err != nil {
			return fmt.Errorf("django sync: %w", err)
		}
		if len(rs) == 0 {
			return nil
		}
		if err := fn(rs); err != nil {
			return err
		}
		if len(rs) < streamBatch {
			return nil
		}
		after = rs[len(rs)-1].key
	}
}

// gc drops interned users and clients no entry uses any more (renumbering
// the entries' references), so the tables stay bounded by the live
// sessions.
func (x *index) gc() {
	n := x.m.len()
	if x.users.len() < 2*n+64 && x.clients.len() < 2*n+64 {
		return
	}
	um := make(map[uint32]uint32)
	cm := make(map[uint32]uint32)
	users, clients := newUserTable(x.mem), newClientTable(x.mem)
	x.m.rewrite(func(e entry) entry {
		u, ok := um[e.user]
		if !ok {
			u = users.intern(x.users.at(e.user))
			um[e.user] = u
		}
		c, ok := cm[e.client()]
		if !ok {
			c = clients.intern(x.clients.at(e.client()))
			cm[e.client()] = c
		}
		e.user = u
		e.setClient(c)
		return e
	})
	x.users.release()
	x.clients.release()
	x.users, x.clients = users, clients
	x.resetQueryCache() // ranks, filter results and kept orders are by user and client number
	x.m.logging, x.m.changed = false, nil
}

// add decodes rows into entries (seen by a full sync's pass, when one is
// under way).
func (x *index) add(ctx context.Context, rs []row) error {
	if len(rs) == 0 {
		return nil
	}
	// Skip the rows already decoded with this expire_date.
	x.mu.Lock()
	todo := rs[:0:0]
	for _, r := range rs {
		if x.m.seeSame([]byte(r.key), r.expire.UnixMicro()) {
			continue
		}
		todo = append(todo, r)
		if r.expire.After(x.watermark) {
			x.watermark = r.expire
		}
	}
	x.mu.Unlock()
	// A decoded row (its dict) is kilobytes: decode a few hundred at a
	// time, not a page of thousands, or they would set the heap's peak
	// (and the garbage collector's goal) during a cold build.
	for len(todo) > addBatch {
		if err := x.decode(ctx, todo[:addBatch]); err != nil {
			return err
		}
		todo = todo[addBatch:]
	}
	return x.decode(ctx, todo)
}

const addBatch = 512

// decode decodes rows and sets their entries.
func (x *index) decode(ctx context.Context, todo []row) error {
	s := x.s
	ps := make([]parsed, len(todo))
	bad := make([]error, len(todo))
	spread(len(todo), func(i int) { ps[i], bad[i] = s.parseRow(todo[i]) })
	// The auth_user rows toSession reads, as a listing's window does
	// (needsAuthUser): for the user of a plain Django row, and for the
	// login time of a site's row without one, so that both paths give the
	// same answer.
	var ids []int64
	for i := range todo {
		if bad[i] == nil && ps[i].needsAuthUser() {
			ids = append(ids, ps[i].authID)
		}
	}
	users, err := s.loadAuthUsers(ctx, s.db, ids)
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for i, r := range todo {
		if bad[i] != nil {
			x.errs[r.key] = bad[i]
			x.errExpire[r.key] = r.expire.UnixMicro()
			x.m.del(r.key)
			continue
		}
		delete(x.errs, r.key)
		delete(x.errExpire, r.key)
		ss := s.toSession(r, ps[i], users)
		x.m.set(r.key, x.entryOf(ss))
	}
	return nil
}

func (x *index) entryOf(ss data.Session) entry {
	u := userInfo{ss.UserID, ss.Username, ss.Email, ss.FullName, ss.Role, ss.Status}
	up := x.users.intern(u)
	cp := x.clients.intern(client{ss.IP, ss.UserAgent})
	var flags uint8
	if _, ok := ss.Data[MarkLastActivity]; ok {
		flags |= flagLastEst
	}
	if _, ok := ss.Data[MarkLoginTime]; ok {
		flags |= flagLoginEst
	}
	switch {
	case ss.Status == StatusTampered:
		flags |= flagTampered
	case !x.s.opts.Keys.Usable():
		flags |= flagUnchecked
	}
	return entry{expire: ss.ExpiresAt.UnixMicro(), login: wholeSeconds(ss.LoginTime), last: wholeSeconds(ss.LastActivity),
		user: up, cf: cp<<4 | uint32(flags)}
}

// session is the operator's view of an entry (no session dict: only the
// markers).
func (x *index) session(key string, e entry) data.Session {
	u, c := x.users.at(e.user).owned(), x.clients.at(e.client())
	c.ip = strings.Clone(c.ip)
	ss := data.Session{
		ID: key, UserID: u.id, Username: u.username, Email: u.email,
		FullName: u.fullName, Role: u.role, Status: u.status,
		IP: c.ip, UserAgent: c.ua,
		LoginTime: time.UnixMicro(e.login).UTC(), LastActivity: time.UnixMicro(e.last).UTC(),
		ExpiresAt: time.UnixMicro(e.expire).UTC(),
	}
	m := map[string]any{}
	if e.flags()&flagLastEst != 0 {
		m[MarkLastActivity] = "estimated"
	}
	if e.flags()&flagLoginEst != 0 {
		m[MarkLoginTime] = "estimated"
	}
	switch {
	case e.flags()&flagTampered != 0:
		m[MarkSignature] = "tampered"
	case e.flags()&flagUnchecked != 0:
		m[MarkSignature] = "unchecked (no SECRET_KEY)"
	default:
		m[MarkSignature] = "valid"
	}
	ss.Data = m
	return ss
}

// forget drops keys the source itself deleted.
func (x *index) forget(keys ...string) {
	x.mu.Lock()
	for _, k := range keys {
		x.m.del(k)
		delete(x.errs, k)
		delete(x.errExpire, k)
	}
	x.mu.Unlock()
	x.statsStale()
}

// statsStale makes the next Stats count again rather than answer from
// counts up to StatsMaxAge old: sessions left the index (a force-out, or
// rows the site deleted that a check found), and the counts should say so
// at once, not up to StatsMaxAge later.
func (x *index) statsStale() {
	x.statsMu.Lock()
	x.statsAt = time.Time{}
	x.statsGen++
	x.statsMu.Unlock()
}

// rowErrors returns the undecodable rows, joined, sorted by key.
func (x *index) rowErrors() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	keys := make([]string, 0, len(x.errs))
	for k := range x.errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	errs := make([]error, len(keys))
	for i, k := range keys {
		errs[i] = x.errs[k]
	}
	return errors.Join(errs...)
}

// SyncNow runs a full sync of the index at once (benchmarks, and an
// operator's explicit refresh).
func (s *Source) SyncNow(ctx context.Context) error {
	s.idx.syncMu.Lock()
	defer s.idx.syncMu.Unlock()
	return s.idx.full(ctx, time.Now())
}
