package django

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"math/bits"
	"time"
	"unsafe"

	"sessionmon/internal/offheap"
)

// keyMap holds the index's entries by session key, in as little memory as
// a million sessions allow (issue 10: the dashboard under 128 MB at 1M).
//
// Django's keys are 32 characters of [a-z0-9], packed into 22 bytes that
// sort as the keys do (packKey), so an entry and its key make 46 bytes
// with no pointers, a slot. Slots live in fixed-size chunks (growth
// allocates one more chunk, never copies the ones there), a deleted slot
// is reused, and the garbage collector never scans them. A chunk keeps
// each field in its own column: a listing's pass reads the expiry and the
// field it orders by (12 to 16 bytes a session), not whole slots. Keys
// are found through an open-addressing table of slot numbers (4 bytes a
// slot at a load of 2/3 to 3/4: tableSize), which costs a tenth of a Go
// map of [32]byte keys (72-byte slots at its own load factor). Keys of
// another length (a site with its own key scheme) go to a plain map.
//
// The chunks, the table and the free list are mapped outside the Go heap
// (internal/offheap), for mem, the index's owner: at a million sessions
// they are 60 MB the collector need not count (a heap of twice that).
// release returns them.
//
// A full sync marks the keys it sees (see, seeSame) and drops the others
// (dropUnseen): a bitset over slot numbers, not a generation in every
// entry.
type keyMap struct {
	mem    *offheap.Owner
	chunks []*chunk
	used   uint32   // slots handed out: the next fresh slot number
	free   []uint32 // dead slots to reuse
	n      int      // live slots
	tab    []uint32 // 0: empty; else slot number + 1
	seed   maphash.Seed
	other  map[string]entry

	// changed logs the slots set or removed while logging (orders.go: the
	// listings' kept orders know what moved since they were sorted).
	changed []uint32
	logging bool

	pass      bool
	seen      []uint64 // by slot number, during a pass
	otherSeen map[string]bool
}

// chunk holds chunkLen slots, by column. A dead slot is all zero: a zero
// first key byte (a key that starts with a NUL byte goes to other), and
// expiry 0, so that passes that skip expired entries skip it too.
//
// Login and last activity are kept in whole seconds (entryOf truncates
// them), 4 bytes each: the dashboard shows them to the second, and at a
// million sessions the 8 bytes saved are 8 MB. Expiry keeps its
// microseconds: it is how a row is told unchanged (seeSame).
type chunk struct {
	key         [chunkLen]packed
	expire      [chunkLen]int64
	login, last [chunkLen]uint32 // Unix seconds; 0: unknown (time.Time{})
	user        [chunkLen]uint32
	cf          [chunkLen]uint32
}

// zeroMicros is time.Time{}'s Unix microseconds: an unknown time.
var zeroMicros = time.Time{}.UnixMicro()

// toSeconds is a time column's value for whole microseconds us: 0 for an
// unknown time (and any before 1970), clamped past 2106.
func toSeconds(us int64) uint32 {
	if us < 1e6 {
		return 0
	}
	return uint32(min(us/1e6, math.MaxUint32))
}

// fromSeconds is toSeconds undone.
func fromSeconds(s uint32) int64 {
	if s == 0 {
		return zeroMicros
	}
	return int64(s) * 1e6
}

// wholeSeconds is t's Unix microseconds truncated to the second, as a
// time column keeps it.
func wholeSeconds(t time.Time) int64 { return fromSeconds(toSeconds(t.UnixMicro())) }

const (
	chunkBits = 14 // 16,384 slots, 1 MiB a chunk
	chunkLen  = 1 << chunkBits
)

func (c *chunk) entry(i uint32) entry {
	return entry{expire: c.expire[i], login: fromSeconds(c.login[i]), last: fromSeconds(c.last[i]), user: c.user[i], cf: c.cf[i]}
}

func (c *chunk) set(i uint32, e entry) {
	c.expire[i], c.login[i], c.last[i], c.user[i], c.cf[i] = e.expire, toSeconds(e.login), toSeconds(e.last), e.user, e.cf
}

func (c *chunk) clear(i uint32) {
	c.key[i] = packed{}
	c.set(i, entry{})
}

