package django

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"sessionmon/data"
	"sessionmon/internal/offheap"
)

// Listings and counts from the index (issue 10: a dashboard poll at 1M
// sessions in milliseconds, in every order it offers). A listing is a
// single pass over the entries that keeps the Limit+1 first in the order
// after the cursor (a bounded heap), so only those become data.Sessions;
// comparing two entries reads two integers (a time, or the rank of the
// user's name among the interned users), and the key only on a tie. What
// a filter asks of a user or a client is worked out once per interned
// user and client and kept while the filter stays (queryCache), not once
// per session and poll.

var _ data.Counter = (*Source)(nil)

// queryCache is what listings reuse between polls. It is by user and
// client number, so gc (which renumbers them) resets it
// (resetQueryCache); users and clients only ever grow in between, so it
// extends itself to the new ones. Guarded by index.mu.
//
// Its arrays by user (byName, rank, roleOf: 4 bytes a user each, 3 MB at
// 250,000 users) are mapped for the index (internal/offheap), as the
// index's own columns are: on the Go heap they were most of what stays
// live there, and GOGC's headroom over them half as much again.
type queryCache struct {
	// byName: user numbers by username (then number); rank: by user
	// number, 2*(dense rank of the username + 1), so that a cursor's name
	// not among them ranks oddly between its neighbours.
	byName []uint32
	rank   []uint32

	// roleOf: by user number, the number of its role in roles (Stats).
	roleOf  []uint32
	roles   []string
	roleIdx map[string]uint32

	f filterCache

	orders map[data.SortKey]*keptOrder // orders.go
	dirty  []uint64                    // topKept's bitset, all clear between calls
}

// userRoles returns every user's role number, extended to new users, and
// the roles.
func (x *index) userRoles() ([]uint32, []string) {
	c := &x.qc
	for i := len(c.roleOf); i < x.users.len(); i++ {
		r := x.users.role(uint32(i))
		id, ok := c.roleIdx[r]
		if !ok {
			r = strings.Clone(r) // kept, and in Stats: not the arena's

			if c.roleIdx == nil {
				c.roleIdx = map[string]uint32{}
			}
			id = uint32(len(c.roles))
			c.roles = append(c.roles, r)
			c.roleIdx[r] = id
		}
		c.roleOf = offheap.Append(x.mem, c.roleOf, id)
	}
	return c.roleOf, c.roles
}

// resetQueryCache drops what listings kept, returning the memory of its
// arrays by user and of the kept orders.
func (x *index) resetQueryCache() {
	x.dropOrders()
	c := &x.qc
	offheap.Free(x.mem, c.byName)
	offheap.Free(x.mem, c.rank)
	offheap.Free(x.mem, c.roleOf)
	*c = queryCache{}
}

// filterCache holds what the last filter asked of each user and client.
type filterCache struct {
	username, role, text, ip string
	valid                    bool
	user                     []uint8 // userPass | userText
	client                   []uint8 // clientText | clientPass
}

const (
	userPass = 1 << iota // Username and Role match (exactly, if set)
	userText             // Text is in the username, name, email or role
)

const (
	clientText = 1 << iota // Text is in the IP
	clientPass             // IP matches (exactly, if set)
)

