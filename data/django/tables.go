package django

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"strings"
	"unsafe"

	"sessionmon/internal/offheap"
)

// The index interns the users and clients its sessions name (a quarter of
// a million users at a million sessions). As Go structs of strings they
// cost 150 bytes a user and 100 a client (five string headers, five small
// allocations); here a user is an id and an offset, and its strings sit
// back to back in an append-only arena of 1 MiB chunks, read back as
// strings that point into it (never copied, never changed once written),
// which the garbage collector never scans. User agents, the same few for
// most clients, are interned once each.
//
// Arenas, numbers and lookup tables are mapped outside the Go heap for
// the index's owner (internal/offheap; nil: on the heap), and a table
// gc has replaced is released at once. So a string read from an arena
// lives only as long as its table: whatever keeps one (a Session, a
// User, Stats, a cache that outlives gc) clones it first (owned).

const (
	arenaChunkBits = 20
	arenaChunk     = 1 << arenaChunkBits
)

// arena holds length-prefixed strings; a reference is chunk<<20 | offset.
// A record larger than a chunk gets a chunk of its own.
type arena struct {
	mem    *offheap.Owner
	chunks [][]byte
}

func (a *arena) reserve(n int) ([]byte, uint32) {
	last := len(a.chunks) - 1
	if last < 0 || len(a.chunks[last])+n > cap(a.chunks[last]) {
		a.chunks = append(a.chunks, offheap.Make[byte](a.mem, max(arenaChunk, n))[:0])
		last++
	}
	c := a.chunks[last]
	ref := uint32(last)<<arenaChunkBits | uint32(len(c))
	a.chunks[last] = c[:len(c)+n]
	return a.chunks[last][len(c):], ref
}

func (a *arena) release() {
	for _, c := range a.chunks {
		offheap.Free(a.mem, c)
	}
	a.chunks = nil
}