func newKeyMap(mem *offheap.Owner) keyMap { return newKeyMapSized(mem, 0) }

// newKeyMapSized makes a map for n keys without regrowing its table (it
// grows past n*9/8), its memory mapped for mem (nil: on the Go heap).
func newKeyMapSized(mem *offheap.Owner, n int) keyMap {
	return keyMap{mem: mem, tab: offheap.Make[uint32](mem, tableSize(n)), seed: maphash.MakeSeed(), other: map[string]entry{}}
}

// The key map's and the intern tables' open-addressing tables are of any
// size, not a power of two: a position is the hash scaled to the size
// (home), and probes wrap at the end (next). A table is sized for a load
// of 2/3 and grows at 3/4 (full), so a table sized for a million keys
// takes 6 MB, where the power of two above the same load took 8 (issue
// 10: the dashboard under 128 MB at 1M). Linear probing at 2/3 reads 2
// positions for a key there and 5 for one not, against 1.5 and 2.4 at
// the half-empty power of two: BenchmarkKeyMapFind at 1M, 25-30% more
// for a key there, twice as long for one not; a full sync of a million
// rows, nearly all there, ~27 ms more.

// tableSize is a table's size for n keys: a load of 2/3, at least 64.
func tableSize(n int) int { return max(64, n+n/2) }

// full reports whether a table of size positions holding n keys must
// grow before it takes another.
func full(n, size int) bool { return (n+1)*4 > size*3 }

// home is the first position probed for hash h in a table of size
// positions: h scaled to [0, size), from its high bits.
func home(h uint64, size int) int {
	hi, _ := bits.Mul64(h, uint64(size))
	return int(hi)
}

// next is the position probed after pos, wrapping at the end.
func next(pos, size int) int {
	if pos++; pos == size {
		return 0
	}
	return pos
}

// release returns the map's memory: nothing may use it afterwards.
func (m *keyMap) release() {
	for _, c := range m.chunks {
		offheap.Free(m.mem, unsafe.Slice(c, 1))
	}
	offheap.Free(m.mem, m.tab)
	offheap.Free(m.mem, m.free)
	*m = keyMap{}
}

func (m *keyMap) len() int { return m.n + len(m.other) }

func (m *keyMap) chunkOf(id uint32) (*chunk, uint32) {
	return m.chunks[id>>chunkBits], id & (chunkLen - 1)
}

func (m *keyMap) keyOf(id uint32) *packed {
	c, i := m.chunkOf(id)
	return &c.key[i]
}

func (m *keyMap) entryOf(id uint32) entry {
	c, i := m.chunkOf(id)
	return c.entry(i)
}

func (m *keyMap) setEntry(id uint32, e entry) {
	c, i := m.chunkOf(id)
	c.set(i, e)
}

// packed is a Django key packed by packKey: three groups of 12, 12 and
// 8 characters, each a base-36 number ('0'-'9' then 'a'-'z', as ASCII
// sorts them) in 8, 8 and 6 big-endian bytes, so that packed keys compare
// as the keys do. 36^12 < 2^63: the first byte's top bit is free, and set,
// to tell a live slot from an empty one.
type packed [22]byte

const liveBit = 0x80

func packKey[K ~string | ~[]byte](k K) (packed, bool) {
	var p packed
	if len(k) != 32 {
		return p, false
	}
	var v uint64
	at := 0
	for i := 0; i < 32; i++ {
		c := k[i]
		var d uint64
		switch {
		case '0' <= c && c <= '9':
			d = uint64(c - '0')
		case 'a' <= c && c <= 'z':
			d = uint64(c-'a') + 10
		default:
			return packed{}, false
		}
		v = v*36 + d
		if i == 11 || i == 23 {
			binary.BigEndian.PutUint64(p[at:], v)
			at += 8
			v = 0
		}
	}
	var last [8]byte
	binary.BigEndian.PutUint64(last[:], v)
	copy(p[16:], last[2:])
	p[0] |= liveBit
	return p, true
}

func (p *packed) unpack() [32]byte {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	var k [32]byte
	put := func(v uint64, to, n int) {
		for i := to + n - 1; i >= to; i-- {
			k[i] = digits[v%36]
			v /= 36
		}
	}
	put(binary.BigEndian.Uint64(p[0:8])&^(liveBit<<56), 0, 12)
	put(binary.BigEndian.Uint64(p[8:16]), 12, 12)
	var last [8]byte
	copy(last[2:], p[16:])
	put(binary.BigEndian.Uint64(last[:]), 24, 8)
	return k
}