// ranks returns the rank of every user, extended to new ones.
func (x *index) ranks() []uint32 {
	c := &x.qc
	nu := x.users.len()
	if len(c.rank) == nu {
		return c.rank
	}
	// The new users, sorted, are merged into the old order in place,
	// from the back (as remerge does): byName grows in its own region.
	old := len(c.byName)
	var add []uint32
	if n := nu - old; n >= 1<<12 { // many (all the users, at the first call)
		add = offheap.Make[uint32](x.mem, n)
		defer offheap.Free(x.mem, add)
	} else { // a few new ones: not worth a mapping
		add = make([]uint32, n)
	}
	for k := range add {
		add[k] = uint32(old + k)
	}
	byName := func(a, b uint32) int {
		return cmp.Or(strings.Compare(x.users.name(a), x.users.name(b)), cmp.Compare(a, b))
	}
	slices.SortFunc(add, byName)
	merged := offheap.Grow(x.mem, c.byName, len(add))[:nu]
	i, j, k := old-1, len(add)-1, nu-1
	for j >= 0 {
		if i >= 0 && byName(merged[i], add[j]) > 0 {
			merged[k] = merged[i]
			i--
		} else {
			merged[k] = add[j]
			j--
		}
		k--
	}
	rank := offheap.Grow(x.mem, c.rank, len(add))[:nu]
	var d uint32
	for k, u := range merged {
		if k > 0 && x.users.name(u) != x.users.name(merged[k-1]) {
			d++
		}
		rank[u] = 2 * (d + 1)
	}
	c.byName, c.rank = merged, rank
	return rank
}

// nameRank places a cursor's username among the ranks: the rank of that
// name, or an odd number between the names around it.
func (x *index) nameRank(name string) int64 {
	c := &x.qc
	p := sort.Search(len(c.byName), func(i int) bool { return x.users.name(c.byName[i]) >= name })
	if p == len(c.byName) {
		if p == 0 {
			return 1
		}
		return int64(c.rank[c.byName[p-1]]) + 1
	}
	r := int64(c.rank[c.byName[p]])
	if x.users.name(c.byName[p]) == name {
		return r
	}
	return r - 1
}

// filter returns what q's filters ask of each user and client (nil when
// q has none), extended to new ones.
func (x *index) filter(q data.Query) *filterCache {
	if q.Username == "" && q.Role == "" && q.Text == "" && q.IP == "" {
		return nil
	}
	f := &x.qc.f
	if !f.valid || f.username != q.Username || f.role != q.Role || f.text != q.Text || f.ip != q.IP {
		*f = filterCache{username: q.Username, role: q.Role, text: q.Text, ip: q.IP, valid: true}
	}
	t := strings.ToLower(q.Text)
	for i := len(f.user); i < x.users.len(); i++ {
		u := x.users.at(uint32(i))
		var m uint8
		if (q.Username == "" || u.username == q.Username) && (q.Role == "" || u.role == q.Role) {
			m |= userPass
		}
		if t != "" && (containsFold(u.username, t) || containsFold(u.fullName, t) || containsFold(u.email, t) || containsFold(u.role, t)) {
			m |= userText
		}
		f.user = append(f.user, m)
	}
	for i := len(f.client); i < x.clients.len(); i++ {
		ip := x.clients.at(uint32(i)).ip
		var m uint8
		if t != "" && containsFold(ip, t) {
			m |= clientText
		}
		if q.IP == "" || ip == q.IP {
			m |= clientPass
		}
		f.client = append(f.client, m)
	}
	return f
}

// containsFold is strings.Contains(strings.ToLower(s), t) for a t already
// lowered, without lowering (allocating) an ASCII s.
func containsFold(s, t string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.Contains(strings.ToLower(s), t)
		}
	}
	if len(t) > len(s) {
		return false
	}
outer:
	for i := 0; i+len(t) <= len(s); i++ {
		for j := 0; j < len(t); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != t[j] {
				continue outer
			}
		}
		return true
	}
	return false
}

// hit is an entry in a listing's order: p is its place in the sort key
// (twice its time, or its user's rank), the key breaks ties.
type hit struct {
	p   int64
	k32 [32]byte
	ks  string // a key of another length; k32 is zero
	e   entry
}

func (h *hit) key() string { return keyString(h.k32, h.ks) }

func (h *hit) keyBytes() []byte {
	if h.ks != "" {
		return []byte(h.ks)
	}
	return h.k32[:]
}

// selection is one listing or count: its filter, order and cursor.
type selection struct {
	x    *index
	now  int64
	f    *filterCache
	sort data.SortKey
	desc bool
	rank []uint32

	after    bool
	curP     int64
	curKey   []byte
	curPack  packed // curKey packed, when it packs (curPacks)
	curPacks bool
}