// encode appends strings as one record to dst.
func encode(dst []byte, ss ...string) []byte {
	for _, s := range ss {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// putRecord stores an encoded record.
func (a *arena) putRecord(rec []byte) uint32 {
	b, ref := a.reserve(len(rec))
	copy(b, rec)
	return ref
}

// record returns the bytes of the record at ref, of n strings.
func (a *arena) record(ref uint32, n int) []byte {
	b := a.chunks[ref>>arenaChunkBits][ref&(arenaChunk-1):]
	end := 0
	for range n {
		l, w := binary.Uvarint(b[end:])
		end += w + int(l)
	}
	return b[:end]
}

func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

// get reads the record at ref into dst (len(dst) strings).
func (a *arena) get(ref uint32, dst []string) {
	b := a.chunks[ref>>arenaChunkBits][ref&(arenaChunk-1):]
	for i := range dst {
		n, w := binary.Uvarint(b)
		b = b[w:]
		if n == 0 {
			dst[i] = ""
		} else {
			dst[i] = unsafe.String(&b[0], int(n)) // immutable once written
		}
		b = b[n:]
	}
}

// internTab finds interned records by hash: an open-addressing table of
// record numbers + 1 (4 bytes a slot, where a Go map of hashes took 20),
// the hash recomputed from the record when it grows.
type internTab struct {
	mem *offheap.Owner
	tab []uint32
	n   int
}

func (t *internTab) release() {
	offheap.Free(t.mem, t.tab)
	t.tab, t.n = nil, 0
}

// find returns the number of the record that eq accepts among those of
// hash h, or the empty position where it goes.
func (t *internTab) find(h uint64, eq func(i uint32) bool) (int, uint32, bool) {
	if len(t.tab) == 0 {
		t.tab = offheap.Make[uint32](t.mem, 64)
	}
	size := len(t.tab)
	for pos := home(h, size); ; pos = next(pos, size) {
		v := t.tab[pos]
		if v == 0 {
			return pos, 0, false
		}
		if eq(v - 1) {
			return pos, v - 1, true
		}
	}
}

// insert puts record i at pos (from find); hashOf rehashes a record when
// the table grows.
func (t *internTab) insert(pos int, i uint32, hashOf func(i uint32) uint64) {
	t.tab[pos] = i + 1
	t.n++
	if !full(t.n-1, len(t.tab)) {
		return
	}
	t.tab = rehash(t.mem, t.tab, func(v uint32) uint64 { return hashOf(v - 1) })
}

var internSeed = maphash.MakeSeed()

// records is what the user and client tables keep their records in: the
// arena, the table that finds a record by hash, and the owner of their
// memory.
type records struct {
	mem *offheap.Owner
	a   arena
	idx internTab
}

func newRecords(mem *offheap.Owner) records {
	return records{mem: mem, a: arena{mem: mem}, idx: internTab{mem: mem}}
}

func (r *records) release() {
	r.a.release()
	r.idx.release()
}

// userTable holds the interned users, numbered from 0.
type userTable struct {
	records
	ids     []int64
	refs    []uint32
	scratch []byte
}

func newUserTable(mem *offheap.Owner) userTable { return userTable{records: newRecords(mem)} }

// release returns the table's memory: nothing may use it, or a string
// read from it, afterwards.
func (t *userTable) release() {
	offheap.Free(t.mem, t.ids)
	offheap.Free(t.mem, t.refs)
	t.records.release()
	*t = userTable{}
}

const userFields = 5

func (t *userTable) len() int { return len(t.ids) }

func userHash(id int64, rec []byte) uint64 {
	return maphash.Bytes(internSeed, rec) ^ uint64(id)*0x9e3779b97f4a7c15
}

// intern returns u's number, adding it if no user has all its fields.
func (t *userTable) intern(u userInfo) uint32 {
	t.scratch = encode(t.scratch[:0], u.username, u.email, u.fullName, u.role, u.status)
	rec := t.scratch
	pos, i, ok := t.idx.find(userHash(u.id, rec), func(i uint32) bool {
		return t.ids[i] == u.id && bytes.Equal(t.a.record(t.refs[i], userFields), rec)
	})
	if ok {
		return i
	}
	t.ids = offheap.Append(t.mem, t.ids, u.id)
	t.refs = offheap.Append(t.mem, t.refs, t.a.putRecord(rec))
	i = uint32(len(t.ids) - 1)
	t.idx.insert(pos, i, func(i uint32) uint64 { return userHash(t.ids[i], t.a.record(t.refs[i], userFields)) })
	return i
}

// owned returns a copy of u whose strings do not point into an arena:
// what leaves the index (a Session, a User, Stats) must not keep an arena
// chunk, a megabyte, alive after gc has replaced it.
func (u userInfo) owned() userInfo {
	u.username, u.email, u.fullName = strings.Clone(u.username), strings.Clone(u.email), strings.Clone(u.fullName)
	u.role, u.status = strings.Clone(u.role), strings.Clone(u.status)
	return u
}

// at returns user i, its strings pointing into the arena (see owned).
func (t *userTable) at(i uint32) userInfo {
	var f [5]string
	t.a.get(t.refs[i], f[:])
	return userInfo{id: t.ids[i], username: f[0], email: f[1], fullName: f[2], role: f[3], status: f[4]}
}

func (t *userTable) name(i uint32) string {
	var f [1]string
	t.a.get(t.refs[i], f[:])
	return f[0]
}

func (t *userTable) role(i uint32) string {
	var f [4]string
	t.a.get(t.refs[i], f[:])
	return f[3]
}

// clientTable holds the interned clients: an IP in the arena and a user
// agent interned apart.
type clientTable struct {
	records
	ips     []uint32
	uas     []uint32
	uaStr   []string
	uaIdx   map[string]uint32
	scratch []byte
}

func newClientTable(mem *offheap.Owner) clientTable { return clientTable{records: newRecords(mem)} }

// release: see userTable.release.
func (t *clientTable) release() {
	offheap.Free(t.mem, t.ips)
	offheap.Free(t.mem, t.uas)
	t.records.release()
	*t = clientTable{}
}

func (t *clientTable) len() int { return len(t.ips) }

// intern returns c's number, adding it if no client has its IP and user
// agent.
func (t *clientTable) intern(c client) uint32 {
	if t.uaIdx == nil {
		t.uaIdx = map[string]uint32{}
	}
	ua, ok := t.uaIdx[c.ua]
	if !ok {
		ua = uint32(len(t.uaStr))
		t.uaStr = append(t.uaStr, c.ua)
		t.uaIdx[c.ua] = ua
	}
	t.scratch = encode(t.scratch[:0], c.ip)
	rec := t.scratch
	pos, i, ok := t.idx.find(userHash(int64(ua), rec), func(i uint32) bool {
		return t.uas[i] == ua && bytes.Equal(t.a.record(t.ips[i], 1), rec)
	})
	if ok {
		return i
	}
	t.ips = offheap.Append(t.mem, t.ips, t.a.putRecord(rec))
	t.uas = offheap.Append(t.mem, t.uas, ua)
	i = uint32(len(t.ips) - 1)
	t.idx.insert(pos, i, func(i uint32) uint64 { return userHash(int64(t.uas[i]), t.a.record(t.ips[i], 1)) })
	return i
}

// at returns client i, its IP pointing into the arena (see owned).
func (t *clientTable) at(i uint32) client {
	var f [1]string
	t.a.get(t.ips[i], f[:])
	return client{ip: f[0], ua: t.uaStr[t.uas[i]]}
}