func (p *packed) live() bool { return p[0]&liveBit != 0 }

func (m *keyMap) hash(k []byte) uint64 { return maphash.Bytes(m.seed, k) }

// find returns the table position of k and whether it is there; when it
// is not, pos is the empty position where it would go.
func (m *keyMap) find(k *packed) (pos int, id uint32, ok bool) {
	size := len(m.tab)
	for pos = home(m.hash(k[:]), size); ; pos = next(pos, size) {
		v := m.tab[pos]
		if v == 0 {
			return pos, 0, false
		}
		if *m.keyOf(v - 1) == *k {
			return pos, v - 1, true
		}
	}
}

func (m *keyMap) get(k string) (entry, bool) {
	pk, in := packKey(k)
	if !in {
		e, ok := m.other[k]
		return e, ok
	}
	_, id, ok := m.find(&pk)
	if !ok {
		return entry{}, false
	}
	return m.entryOf(id), true
}

func (m *keyMap) set(k string, e entry) {
	pk, in := packKey(k)
	if !in {
		m.other[k] = e
		if m.pass {
			m.otherSeen[k] = true
		}
		return
	}
	pos, id, ok := m.find(&pk)
	if ok {
		m.setEntry(id, e)
		m.mark(id)
		m.logChange(id)
		return
	}
	if full(m.n, len(m.tab)) {
		m.grow()
		pos, _, _ = m.find(&pk)
	}
	id = m.alloc()
	*m.keyOf(id) = pk
	m.setEntry(id, e)
	m.tab[pos] = id + 1
	m.n++
	m.mark(id)
	m.logChange(id)
}

func (m *keyMap) logChange(id uint32) {
	if m.logging {
		m.changed = append(m.changed, id)
	}
}

// mark notes a slot set during a pass as seen: what the pass itself
// decoded (set) is in the table.
func (m *keyMap) mark(id uint32) {
	if !m.pass {
		return
	}
	for int(id>>6) >= len(m.seen) {
		m.seen = append(m.seen, 0)
	}
	m.seen[id>>6] |= 1 << (id & 63)
}

func (m *keyMap) alloc() uint32 {
	if n := len(m.free); n > 0 {
		id := m.free[n-1]
		m.free = m.free[:n-1]
		return id
	}
	id := m.used
	if int(id>>chunkBits) == len(m.chunks) {
		m.chunks = append(m.chunks, offheap.New[chunk](m.mem))
	}
	m.used++
	return id
}

func (m *keyMap) grow() {
	m.tab = rehash(m.mem, m.tab, func(v uint32) uint64 { return m.hash(m.keyOf(v - 1)[:]) })
}

// rehash returns an open-addressing table of slot numbers + 1 (0: empty)
// twice the size of old, holding old's entries placed by hashOf, and frees
// old: the key map's table and the intern tables' grow alike.
func rehash(mem *offheap.Owner, old []uint32, hashOf func(v uint32) uint64) []uint32 {
	tab := offheap.Make[uint32](mem, 2*len(old))
	size := len(tab)
	for _, v := range old {
		if v == 0 {
			continue
		}
		pos := home(hashOf(v), size)
		for tab[pos] != 0 {
			pos = next(pos, size)
		}
		tab[pos] = v
	}
	offheap.Free(mem, old)
	return tab
}

func (m *keyMap) del(k string) {
	pk, in := packKey(k)
	if !in {
		delete(m.other, k)
		return
	}
	pos, id, ok := m.find(&pk)
	if ok {
		m.remove(pos, id)
	}
}

// posOf is the table position of a live slot.
func (m *keyMap) posOf(id uint32) int {
	size := len(m.tab)
	pos := home(m.hash(m.keyOf(id)[:]), size)
	for m.tab[pos] != id+1 {
		pos = next(pos, size)
	}
	return pos
}