func (x *index) selection(q data.Query) *selection {
	sl := &selection{x: x, now: q.Now.UnixMicro(), f: x.filter(q), sort: q.Sort, desc: q.Desc}
	if q.Sort == data.SortUser {
		sl.rank = x.ranks()
	}
	if c := q.After; c != nil {
		sl.after, sl.curKey = true, []byte(c.ID)
		sl.curPack, sl.curPacks = packKey(c.ID)
		if q.Sort == data.SortUser {
			sl.curP = x.nameRank(c.User)
		} else {
			// Entries hold microseconds: a cursor's time between two
			// of them sits at the odd number between their doubles.
			sl.curP = 2 * c.Time.UnixMicro()
			if c.Time.Nanosecond()%1000 != 0 {
				sl.curP++
			}
		}
	}
	return sl
}

// place is an entry's p.
func (sl *selection) place(e *entry) int64 {
	switch sl.sort {
	case data.SortUser:
		return int64(sl.rank[e.user])
	case data.SortLastActivity:
		return 2 * e.last
	case data.SortLoginTime:
		return 2 * e.login
	}
	return 2 * e.expire
}

// order compares two places and keys in the listing's direction.
func (sl *selection) order(ap int64, ak []byte, bp int64, bk []byte) int {
	c := cmp.Compare(ap, bp)
	if c == 0 {
		c = bytes.Compare(ak, bk)
	}
	if sl.desc {
		return -c
	}
	return c
}

// matches reports whether an active entry passes the filters.
func (sl *selection) matches(e *entry) bool {
	if e.expire <= sl.now {
		return false
	}
	f := sl.f
	if f == nil {
		return true
	}
	m, c := f.user[e.user], f.client[e.client()]
	if m&userPass == 0 || c&clientPass == 0 {
		return false
	}
	return f.text == "" || m&userText != 0 || c&clientText != 0
}

// The passes below read the chunks' columns (keymap.go) directly, and are
// written out rather than shared through a callback: a call per entry
// costs as much as the rest of the work. A dead slot's expiry is 0, so the
// test for an active entry skips it.

// pass is what a pass needs of one slot after the expiry test: whether it
// passes the filters, and its place.
func (sl *selection) pass(ch *chunk, i int) (int64, bool) {
	if f := sl.f; f != nil {
		m, c := f.user[ch.user[i]], f.client[ch.cf[i]>>4]
		if m&userPass == 0 || c&clientPass == 0 || f.text != "" && m&userText == 0 && c&clientText == 0 {
			return 0, false
		}
	}
	return sl.placeAt(ch, i), true
}

// side reports whether a place and key lie after the cursor.
func (sl *selection) side(p int64, k []byte) bool {
	return !sl.after || sl.order(p, k, sl.curP, sl.curKey) > 0
}

// sideSlot is side for a packed key: packed keys compare as the keys do.
func (sl *selection) sideSlot(p int64, k *packed) bool {
	if !sl.after {
		return true
	}
	c := cmp.Compare(p, sl.curP)
	if c == 0 {
		if sl.curPacks {
			c = bytes.Compare(k[:], sl.curPack[:])
		} else {
			u := k.unpack()
			c = bytes.Compare(u[:], sl.curKey)
		}
	}
	if sl.desc {
		c = -c
	}
	return c > 0
}

// count counts the active entries that pass the filters and lie after the
// cursor (with upTo: at or before it).
func (sl *selection) count(upTo bool) int64 {
	m := &sl.x.m
	var n int64
	for c, ch := range m.chunks {
		for i, exp := range ch.expire[:m.live(c)] {
			if exp <= sl.now {
				continue
			}
			if p, ok := sl.pass(ch, i); ok && (!sl.after || sl.sideSlot(p, &ch.key[i]) != upTo) {
				n++
			}
		}
	}
	for k, e := range m.other {
		if sl.matches(&e) && (!sl.after || sl.side(sl.place(&e), []byte(k)) != upTo) {
			n++
		}
	}
	return n
}

// top returns the first n entries of the listing after the cursor, in
// order.
func (sl *selection) top(n int) []hit {
	h := make([]hit, 0, n)
	// A max-heap in the listing's order: h[0] is the last kept.
	worse := func(i, j int) bool {
		return sl.order(h[i].p, h[i].keyBytes(), h[j].p, h[j].keyBytes()) > 0
	}
	consider := func(p int64, k []byte, k32 *[32]byte, ks string, e entry) {
		if len(h) < n {
			h = append(h, hit{p: p, k32: *k32, ks: ks, e: e})
			for i := len(h) - 1; i > 0; {
				parent := (i - 1) / 2
				if !worse(i, parent) {
					break
				}
				h[i], h[parent] = h[parent], h[i]
				i = parent
			}
			return
		}
		if sl.order(p, k, h[0].p, h[0].keyBytes()) >= 0 {
			return
		}
		h[0] = hit{p: p, k32: *k32, ks: ks, e: e}
		for i := 0; ; {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			if r := l + 1; r < len(h) && worse(r, l) {
				l = r
			}
			if !worse(l, i) {
				return
			}
			h[i], h[l] = h[l], h[i]
			i = l
		}
	}
	if n <= 0 {
		return h
	}
	m := &sl.x.m
	for c, ch := range m.chunks {
		for i, exp := range ch.expire[:m.live(c)] {
			if exp <= sl.now {
				continue
			}
			p, ok := sl.pass(ch, i)
			if !ok {
				continue
			}
			// Most entries lose to the last kept on their place alone.
			if len(h) == n {
				if c := cmp.Compare(p, h[0].p); c != 0 && (c > 0) != sl.desc {
					continue
				}
			}
			if !sl.sideSlot(p, &ch.key[i]) {
				continue
			}
			k := ch.key[i].unpack()
			consider(p, k[:], &k, "", ch.entry(uint32(i)))
		}
	}
	for k, e := range m.other {
		if sl.matches(&e) {
			if p := sl.place(&e); sl.side(p, []byte(k)) {
				consider(p, []byte(k), &[32]byte{}, k, e)
			}
		}
	}
	slices.SortFunc(h, func(a, b hit) int { return sl.order(a.p, a.keyBytes(), b.p, b.keyBytes()) })
	return h
}

// list answers a ListActive from the index.
func (x *index) list(q data.Query) data.Page {
	x.mu.Lock()
	defer x.mu.Unlock()
	sl := x.selection(q)
	hits, ok := sl.topKept(q.Limit + 1)
	if !ok {
		hits = sl.top(q.Limit + 1)
	}
	page := data.Page{Sessions: make([]data.Session, 0, min(len(hits), q.Limit))}
	for i := range hits[:min(len(hits), q.Limit)] {
		page.Sessions = append(page.Sessions, x.session(hits[i].key(), hits[i].e))
	}
	if len(hits) > q.Limit {
		page.Next = data.CursorOf(page.Sessions[q.Limit-1], q.Sort)
	}
	return page
}

// CountActive counts the active sessions q selects, or with q.After those
// at or before the cursor (data.Counter: the dashboard's "95/99,786"),
// from the index, as ListActive's filters and orders list them.
func (s *Source) CountActive(ctx context.Context, q data.Query) (int64, error) {
	if q.Sort == "" {
		q.Sort = data.SortExpires
	}
	if !q.Sort.Valid() {
		return 0, fmt.Errorf("django count: unknown sort key %q", q.Sort)
	}
	if q.Now.IsZero() {
		q.Now = time.Now()
	}
	if err := s.idx.refresh(ctx, q.Now); err != nil {
		return 0, fmt.Errorf("django count: %w", err)
	}
	x := s.idx
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.selection(q).count(true), nil
}