// remove empties table position pos (slot id) by backward shift, so that
// no tombstones slow later probes.
func (m *keyMap) remove(pos int, id uint32) {
	size := len(m.tab)
	i := pos
	m.tab[i] = 0
	for j := next(i, size); m.tab[j] != 0; j = next(j, size) {
		h := home(m.hash(m.keyOf(m.tab[j] - 1)[:]), size)
		// The entry at j may move to i unless its home lies cyclically
		// in (i, j].
		if i <= j {
			if i < h && h <= j {
				continue
			}
		} else if i < h || h <= j {
			continue
		}
		m.tab[i], m.tab[j] = m.tab[j], 0
		i = j
	}
	c, ci := m.chunkOf(id)
	c.clear(ci)
	m.free = offheap.Append(m.mem, m.free, id)
	m.n--
	m.logChange(id)
}

// each calls fn for every entry with its key as k32 (32-character keys)
// or k (others): keyString makes the string only when the caller needs it,
// so a walk over a million entries allocates nothing.
func (m *keyMap) each(fn func(k32 [32]byte, k string, e entry)) {
	for c, ch := range m.chunks {
		for i := range m.live(c) {
			if ch.key[i].live() {
				fn(ch.key[i].unpack(), "", ch.entry(uint32(i)))
			}
		}
	}
	for k, e := range m.other {
		fn([32]byte{}, k, e)
	}
}

// live is how many slots of chunk c have been handed out (dead ones are
// all zero): for loops over the columns that must not pay a call per
// entry.
func (m *keyMap) live(c int) int {
	if c == len(m.chunks)-1 {
		return int(m.used - uint32(c)<<chunkBits)
	}
	return chunkLen
}

// keyString is the key each passed.
func keyString(k32 [32]byte, k string) string {
	if k != "" {
		return k
	}
	return string(k32[:])
}

// deleteIf removes the entries for which drop returns true.
func (m *keyMap) deleteIf(drop func(e entry) bool) {
	m.dropWhere(func(_ uint32, e entry) bool { return drop(e) }, func(_ string, e entry) bool { return drop(e) })
}

func (m *keyMap) dropWhere(slotDrop func(id uint32, e entry) bool, otherDrop func(k string, e entry) bool) {
	for c, ch := range m.chunks {
		for i := range m.live(c) {
			if !ch.key[i].live() {
				continue
			}
			id := uint32(c)<<chunkBits | uint32(i)
			if slotDrop(id, ch.entry(uint32(i))) {
				m.remove(m.posOf(id), id)
			}
		}
	}
	for k, e := range m.other {
		if otherDrop(k, e) {
			delete(m.other, k)
		}
	}
}

// rewrite replaces every entry with fn's result.
func (m *keyMap) rewrite(fn func(e entry) entry) {
	for c, ch := range m.chunks {
		for i := range m.live(c) {
			if ch.key[i].live() {
				ch.set(uint32(i), fn(ch.entry(uint32(i))))
			}
		}
	}
	for k, e := range m.other {
		m.other[k] = fn(e)
	}
}

// beginPass starts a full sync's pass: no key is seen yet.
func (m *keyMap) beginPass() {
	m.pass = true
	m.seen = make([]uint64, (m.used+63)/64)
	m.otherSeen = map[string]bool{}
}

// seeSame marks k seen when it is there with this expiry, and reports
// whether it was.
func (m *keyMap) seeSame(k []byte, expire int64) bool {
	pk, in := packKey(k)
	if !in {
		e, ok := m.other[string(k)]
		if ok && e.expire == expire {
			if m.pass {
				m.otherSeen[string(k)] = true
			}
			return true
		}
		return false
	}
	_, id, ok := m.find(&pk)
	if !ok || m.entryOf(id).expire != expire {
		return false
	}
	m.mark(id)
	return true
}

// endPass ends a pass, dropping the keys it did not see among the entries
// in says it covered (nil: none, a pass that failed half-way keeps them).
func (m *keyMap) endPass(in func(e entry) bool) {
	if in != nil {
		m.dropWhere(func(id uint32, e entry) bool {
			return (int(id>>6) >= len(m.seen) || m.seen[id>>6]&(1<<(id&63)) == 0) && in(e)
		}, func(k string, e entry) bool { return !m.otherSeen[k] && in(e) })
	}
	m.pass, m.seen, m.otherSeen = false, nil, nil
}
